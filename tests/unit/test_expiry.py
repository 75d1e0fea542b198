"""The expiry function, driven with the stream records of events/."""

from __future__ import annotations

from typing import Any

import pytest

from feedguard.dal import history
from feedguard.dal.models import Finding
from handlers import expiry
from tests.support import LambdaContext, load_event


def a_finding(feed: str = "demo", vulnerability_id: str = "CVE-2021-23337", status: str = "assessed") -> None:
    Finding(
        feed=feed,
        vulnerability_id=vulnerability_id,
        packages={"pkg:npm/lodash@4.17.20"},
        status=status,
        feed_status=f"{feed}#{status}",
        score_key="072",
        cvss_score=7.2,
        severity_band="high",
        first_seen="2026-08-01T00:00:00Z",
        last_seen="2026-11-25T00:00:00Z",
        assessment_band="high" if status == "assessed" else None,
    ).save()


def test_a_ttl_deletion_records_one_expired_entry_and_flags_the_finding(aws: Any) -> None:
    # Given an assessed finding
    a_finding()
    # When DynamoDB's TTL deletes its assessment
    response = expiry.handler(load_event("stream-assessment-ttl-remove.json"), LambdaContext())
    # Then nothing failed, one `expired` entry exists, and the finding needs reassessment
    assert response == {"batchItemFailures": []}
    (entry,) = history.entries("demo", "CVE-2021-23337")
    assert (entry.action, entry.type, entry.at) == ("expired", "ignore", "2026-11-25T10:00:00Z")
    flagged = Finding.get("demo", "CVE-2021-23337")
    assert (flagged.status, flagged.assessment_band) == ("expired", None)


def test_a_redelivered_record_does_not_record_twice(aws: Any) -> None:
    a_finding()
    event = load_event("stream-assessment-ttl-remove.json")
    expiry.handler(event, LambdaContext())
    expiry.handler(event, LambdaContext())
    assert len(history.entries("demo", "CVE-2021-23337")) == 1


def test_a_users_deletion_never_expires_anything(aws: Any) -> None:
    a_finding()
    response = expiry.handler(load_event("stream-assessment-user-remove.json"), LambdaContext())
    assert response == {"batchItemFailures": []}
    assert history.entries("demo", "CVE-2021-23337") == []
    assert Finding.get("demo", "CVE-2021-23337").status == "assessed"


def test_the_expiry_of_a_deleted_feeds_finding_is_still_recorded(aws: Any) -> None:
    expiry.handler(load_event("stream-assessment-ttl-remove.json"), LambdaContext())
    assert [entry.action for entry in history.entries("demo", "CVE-2021-23337")] == ["expired"]


def test_a_failing_record_is_reported_by_sequence_number_while_the_others_succeed(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three TTL deletions, the second of which cannot be recorded
    a_finding(vulnerability_id="CVE-2021-23337")
    template = load_event("stream-assessment-ttl-remove.json")["Records"][0]
    batch = []
    for number, vulnerability_id in enumerate(["CVE-2021-23337", "CVE-BROKEN", "CVE-2020-28500"], start=1):
        record = load_event("stream-assessment-ttl-remove.json")["Records"][0]
        record["dynamodb"]["SequenceNumber"] = f"{template['dynamodb']['SequenceNumber'][:-1]}{number}"
        record["dynamodb"]["OldImage"]["vulnerability_id"] = {"S": vulnerability_id}
        batch.append(record)
    real = history.record_expired

    def flaky(**kwargs: Any) -> bool:
        if kwargs["vulnerability_id"] == "CVE-BROKEN":
            raise RuntimeError("throttled")
        return real(**kwargs)

    monkeypatch.setattr(history, "record_expired", flaky)
    # When they arrive in one batch
    response = expiry.handler({"Records": batch}, LambdaContext())
    # Then only the failing one is reported, by its sequence number, and the others are recorded
    assert response == {"batchItemFailures": [{"itemIdentifier": batch[1]["dynamodb"]["SequenceNumber"]}]}
    assert len(history.entries("demo", "CVE-2021-23337")) == 1
    assert len(history.entries("demo", "CVE-2020-28500")) == 1


def an_exception_ttl_removal(vulnerability_ids: list[str] | None) -> dict[str, Any]:
    """TTL's REMOVE record of a package exception, its image as the model writes it."""
    from feedguard.dal.models import ExceptionItem

    item = ExceptionItem(
        feed="demo",
        key=ExceptionItem.key_of("ex_0001"),
        id="ex_0001",
        purl="pkg:npm/lodash",
        versions="vers:npm/<4.17.21",
        vulnerability_ids=vulnerability_ids,
        type="ignore",
        effect="allow",
        created_by="alice",
        created_by_id="kalice",
        created_at="2026-08-27T10:00:00Z",
        expires_at="2026-11-25T10:00:00Z",
        expires_ttl=1795600800,
    )
    event = load_event("stream-assessment-ttl-remove.json")
    (record,) = event["Records"]
    image = item.serialize()
    record["dynamodb"]["OldImage"] = image
    record["dynamodb"]["Keys"] = {"feed": image["feed"], "vulnerability_id": image["vulnerability_id"]}
    return event


@pytest.mark.parametrize("vulnerability_ids", [["CVE-2021-23337", "CVE-2020-8203"], None])
def test_an_exceptions_ttl_deletion_is_recorded_once_where_its_changes_are(
    aws: Any, vulnerability_ids: list[str] | None
) -> None:
    from feedguard.dal import exceptions

    # Given an assessed finding, and an exception that expired for its package
    a_finding()
    event = an_exception_ttl_removal(vulnerability_ids)
    # When TTL's deletion arrives, twice
    assert expiry.handler(event, LambdaContext()) == {"batchItemFailures": []}
    assert expiry.handler(event, LambdaContext()) == {"batchItemFailures": []}
    # Then the feed's stream and each listed vulnerability's history say so once, and the finding is untouched
    for stream in [exceptions.FEED_STREAM, *(vulnerability_ids or [])]:
        (entry,) = history.entries("demo", stream)
        assert (entry.action, entry.actor_id, entry.type, entry.at) == (
            "exception_expired",
            "auto",
            "ignore",
            "2026-11-25T10:00:00Z",
        )
        assert "ex_0001" in str(entry.reason)
    assert Finding.get("demo", "CVE-2021-23337").status == "assessed"
