"""Scan queue worker: one message is one batch of at most 128 purls for one
source. A message whose batch fails for a reason OSS Index gave is counted as
a failed batch (the scan ends partial or failed); an unexpected error is
reported for that message alone, so SQS redelivers it, until its last
delivery, when it is counted as failed too, so the scan always finishes."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from feedguard import scanner
from feedguard.dal import scans
from feedguard.scanplan import Batch

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)

# The scan queue's redrive policy moves a message to the DLQ after 5 receives.
LAST_TRY = 4


def parse(record: SQSRecord) -> Batch:
    message = json.loads(record.body)
    return Batch(
        scan_id=str(message["scan_id"]),
        number=int(message["batch"]),
        source_id=str(message["source_id"]),
        purls=tuple(str(purl) for purl in message["purls"]),
        refresh=bool(message.get("refresh", False)),
        feeds=tuple(str(feed) for feed in message.get("feeds", ())),
    )


def internal_error(error: BaseException) -> str:
    """One sentence for the scan's errors: the exception's kind, and the AWS
    error code behind it when there is one (throttling, a missing table)."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ClientError):
        cause = cause.__cause__ or cause.__context__
    code = f" ({cause.response.get('Error', {}).get('Code')})" if isinstance(cause, ClientError) else ""
    return f"Internal error: {type(error).__name__}{code}."


def record_handler(record: SQSRecord) -> None:
    batch = parse(record)
    logger.append_keys(scan_id=batch.scan_id, batch=batch.number)
    try:
        result = scanner.process(batch)
    except Exception as error:
        receives = int(record.attributes.approximate_receive_count or 1)
        if receives < LAST_TRY:
            raise
        logger.exception("batch failed on its last delivery; counted as failed")
        outcome = scans.BatchOutcome(failed=True, error_source=batch.source_id, error_message=internal_error(error))
        if scans.count_batch(batch.scan_id, batch.number, outcome):
            finished = scans.finish_if_complete(batch.scan_id)
            if finished is not None:
                logger.info("scan finished", extra={"status": finished.status})
        return
    if result is None:
        logger.info("batch already counted; redelivery ignored")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
