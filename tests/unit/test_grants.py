"""Every DynamoDB call a function makes is one its template policies allow
(tests/unit/grants.py). Every unit test that calls a handler is checked; this
runs the flows that write the most in one go, and checks the checker."""

from __future__ import annotations

import json

import pytest

from feedguard.dal import assessment_types as type_store
from feedguard.effects import AssessmentType
from handlers import feeds, gate, scan_coordinator
from infra.fake_ossindex import FakeOssIndex, Fault
from infra.provision import Provisioned
from tests.support import LambdaContext, request
from tests.unit.builders import a_feed, a_finding
from tests.unit.grants import POLICY_ACTIONS, ROOT, Recorder
from tests.unit.test_scanner import CLEAN, LODASH, LOG4J, a_source, drain


def test_a_scan_cycle_calls_only_what_its_functions_are_granted(
    grants: Recorder, aws: Provisioned, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("feedguard.ossindex.time.sleep", lambda seconds: None)
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
    assert set(grants.calls) >= {"ScanCoordinatorFunction", "ScanWorkerFunction", "FeedsFunction", "GateFunction"}
    assert ("UpdateItem", "FeedsTable") in grants.calls["ScanWorkerFunction"]  # the stamp: checked, not skipped
    assert grants.missing() == {function: [] for function in grants.calls}


def test_the_check_notices_a_call_without_a_grant() -> None:
    recorder = Recorder()
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
