"""Starting a scan: the scan record, its batches on the queue, its totals.
Shared by the coordinator (schedule, POST /scans) and the package import."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping
from operator import itemgetter
from typing import NamedTuple

from feedguard import scan_queue
from feedguard.dal import feeds as feed_store
from feedguard.dal import scans, source_kinds
from feedguard.domain import Feed, Scan
from feedguard.scanplan import BATCH_LIMITS, MAX_COORDINATES, Batch, Known, Planner


def attached_sources(feed: str | None) -> dict[str, set[str]]:
    """Each source attached to the scanned feeds (the feed of id `feed`, or
    every feed), with the ids of the feeds it is attached to. A feed with no
    source is never scanned."""
    names = [feed] if feed else [item.feed_id for item in feed_store.all_feeds()]
    feeds_of_source: dict[str, set[str]] = {}
    for name in names:
        for source_id in feed_store.attached_source_ids(name):
            feeds_of_source.setdefault(source_id, set()).add(name)
    return feeds_of_source


def batch_limits(source_ids: Iterable[str]) -> dict[str, int]:
    """Purls per batch for each source, by its kind: one BatchGetItem of the
    sources' ids and kinds. A source gone meanwhile gets OSS Index's limit
    (its batches fail, saying it is gone)."""
    ids = sorted(set(source_ids))
    if not ids:
        return {}
    return {source_id: BATCH_LIMITS.get(kind, MAX_COORDINATES) for source_id, kind in source_kinds.kinds(ids).items()}


def package_rows(feeds: Iterable[str]) -> Iterator[tuple[str, dict[str, Known]]]:
    """Every purl of `feeds` once, in purl order, with what each feed's row
    says. The feeds' Queries come back sorted by purl, so merging them as
    their pages arrive yields each purl complete, without reading every feed
    first."""
    # Every feed's first page is asked for now, at once, not as the merge reaches it.
    states = {feed: feed_store.package_states(feed) for feed in sorted(feeds)}
    merged = heapq.merge(*(_rows(feed, packages) for feed, packages in states.items()), key=itemgetter(0))
    for purl, rows in itertools.groupby(merged, key=itemgetter(0)):
        yield purl, {feed: known for _, feed, known in rows}


def _rows(feed: str, packages: Iterable[feed_store.PackageState]) -> Iterator[tuple[str, str, Known]]:
    for package in packages:
        yield package.purl, feed, Known(package.vulnerability_ids, package.scanned)


class Planned(NamedTuple):
    batches: int  # 0: the scan succeeded with nothing to ask
    packages: int  # distinct purls


def plan_and_enqueue(
    scan: Scan,
    feeds_of_source: Mapping[str, Iterable[str]],
    rows: Iterable[tuple[str, Mapping[str, Known]]],
    covers_feeds: bool = True,
) -> Planned:
    """Puts the scan's batches on the queue as `rows` (each distinct purl
    once, with its rows) come, and marks it planned; returns the number of
    batches (0: the scan succeeded with nothing to ask) and of purls. The totals are
    written before the last batches are sent, so a worker, never the
    planner, counts the last batch and finishes the scan. A scan that
    `covers_feeds` asks about every package of its feeds, so a success may
    withdraw their findings no longer reported."""
    planner = Planner(scan.scan_id, bool(scan.refresh_cache), feeds_of_source, batch_limits(feeds_of_source))

    def batches() -> Iterator[Batch]:
        for purl, known in rows:
            yield from planner.add(purl, known)
        yield from planner.finish()

    def totals(batches_total: int) -> None:
        scans.set_totals(scan, packages_total=planner.purls, batches_total=batches_total)

    scans.mark_running(scan, covered_feeds=set(planner.feeds) if covers_feeds else set())
    sent = scan_queue.enqueue(batches(), before_last=totals)
    scans.mark_planned(scan)
    return Planned(sent, planner.purls)


def scan_feeds(scan: Scan, feed: str | None) -> Planned:
    """Plans a scan of `feed`, or of every feed: the coordinator's work."""
    feeds_of_source = attached_sources(feed)
    return plan_and_enqueue(scan, feeds_of_source, package_rows(set().union(*feeds_of_source.values())))


def scan_new_packages(scan_id: str, feed: Feed, source_ids: list[str], purls: list[str]) -> str | None:
    """A scan of just-added packages, so they need not wait for the schedule."""
    if not source_ids or not purls:
        return None
    scan = scans.create(scan_id, feed.feed_id, "packages", refresh=False, feed_name=feed.feed)
    rows = ((purl, {feed.feed_id: Known()}) for purl in sorted(set(purls)))
    feeds_of_source = {source: {feed.feed_id} for source in source_ids}
    plan_and_enqueue(scan, feeds_of_source, rows, covers_feeds=False)
    return scan_id
