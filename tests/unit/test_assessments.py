"""Assessing findings: types, expiry defaults, If-Match, races, history."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from feedguard import clock
from feedguard.dal import assessments as assessment_store
from feedguard.dal import feeds as feed_store
from feedguard.dal import history, permissions
from feedguard.dal.models import Assessment, Finding
from handlers import assessment_types, findings
from tests.support import LambdaContext, key_caller, request
from tests.unit import builders
from tests.unit.builders import a_finding

PATH = "/feeds/demo/vulnerabilities/CVE-1/assessment"
ALICE = key_caller("kalice", "alice")


@pytest.fixture
def finding(aws: Any) -> Finding:
    builders.a_feed("demo")
    permissions.grant(feed_store.require("demo"), "kalice", "assessor")
    return a_finding("demo", "CVE-1")


def put(body: dict[str, Any], if_match: str | None = None, caller: dict[str, str] = ALICE) -> tuple[int, Any]:
    headers = {"If-Match": if_match} if if_match is not None else None
    return request(findings, "PUT", PATH, body=body, caller=caller, headers=headers)


def actions() -> list[tuple[str, str, str | None]]:
    return [(e.action, e.actor, e.type) for e in history.entries("demo", "CVE-1")]


def test_an_assessment_takes_its_types_effect_and_default_expiry(finding: Finding) -> None:
    status, answer = put({"type": "caution", "comment": "only in tests"})
    assert status == 200
    assert (answer["type"], answer["effect"], answer["assessed_by"], answer["version"]) == (
        "caution",
        "warn",
        "alice",
        1,
    )
    expires = clock.parse_iso(answer["expires_at"])
    assert timedelta(days=89, hours=23) < expires - clock.now() <= timedelta(days=90)
    stored = Assessment.get("demo", "CVE-1")
    assert stored.expires_ttl == int(expires.timestamp())  # the TTL attribute is expires_at
    assert Finding.get("demo", "CVE-1").status == "assessed"
    assert actions() == [("detected", "scanner", None), ("assessed", "alice", "caution")]
    listed = request(findings, "GET", "/feeds/demo/vulnerabilities")[1]["items"][0]
    assert (listed["status"], listed["effect"], listed["assessment"]["version"]) == ("assessed", "warn", 1)


def test_null_expiry_never_expires_and_has_no_ttl(finding: Finding) -> None:
    status, answer = put({"type": "ignore", "expires_at": None})
    assert (status, answer["expires_at"]) == (200, None)
    assert Assessment.get("demo", "CVE-1").expires_ttl is None


@pytest.mark.parametrize(
    "body",
    [
        {"type": "unassessed"},
        {"type": "no-such-type"},
        {"type": "ignore", "expires_at": "2020-01-01T00:00:00Z"},
        {"type": "ignore", "expires_at": "next week"},
        {"type": "ignore", "expires_at": "2999-01-01T00:00:00"},
        {"type": "ignore", "comment": "x" * 2001},
        {"type": 5},
        {},
    ],
)
def test_invalid_assessments_are_422_and_change_nothing(finding: Finding, body: dict[str, Any]) -> None:
    assert put(body)[0] == 422
    assert Finding.get("demo", "CVE-1").status == "unassessed"
    assert actions() == [("detected", "scanner", None)]


def test_a_finding_not_in_the_feed_is_404(finding: Finding) -> None:
    status, _ = request(
        findings, "PUT", "/feeds/demo/vulnerabilities/CVE-NOPE/assessment", body={"type": "ignore"}, caller=ALICE
    )
    assert status == 404


def test_if_match_with_a_stale_version_is_412_and_changes_nothing(finding: Finding) -> None:
    put({"type": "ignore"})
    assert put({"type": "blocked"}, if_match="1")[1]["version"] == 2
    status, answer = put({"type": "caution"}, if_match="1")
    assert status == 412
    assert set(answer) <= {"message", "details"}
    assert Assessment.get("demo", "CVE-1").type == "blocked"
    assert [a for a, _, _ in actions()].count("assessed") == 2
    assert put({"type": "caution"}, if_match='"2"')[0] == 200
    assert put({"type": "caution"}, if_match="two")[0] == 422


def test_two_assessors_racing_without_if_match_both_succeed_in_order(
    finding: Finding, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given bob's read happens before alice's write lands
    put({"type": "ignore"})
    stale = Assessment.get("demo", "CVE-1")
    real_current = assessment_store.current
    reads = {"n": 0}

    def racing_current(feed: str, vulnerability_id: str) -> Assessment | None:
        reads["n"] += 1
        if reads["n"] == 1:
            put({"type": "blocked"})  # alice writes in between
            return stale
        return real_current(feed, vulnerability_id)

    monkeypatch.setattr(assessment_store, "current", racing_current)
    # When bob writes without If-Match
    status, answer = request(
        findings, "PUT", PATH, body={"type": "caution"}, caller=key_caller("admin", "bob") | {"admin": "true"}
    )
    # Then his write lands after alice's, and both are in the history
    assert (status, answer["type"], answer["version"]) == (200, "caution", 3)
    assert [(a, t) for a, _, t in actions()] == [
        ("detected", None),
        ("assessed", "ignore"),
        ("assessed", "blocked"),
        ("assessed", "caution"),
    ]


def test_deleting_an_assessment_makes_the_finding_unassessed(finding: Finding) -> None:
    put({"type": "ignore"})
    assert request(findings, "DELETE", PATH, caller=ALICE)[0] == 204
    assert Finding.get("demo", "CVE-1").status == "unassessed"
    assert [a for a, _, _ in actions()] == ["detected", "assessed", "unassessed"]
    assert request(findings, "DELETE", PATH, caller=ALICE)[0] == 404


def test_the_finding_carries_the_band_its_assessment_recorded_while_it_is_in_force(finding: Finding) -> None:
    # A scan compares the band it reports with this copy, and reads the assessment only when it rose.
    assert Finding.get("demo", "CVE-1").assessment_band is None
    put({"type": "ignore"})
    assert (Assessment.get("demo", "CVE-1").severity_band, Finding.get("demo", "CVE-1").assessment_band) == (
        "high",
        "high",
    )
    request(findings, "DELETE", PATH, caller=ALICE)
    assert Finding.get("demo", "CVE-1").assessment_band is None


def test_bulk_assessment_reports_the_ids_that_are_not_findings(finding: Finding) -> None:
    a_finding("demo", "CVE-2")
    status, answer = request(
        findings,
        "POST",
        "/feeds/demo/assessments",
        body={"vulnerability_ids": ["CVE-1", "CVE-2", "CVE-X"], "type": "blocked"},
        caller=ALICE,
    )
    assert (status, answer) == (200, {"assessed": 2, "missing": ["CVE-X"]})
    assert Finding.get("demo", "CVE-2").status == "assessed"
    too_many = {"vulnerability_ids": [f"CVE-{n}" for n in range(101)], "type": "blocked"}
    assert request(findings, "POST", "/feeds/demo/assessments", body=too_many, caller=ALICE)[0] == 422
    bad_type = {"vulnerability_ids": ["CVE-1"], "type": "unassessed"}
    assert request(findings, "POST", "/feeds/demo/assessments", body=bad_type, caller=ALICE)[0] == 422


def test_a_type_in_use_cannot_be_deleted_until_its_assessments_are_gone(finding: Finding) -> None:
    request(
        assessment_types,
        "POST",
        "/assessment-types",
        body={"name": "Vendor Fix Pending", "effect": "warn", "expiration_days": 7},
    )
    put({"type": "vendor-fix-pending"})
    assert request(assessment_types, "DELETE", "/assessment-types/vendor-fix-pending")[0] == 409
    request(findings, "DELETE", PATH, caller=ALICE)
    assert request(assessment_types, "DELETE", "/assessment-types/vendor-fix-pending")[0] == 204


def test_an_assessment_expiring_now_flips_the_reading_at_once(finding: Finding) -> None:
    soon = clock.iso(clock.now() + timedelta(seconds=2))
    assert put({"type": "ignore", "expires_at": soon})[0] == 200
    assert request(findings, "GET", "/feeds/demo/vulnerabilities")[1]["items"][0]["status"] == "assessed"
    time.sleep(2.1)
    item = request(findings, "GET", "/feeds/demo/vulnerabilities")[1]["items"][0]
    assert (item["status"], item["effect"], item["assessment"]) == ("expired", "block", None)


def test_a_version_held_from_a_deleted_assessment_is_stale_after_a_new_one(finding: Finding) -> None:
    # Given bob read version 1, then alice removed it and assessed again
    assert put({"type": "ignore"})[1]["version"] == 1
    assert request(findings, "DELETE", PATH, caller=ALICE)[0] == 204
    assert put({"type": "blocked"})[1]["version"] == 2
    # When bob writes with the version he holds
    status, _ = put({"type": "caution"}, if_match="1")
    # Then it is stale, and alice's decision stands
    assert status == 412
    assert (Assessment.get("demo", "CVE-1").type, Assessment.get("demo", "CVE-1").version) == ("blocked", 2)


def test_a_version_held_from_an_expired_assessment_is_stale_after_a_new_one(finding: Finding) -> None:
    import boto3

    from handlers import expiry

    # Given version 2 of an assessment, deleted by DynamoDB's TTL and recorded expired
    put({"type": "ignore"})
    expired = put({"type": "ignore"})[1]
    assert expired["version"] == 2
    boto3.client("dynamodb").delete_item(
        TableName=Assessment.Meta.table_name, Key={"feed": {"S": "demo"}, "vulnerability_id": {"S": "CVE-1"}}
    )
    record = {
        "eventID": "1",
        "eventName": "REMOVE",
        "eventSource": "aws:dynamodb",
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "dynamodb": {
            "SequenceNumber": "1",
            "OldImage": {
                "feed": {"S": "demo"},
                "vulnerability_id": {"S": "CVE-1"},
                "type": {"S": "ignore"},
                "expires_at": {"S": expired["expires_at"]},
                "version": {"N": "2"},
            },
        },
    }
    assert expiry.handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    assert Finding.get("demo", "CVE-1").status == "expired"
    # When alice assesses it again, and bob then writes with the version he held
    assert put({"type": "blocked"})[1]["version"] == 3
    assert put({"type": "caution"}, if_match="2")[0] == 412
    assert put({"type": "caution"}, if_match="1")[0] == 412
    # Then only the newest version is current
    assert put({"type": "caution"}, if_match="3")[1]["version"] == 4


def test_no_assessment_is_version_0_for_if_match(finding: Finding) -> None:
    assert put({"type": "ignore"}, if_match="1")[0] == 412
    assert put({"type": "ignore"}, if_match="0")[1]["version"] == 1


def test_a_write_racing_an_assessment_and_its_removal_takes_the_next_version(
    finding: Finding, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given bob reads the finding unassessed, then alice assesses and removes it before bob writes
    real_current = assessment_store.current
    reads = {"n": 0}

    def racing_current(feed: str, vulnerability_id: str) -> Assessment | None:
        reads["n"] += 1
        if reads["n"] == 1:
            monkeypatch.setattr(assessment_store, "current", real_current)
            assert put({"type": "ignore"})[1]["version"] == 1
            assert request(findings, "DELETE", PATH, caller=ALICE)[0] == 204
            return None
        return real_current(feed, vulnerability_id)

    monkeypatch.setattr(assessment_store, "current", racing_current)
    # When bob writes without If-Match
    status, answer = put({"type": "caution"}, caller=key_caller("admin", "bob") | {"admin": "true"})
    # Then his write is applied on a fresh read, as version 2: version 1 is never reused
    assert (status, answer["version"]) == (200, 2)
