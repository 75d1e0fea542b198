"""The SQS queues of scanning: scan requests for the coordinator, and
batches of purls for the scan workers."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from feedguard.scanplan import Batch
from feedguard.settings import settings

SEND_BATCH = 10  # SQS SendMessageBatch's limit


@lru_cache(maxsize=1)
def _sqs() -> Any:
    import boto3  # here, not at cold start: most routes that import this never send

    return boto3.client("sqs")


def enqueue(batches: list[Batch]) -> None:
    """Puts every batch on the queue; raises if SQS refused any of them."""
    for start in range(0, len(batches), SEND_BATCH):
        chunk = batches[start : start + SEND_BATCH]
        answer = _sqs().send_message_batch(
            QueueUrl=settings().scan_queue_url,
            Entries=[{"Id": str(batch.number), "MessageBody": json.dumps(batch.message())} for batch in chunk],
        )
        if answer.get("Failed"):
            failed = ", ".join(f"{entry['Id']}: {entry.get('Message')}" for entry in answer["Failed"])
            raise RuntimeError(f"SQS refused scan batches {failed}")


def request_scan(scan_id: str, feed: str | None, refresh: bool) -> None:
    """Asks the coordinator to plan a scan that POST /scans has recorded."""
    message = {"trigger": "api", "scan_id": scan_id, "feed": feed, "refresh": refresh}
    _sqs().send_message(QueueUrl=settings().scan_request_queue_url, MessageBody=json.dumps(message))
