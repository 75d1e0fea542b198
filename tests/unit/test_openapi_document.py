"""The OpenAPI document: committed as served, and documented enough that a
person, a generated client and a fuzzer can use the API from it alone.

A route or field added without its description, example or timestamp format
fails here, naming it (issue 27, finding 12)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedguard import purls
from infra import openapi

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return dict(json.loads(openapi.served()))


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def has_example(document: dict[str, Any], media: dict[str, Any]) -> bool:
    return bool(
        media.get("example") or media.get("examples") or resolved(document, media.get("schema", {})).get("examples")
    )


def properties(schema: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of an object schema, those of inline objects and
    alternatives included, as (where, its schema)."""
    for name, prop in schema.get("properties", {}).items():
        yield f"{where}.{name}", prop
        yield from properties(prop, f"{where}.{name}")
    for key in ("anyOf", "oneOf", "allOf"):
        for index, alternative in enumerate(schema.get(key, [])):
            yield from properties(alternative, f"{where}[{key}{index}]")
    if isinstance(schema.get("items"), dict):
        yield from properties(schema["items"], f"{where}[]")


def test_committed_openapi_document_matches_the_served_one() -> None:
    # Given the document GET /openapi.json serves
    served = openapi.served()

    # When it is compared with the committed copy the console's types come from
    committed = openapi.DOCUMENT.read_text()

    # Then they are the same: run `make openapi` after changing the API
    assert committed == served, "docs/openapi.json is stale: run `make openapi`"


def test_every_operation_has_a_summary_and_a_description(document: dict[str, Any]) -> None:
    missing = [
        label
        for label, operation in operations(document)
        if not operation.get("summary") or not operation.get("description")
    ]
    assert not missing, (
        f"give these routes summary= and description= (what it does, who may, what it answers): {missing}"
    )


# Values only the API gives out: an example would be a forged one, which is
# a 422 (and what a fuzzer's example phase would send).
OPAQUE_PARAMETERS = {"cursor"}


def test_every_parameter_has_a_description_and_an_example(document: dict[str, Any]) -> None:
    missing = [
        f"{label} {parameter['in']} {parameter['name']}"
        for label, operation in operations(document)
        for parameter in operation.get("parameters", [])
        if not parameter.get("description")
        or not (
            parameter["name"] in OPAQUE_PARAMETERS
            or parameter.get("example")
            or parameter.get("examples")
            or parameter["schema"].get("examples")
        )
    ]
    assert not missing, f"give these parameters a description and examples (api.py's Path/Query types): {missing}"


def test_every_request_body_and_success_answer_has_an_example(document: dict[str, Any]) -> None:
    missing = []
    for label, operation in operations(document):
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            if not has_example(document, media):
                missing.append(f"{label} request ({media_type})")
        for status, response in operation["responses"].items():
            for media_type, media in (response.get("content") or {}).items():
                if status.startswith("2") and not has_example(document, media):
                    missing.append(f"{label} {status} ({media_type})")
    assert not missing, f"give these bodies an example (the model's examples, or the route's): {missing}"


def test_every_schema_property_has_a_description(document: dict[str, Any]) -> None:
    missing = [
        where
        for name, schema in document["components"]["schemas"].items()
        for where, prop in properties(schema, name)
        if not prop.get("description")
    ]
    assert not missing, f"give these fields Field(description=...): {missing}"


def test_every_timestamp_is_a_date_time(document: dict[str, Any]) -> None:
    def formats(schema: dict[str, Any]) -> set[str | None]:
        alternatives = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
        return {alternative.get("format") for alternative in alternatives}

    loose = [
        where
        for name, schema in document["components"]["schemas"].items()
        for where, prop in properties(schema, name)
        if (where.endswith("_at") or where.endswith(".first_seen")) and formats(prop) != {"date-time"}
    ]
    assert not loose, f"type these as api.Timestamp (format: date-time): {loose}"


def test_the_servers_name_the_stage(document: dict[str, Any]) -> None:
    # A relative URL resolves against where the document was read: the
    # stage's base on API Gateway, the console's CloudFront origin, the local stack.
    servers = document["servers"]
    assert servers[0]["url"] == "."
    deployed = servers[1]
    assert deployed["url"].endswith("/{stage}")
    assert deployed["variables"]["stage"]["default"] == "v1"  # template.yaml's StageName default


def test_unused_schemas_are_not_in_the_document(document: dict[str, Any]) -> None:
    text = json.dumps(document["paths"]) + json.dumps(document["components"]["schemas"])
    unused = [name for name in document["components"]["schemas"] if f"#/components/schemas/{name}" not in text]
    assert not unused


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.from_regex(purls.PATTERN, fullmatch=True).filter(lambda text: len(text) <= purls.DOCUMENTED_MAX_LENGTH))
def test_every_purl_the_documented_pattern_admits_is_accepted(purl: str) -> None:
    # A client or fuzzer that follows the document's purl pattern sends purls
    # the API takes: the pattern is no looser than purls.canonical.
    assert purls.canonical(purl)
