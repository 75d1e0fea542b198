"""Starts a scan. Two triggers: the schedule's input ({"trigger": "schedule"},
every feed), and scan requests from POST /scans on the scan request queue
({"scan_id", "feed", "refresh"}). Creates or reads the scan record,
deduplicates purls across feeds per source, and puts batches of at most 128
purls on the scan queue for the workers."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from feedguard import scanning
from feedguard.dal import scans
from feedguard.ids import new_id
from feedguard.observability import metrics, tracer
from feedguard.settings import settings

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require("scan_queue_url", "scan_request_queue_url")
processor = BatchProcessor(event_type=EventType.SQS)


def start(request: dict[str, Any]) -> dict[str, Any]:
    feed = request.get("feed")
    refresh = bool(request.get("refresh", False))
    scan_id = str(request.get("scan_id") or new_id("s"))
    scan = scans.get(scan_id) or scans.create(scan_id, feed, str(request.get("trigger", "schedule")), refresh)
    if scans.planned(scan):
        # A retried request for a scan already planned must not plan it twice.
        # One whose planning died half-way is planned again: its batches have
        # the same numbers, and a batch counts once.
        logger.info("scan already planned", extra={"scan_id": scan_id, "status": scan.status})
        return {"scan_id": scan_id, "status": scan.status}
    planned = scanning.scan_feeds(scan, feed)
    logger.info("scan planned", extra={"scan_id": scan_id, "batches": planned.batches, "packages": planned.packages})
    return {"scan_id": scan_id, "status": "running" if planned.batches else "succeeded"}


def record_handler(record: SQSRecord) -> None:
    start(json.loads(record.body))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    return start(event)
