"""Findings events, published from the history: every `detected`, `assessed`,
`expired`, `reopened`, `withdrawn` and `expiring` entry was written in the same
transaction as the change it records, so the history is an outbox and no
event is lost when a publish fails (the record is retried; failures are
reported one by one).

Events go to the findings bus with source `feedguard`: Finding Detected,
Finding Assessed, Assessment Expired, Assessment Reopened, Finding Withdrawn;
and Exception Expired and Exception Expiring (the warning, as Assessment
Expiring is an assessment's), from the feed's own stream of package exception
entries (`<feed id>#*`, its `vulnerability_id` `*`, the exception in its
`reason`) only, as the same entry in each listed vulnerability's history
repeats it.
Each detail carries the contract's fields at its top level (`feed`,
`vulnerability_id`, `title`, `cvss_score`, `packages`; for `assessed` also
`type`, `actor`, `actor_id` and `expires_at`), so a rule can match on them
and an input transformer can quote them (template.yaml's webhook rule does
both). Teams route them to chat, e-mail or tickets with a rule."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from feedguard import clock
from feedguard.aliases import rank
from feedguard.dal import feeds as feed_store
from feedguard.dal import findings as finding_store
from feedguard.dal.exceptions import FEED_STREAM
from feedguard.domain import Finding
from feedguard.effects import severity
from feedguard.observability import metrics, tracer
from feedguard.settings import settings

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require("event_bus_name")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

SOURCE = "feedguard"
# PutEvents takes at most 10 entries a call.
ENTRIES_A_CALL = 10
DETAIL_TYPES = {
    "detected": "Finding Detected",
    "assessed": "Finding Assessed",
    "expired": "Assessment Expired",
    "reopened": "Assessment Reopened",
    "withdrawn": "Finding Withdrawn",
    "expiring": "Assessment Expiring",
    "merged": "Findings Merged",
}
# Announced from the feed's stream only (above).
FEED_DETAIL_TYPES = {"exception_expired": "Exception Expired", "exception_expiring": "Exception Expiring"}


@lru_cache(maxsize=1)
def _events() -> Any:
    return boto3.client("events")


def detail_of(entry: dict[str, Any], finding: Finding | None) -> tuple[str, dict[str, Any]] | None:
    """The event a history entry announces, with its finding as it is now
    (None: its feed was deleted since, and the event still says what
    happened); None for entries that announce nothing."""
    detail_type = _detail_type(entry)
    if detail_type is None:
        return None
    feed_id, vulnerability_id = _finding_key(entry)
    score = float(finding.cvss_score) if finding and finding.cvss_score is not None else None
    title = finding.title if finding else None
    packages = sorted(finding.packages) if finding else []
    return detail_type, {
        # The feed's name (None once a deleted feed is purged) and its id.
        "feed": feed_store.name_of(feed_id),
        "feed_id": feed_id,
        "vulnerability_id": vulnerability_id,
        # The finding's other ids (docs/data-model.md, Aliases); vulnerability_id is its canonical one.
        "aliases": sorted(finding.aliases, key=rank) if finding else [],
        "title": title,
        "cvss_score": score,
        "packages": packages,
        # The same, as published before the contract named the fields above.
        "vulnerability": {
            "id": vulnerability_id,
            "title": title,
            "cvss_score": score,
            "cve": finding.cve if finding else None,
        },
        "severity": severity(score),
        "action": entry["action"],
        "at": entry.get("at"),
        # Who: the key's name at the time and its id, as the entry records them.
        "actor": entry.get("actor"),
        "actor_id": entry.get("actor_id"),
        "type": entry.get("type"),
        # An assessment's expiry as it was made (None: it does not expire).
        "expires_at": entry.get("expires_at"),
        "reason": entry.get("reason"),
        # Whole days from the warning to the expiry, rounded up (`expiring`, `exception_expiring`; else null).
        "days_left": _days_left(entry),
    }


def _detail_type(entry: dict[str, Any]) -> str | None:
    action = str(entry.get("action"))
    if action in FEED_DETAIL_TYPES:
        return FEED_DETAIL_TYPES[action] if _finding_key(entry)[1] == FEED_STREAM else None
    return DETAIL_TYPES.get(action)


def _days_left(entry: dict[str, Any]) -> int | None:
    warning = entry.get("action") in {"expiring", "exception_expiring"}
    if not warning or not entry.get("expires_at") or not entry.get("at"):
        return None
    return clock.days_left(str(entry["expires_at"]), str(entry["at"]))


def _finding_key(entry: dict[str, Any]) -> tuple[str, str]:
    feed, _, vulnerability_id = str(entry["finding"]).partition("#")
    return feed, vulnerability_id


def publish(records: list[DynamoDBRecord]) -> dict[str, str]:
    """Publishes the events the records announce, their findings read
    together and ENTRIES_A_CALL events a call (a first scan writes a
    `detected` entry for each of thousands of findings: a read and a call
    each was most of this function's time). Returns why each record whose
    event was not published failed, by sequence number: a refused event
    alone; once a call fails, it and every record after it, as the stream
    is read again from the first failed record."""
    entries = [(record, dict(record.dynamodb.new_image or {}) if record.dynamodb else {}) for record in records]
    announcing = [(record, entry) for record, entry in entries if _detail_type(entry) is not None]
    keys = sorted({_finding_key(entry) for _, entry in announcing})
    findings = finding_store.read(keys)
    events = []
    for record, entry in announcing:
        announced = detail_of(entry, findings.get(_finding_key(entry)))
        if announced is not None:
            events.append((record, *announced))
    failed: dict[str, str] = {}
    for start in range(0, len(events), ENTRIES_A_CALL):
        chunk = events[start : start + ENTRIES_A_CALL]
        try:
            answer = _events().put_events(
                Entries=[
                    {
                        "Source": SOURCE,
                        "DetailType": detail_type,
                        "Detail": json.dumps(detail, default=str),
                        "EventBusName": settings().event_bus_name,
                    }
                    for _, detail_type, detail in chunk
                ]
            )
        except Exception as error:
            logger.exception("publishing events failed")
            reason = f"publishing failed: {type(error).__name__}: {error}"
            failed.update((_sequence(record), reason) for record, _, _ in events[start:])
            break
        for (record, detail_type, detail), result in zip(chunk, answer.get("Entries") or [], strict=False):
            if result.get("ErrorCode"):
                failed[_sequence(record)] = f"EventBridge refused {detail_type}: {result.get('ErrorMessage')}"
            else:
                logger.info("event published", extra={"detail_type": detail_type, "feed": detail["feed"]})
    return failed


def _sequence(record: DynamoDBRecord) -> str:
    return str(record.dynamodb.sequence_number if record.dynamodb else "")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    failed = publish([DynamoDBRecord(raw) for raw in event["Records"]])

    def record_handler(record: DynamoDBRecord) -> None:
        reason = failed.get(_sequence(record))
        if reason is not None:
            raise RuntimeError(reason)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
