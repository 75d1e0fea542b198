"""Planning a scan: which purls to ask each source about, in batches.

A scan asks each source about each distinct purl at most once, however many
feeds share it, and sends at most 128 coordinates per request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

MAX_COORDINATES = 128


@dataclass(frozen=True)
class Batch:
    scan_id: str
    number: int
    source_id: str
    purls: tuple[str, ...]
    refresh: bool
    # The scanned feeds this source is attached to: the answers apply to them only.
    feeds: tuple[str, ...] = ()

    def message(self) -> dict[str, object]:
        return {
            "scan_id": self.scan_id,
            "batch": self.number,
            "source_id": self.source_id,
            "purls": list(self.purls),
            "refresh": self.refresh,
            "feeds": list(self.feeds),
        }


@dataclass
class Work:
    """What a scan asks of each source: purls, and the feeds they came from."""

    purls: set[str]
    feeds: set[str]


def plan(scan_id: str, work: Mapping[str, Work], refresh: bool) -> list[Batch]:
    batches: list[Batch] = []
    for source_id in sorted(work):
        distinct = sorted(work[source_id].purls)
        feeds = tuple(sorted(work[source_id].feeds))
        for start in range(0, len(distinct), MAX_COORDINATES):
            chunk = tuple(distinct[start : start + MAX_COORDINATES])
            batches.append(Batch(scan_id, len(batches), source_id, chunk, refresh, feeds))
    return batches
