"""A source's health: when it last answered, its last error (when, the HTTP
status, feedguard's own short sentence for it: never what the source
answered) and whether its credits are exhausted (a 402). Shown on
GET /sources and GET /sources/{id} to every key.

Written on the source's item by whoever talks to the source:

- saving a source (POST, or a PATCH that changes how it is reached) tests
  its credentials; the outcome is stored with it (handlers/sources.py);
- a scan batch that asked the source (scanner.record) and the gate's inline
  lookup (gate._lookup) record through `recorder`: at most one UpdateItem per
  batch or lookup that sent a request, and none for one answered from the
  cache. Every error is written; a success at most once a minute per worker
  (or gate container) and source, and at once after an error that worker
  saw, so a scan of 80 healthy batches writes about one success, not 80.

A write that fails is logged, never the batch's or the check's failure:
health is a report, not a record the scans depend on.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from feedguard import clock

if TYPE_CHECKING:
    from feedguard.domain import Source
    from feedguard.ossindex import OssIndexError

logger = Logger(child=True)

ERROR_FIELDS = ("last_error_at", "last_error_status", "last_error_message")
SUCCESS_INTERVAL = 60.0


def success_fields(at: str) -> dict[str, Any]:
    """An answer proves the credits are there."""
    return {"last_success_at": at, "credits_exhausted": False}


def error_fields(at: str, error: OssIndexError) -> dict[str, Any]:
    """A 402 says the credits are exhausted; another error says nothing of them."""
    from feedguard.ossindex import CreditsExhausted

    fields: dict[str, Any] = {
        "last_error_at": at,
        "last_error_status": error.status,
        "last_error_message": error.message.rstrip(".") + ".",
    }
    if isinstance(error, CreditsExhausted):
        fields["credits_exhausted"] = True
    return fields


def view(source: Source) -> dict[str, Any]:
    """The contract's `health` of a source."""
    error = None
    if source.last_error_at:
        status = source.last_error_status
        error = {
            "at": source.last_error_at,
            "status": int(status) if status is not None else None,
            "message": source.last_error_message or "",
        }
    return {
        "last_success_at": source.last_success_at,
        "last_error": error,
        "credits_exhausted": bool(source.credits_exhausted),
    }


class Recorder:
    """Health as one worker or gate container sees its requests."""

    def __init__(self, success_interval: float = SUCCESS_INTERVAL) -> None:
        self.success_interval = success_interval
        self._written: dict[str, float] = {}  # source id -> time.monotonic() of the success written
        self._lock = threading.Lock()

    def succeeded(self, source_id: str) -> None:
        with self._lock:
            written = self._written.get(source_id)
            if written is not None and time.monotonic() - written < self.success_interval:
                return
            self._written[source_id] = time.monotonic()
        self._write(source_id, success_fields(clock.iso(clock.now())))

    def failed(self, source_id: str, error: OssIndexError) -> None:
        with self._lock:
            self._written.pop(source_id, None)  # the next success is written at once
        self._write(source_id, error_fields(clock.iso(clock.now()), error))

    def clear(self) -> None:
        with self._lock:
            self._written.clear()

    @staticmethod
    def _write(source_id: str, fields: dict[str, Any]) -> None:
        from feedguard.dal import sources as source_store

        try:
            source_store.record_health(source_id, fields)
        except Exception:  # a report, never the batch's failure
            logger.warning("source health not recorded", extra={"source_id": source_id}, exc_info=True)


recorder = Recorder()
