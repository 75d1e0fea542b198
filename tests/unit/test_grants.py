"""Every DynamoDB call a function makes is one its template policies allow.

test_template_policy proves no function is granted more than its code can
reach; this proves the other half for the flows that write the most: the
calls are recorded while each handler runs (its pool threads included) and
each one's IAM action and table are checked against the function's SAM
policy templates. Neither moto nor the local stack enforces IAM, so nothing
else would notice a missing grant before AWS does."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from feedguard.dal import assessment_types as type_store
from feedguard.effects import AssessmentType
from handlers import feeds, gate, scan_coordinator, scan_worker
from infra.fake_ossindex import FakeOssIndex, Fault
from infra.provision import Provisioned
from infra.template import load_document
from tests.support import LambdaContext, dynamodb_hook, request
from tests.unit.builders import a_feed, a_finding
from tests.unit.test_scanner import CLEAN, LODASH, LOG4J, a_source, drain

ROOT = Path(__file__).resolve().parents[2]
RESOURCES: dict[str, Any] = load_document()["Resources"]

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


class Recorder:
    """The DynamoDB calls made while each handler runs, by function."""

    def __init__(self, aws: Provisioned) -> None:
        self.logical_of_table = {physical: logical for logical, physical in aws.table_names.items()}
        self.current: str | None = None
        self.calls: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if self.current is not None:
            for action, table in actions_of(model.name, params):
                self.calls[self.current].add((action, self.logical_of_table[table]))

    def wrap(self, monkeypatch: pytest.MonkeyPatch, module: Any, function: str) -> None:
        real = module.handler

        def handler(*args: Any, **kwargs: Any) -> Any:
            self.current = function
            try:
                return real(*args, **kwargs)
            finally:
                self.current = None

        monkeypatch.setattr(module, "handler", handler)

    def missing(self) -> dict[str, list[tuple[str, str]]]:
        return {
            function: sorted(call for call in calls if call[0] not in granted(function).get(call[1], set()))
            for function, calls in self.calls.items()
        }


@pytest.fixture
def recorder(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    monkeypatch.setattr("feedguard.ossindex.time.sleep", lambda seconds: None)
    recorder = Recorder(aws)
    for module, function in (
        (scan_coordinator, "ScanCoordinatorFunction"),
        (scan_worker, "ScanWorkerFunction"),
        (feeds, "FeedsFunction"),
        (gate, "GateFunction"),
    ):
        recorder.wrap(monkeypatch, module, function)
    with dynamodb_hook("provide-client-params.dynamodb", recorder.hook):
        yield recorder


def test_a_scan_cycle_calls_only_what_its_functions_are_granted(
    recorder: Recorder, aws: Provisioned, oss: tuple[FakeOssIndex, str]
) -> None:
    service, url = oss
    type_store.create(AssessmentType("watch", "Watch", "warn", 14, auto_assess_min=5.0, auto_assess_max=6.9))
    source = a_source(url)
    a_feed("demo", [LOG4J, LODASH, CLEAN], [source])
    a_finding("demo", "CVE-2019-0000", CLEAN)  # withdrawn by the scan
    # a whole-feed scan: detection, auto-assessment, withdrawal, the feed's stamp
    scan_coordinator.handler({"trigger": "api", "feed": "demo"}, LambdaContext())
    drain(aws)
    # a scan the source refuses
    service.add_fault(Fault(status=402))
    scan_coordinator.handler({"trigger": "api", "feed": "demo", "refresh": True}, LambdaContext())
    drain(aws)
    # an import scanned at once, and a gate check of a purl never scanned
    request(feeds, "POST", "/feeds/demo/packages", body={"purls": ["pkg:npm/minimist@1.2.5"]})
    drain(aws)
    status, _ = request(gate, "POST", "/feeds/demo/check", body={"purls": ["pkg:pypi/pyyaml@5.3.1"]})
    assert status == 200
    assert set(recorder.calls) == {"ScanCoordinatorFunction", "ScanWorkerFunction", "FeedsFunction", "GateFunction"}
    assert ("UpdateItem", "FeedsTable") in recorder.calls["ScanWorkerFunction"]  # the stamp: checked, not skipped
    assert recorder.missing() == {function: [] for function in recorder.calls}


def test_the_check_notices_a_call_without_a_grant(aws: Provisioned) -> None:
    recorder = Recorder(aws)
    recorder.calls["ScanCoordinatorFunction"].add(("UpdateItem", "FindingsTable"))
    assert recorder.missing() == {"ScanCoordinatorFunction": [("UpdateItem", "FindingsTable")]}


def test_the_actions_are_sam_s() -> None:
    found = sorted(
        ROOT.glob(".venv-sam/lib/python*/site-packages/samtranslator/policy_templates_data/policy_templates.json")
    )
    if not found:
        pytest.skip("the SAM CLI's virtualenv is not there (make validate makes it)")
    templates = json.loads(found[0].read_text())["Templates"]
    for name, actions in POLICY_ACTIONS.items():
        (statement,) = templates[name]["Definition"]["Statement"]
        assert {action.removeprefix("dynamodb:") for action in statement["Action"]} == actions
