"""The feed purge queue: a deleted feed's id, its name and the phase its
purge continues from (dal.purge). The DELETE puts the first message on the
queue before it deletes the feed, so a feed is never gone with nothing to
purge its rows; the purge function puts each continuation."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from feedguard.settings import settings

# The first message waits longer than an API function may run (29 s), so
# the DELETE that sent it has deleted the feed, or failed, when it is read.
FIRST_DELAY_SECONDS = 30
# A purge that waits for a scan of its feed to end asks again after this.
SCAN_WAIT_SECONDS = 300


@lru_cache(maxsize=1)
def _sqs() -> Any:
    import boto3  # here, not at cold start: only the DELETE of a feed sends

    return boto3.client("sqs")


def request(feed_id: str, name: str, phase: str | None = None, delay: int | None = None) -> None:
    """Puts a purge of `feed_id` (named `name`), from `phase` (None: the
    first), on the queue, visible after `delay` seconds (SQS allows 900;
    None: FIRST_DELAY_SECONDS)."""
    delay = FIRST_DELAY_SECONDS if delay is None else delay
    body = json.dumps({"feed_id": feed_id, "name": name, "phase": phase}, separators=(",", ":"))
    _sqs().send_message(QueueUrl=settings().feed_purge_queue_url, MessageBody=body, DelaySeconds=min(delay, 900))
