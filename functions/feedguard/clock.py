"""Time, in one place: UTC, ISO 8601 with a Z, whole seconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime

DAY_SECONDS = 86400


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """An ISO 8601 timestamp with a time zone, in UTC; ValueError for any
    other text, including one that is out of range once in UTC
    (9999-12-31T23:59:59-12:00)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("a timestamp needs a time zone")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the timestamp is out of range") from None


def days_left(until: str, at: str) -> int:
    """Whole days from `at` to `until` (ISO 8601), rounded up; 0 once passed."""
    seconds = (parse_iso(until) - parse_iso(at)).total_seconds()
    return max(0, math.ceil(seconds / DAY_SECONDS))
