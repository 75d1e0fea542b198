"""The audit trail names keys by id (finding #8 of issue 27): key names are
not unique and could be the system's, so history entries and assessments
record the key's id beside the name it had; the system acts as `scanner`,
`auto` and `admin`, names no key may take."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from feedguard import actors
from feedguard.dal import feeds as feed_store
from feedguard.dal import history, permissions
from feedguard.dal.models import Assessment, HistoryEntry
from handlers import events, expiry, findings, keys
from tests.support import ADMIN, LambdaContext, key_caller, load_event, request
from tests.unit import builders
from tests.unit.builders import a_finding

FINDING = "/feeds/demo/vulnerabilities/CVE-1"
# Two keys of one name: only their ids tell them apart.
ALICE = key_caller("kalice1", "alice")
OTHER_ALICE = key_caller("kalice2", "alice")


@pytest.fixture
def finding(aws: Any) -> None:
    builders.a_feed("demo")
    for caller in (ALICE, OTHER_ALICE):
        permissions.grant(feed_store.require("demo"), caller["key_id"], "assessor")
    a_finding("demo", "CVE-1")


def history_items() -> list[dict[str, Any]]:
    status, page = request(findings, "GET", f"{FINDING}/history")
    assert status == 200, page
    return list(page["items"])


def test_history_names_each_key_by_its_id_and_the_name_it_had(finding: None) -> None:
    # Given two keys both called alice, and the admin
    # When each assesses, and the second removes the assessment
    first = request(findings, "PUT", f"{FINDING}/assessment", body={"type": "caution"}, caller=ALICE)[1]
    second = request(findings, "PUT", f"{FINDING}/assessment", body={"type": "ignore"}, caller=OTHER_ALICE)[1]
    assert request(findings, "DELETE", f"{FINDING}/assessment", caller=OTHER_ALICE)[0] == 204
    by_admin = request(findings, "PUT", f"{FINDING}/assessment", body={"type": "blocked"}, caller=ADMIN)[1]
    # Then the history tells them apart by id, and names each as it was called
    assert [(e["action"], e["actor"], e["actor_id"]) for e in history_items()] == [
        ("detected", "scanner", "scanner"),
        ("assessed", "alice", "kalice1"),
        ("assessed", "alice", "kalice2"),
        ("unassessed", "alice", "kalice2"),
        ("assessed", "admin", "admin"),
    ]
    # And each assessment says who made it the same way (assessed_by stays the name)
    assert [(a["assessed_by"], a["assessed_by_id"]) for a in (first, second, by_admin)] == [
        ("alice", "kalice1"),
        ("alice", "kalice2"),
        ("admin", "admin"),
    ]
    shown = request(findings, "GET", FINDING)[1]["assessment"]
    assert (shown["assessed_by"], shown["assessed_by_id"]) == ("admin", "admin")
    listed = request(findings, "GET", "/feeds/demo/vulnerabilities")[1]["items"][0]["assessment"]
    assert listed["assessed_by_id"] == "admin"


def test_entries_and_assessments_written_before_ids_were_kept_answer_a_null_id(aws: Any) -> None:
    # Given an entry and an assessment stored before actor_id and assessed_by_id existed
    builders.a_feed("demo")
    a_finding("demo", "CVE-1", status="assessed")
    HistoryEntry(
        finding=history.finding_key("demo", "CVE-1"),
        seq=history.seq("2026-11-01T00:00:00Z", "assessed"),
        at="2026-11-01T00:00:00Z",
        actor="alice",
        action="assessed",
        type="ignore",
    ).save()
    Assessment(
        feed="demo",
        vulnerability_id="CVE-1",
        type="ignore",
        effect="allow",
        assessed_by="alice",
        assessed_at="2026-11-01T00:00:00Z",
        version=1,
    ).save()
    # When they are read, they answer with a null id rather than failing
    old = [e for e in history_items() if e["actor"] == "alice"]
    assert [(e["actor"], e["actor_id"]) for e in old] == [("alice", None)]
    status, detail = request(findings, "GET", FINDING)
    assert status == 200
    assert (detail["assessment"]["assessed_by"], detail["assessment"]["assessed_by_id"]) == ("alice", None)


def test_an_expiry_is_recorded_as_the_systems_auto(aws: Any) -> None:
    a_finding("demo", "CVE-2021-23337", status="assessed")
    assert expiry.handler(load_event("stream-assessment-ttl-remove.json"), LambdaContext()) == {"batchItemFailures": []}
    (expired,) = [e for e in history.entries("demo", "CVE-2021-23337") if e.action == "expired"]
    assert (expired.actor, expired.actor_id) == ("auto", "auto")


def test_the_assessed_event_carries_the_id_the_entry_records(finding: None) -> None:
    request(findings, "PUT", f"{FINDING}/assessment", body={"type": "caution"}, caller=OTHER_ALICE)
    (entry,) = [e for e in history.entries("demo", "CVE-1") if e.action == "assessed"]
    announced = events.detail_of(dict(entry.attribute_values), None)
    assert announced is not None
    detail_type, detail = announced
    assert (detail_type, detail["actor"], detail["actor_id"]) == ("Finding Assessed", "alice", "kalice2")


@pytest.mark.parametrize("name", ["admin", "auto", "scanner", "system", "feedguard", " Scanner ", "ADMIN", "\tAuto\n"])
def test_a_key_may_not_take_a_system_name(aws: Any, name: str) -> None:
    status, answer = request(keys, "POST", "/api-keys", body={"name": name})
    assert status == 422, answer
    assert ["body", "name"] in [problem["loc"] for problem in answer["details"]]
    assert "system" in answer["message"]
    table = aws.table_names["KeysTable"]
    assert boto3.client("dynamodb").scan(TableName=table)["Items"] == []


@pytest.mark.parametrize("name", ["scanner-bot", "auto deploy", "administrator"])
def test_names_that_only_contain_a_system_name_are_keys_names(aws: Any, name: str) -> None:
    status, answer = request(keys, "POST", "/api-keys", body={"name": name})
    assert (status, answer["name"]) == (201, name)


def test_the_reserved_names_include_every_system_actor() -> None:
    for actor in (actors.ADMIN, actors.AUTO, actors.SCANNER):
        assert actors.is_reserved(actor.name)
