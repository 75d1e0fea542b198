"""The SQS queues of scanning: scan requests for the coordinator, and
batches of purls for the scan workers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger

from feedguard.scanplan import Batch
from feedguard.settings import settings

logger = Logger(child=True)

SEND_BATCH = 10  # SQS SendMessageBatch's limits: ten messages, 256 KiB in all
SEND_BYTES = 256 * 1024
# The first calls carry one batch each, as many as the scan queue mapping
# runs workers at once (its MaximumConcurrency in template.yaml): each goes
# to another idle worker, so every worker starts on the scan's first
# batches. A first call of five went to one or two workers (a poller hands
# its invocation all it receives at once), and the others started with
# later calls, 0.1-0.2 s on.
STARTING_SENDS = 4


@lru_cache(maxsize=1)
def _sqs() -> Any:
    import boto3  # here, not at cold start: most routes that import this never send

    return boto3.client("sqs")


def enqueue(batches: Iterable[Batch], before_last: Callable[[int], None] = lambda total: None) -> int:
    """Puts every batch on the queue as it comes, up to ten to a call;
    returns how many. Once every batch is known, `before_last(total)` runs
    before the last call. Raises if SQS refused any of them."""
    chunk: list[tuple[Batch, str]] = []
    size = sent = calls = 0
    for batch in batches:
        body = json.dumps(batch.message(), separators=(",", ":"))
        limit = 1 if calls < STARTING_SENDS else SEND_BATCH
        if chunk and (len(chunk) == limit or size + len(body) > SEND_BYTES):
            sent += _send(chunk)
            calls += 1
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


def take(count: int) -> list[dict[str, Any]]:
    """Up to `count` (at most ten) batches off the queue, as the worker's
    event source mapping hands them over (the record's fields the worker
    reads); none when the queue looks empty. A short poll: one that misses
    a message leaves it to the mapping."""
    answer = _sqs().receive_message(
        QueueUrl=settings().scan_queue_url,
        MaxNumberOfMessages=max(1, min(count, 10)),
        WaitTimeSeconds=0,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    )
    return [
        {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
        }
        for message in answer.get("Messages", [])
    ]


def delete(receipt_handles: Sequence[str]) -> None:
    """Deletes batches taken off the queue and done with. One SQS does not
    delete comes back after the queue's visibility timeout, and is then
    known as counted already."""
    for start in range(0, len(receipt_handles), SEND_BATCH):
        chunk = receipt_handles[start : start + SEND_BATCH]
        answer = _sqs().delete_message_batch(
            QueueUrl=settings().scan_queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": handle} for n, handle in enumerate(chunk)],
        )
        if answer.get("Failed"):
            logger.warning(
                "SQS did not delete done batches; they come back, counted already",
                extra={"failed": len(answer["Failed"])},
            )


# A failed batch is visible again after RETRY_BASE seconds, doubled with each
# receive, instead of after the queue's visibility timeout (90 minutes).
RETRY_BASE = 30
RETRY_MAX = 900


def retry_soon(receipt_handle: str, receives: int) -> None:
    """Makes a message that failed visible again soon. If SQS refuses, it
    still comes back after the queue's visibility timeout."""
    delay = min(RETRY_MAX, RETRY_BASE * 2 ** max(0, receives - 1))
    _sqs().change_message_visibility(
        QueueUrl=settings().scan_queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=delay
    )


def request_scan(scan_id: str, feed: str | None, refresh: bool) -> None:
    """Asks the coordinator to plan a scan that POST /scans has recorded, of
    the feed of id `feed` (None: every feed)."""
    message = {"trigger": "api", "scan_id": scan_id, "feed": feed, "refresh": refresh}
    _sqs().send_message(QueueUrl=settings().scan_request_queue_url, MessageBody=json.dumps(message))
