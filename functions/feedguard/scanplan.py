"""Planning a scan: which purls to ask each source about, in batches.

A scan asks each source about each distinct purl at most once, however many
feeds share it, and sends at most 128 coordinates per request. A batch
carries what the planner read of each purl's rows (the feeds holding it, the
vulnerabilities last recorded there, whether it was ever scanned), so the
worker reads and writes only the rows whose answer changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_COORDINATES = 128
# A batch is cut early when its message would outgrow this (an SQS message
# holds 256 KiB): only when a purl sits in very many feeds.
MESSAGE_BUDGET = 192 * 1024


@dataclass(frozen=True)
class Known:
    """What one feed's row of a purl said when the scan was planned."""

    vulnerabilities: frozenset[str] = frozenset()
    scanned: bool = False


# purl -> feed -> what that feed's row said
Rows = Mapping[str, Mapping[str, Known]]


@dataclass(frozen=True)
class Batch:
    scan_id: str
    number: int
    source_id: str
    refresh: bool
    # The purls to ask about, each with its rows in the scanned feeds this
    # source is attached to: the answers apply to those rows only.
    packages: Rows

    @property
    def purls(self) -> tuple[str, ...]:
        return tuple(self.packages)

    def message(self) -> dict[str, object]:
        """`packages` maps each purl to its feeds, each to the vulnerability
        ids last recorded there, or null when the row was never scanned."""
        return {
            "scan_id": self.scan_id,
            "batch": self.number,
            "source_id": self.source_id,
            "refresh": self.refresh,
            "packages": {
                purl: {feed: _encode(known) for feed, known in feeds.items()} for purl, feeds in self.packages.items()
            },
        }

    @classmethod
    def from_message(cls, message: Mapping[str, Any]) -> Batch:
        return cls(
            scan_id=str(message["scan_id"]),
            number=int(message["batch"]),
            source_id=str(message["source_id"]),
            refresh=bool(message.get("refresh", False)),
            packages={
                str(purl): {str(feed): _decode(ids) for feed, ids in feeds.items()}
                for purl, feeds in message["packages"].items()
            },
        )


def _encode(known: Known) -> list[str] | None:
    # A row never scanned has no vulnerabilities recorded: scans write both together.
    return sorted(known.vulnerabilities) if known.scanned else None


# The rows most messages carry: one Known each, not one per row of 128 purls.
NEVER_SCANNED = Known()
SCANNED_CLEAN = Known(frozenset(), scanned=True)


def _decode(ids: list[str] | None) -> Known:
    if ids is None:
        return NEVER_SCANNED
    return Known(frozenset(map(str, ids)), scanned=True) if ids else SCANNED_CLEAN


def _size(purl: str, rows: Mapping[str, Known]) -> int:
    """About what `purl` adds to a batch's message, in bytes."""
    return (
        len(purl)
        + 8
        + sum(len(feed) + 8 + sum(len(v) + 3 for v in known.vulnerabilities) for feed, known in rows.items())
    )


class Planner:
    """Cuts a scan's purls into batches per source as they arrive, so the
    first batches can be on the queue while the rest are still being read.
    Give it each distinct purl once."""

    def __init__(self, scan_id: str, refresh: bool, feeds_of_source: Mapping[str, Iterable[str]]) -> None:
        self.scan_id = scan_id
        self.refresh = refresh
        self.feeds_of_source = {source: frozenset(feeds) for source, feeds in sorted(feeds_of_source.items())}
        self.pending: dict[str, dict[str, Mapping[str, Known]]] = {source: {} for source in self.feeds_of_source}
        self.sizes = dict.fromkeys(self.feeds_of_source, 0)
        self.batches = 0
        self.purls = 0  # distinct purls asked about by at least one source

    @property
    def feeds(self) -> frozenset[str]:
        """Every feed some source of this scan is attached to."""
        return frozenset().union(*self.feeds_of_source.values())

    def add(self, purl: str, rows: Mapping[str, Known]) -> list[Batch]:
        """Plans `purl`, held by the feeds of `rows`; returns the batches it completed."""
        ready = []
        asked = False
        for source, feeds in self.feeds_of_source.items():
            mine = {feed: known for feed, known in rows.items() if feed in feeds}
            if not mine:
                continue
            asked = True
            size = _size(purl, mine)
            if self.pending[source] and self.sizes[source] + size > MESSAGE_BUDGET:
                ready.append(self._cut(source))
            self.pending[source][purl] = mine
            self.sizes[source] += size
            if len(self.pending[source]) == MAX_COORDINATES:
                ready.append(self._cut(source))
        self.purls += asked
        return ready

    def finish(self) -> list[Batch]:
        """The last, partly filled batch of each source."""
        return [self._cut(source) for source, pending in self.pending.items() if pending]

    def _cut(self, source: str) -> Batch:
        batch = Batch(self.scan_id, self.batches, source, self.refresh, self.pending[source])
        self.pending[source] = {}
        self.sizes[source] = 0
        self.batches += 1
        return batch
