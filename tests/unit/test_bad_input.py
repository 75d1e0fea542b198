"""Input that Python itself cannot hold answers 400 or 422, never a 500:
JSON nested deeper than the recursion limit, integers of thousands of
digits, timestamps out of range once in UTC, and forged cursors of the
right shape with the wrong attribute types. The fuzz suite sends the same
over HTTP (tests/integration/test_fuzz.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from feedguard.dal import feeds as feed_store
from feedguard.dal import permissions
from feedguard.dal.models import Finding
from handlers import assessment_types, feeds, findings, gate, scans, sources
from tests.support import key_caller, request
from tests.unit import builders
from tests.unit.builders import a_finding

VIEWER = key_caller("kviewer")
DEEP = "[" * 100_000 + "]" * 100_000
DIGITS = "1" * 5000
ASSESSMENT = "/feeds/demo/vulnerabilities/CVE-1/assessment"


@pytest.fixture
def demo(aws: Any) -> None:
    builders.a_feed("demo")
    permissions.grant(feed_store.require("demo"), "kviewer", "viewer")
    a_finding("demo", "CVE-1")


def refused(status: int, answer: Any, *codes: int) -> None:
    assert status in codes, answer
    assert isinstance(answer["message"], str)
    assert set(answer) <= {"message", "details"}


@pytest.mark.parametrize(
    ("handler", "path", "caller"),
    [
        (gate, "/feeds/demo/check", VIEWER),  # the viewer's gate
        (feeds, "/feeds", None),
        (feeds, "/feeds/demo/packages", None),
        (sources, "/sources", None),
        (findings, "/feeds/demo/assessments", None),
    ],
)
@pytest.mark.parametrize("body", [DEEP, '{"purls": ' + DEEP + "}", '{"name": ' + DIGITS + "}", "[" + DIGITS + "]"])
def test_json_python_cannot_hold_is_a_400(demo: None, handler: Any, path: str, caller: Any, body: str) -> None:
    status, answer = request(handler, "POST", path, raw_body=body, caller=caller)
    refused(status, answer, 400)
    assert "not valid JSON" in answer["message"]


@pytest.mark.parametrize("depth", [400, 450, 480, 490, 495, 499])
def test_a_bom_nested_about_the_parsers_limit_is_read_or_a_400(demo: None, depth: int) -> None:
    # Each level is a component and its array: up to 1,000 levels of JSON
    text = json.dumps({"purl": "pkg:npm/lodash@4.17.20"})
    for _ in range(depth):
        text = '{"purl": "pkg:npm/a@1.0.0", "components": [' + text + "]}"
    status, answer = request(
        feeds, "POST", "/feeds/demo/packages", raw_body='{"bomFormat": "CycloneDX", "components": [' + text + "]}"
    )
    if status == 200:
        assert answer["added"] == 2
    else:
        refused(status, answer, 400)


@pytest.mark.parametrize("if_match", [DIGITS, "1" * 39, "\u00b2", "\uff11", "-1", "*"])
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_an_if_match_that_cannot_be_a_version_is_a_422(demo: None, if_match: str, method: str) -> None:
    body = {"type": "ignore"} if method == "PUT" else None
    status, answer = request(findings, method, ASSESSMENT, body=body, headers={"If-Match": if_match})
    refused(status, answer, 422)
    assert Finding.get("demo", "CVE-1").status == "unassessed"


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_a_timestamp_out_of_range_in_utc_is_a_422(demo: None, expires_at: str) -> None:
    status, answer = request(findings, "PUT", ASSESSMENT, body={"type": "ignore", "expires_at": expires_at})
    refused(status, answer, 422)
    bulk = {"vulnerability_ids": ["CVE-1"], "type": "ignore", "expires_at": expires_at}
    refused(*request(findings, "POST", "/feeds/demo/assessments", body=bulk), 422)
    assert Finding.get("demo", "CVE-1").status == "unassessed"


def cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


FORGED = [
    {"entity": {"S": "feed"}, "feed": {"N": "1"}, "sk": {"S": "#feed"}},  # a number where a string is
    {"entity": {"S": "feed"}, "feed": {"S": 5}, "sk": {"S": "#feed"}},  # a JSON number as the value
    {"entity": {"S": "feed"}, "feed": {"Z": "x"}, "sk": {"S": "#feed"}},  # no such type
    {"entity": {"S": "feed"}, "feed": {"B": "!!"}, "sk": {"S": "#feed"}},
    {"entity": {"N": "1e999999"}},
    {"nope": {"S": "x"}},  # no model has it
    {"builtin": {"N": "1.5"}},
    {"builtin": {"N": DIGITS}},
]


@pytest.mark.parametrize("key", FORGED)
@pytest.mark.parametrize(
    ("handler", "path"),
    [(feeds, "/feeds"), (sources, "/sources"), (scans, "/scans"), (assessment_types, "/assessment-types")],
)
def test_a_forged_cursor_of_the_right_shape_is_a_422(demo: None, handler: Any, path: str, key: Any) -> None:
    builders.a_feed("demo2")  # a second page exists
    refused(*request(handler, "GET", path, query={"cursor": cursor(key)}), 422)


# A purl under the 2,048 characters a purl may have, whose canonical form is
# over DynamoDB's 1,024-byte key limit.
def too_long(n: int = 0) -> str:
    return f"pkg:npm/{'a' * 1100}{n}@1.0.0"


def test_an_import_with_one_purl_over_the_key_limit_stores_the_others_and_queues_the_scan(demo: None) -> None:
    from feedguard.dal import scans as scan_store
    from feedguard.dal import sources as source_store
    from feedguard.dal.models import FeedAttachment, Package

    # Given a feed with a source, so new packages are scanned at once
    source = source_store.create("src-guide", {"name": "guide", "url": "https://x.invalid", "auth": "bearer"}, "t")
    FeedAttachment(
        feed="demo", sk=f"source#{source.id}", member=f"source#{source.id}", source_id=source.id, attached_at="t"
    ).save()
    purls = [f"pkg:npm/p{n}@1.0.0" for n in range(100)] + [too_long()]
    # When 101 purls are imported, one of them too long for a key
    status, answer = request(feeds, "POST", "/feeds/demo/packages", body={"purls": purls})
    # Then the 100 are stored, the long one is rejected by itself, and the scan is queued
    assert status == 200, answer
    assert (answer["added"], answer["existing"]) == (100, 0)
    assert [r["purl"] for r in answer["rejected"]] == [too_long()]
    assert "1,024 bytes" in answer["rejected"][0]["message"]
    assert answer["scan_id"]
    assert sum(1 for _ in Package.query("demo")) == 100
    scan = scan_store.get(answer["scan_id"])
    assert scan is not None
    assert scan.status in ("queued", "running")


def test_purls_over_the_key_limit_are_refused_by_the_gate_and_never_looked_up(demo: None, oss: tuple[Any, str]) -> None:
    from feedguard.dal import sources as source_store
    from feedguard.dal.models import FeedAttachment

    service, url = oss
    source = source_store.create("src-guide", {"name": "guide", "url": url, "auth": "bearer"}, "local-fake-token")
    FeedAttachment(
        feed="demo", sk=f"source#{source.id}", member=f"source#{source.id}", source_id=source.id, attached_at="t"
    ).save()
    body = {"purls": ["pkg:npm/lodash@4.17.20", too_long(1), too_long(2)]}
    status, answer = request(gate, "POST", "/feeds/demo/check", body=body, caller=VIEWER)
    refused(status, answer, 422)
    assert [d["purl"] for d in answer["details"]] == [too_long(1), too_long(2)]
    status, answer = request(gate, "GET", "/feeds/demo/check", query={"purl": too_long()}, caller=VIEWER)
    refused(status, answer, 422)
    assert service.stats()["coordinates_asked"] == 0
