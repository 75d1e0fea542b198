"""A feed's decisions: GET /feeds/{feed}/decisions (stale, expiring) and the
`expiring` warning each decision gets once (feedguard.decisions,
handlers.expiring), with the DynamoDB calls each costs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from feedguard import clock, decisions
from feedguard.actors import Actor
from feedguard.dal import assessments as assessment_store
from feedguard.dal import batching, detections, history, permissions
from feedguard.dal import decisions as decision_store
from feedguard.dal import feeds as feed_store
from feedguard.dal.models import Assessment, Finding
from feedguard.effects import score_key
from feedguard.findings_plan import WithdrawalPlan
from handlers import decisions as decisions_handler
from handlers import events, expiring
from tests.support import LambdaContext, counted_dynamodb_calls, key_caller, request
from tests.unit import builders
from tests.unit.builders import a_finding

ALICE = Actor("kalice", "alice")
PATH = "/feeds/demo/decisions"
VIEWER = key_caller("kviewer", "viewer")


@pytest.fixture
def feed(aws: Any) -> str:
    builders.a_feed("demo")
    permissions.grant(feed_store.require("demo"), "kviewer", "viewer")
    return "demo"


def assess(vulnerability_id: str, expires_in: timedelta | None = None, type_id: str = "ignore") -> None:
    expires = clock.now() + expires_in if expires_in is not None else None
    assessment_store.assess(
        "demo", vulnerability_id, type_id=type_id, effect="allow", comment="c", expires_at=expires, actor=ALICE
    )


def withdraw(*ids: str) -> None:
    detections.withdraw("demo", WithdrawalPlan({}, tuple(ids)), clock.now())


def listed(state: str, **query: str) -> tuple[int, Any]:
    """As the feed's viewer asks (the admin's access check is a GetItem, a key's one BatchGet)."""
    return request(decisions_handler, "GET", PATH, query={"state": state, **query}, caller=VIEWER)


def entries(vulnerability_id: str, action: str = "expiring") -> list[Any]:
    return [e for e in history.entries("demo", vulnerability_id) if e.action == action]


# ---------------------------------------------------------------- stale


def test_stale_lists_assessments_of_withdrawn_findings_and_of_none(feed: str) -> None:
    for vid in ("CVE-A", "CVE-B", "CVE-C", "CVE-D"):
        a_finding(feed, vid)
    assess("CVE-A")
    assess("CVE-B")  # still reported: not stale
    withdraw("CVE-A", "CVE-C")  # CVE-C was never assessed: nothing to list
    # An assessment whose finding is gone (a feed purged part way before feeds had ids)
    Assessment(
        feed=feed, vulnerability_id="CVE-GONE", type="ignore", effect="allow", assessed_by="bob", assessed_at="x"
    ).save()
    status, answer = listed("stale")
    assert status == 200
    assert [(i["kind"], i["vulnerability_id"], i["reason"]) for i in answer["items"]] == [
        ("assessment", "CVE-A", "withdrawn"),
        ("assessment", "CVE-GONE", "no_finding"),
    ]
    first = answer["items"][0]
    assert first["withdrawn_at"] == Finding.get(feed, "CVE-A").withdrawn_at
    assert (first["type"], first["effect"], first["assessed_by"], first["version"]) == ("ignore", "allow", "alice", 1)
    assert answer["next_cursor"] is None


def test_an_expired_assessment_ttl_has_not_deleted_yet_is_not_stale(feed: str) -> None:
    a_finding(feed, "CVE-A")
    assess("CVE-A", timedelta(days=1))
    withdraw("CVE-A")
    Assessment(feed=feed, vulnerability_id="CVE-A").update(
        actions=[Assessment.expires_ttl.set(int(clock.now().timestamp()) - 10)]
    )
    assert listed("stale")[1]["items"] == []


def test_a_revived_finding_makes_its_assessment_current_again(feed: str) -> None:
    a_finding(feed, "CVE-A")
    assess("CVE-A")
    withdraw("CVE-A")
    assert len(listed("stale")[1]["items"]) == 1
    Finding(feed=feed, vulnerability_id="CVE-A").update(actions=Finding.status_change(feed, "unassessed"))
    assert listed("stale")[1]["items"] == []


def many(count: int, stale_at: set[int]) -> None:
    """`count` assessed findings, written in batches; those at `stale_at` withdrawn."""
    now = clock.iso(clock.now())
    findings, assessments = [], []
    for n in range(count):
        vid = f"CVE-2026-{n:05d}"
        status = "withdrawn" if n in stale_at else "assessed"
        findings.append(
            Finding(
                feed="demo",
                vulnerability_id=vid,
                packages={"pkg:npm/a@1"},
                status=status,
                feed_status=f"demo#{status}",
                score_key=score_key(5.0),
                severity_band="medium",
                first_seen=now,
                last_seen=now,
                withdrawn_at=now if n in stale_at else None,
            )
        )
        assessments.append(
            Assessment(
                feed="demo", vulnerability_id=vid, type="ignore", effect="allow", assessed_by="bob", assessed_at=now
            )
        )
    batching.write(Finding, puts=findings)
    batching.write(Assessment, puts=assessments)


def test_stale_pages_follow_the_cursor_and_cost_two_calls_a_hundred_assessments(feed: str) -> None:
    many(250, stale_at={3, 120, 121, 249})
    seen, cursor, calls = [], None, []
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        with counted_dynamodb_calls() as counted:
            status, answer = listed("stale", **query)
        assert status == 200
        calls.append(dict(counted))
        seen += [item["vulnerability_id"] for item in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == ["CVE-2026-00003", "CVE-2026-00120", "CVE-2026-00121", "CVE-2026-00249"]
    # The feed and the caller's role (one BatchGet), then a Query of 100 assessments and a BatchGet of their findings
    assert calls == [
        {"BatchGetItem": 3, "Query": 2},  # 0-99, 100-199: two stale found in the second hundred
        {"BatchGetItem": 3, "Query": 2},  # from 121: the rest of 100-199, then 200-249
        {"BatchGetItem": 1, "Query": 1},  # the next kind's: the feed's package exceptions (none)
    ]


def test_a_stale_page_reads_a_bounded_number_of_assessments(feed: str) -> None:
    many(600, stale_at={599})
    with counted_dynamodb_calls() as counted:
        status, answer = listed("stale")
    assert status == 200
    assert answer["items"] == []
    assert answer["next_cursor"] is not None
    assert dict(counted) == {"BatchGetItem": 1 + decision_store.MAX_ROUNDS, "Query": decision_store.MAX_ROUNDS}
    status, answer = listed("stale", cursor=answer["next_cursor"])
    assert [item["vulnerability_id"] for item in answer["items"]] == ["CVE-2026-00599"]
    assert answer["next_cursor"] is None


# ---------------------------------------------------------------- expiring


def test_expiring_lists_those_in_force_that_expire_within_the_window_soonest_first(feed: str) -> None:
    for vid in ("CVE-1D", "CVE-5D", "CVE-10D", "CVE-NEVER", "CVE-PAST"):
        a_finding(feed, vid)
    assess("CVE-10D", timedelta(days=10))
    assess("CVE-5D", timedelta(days=5))
    assess("CVE-1D", timedelta(days=1))
    assess("CVE-NEVER")
    assess("CVE-PAST", timedelta(hours=1))
    past = clock.iso(clock.now() - timedelta(minutes=5))
    Assessment(feed=feed, vulnerability_id="CVE-PAST").update(actions=[Assessment.expires_at.set(past)])
    with counted_dynamodb_calls() as counted:
        status, answer = listed("expiring")
    assert status == 200
    assert [(i["vulnerability_id"], i["reason"]) for i in answer["items"]] == [
        ("CVE-1D", "expiring"),
        ("CVE-5D", "expiring"),
    ]
    assert dict(counted) == {"BatchGetItem": 1, "Query": 1}
    ids = [i["vulnerability_id"] for i in listed("expiring", within_days="30")[1]["items"]]
    assert ids == ["CVE-1D", "CVE-5D", "CVE-10D"]


def test_expiring_pages_are_one_query_each(feed: str) -> None:
    for n in range(5):
        a_finding(feed, f"CVE-{n}")
        assess(f"CVE-{n}", timedelta(days=1, hours=n))
    seen, cursor = [], None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        with counted_dynamodb_calls() as counted:
            answer = listed("expiring", **query)[1]
        assert dict(counted) == {"BatchGetItem": 1, "Query": 1}
        seen += [item["vulnerability_id"] for item in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"CVE-{n}" for n in range(5)]


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ({}, "state"),
        ({"state": "old"}, "state"),
        ({"state": "expiring", "within_days": "0"}, "within_days"),
        ({"state": "expiring", "within_days": "366"}, "within_days"),
        ({"state": "expiring", "within_days": "seven"}, "within_days"),
        ({"state": "stale", "within_days": "7"}, "within_days"),
        ({"state": "stale", "cursor": "not-a-cursor"}, "cursor"),
        ({"state": "expiring", "since": "x"}, "since"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(feed: str, query: dict[str, str], where: str) -> None:
    status, answer = request(decisions_handler, "GET", PATH, query=query)
    assert status == 422, answer
    assert ["query", where] in [detail["loc"] for detail in answer["details"]]


def test_a_cursor_of_another_list_is_422(feed: str) -> None:
    for n in range(3):
        a_finding(feed, f"CVE-{n}")
        assess(f"CVE-{n}", timedelta(days=1))
    cursor = listed("expiring", limit="1")[1]["next_cursor"]
    assert cursor
    for other in ({"state": "stale"}, {"state": "expiring", "within_days": "30"}):
        status, answer = request(decisions_handler, "GET", PATH, query={**other, "cursor": cursor})
        assert status == 422
        assert "other parameters" in answer["message"]


def test_an_unknown_feed_is_404(aws: Any) -> None:
    status, _ = request(decisions_handler, "GET", "/feeds/nope/decisions", query={"state": "stale"})
    assert status == 404


# ---------------------------------------------------------------- warnings


def sweep(days: int = 7, now: datetime | None = None) -> decisions.Sweep:
    return decisions.warn_expiring(now or clock.now(), days)


def test_a_warning_is_recorded_once_with_its_entry_and_marks_the_assessment(feed: str) -> None:
    a_finding(feed, "CVE-A")
    assess("CVE-A", timedelta(days=3), type_id="caution")
    assert Assessment.get(feed, "CVE-A").warned_at is None
    result = sweep()
    assert (result.feeds, result.warned, result.failed) == (1, 1, [])
    stored = Assessment.get(feed, "CVE-A")
    assert stored.warned_at is not None
    assert stored.version == 1  # a warning is no change of the decision
    (entry,) = entries("CVE-A")
    assert (entry.actor, entry.actor_id, entry.type, entry.expires_at) == ("auto", "auto", "caution", stored.expires_at)
    assert entry.reason == f"The caution assessment expires at {stored.expires_at}, in 3 days."
    # A second run, and a retried one, find nothing due
    assert (sweep().warned, sweep().skipped) == (0, 0)
    assert len(entries("CVE-A")) == 1


def test_two_sweeps_that_read_the_same_decision_record_its_warning_once(feed: str) -> None:
    a_finding(feed, "CVE-A")
    assess("CVE-A", timedelta(days=3))
    now = clock.now()
    (first,) = decision_store.due(feed, now, now + timedelta(days=7))
    (second,) = decision_store.due(feed, now, now + timedelta(days=7))
    assert decision_store.record_warning(first, now) is True
    assert decision_store.record_warning(second, now) is False
    assert len(entries("CVE-A")) == 1


def test_a_decision_reassessed_while_the_sweep_ran_is_warned_of_in_its_new_version(feed: str) -> None:
    a_finding(feed, "CVE-A")
    assess("CVE-A", timedelta(days=3))
    now = clock.now()
    (read,) = decision_store.due(feed, now, now + timedelta(days=7))
    assess("CVE-A", timedelta(days=5))  # version 2, while the sweep held version 1
    assert decision_store.record_warning(read, now) is False
    assert entries("CVE-A") == []
    assert sweep().warned == 1
    (entry,) = entries("CVE-A")
    assert entry.expires_at == Assessment.get(feed, "CVE-A").expires_at
    assert "in 5 days" in str(entry.reason)


def test_a_new_version_of_a_warned_decision_is_due_a_warning_of_its_own(feed: str) -> None:
    a_finding(feed, "CVE-A")
    assess("CVE-A", timedelta(days=3))
    sweep()
    assess("CVE-A", timedelta(days=2))  # reassessed: a new decision, warned_at gone
    assert Assessment.get(feed, "CVE-A").warned_at is None
    assert sweep().warned == 1
    assert len(entries("CVE-A")) == 2
    assessment_store.unassess(feed, "CVE-A", actor=ALICE)  # removed: nothing left to warn of
    assert sweep().warned == 0


def test_only_decisions_in_the_window_and_not_expired_are_warned(feed: str) -> None:
    for vid in ("CVE-SOON", "CVE-LATER", "CVE-NEVER", "CVE-PAST"):
        a_finding(feed, vid)
    assess("CVE-SOON", timedelta(days=6, hours=23))
    assess("CVE-LATER", timedelta(days=10))
    assess("CVE-NEVER")
    assess("CVE-PAST", timedelta(hours=1))
    past = clock.iso(clock.now() - timedelta(minutes=5))
    Assessment(feed=feed, vulnerability_id="CVE-PAST").update(actions=[Assessment.expires_at.set(past)])
    assert sweep(days=7).warned == 1
    assert [len(entries(vid)) for vid in ("CVE-SOON", "CVE-LATER", "CVE-NEVER", "CVE-PAST")] == [1, 0, 0, 0]
    # A longer window (the parameter raised) warns the later one at the next run
    assert sweep(days=14).warned == 1
    assert len(entries("CVE-LATER")) == 1


def test_the_handler_takes_the_window_from_the_template_parameter(feed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from feedguard.settings import settings

    a_finding(feed, "CVE-A")
    assess("CVE-A", timedelta(days=10))
    assert expiring.handler({"trigger": "schedule"}, LambdaContext())["warned"] == 0  # the default, 7
    monkeypatch.setenv("EXPIRING_WARNING_DAYS", "14")
    settings.cache_clear()
    try:
        answer = expiring.handler({"trigger": "schedule"}, LambdaContext())
    finally:
        monkeypatch.undo()
        settings.cache_clear()
    assert (answer["days"], answer["warned"]) == (14, 1)


def test_a_feed_whose_warnings_fail_stays_due_and_the_run_fails_after_the_others(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("alpha", "beta"):
        builders.a_feed(name)
        a_finding(name, "CVE-A")
        assessment_store.assess(
            name,
            "CVE-A",
            type_id="ignore",
            effect="allow",
            comment=None,
            expires_at=clock.now() + timedelta(days=2),
            actor=ALICE,
        )
    real = decision_store.record_warning

    def failing(due: Any, now: datetime) -> bool:
        if due.feed == "alpha":
            raise RuntimeError("throttled")
        return real(due, now)

    monkeypatch.setattr(decision_store, "record_warning", failing)
    with pytest.raises(expiring.WarningsFailed, match="alpha"):
        expiring.handler({}, LambdaContext())
    assert Assessment.get("alpha", "CVE-A").warned_at is None
    assert Assessment.get("beta", "CVE-A").warned_at is not None
    monkeypatch.setattr(decision_store, "record_warning", real)
    assert expiring.handler({}, LambdaContext())["warned"] == 1  # the next run retries it


def test_a_sweep_costs_a_query_a_feed_and_a_transaction_a_warning(aws: Any) -> None:
    for name in ("alpha", "beta", "gamma"):
        builders.a_feed(name)
    a_finding("alpha", "CVE-A")
    assessment_store.assess(
        "alpha", "CVE-A", type_id="ignore", effect="allow", comment=None,
        expires_at=clock.now() + timedelta(days=2), actor=ALICE,
    )  # fmt: skip
    with counted_dynamodb_calls() as counted:
        sweep()
    # The feeds (one Query of by_entity), one Query of by_expiry a feed, one transaction a warning
    assert dict(counted) == {"Query": 4, "TransactWriteItems": 1}


def test_the_warning_is_published_as_assessment_expiring_with_days_left(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import boto3

    from feedguard.settings import settings

    monkeypatch.setenv("EVENT_BUS_NAME", next(iter(aws.bus_names.values())))
    settings.cache_clear()
    events._events.cache_clear()
    builders.a_feed("demo")
    a_finding("demo", "CVE-A", "pkg:npm/lodash@4.17.20")
    assess("CVE-A", timedelta(days=2, hours=1), type_id="caution")
    sweep()
    (entry,) = entries("CVE-A")
    image = entry.serialize()
    record = {
        "eventID": "1",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"finding": image["finding"], "seq": image["seq"]},
            "NewImage": image,
            "SequenceNumber": "1",
        },
    }
    assert events.handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    (url,) = aws.recorded_events_queues.values()
    (message,) = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    event = json.loads(message["Body"])
    assert event["detail-type"] == "Assessment Expiring"
    detail = event["detail"]
    assert (detail["feed"], detail["vulnerability_id"], detail["type"], detail["days_left"]) == (
        "demo",
        "CVE-A",
        "caution",
        3,
    )
    assert detail["packages"] == ["pkg:npm/lodash@4.17.20"]
    assert detail["expires_at"] == Assessment.get("demo", "CVE-A").expires_at
    settings.cache_clear()


def test_days_left_rounds_up_and_stops_at_zero() -> None:
    assert clock.days_left("2026-12-10T00:00:00Z", "2026-12-03T00:00:00Z") == 7
    assert clock.days_left("2026-12-10T00:00:00Z", "2026-12-03T01:00:00Z") == 7
    assert clock.days_left("2026-12-10T00:00:00Z", "2026-12-09T23:00:00Z") == 1
    assert clock.days_left("2026-12-10T00:00:00Z", "2026-12-11T00:00:00Z") == 0


def test_a_run_that_failed_after_recording_a_warning_is_retried_without_a_second_one(
    feed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a_finding(feed, "CVE-A")
    assess("CVE-A", timedelta(days=3))
    real = decision_store.record_warning

    def recorded_then_lost(due: Any, now: datetime) -> bool:
        real(due, now)  # committed, then the answer is lost (a timeout, a crash)
        raise TimeoutError("read timeout")

    monkeypatch.setattr(decision_store, "record_warning", recorded_then_lost)
    with pytest.raises(expiring.WarningsFailed):
        expiring.handler({}, LambdaContext())
    monkeypatch.setattr(decision_store, "record_warning", real)
    # Lambda's retry, and the next hour's run
    assert expiring.handler({}, LambdaContext())["warned"] == 0
    assert len(entries("CVE-A")) == 1


def test_two_runs_at_once_record_each_warning_once(feed: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ids = [f"CVE-{n}" for n in range(8)]
    for vid in ids:
        a_finding(feed, vid)
        assess(vid, timedelta(days=2))
    now = clock.now()
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(lambda _: sweep(now=now), range(2)))
    assert sum(run.warned for run in runs) == len(ids)
    assert [len(entries(vid)) for vid in ids] == [1] * len(ids)
