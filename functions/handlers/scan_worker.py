"""Scan queue worker: a plain SQS consumer. The scan queue's event source
mapping hands an invocation up to `ScanWorkerBatchSize` messages, each one
batch of at most 128 purls for one source (one OSS Index request), and
powertools' BatchProcessor works them one after another, reporting the
failed ones (`ReportBatchItemFailures`) so that only those come back. How
many invocations run at once, so how many requests OSS Index sees at once,
is the mapping's `ScalingConfig.MaximumConcurrency` (template.yaml).

A batch that fails for a reason OSS Index gave is counted as a failed batch
(the scan ends partial or failed). An unexpected error fails that message
alone: it is made visible again after `SCAN_RETRY_SECONDS`, doubled with
each receive, rather than after the queue's visibility timeout, and on its
LAST_TRY-th delivery it is counted as failed, so the scan always finishes."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from feedguard import scan_queue, scanner
from feedguard.dal import scans
from feedguard.observability import metrics, tracer
from feedguard.scanplan import Batch
from feedguard.settings import settings

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require(
    "allow_private_sources", "scan_queue_url", "scan_request_queue_url", "scan_retry_seconds", "source_secret_prefix"
)
processor = BatchProcessor(event_type=EventType.SQS)

# The scan queue's redrive policy moves a message to its dead-letter queue
# after 5 receives (maxReceiveCount); the fourth counts the batch as failed,
# one delivery before, so a count that fails once more is still retried.
LAST_TRY = 4
# At most this long before a failed batch is visible again (SQS allows 12 hours).
RETRY_MAX_SECONDS = 900


def internal_error(error: BaseException) -> str:
    """One sentence for the scan's errors: the exception's kind, and the AWS
    error code behind it when there is one (throttling, a missing table)."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ClientError):
        cause = cause.__cause__ or cause.__context__
    code = f" ({cause.response.get('Error', {}).get('Code')})" if isinstance(cause, ClientError) else ""
    return f"Internal error: {type(error).__name__}{code}."


def identity(record: SQSRecord) -> tuple[str, int, str | None] | None:
    """(scan id, batch number, source id) of a message, even one whose batch
    cannot be read; None when not even those can."""
    try:
        message = json.loads(record.body)
        return str(message["scan_id"]), int(message["batch"]), message.get("source_id")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class Invocation:
    """The record handler of one invocation: its batches share the scan
    records they read (scanner.ScanReads), each read once."""

    def __init__(self) -> None:
        self.reads = scanner.ScanReads()

    def __call__(self, record: SQSRecord) -> None:
        receives, known = _receives(record), identity(record)
        # What is logged while this record is worked on names its batch.
        logger.remove_keys(["scan_id", "batch"])
        if known is not None:
            logger.append_keys(scan_id=known[0], batch=known[1])
        try:
            batch = Batch.from_message(json.loads(record.body))
            result = scanner.process(batch, redelivered=receives > 1, reads=self.reads)
        except Exception as error:
            if receives < LAST_TRY or known is None:
                _retry_soon(record, receives)
                raise  # reported failed; a message that names no scan ends in the dead-letter queue
            scan_id, number, source_id = known
            logger.exception("batch failed on its last delivery; counted as failed")
            outcome = scans.BatchOutcome(failed=True, error_source=source_id, error_message=internal_error(error))
            if scans.count_batch(scan_id, number, outcome) is scans.Counted.PERHAPS_LAST:
                scanner.finish(scan_id)
            return
        if result is None:
            logger.info("batch already counted; redelivery ignored")


def retry_delay(receives: int) -> int:
    """Seconds before a batch that failed on its `receives`-th delivery is
    visible again: `SCAN_RETRY_SECONDS` (the template's ScanBatchRetrySeconds,
    30), doubled with each receive, instead of the queue's visibility
    timeout (90 minutes)."""
    return int(min(RETRY_MAX_SECONDS, settings().scan_retry_seconds * 2 ** max(0, receives - 1)))


def _retry_soon(record: SQSRecord, receives: int) -> None:
    try:
        scan_queue.hide(record.receipt_handle, retry_delay(receives))
    except Exception:  # the message still comes back, after the queue's visibility timeout
        logger.exception("could not bring the failed batch back sooner")


def _receives(record: SQSRecord) -> int:
    return int(record.attributes.approximate_receive_count or 1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=Invocation(), processor=processor, context=context)
