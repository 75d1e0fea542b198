"""Findings events, published from history entries (the outbox)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest

from feedguard.actors import Actor
from handlers import events
from tests.support import LambdaContext, counted_dynamodb_calls
from tests.unit.builders import a_finding


def history_record(
    sequence: str, action: str, vulnerability_id: str = "CVE-2021-44228", **extra: str
) -> dict[str, Any]:
    image = {
        "finding": {"S": f"demo#{vulnerability_id}"},
        "seq": {"S": f"2026-11-25T10:00:00Z#{sequence}"},
        "at": {"S": "2026-11-25T10:00:00Z"},
        "actor": {"S": "scanner"},
        "action": {"S": action},
        **{name: {"S": value} for name, value in extra.items()},
    }
    return {
        "eventID": sequence,
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "Keys": {"finding": image["finding"], "seq": image["seq"]},
            "NewImage": image,
            "SequenceNumber": sequence,
        },
    }


def published(aws: Any) -> list[dict[str, Any]]:
    (url,) = aws.recorded_events_queues.values()
    messages = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in messages]


@contextmanager
def counted_calls(client: Any, operation: str) -> Iterator[list[int]]:
    """The number of entries of each `operation` call of a boto3 client while the block runs."""
    sizes: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params.get("Entries", ())))

    event = (
        f"provide-client-params.{client.meta.service_model.service_name}.{client.meta.method_to_api_mapping[operation]}"
    )
    client.meta.events.register(event, count, unique_id="counted-calls")
    try:
        yield sizes
    finally:
        client.meta.events.unregister(event, unique_id="counted-calls")


@pytest.fixture(autouse=True)
def _bus(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from feedguard.settings import settings

    monkeypatch.setenv("EVENT_BUS_NAME", next(iter(aws.bus_names.values())))
    settings.cache_clear()
    events._events.cache_clear()


def test_a_detection_is_published_with_the_finding_its_packages_and_severity(aws: Any) -> None:
    a_finding("demo", "CVE-2021-44228", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", cvss=10.0)
    answer = events.handler({"Records": [history_record("1", "detected")]}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    (event,) = published(aws)
    assert (event["source"], event["detail-type"]) == ("feedguard", "Finding Detected")
    detail = event["detail"]
    assert (detail["feed"], detail["vulnerability"]["id"], detail["severity"]) == ("demo", "CVE-2021-44228", "critical")
    assert detail["packages"] == ["pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"]


@pytest.mark.parametrize(
    ("action", "detail_type"),
    [
        ("expired", "Assessment Expired"),
        ("reopened", "Assessment Reopened"),
        ("withdrawn", "Finding Withdrawn"),
        ("merged", "Findings Merged"),
    ],
)
def test_each_announced_action_has_its_detail_type(aws: Any, action: str, detail_type: str) -> None:
    a_finding("demo", "CVE-2021-44228")
    events.handler({"Records": [history_record("1", action)]}, LambdaContext())
    assert [event["detail-type"] for event in published(aws)] == [detail_type]


def test_events_name_the_canonical_id_and_carry_the_findings_aliases(aws: Any) -> None:
    finding = a_finding("demo", "CVE-2021-23337")
    finding.update(actions=[type(finding).aliases.set({"GHSA-35jh-r3h4-6jhm", "sonatype-2021-1"})])
    events.handler({"Records": [history_record("1", "merged", "CVE-2021-23337")]}, LambdaContext())
    (event,) = published(aws)
    detail = event["detail"]
    assert (event["detail-type"], detail["vulnerability_id"]) == ("Findings Merged", "CVE-2021-23337")
    assert detail["aliases"] == ["GHSA-35jh-r3h4-6jhm", "sonatype-2021-1"]


def test_an_assessment_is_announced_with_who_made_it_its_type_and_expiry(aws: Any) -> None:
    a_finding("demo", "CVE-2021-44228", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", cvss=10.0)
    record = history_record(
        "1",
        "assessed",
        actor="ci-bot",
        actor_id="k-123",
        type="ignore",
        expires_at="2027-01-01T00:00:00Z",
    )
    events.handler({"Records": [record]}, LambdaContext())
    (event,) = published(aws)
    assert event["detail-type"] == "Finding Assessed"
    detail = event["detail"]
    assert (detail["actor"], detail["actor_id"], detail["type"], detail["expires_at"]) == (
        "ci-bot",
        "k-123",
        "ignore",
        "2027-01-01T00:00:00Z",
    )


def test_an_assessment_that_does_not_expire_says_so_with_a_null_expiry(aws: Any) -> None:
    a_finding("demo", "CVE-2021-44228")
    events.handler({"Records": [history_record("1", "assessed", type="caution")]}, LambdaContext())
    (event,) = published(aws)
    assert event["detail"]["expires_at"] is None
    assert event["detail"]["type"] == "caution"


def test_removing_an_assessment_announces_nothing(aws: Any) -> None:
    events.handler({"Records": [history_record("1", "unassessed")]}, LambdaContext())
    assert published(aws) == []


CONTRACT_FIELDS = {"feed", "vulnerability_id", "title", "cvss_score", "packages"}
ASSESSED_FIELDS = {"type", "actor_id", "expires_at"}


@pytest.mark.parametrize("action", sorted(events.DETAIL_TYPES))
def test_every_event_carries_the_fields_the_contract_lists(aws: Any, action: str) -> None:
    a_finding("demo", "CVE-2021-44228", "pkg:npm/left-pad@1.0.0", cvss=7.5)
    events.handler({"Records": [history_record("1", action, actor_id="k-1", type="t")]}, LambdaContext())
    (event,) = published(aws)
    detail = event["detail"]
    assert detail.keys() >= CONTRACT_FIELDS | ASSESSED_FIELDS
    assert (detail["feed"], detail["vulnerability_id"]) == ("demo", "CVE-2021-44228")
    assert (detail["title"], detail["cvss_score"], detail["packages"]) == (
        "[CVE-2021-44228] something bad",
        7.5,
        ["pkg:npm/left-pad@1.0.0"],
    )


def test_an_event_of_a_deleted_feed_still_names_the_finding(aws: Any) -> None:
    events.handler({"Records": [history_record("1", "withdrawn", "CVE-GONE")]}, LambdaContext())
    (event,) = published(aws)
    detail = event["detail"]
    assert (detail["vulnerability_id"], detail["title"], detail["cvss_score"], detail["packages"]) == (
        "CVE-GONE",
        None,
        None,
        [],
    )


def test_the_stream_filter_lets_through_exactly_the_actions_that_are_announced() -> None:
    from infra.template import Template

    (mapping,) = [m for m in Template.load().stream_mappings() if m.function == "EventsFunction"]
    (pattern,) = mapping.filters
    assert set(pattern["dynamodb"]["NewImage"]["action"]["S"]) == set(events.DETAIL_TYPES) | set(
        events.FEED_DETAIL_TYPES
    )


def test_an_exceptions_expiry_is_announced_once_from_the_feeds_stream(aws: Any) -> None:
    a_finding("demo", "CVE-2021-44228")
    reason = (
        "Exception ex_1: ignore for pkg:npm/lodash (every version), CVE-2021-44228; expires at 2027-01-01T00:00:00Z."
    )
    records = [
        history_record("1", "exception_expired", "*", type="ignore", reason=reason),
        history_record("2", "exception_expired", "CVE-2021-44228", type="ignore", reason=reason),
    ]
    assert events.handler({"Records": records}, LambdaContext()) == {"batchItemFailures": []}
    (event,) = published(aws)
    assert event["detail-type"] == "Exception Expired"
    assert (event["detail"]["vulnerability_id"], event["detail"]["reason"]) == ("*", reason)


def test_an_exceptions_expiry_warning_is_announced_once_with_days_left(aws: Any) -> None:
    reason = "Exception ex_1: ignore for pkg:npm/lodash (every version), CVE-2021-44228; expires at …"
    records = [
        history_record(
            "1", "exception_expiring", "*", type="ignore", reason=reason,
            expires_at="2026-12-10T00:00:00Z", at="2026-12-07T12:00:00Z",
        ),
        history_record(
            "2", "exception_expiring", "CVE-2021-44228", type="ignore", reason=reason,
            expires_at="2026-12-10T00:00:00Z", at="2026-12-07T12:00:00Z",
        ),
    ]  # fmt: skip
    assert events.handler({"Records": records}, LambdaContext()) == {"batchItemFailures": []}
    (event,) = published(aws)
    assert event["detail-type"] == "Exception Expiring"
    detail = event["detail"]
    assert (detail["vulnerability_id"], detail["reason"], detail["days_left"]) == ("*", reason, 3)


def test_a_refused_publish_is_reported_alone_so_it_is_retried(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    a_finding("demo", "CVE-A")
    a_finding("demo", "CVE-B")
    real = events._events()

    class Refusing:
        calls = 0

        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
            self.calls += 1
            answers = []
            for entry in Entries:  # as EventBridge answers: one result an entry, in order
                if "CVE-B" in entry["Detail"]:
                    answers.append({"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"})
                else:
                    answers.append(real.put_events(Entries=[entry])["Entries"][0])
            return {"FailedEntryCount": sum("ErrorCode" in answer for answer in answers), "Entries": answers}

    refusing = Refusing()
    monkeypatch.setattr(events, "_events", lambda: refusing)
    a_finding("demo", "CVE-C")
    records = [history_record(str(n), "detected", f"CVE-{letter}") for n, letter in enumerate("ABC", start=1)]
    answer = events.handler({"Records": records}, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert sorted(event["detail"]["vulnerability"]["id"] for event in published(aws)) == ["CVE-A", "CVE-C"]
    assert refusing.calls == 1


def test_events_go_ten_a_call_with_their_findings_read_together(aws: Any) -> None:
    ids = [f"CVE-2026-{n:04d}" for n in range(25)]
    for vulnerability_id in ids:
        a_finding("demo", vulnerability_id, cvss=7.5)
    records = [history_record(str(n), "detected", vulnerability_id) for n, vulnerability_id in enumerate(ids)]
    records.insert(3, history_record("99", "unassessed"))  # announces nothing
    with counted_dynamodb_calls() as calls, counted_calls(events._events(), "put_events") as publishes:
        answer = events.handler({"Records": records}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    assert (publishes, dict(calls)) == ([10, 10, 5], {"BatchGetItem": 1})
    delivered = [event for _ in range(3) for event in published(aws)]
    assert sorted(event["detail"]["vulnerability"]["id"] for event in delivered) == ids
    assert {event["detail"]["severity"] for event in delivered} == {"high"}


def test_once_a_publish_fails_it_and_every_later_record_are_reported_failed(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [f"CVE-2026-{n:04d}" for n in range(25)]
    for vulnerability_id in ids:
        a_finding("demo", vulnerability_id)
    real = events._events()

    class Breaking:
        calls = 0

        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
            self.calls += 1
            if self.calls == 2:
                raise ConnectionError("the bus could not be reached")
            return dict(real.put_events(Entries=Entries))

    breaking = Breaking()
    monkeypatch.setattr(events, "_events", lambda: breaking)
    records = [history_record(str(n), "detected", vulnerability_id) for n, vulnerability_id in enumerate(ids)]
    answer = events.handler({"Records": records}, LambdaContext())
    # The first ten are published; the stream is read again from the eleventh, none published after it
    assert answer == {"batchItemFailures": [{"itemIdentifier": str(n)} for n in range(10, 25)]}
    assert breaking.calls == 2
    assert sorted(event["detail"]["vulnerability"]["id"] for event in published(aws)) == ids[:10]


def test_an_assessment_entry_records_the_expiry_its_event_announces(aws: Any) -> None:
    from datetime import UTC, datetime

    from feedguard.dal import assessments, history

    a_finding("demo", "CVE-2021-44228")
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    assessments.assess(
        "demo",
        "CVE-2021-44228",
        type_id="ignore",
        effect="allow",
        comment=None,
        expires_at=expires,
        actor=Actor("k123", "ci-bot"),
    )
    (entry,) = [e for e in history.entries("demo", "CVE-2021-44228") if e.action == "assessed"]
    assert entry.expires_at == "2030-01-01T00:00:00Z"


def test_an_event_names_its_feed_by_name_and_by_id(aws: Any) -> None:
    from feedguard.dal import feeds as feed_store

    # Given a feed made now (with an id), and a finding of it
    feed = feed_store.create("payments", None, "block")
    a_finding(feed.feed_id, "CVE-2021-44228", "pkg:npm/a@1")
    record = history_record("1", "detected")
    record["dynamodb"]["NewImage"]["finding"] = {"S": f"{feed.feed_id}#CVE-2021-44228"}
    # When its detection is published
    assert events.handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    # Then the event names the feed as the API does, and by its id
    (event,) = published(aws)
    assert (event["detail"]["feed"], event["detail"]["feed_id"]) == ("payments", feed.feed_id)
    assert event["detail"]["packages"] == ["pkg:npm/a@1"]
