"""Findings events, published from history entries (the outbox)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from handlers import events
from tests.support import LambdaContext
from tests.unit.builders import a_finding


def history_record(sequence: str, action: str, vulnerability_id: str = "CVE-2021-44228") -> dict[str, Any]:
    image = {
        "finding": {"S": f"demo#{vulnerability_id}"},
        "seq": {"S": f"2026-11-25T10:00:00Z#{sequence}"},
        "at": {"S": "2026-11-25T10:00:00Z"},
        "actor": {"S": "scanner"},
        "action": {"S": action},
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
    [("expired", "Assessment Expired"), ("reopened", "Assessment Reopened"), ("withdrawn", "Finding Withdrawn")],
)
def test_each_announced_action_has_its_detail_type(aws: Any, action: str, detail_type: str) -> None:
    a_finding("demo", "CVE-2021-44228")
    events.handler({"Records": [history_record("1", action)]}, LambdaContext())
    assert [event["detail-type"] for event in published(aws)] == [detail_type]


def test_assessments_announce_nothing(aws: Any) -> None:
    events.handler({"Records": [history_record("1", "assessed"), history_record("2", "unassessed")]}, LambdaContext())
    assert published(aws) == []


def test_a_refused_publish_is_reported_alone_so_it_is_retried(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    a_finding("demo", "CVE-A")
    a_finding("demo", "CVE-B")
    real = events._events()

    class Refusing:
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - boto3's name
            if "CVE-B" in Entries[0]["Detail"]:
                return {
                    "FailedEntryCount": 1,
                    "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}],
                }
            return dict(real.put_events(Entries=Entries))

    refusing = Refusing()
    monkeypatch.setattr(events, "_events", lambda: refusing)
    records = [history_record("1", "detected", "CVE-A"), history_record("2", "detected", "CVE-B")]
    answer = events.handler({"Records": records}, LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert [event["detail"]["vulnerability"]["id"] for event in published(aws)] == ["CVE-A"]
