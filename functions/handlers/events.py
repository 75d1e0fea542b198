"""Findings events, published from the history: every `detected`, `expired`,
`reopened` and `withdrawn` entry was written in the same transaction as the
change it records, so the history is an outbox and no event is lost when a
publish fails (the record is retried; failures are reported one by one).

Events go to the findings bus with source `feedguard`: Finding Detected,
Assessment Expired, Assessment Reopened, Finding Withdrawn. Teams route them to
chat, e-mail or tickets with a rule."""

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

from feedguard.dal.models import Finding
from feedguard.effects import severity
from feedguard.settings import settings

logger = Logger()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

SOURCE = "feedguard"
DETAIL_TYPES = {
    "detected": "Finding Detected",
    "expired": "Assessment Expired",
    "reopened": "Assessment Reopened",
    "withdrawn": "Finding Withdrawn",
}


@lru_cache(maxsize=1)
def _events() -> Any:
    return boto3.client("events")


def detail_of(entry: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The event a history entry announces, or None for entries that announce nothing."""
    detail_type = DETAIL_TYPES.get(str(entry.get("action")))
    if detail_type is None:
        return None
    feed, _, vulnerability_id = str(entry["finding"]).partition("#")
    try:
        finding = Finding.get(feed, vulnerability_id)
    except Finding.DoesNotExist:
        finding = None  # its feed was deleted since: the event still says what happened
    score = float(finding.cvss_score) if finding and finding.cvss_score is not None else None
    return detail_type, {
        "feed": feed,
        "vulnerability": {
            "id": vulnerability_id,
            "title": finding.title if finding else None,
            "cvss_score": score,
            "cve": finding.cve if finding else None,
        },
        "packages": sorted(finding.packages or ()) if finding else [],
        "severity": severity(score),
        "action": entry["action"],
        "at": entry.get("at"),
        "actor": entry.get("actor"),
        "type": entry.get("type"),
        "reason": entry.get("reason"),
    }


def record_handler(record: DynamoDBRecord) -> None:
    entry = record.dynamodb.new_image if record.dynamodb else None
    event = detail_of(dict(entry or {}))
    if event is None:
        return
    detail_type, detail = event
    answer = _events().put_events(
        Entries=[
            {
                "Source": SOURCE,
                "DetailType": detail_type,
                "Detail": json.dumps(detail, default=str),
                "EventBusName": settings().event_bus_name,
            }
        ]
    )
    if answer.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge refused {detail_type}: {answer['Entries'][0].get('ErrorMessage')}")
    logger.info("event published", extra={"detail_type": detail_type, "feed": detail["feed"]})


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
