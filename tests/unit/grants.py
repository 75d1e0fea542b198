"""Checking DynamoDB calls against template.yaml's grants: the IAM action and
table of each call, recorded while a handler runs (its pool threads
included), against the function's SAM DynamoDB policy templates. Neither moto
nor the local stack enforces IAM; every unit test that calls a handler runs
through this (tests/unit/conftest.py), and test_grants runs a whole scan."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.template import load_document

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = load_document()
RESOURCES: dict[str, Any] = DOCUMENT["Resources"]

# The actions of SAM's DynamoDB policy templates (samtranslator's
# policy_templates.json; test_the_actions_are_sam_s checks them when the SAM
# CLI's virtualenv is there).
POLICY_ACTIONS = {
    "DynamoDBReadPolicy": {"GetItem", "Scan", "Query", "BatchGetItem", "DescribeTable"},
    "DynamoDBWritePolicy": {"PutItem", "UpdateItem", "BatchWriteItem"},
    "DynamoDBCrudPolicy": {
        "GetItem",
        "DeleteItem",
        "PutItem",
        "Scan",
        "Query",
        "UpdateItem",
        "BatchWriteItem",
        "BatchGetItem",
        "DescribeTable",
        "ConditionCheckItem",
    },
}
# A transaction needs the action of each of its parts on that part's table.
TRANSACTION_PARTS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def granted(function: str) -> dict[str, set[str]]:
    """Table logical id -> the DynamoDB actions the function's policies allow on it."""
    allowed: dict[str, set[str]] = defaultdict(set)
    for policy in RESOURCES[function]["Properties"].get("Policies", []):
        for name, arguments in policy.items() if isinstance(policy, dict) else ():
            if name in POLICY_ACTIONS:
                allowed[arguments["TableName"]["Ref"]] |= POLICY_ACTIONS[name]
    return allowed


def actions_of(operation: str, params: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(IAM action, table name) of one DynamoDB call."""
    if operation == "TransactWriteItems":
        for item in params["TransactItems"]:
            ((part, body),) = item.items()
            yield TRANSACTION_PARTS[part], body["TableName"]
    elif operation in ("BatchGetItem", "BatchWriteItem"):
        for table in params["RequestItems"]:
            yield operation, table
    else:
        yield operation, params["TableName"]


def logical_of_table() -> dict[str, str]:
    """Physical table name -> logical id, through the *_TABLE variables the tests set."""
    variables = DOCUMENT["Globals"]["Function"]["Environment"]["Variables"]
    return {
        os.environ[name]: value["Ref"]
        for name, value in variables.items()
        if name.endswith("_TABLE") and name in os.environ
    }


class Recorder:
    """The DynamoDB calls made while each handler runs, by function."""

    def __init__(self) -> None:
        self.logical_of_table = logical_of_table()
        self.current: str | None = None
        self.calls: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.current is not None:
            for action, table in actions_of(model.name, params):
                self.calls[self.current].add((action, self.logical_of_table.get(table, table)))

    def wrap(self, monkeypatch: pytest.MonkeyPatch, module: Any, function: str, attribute: str = "handler") -> None:
        real = getattr(module, attribute)

        def handler(*args: Any, **kwargs: Any) -> Any:
            outer, self.current = self.current, function
            try:
                return real(*args, **kwargs)
            finally:
                self.current = outer

        monkeypatch.setattr(module, attribute, handler)

    def missing(self) -> dict[str, list[tuple[str, str]]]:
        return {
            function: sorted(call for call in calls if call[0] not in granted(function).get(call[1], set()))
            for function, calls in self.calls.items()
        }
