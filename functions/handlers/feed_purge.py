"""Purges what a deleted feed's id owns (dal.purge), one message at a time
from the feed purge queue: it deletes a chunk at a time while the
invocation has time left, then, if rows remain, puts a continuation on the
queue naming the phase it reached, and ends. A redelivered message (the
function timed out, or failed) runs its phase again from what is left, so
nothing is deleted twice and nothing is left behind.

A message for a feed that is not deleted (the DELETE that sent it failed
after sending) is dropped: the feed's item still holds that id."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from feedguard import feed_purge
from feedguard.dal import feeds as feed_store
from feedguard.dal import purge
from feedguard.observability import metrics, tracer
from feedguard.settings import settings

logger = Logger()
# A cold start without it fails, naming its variable.
settings().require("feed_purge_queue_url")
processor = BatchProcessor(event_type=EventType.SQS)

# Seconds kept back from the invocation's timeout: a step (a Query page and
# its deletes) and the continuation's send fit in them.
MARGIN_SECONDS = 20


def purge_feed(message: dict[str, Any], context: LambdaContext) -> purge.Outcome | None:
    feed_id, name, phase = str(message["feed_id"]), str(message["name"]), message.get("phase")
    if phase is None and not feed_store.deleted(feed_id, name):
        logger.warning("a purge of a feed that is not deleted; dropped", extra={"feed_id": feed_id, "feed": name})
        return None

    def time_left() -> float:
        return context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS

    outcome = purge.run(feed_id, name, phase, time_left)
    if outcome.phase is not None:
        delay = feed_purge.SCAN_WAIT_SECONDS if outcome.wait else 0
        feed_purge.request(feed_id, name, outcome.phase, delay=delay)
    logger.info(
        "feed purged" if outcome.phase is None else "feed purge continues",
        extra={"feed_id": feed_id, "feed": name, "deleted": outcome.deleted, "next_phase": outcome.phase},
    )
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> Any:
    def record_handler(record: SQSRecord) -> None:
        purge_feed(json.loads(record.body), context)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
