"""The SQS queues of scanning: scan requests for the coordinator, and
batches of purls for the scan workers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from feedguard.scanplan import Batch
from feedguard.settings import settings

SEND_BATCH = 10  # SQS SendMessageBatch's limits: ten messages, 256 KiB in all
SEND_BYTES = 256 * 1024


@lru_cache(maxsize=1)
def _sqs() -> Any:
    import boto3  # here, not at cold start: most routes that import this never send

    return boto3.client("sqs")


def enqueue(batches: Iterable[Batch], before_last: Callable[[int], None] = lambda total: None) -> int:
    """Puts every batch on the queue as it comes, up to ten to a call;
    returns how many. Once every batch is known, `before_last(total)` runs
    before the last call. Raises if SQS refused any of them."""
    chunk: list[tuple[Batch, str]] = []
    size = sent = 0
    for batch in batches:
        body = json.dumps(batch.message(), separators=(",", ":"))
        if chunk and (len(chunk) == SEND_BATCH or size + len(body) > SEND_BYTES):
            sent += _send(chunk)
            chunk, size = [], 0
        chunk.append((batch, body))
        size += len(body)
    before_last(sent + len(chunk))
    if chunk:
        sent += _send(chunk)
    return sent


def _send(chunk: list[tuple[Batch, str]]) -> int:
    answer = _sqs().send_message_batch(
        QueueUrl=settings().scan_queue_url,
        Entries=[{"Id": str(batch.number), "MessageBody": body} for batch, body in chunk],
    )
    if answer.get("Failed"):
        failed = ", ".join(f"{entry['Id']}: {entry.get('Message')}" for entry in answer["Failed"])
        raise RuntimeError(f"SQS refused scan batches {failed}")
    return len(chunk)


def hide(receipt_handle: str, seconds: int) -> None:
    """Makes a message received from the scan queue visible again in `seconds`."""
    _sqs().change_message_visibility(
        QueueUrl=settings().scan_queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds
    )


def request_scan(scan_id: str, feed: str | None, refresh: bool) -> None:
    """Asks the coordinator to plan a scan that POST /scans has recorded, of
    the feed of id `feed` (None: every feed)."""
    message = {"trigger": "api", "scan_id": scan_id, "feed": feed, "refresh": refresh}
    _sqs().send_message(QueueUrl=settings().scan_request_queue_url, MessageBody=json.dumps(message))
