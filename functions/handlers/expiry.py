"""Assessment and package exception expiry: DynamoDB's TTL deletes an
assessment (or an exception, an item of the same table) when it expires,
and its REMOVE stream record arrives here. Only TTL's deletions count: the
mapping's FilterCriteria lets only them through, and this handler checks
again, because AWS documents that filter inconsistently. Failures are
reported per record (by sequence number), so only they are retried."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from feedguard.dal import exceptions, history
from feedguard.observability import metrics, tracer

logger = Logger()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

TTL_PRINCIPAL = "dynamodb.amazonaws.com"


def is_ttl_deletion(record: DynamoDBRecord) -> bool:
    identity = record.raw_event.get("userIdentity") or {}
    return (
        record.raw_event.get("eventName") == "REMOVE"
        and identity.get("type") == "Service"
        and identity.get("principalId") == TTL_PRINCIPAL
    )


def record_handler(record: DynamoDBRecord) -> None:
    if not is_ttl_deletion(record):
        logger.info("not a TTL deletion; nothing expired", extra={"event_name": record.raw_event.get("eventName")})
        return
    assessment = record.dynamodb.old_image if record.dynamodb else None
    if not assessment:
        raise ValueError("a TTL deletion without its old image: the stream must be NEW_AND_OLD_IMAGES")
    exception = exceptions.from_image(assessment)
    if exception is not None:
        recorded = exceptions.record_expired(exception)
        logger.info(
            "exception expired" if recorded else "expiry already recorded",
            extra={"feed": exception.feed, "exception_id": exception.id},
        )
        return
    written = history.record_expired(
        feed=str(assessment["feed"]),
        vulnerability_id=str(assessment["vulnerability_id"]),
        assessment_type=str(assessment["type"]),
        expires_at=str(assessment["expires_at"]),
        version=int(assessment.get("version") or 0),
    )
    logger.info(
        "assessment expired" if written else "expiry already recorded",
        extra={"feed": assessment["feed"], "vulnerability_id": assessment["vulnerability_id"]},
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
