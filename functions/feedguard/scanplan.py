"""Planning a scan: which purls to ask the sources about, in batches.

A batch asks every source of a set of sources (those attached to a feed)
about the same purls, so the worker records one merged answer per purl
(lookups.merged): two sources never overwrite each other's package rows. A
purl's rows are grouped by their feed's set of sources; feeds with the same
set share batches, so a scan asks each source about each distinct purl at
most once unless the purl sits in feeds with different sets of sources. A
batch holds at most the smallest batch limit of its sources: 128 purls for
OSS Index (one request), 1000 for OSV alone (one querybatch). A batch
carries what the planner read of each purl's rows (the feeds holding it, the
vulnerabilities last recorded there, whether it was ever scanned), so the
worker reads and writes only the rows whose answer changed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_COORDINATES = 128
# Purls per batch by source kind: OSS Index's request limit, OSV's querybatch one.
BATCH_LIMITS = {"ossindex": MAX_COORDINATES, "osv": 1000}
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
    source_ids: tuple[str, ...]
    refresh: bool
    # The purls to ask about, each with its rows in the scanned feeds this
    # source is attached to: the answers apply to those rows only.
    packages: Rows

    @property
    def purls(self) -> tuple[str, ...]:
        return tuple(self.packages)

    @property
    def source_id(self) -> str:
        """The first of its sources: where an error of the whole batch is filed."""
        return self.source_ids[0]

    def message(self) -> dict[str, object]:
        """`packages` maps each purl to its feeds, each to the vulnerability
        ids last recorded there, or null when the row was never scanned."""
        return {
            "scan_id": self.scan_id,
            "batch": self.number,
            "source_id": self.source_id,
            "source_ids": list(self.source_ids),
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
            # A message sent before batches had several sources names one.
            source_ids=tuple(map(str, message.get("source_ids") or [message["source_id"]])),
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


Group = tuple[str, ...]  # the sorted ids of a feed's sources


class Planner:
    """Cuts a scan's purls into batches per set of sources as they arrive,
    so the first batches can be on the queue while the rest are still being
    read. Give it each distinct purl once. `limits`: purls per batch by
    source id (BATCH_LIMITS of its kind; 128 for one not named)."""

    def __init__(
        self,
        scan_id: str,
        refresh: bool,
        feeds_of_source: Mapping[str, Iterable[str]],
        limits: Mapping[str, int] | None = None,
    ) -> None:
        self.scan_id = scan_id
        self.refresh = refresh
        self.feeds_of_source = {source: frozenset(feeds) for source, feeds in sorted(feeds_of_source.items())}
        sources_of_feed: dict[str, list[str]] = {}
        for source, feeds in self.feeds_of_source.items():
            for feed in feeds:
                sources_of_feed.setdefault(feed, []).append(source)
        self.group_of_feed: dict[str, Group] = {feed: tuple(sorted(s)) for feed, s in sources_of_feed.items()}
        groups = sorted(set(self.group_of_feed.values()))
        self.limits = {group: min((limits or {}).get(source, MAX_COORDINATES) for source in group) for group in groups}
        self.pending: dict[Group, dict[str, Mapping[str, Known]]] = {group: {} for group in groups}
        self.sizes = dict.fromkeys(groups, 0)
        self.batches = 0
        self.purls = 0  # distinct purls asked about by at least one source

    @property
    def feeds(self) -> frozenset[str]:
        """Every feed some source of this scan is attached to."""
        return frozenset().union(*self.feeds_of_source.values())

    def add(self, purl: str, rows: Mapping[str, Known]) -> list[Batch]:
        """Plans `purl`, held by the feeds of `rows`; returns the batches it completed."""
        ready = []
        by_group: dict[Group, dict[str, Known]] = {}
        for feed, known in rows.items():
            group = self.group_of_feed.get(feed)
            if group is not None:
                by_group.setdefault(group, {})[feed] = known
        for group, mine in sorted(by_group.items()):
            size = _size(purl, mine)
            if self.pending[group] and self.sizes[group] + size > MESSAGE_BUDGET:
                ready.append(self._cut(group))
            self.pending[group][purl] = mine
            self.sizes[group] += size
            if len(self.pending[group]) == self.limits[group]:
                ready.append(self._cut(group))
        self.purls += bool(by_group)
        return ready

    def finish(self) -> list[Batch]:
        """The last, partly filled batch of each set of sources."""
        return [self._cut(group) for group, pending in self.pending.items() if pending]

    def _cut(self, group: Group) -> Batch:
        batch = Batch(self.scan_id, self.batches, group, self.refresh, self.pending[group])
        self.pending[group] = {}
        self.sizes[group] = 0
        self.batches += 1
        return batch
