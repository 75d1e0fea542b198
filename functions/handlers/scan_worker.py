"""Scan queue worker: one message is one batch of at most 128 purls for one
source. Failed messages are reported one by one (ReportBatchItemFailures),
so SQS redelivers only those."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from feedguard.scanplan import Batch

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)


def parse(record: SQSRecord) -> Batch:
    message = json.loads(record.body)
    return Batch(
        scan_id=str(message["scan_id"]),
        number=int(message["batch"]),
        source_id=str(message["source_id"]),
        purls=tuple(str(purl) for purl in message["purls"]),
        refresh=bool(message.get("refresh", False)),
    )


def record_handler(record: SQSRecord) -> None:
    batch = parse(record)
    logger.append_keys(scan_id=batch.scan_id, batch=batch.number)
    # Asking OSS Index and recording its answers is the scanner's (issue #4).
    raise NotImplementedError(f"scan batch {batch.number} of {batch.scan_id}: the OSS Index scanner is not built yet")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
