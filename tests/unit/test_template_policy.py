"""Least privilege, read from template.yaml: no wildcard actions or
resources, and no function is granted a table, queue, secret or event bus
its code cannot reach. What code reaches is read from source: every model
and every setting (the variables that name queues, secrets and the bus)
named in the handler module and the feedguard modules it imports, lazy
imports included.
That over-approximates (a module imported for one function brings its
other functions' tables), so it proves no extra grant, not that no grant is
missing. Neither moto nor the local stack enforces IAM: test_grants checks
the DynamoDB calls of the scan, import and gate flows against the grants."""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from feedguard.dal.models import ALL_MODELS
from infra.template import TEMPLATE_PATH, load_document

FUNCTIONS_ROOT = Path(__file__).resolve().parents[2] / "functions"
DOCUMENT = load_document()
RESOURCES: dict[str, Any] = DOCUMENT["Resources"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
TABLES = {name for name, r in RESOURCES.items() if r["Type"] == "AWS::DynamoDB::Table"}
OTHERS = {
    name
    for name, r in RESOURCES.items()
    if r["Type"] in ("AWS::SQS::Queue", "AWS::SecretsManager::Secret", "AWS::Events::EventBus")
}
# The secrets of the sources: one per source, under the stack's prefix.
SOURCE_SECRETS = "SourceSecrets"
VARIABLES = DOCUMENT["Globals"]["Function"]["Environment"]["Variables"]


def _table_of_model() -> dict[str, str]:
    """Model class name -> the table's logical id, through the *_TABLE variables."""
    variable_of_name = {os.environ[v]: v for v in VARIABLES if v.endswith("_TABLE") and v in os.environ}
    return {model.__name__: VARIABLES[variable_of_name[model.Meta.table_name]]["Ref"] for model in ALL_MODELS}


TABLE_OF_MODEL = _table_of_model()


def _module_path(module: str) -> Path | None:
    base = FUNCTIONS_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _closure(module: str) -> Iterator[tuple[str, ast.Module]]:
    """The module and every feedguard module it imports, at any depth and in any function body."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        path = _module_path(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        tree = ast.parse(path.read_text())
        yield name, tree
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names if alias.name.startswith("feedguard")]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("feedguard"):
                todo.append(node.module)
                todo += [f"{node.module}.{alias.name}" for alias in node.names]


def _resource_of_setting() -> dict[str, str]:
    """feedguard.settings attribute -> the resource its variable names."""
    found = {}
    for variable, value in VARIABLES.items():
        if isinstance(value, dict) and value.get("Ref") in OTHERS:
            found[variable.lower()] = value["Ref"]
    found["source_secret_prefix"] = SOURCE_SECRETS
    return found


RESOURCE_OF_SETTING = _resource_of_setting()


def _identifiers(handler: str) -> set[str]:
    identifiers: set[str] = set()
    for name, tree in _closure(handler.rpartition(".")[0]):
        if name in ("feedguard.dal.models", "feedguard.settings"):
            continue  # they define every model and setting; what counts is who uses them
        identifiers |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        identifiers |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return identifiers


def tables_reached(handler: str) -> set[str]:
    return {TABLE_OF_MODEL[model] for model in _identifiers(handler) & TABLE_OF_MODEL.keys()}


def others_reached(handler: str) -> set[str]:
    """Queues, secrets and buses the code names through feedguard.settings."""
    return {RESOURCE_OF_SETTING[setting] for setting in _identifiers(handler) & RESOURCE_OF_SETTING.keys()}


def _references(value: Any) -> Iterator[str]:
    """Logical ids named by Ref, GetAtt or ${X} / ${X.Arn} inside a Sub."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt":
                yield inner[0]
            elif key == "Fn::Sub":
                text = inner if isinstance(inner, str) else inner[0]
                for part in text.split("${")[1:]:
                    yield part.split("}")[0].split(".")[0]
            else:
                yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def tables_granted(function: dict[str, Any]) -> set[str]:
    return {name for name in _references(function["Properties"].get("Policies", [])) if name in TABLES}


def others_granted(function: dict[str, Any]) -> set[str]:
    policies = function["Properties"].get("Policies", [])
    granted = {name for name in _references(policies) if name in OTHERS}
    if "/sources/" in json.dumps(policies):
        granted.add(SOURCE_SECRETS)
    return granted


def on_failure_destinations(function: dict[str, Any]) -> set[str]:
    """Queues Lambda itself sends to for the function's event source mappings."""
    events = function["Properties"].get("Events", {}).values()
    configs = [event["Properties"].get("DestinationConfig", {}) for event in events]
    configs += [event["Properties"].get("DeadLetterConfig", {}) for event in events]
    return {name for config in configs for name in _references(config) if name in OTHERS}


def _statements(function: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for policy in function["Properties"].get("Policies", []):
        if isinstance(policy, dict):
            yield from policy.get("Statement", [])


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_no_function_is_granted_a_table_its_code_cannot_reach(logical_id: str) -> None:
    function = FUNCTIONS[logical_id]
    handler = function["Properties"]["Handler"]
    assert tables_granted(function) <= tables_reached(handler)


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_no_function_is_granted_a_queue_secret_or_bus_its_code_cannot_reach(logical_id: str) -> None:
    function = FUNCTIONS[logical_id]
    reached = others_reached(function["Properties"]["Handler"]) | on_failure_destinations(function)
    assert others_granted(function) <= reached


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_no_statement_grants_every_action_or_every_resource(logical_id: str) -> None:
    for statement in _statements(FUNCTIONS[logical_id]):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all(action != "*" and not action.endswith(":*") for action in actions), statement
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert "*" not in resources, statement


def test_a_wildcard_resource_anywhere_in_the_template_is_explained_by_a_comment() -> None:
    lines = TEMPLATE_PATH.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.strip().replace("'", '"') in ('Resource: "*"', '- Resource: "*"'):
            assert lines[number - 1].strip().startswith("#"), f"template.yaml:{number + 1} needs a reason"


def test_the_closure_reader_sees_lazy_imports() -> None:
    # gate.py imports the scanner and the answer cache inside a function
    assert "AnswerCacheTable" in tables_reached("handlers.gate.handler")


def test_the_check_notices_a_table_granted_to_a_function_that_never_uses_it() -> None:
    granted = {"Properties": {"Policies": [{"DynamoDBCrudPolicy": {"TableName": {"Ref": "FindingsTable"}}}]}}
    assert tables_granted(granted) == {"FindingsTable"}
    assert not tables_granted(granted) <= tables_reached("handlers.authorizer.handler")


def test_the_check_notices_a_queue_granted_to_a_function_that_never_sends_to_it() -> None:
    granted = {
        "Properties": {
            "Policies": [{"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["ScanQueue", "QueueName"]}}}]
        }
    }
    assert others_granted(granted) == {"ScanQueue"}
    assert not others_granted(granted) <= others_reached("handlers.authorizer.handler")
    assert "ScanQueue" in others_reached("handlers.scan_coordinator.handler")
