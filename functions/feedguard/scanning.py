"""Starting and finishing a scan: the scan record, its batches on the queue,
its totals, and what a successful scan of whole feeds does at the end.
Shared by the coordinator (schedule, POST /scans), the package import and
the workers."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator, Mapping
from operator import itemgetter

from aws_lambda_powertools import Logger

from feedguard import clock, scan_queue
from feedguard.dal import feeds as feed_store
from feedguard.dal import scans
from feedguard.dal.models import Scan
from feedguard.scanplan import Batch, Known, Planner

logger = Logger(child=True)


def attached_sources(feed: str | None) -> dict[str, set[str]]:
    """Each source attached to the scanned feeds (`feed`, or every feed),
    with the feeds it is attached to. A feed with no source is never scanned."""
    names = [feed] if feed else [item.feed for item in feed_store.all_feeds()]
    feeds_of_source: dict[str, set[str]] = {}
    for name in names:
        for source_id in feed_store.attached_source_ids(name):
            feeds_of_source.setdefault(source_id, set()).add(name)
    return feeds_of_source


def package_rows(feeds: Iterable[str]) -> Iterator[tuple[str, dict[str, Known]]]:
    """Every purl of `feeds` once, in purl order, with what each feed's row
    says. The feeds' Queries come back sorted by purl, so merging them as
    their pages arrive yields each purl complete, without reading every feed
    first."""
    merged = heapq.merge(*(_rows(feed) for feed in sorted(feeds)), key=itemgetter(0))
    for purl, rows in itertools.groupby(merged, key=itemgetter(0)):
        yield purl, {feed: known for _, feed, known in rows}


def _rows(feed: str) -> Iterator[tuple[str, str, Known]]:
    for package in feed_store.package_states(feed):
        known = Known(frozenset(package.vulnerability_ids or ()), scanned=bool(package.last_scanned_at))
        yield package.purl, feed, known


def plan_and_enqueue(
    scan: Scan,
    feeds_of_source: Mapping[str, Iterable[str]],
    rows: Iterable[tuple[str, Mapping[str, Known]]],
    covers_feeds: bool = True,
) -> int:
    """Puts the scan's batches on the queue as `rows` (each distinct purl
    once, with its rows) come, marks it planned, and finishes it if its
    workers were faster; returns the number of batches (0: the scan succeeded
    with nothing to ask). A scan that `covers_feeds` asks about every package
    of its feeds, so a success may withdraw their findings no longer reported."""
    planner = Planner(scan.scan_id, bool(scan.refresh_cache), feeds_of_source)

    def batches() -> Iterator[Batch]:
        for purl, known in rows:
            yield from planner.add(purl, known)
        yield from planner.finish()

    scans.mark_running(scan, covered_feeds=set(planner.feeds) if covers_feeds else set())
    sent = scan_queue.enqueue(batches())
    scans.mark_planned(scan, packages_total=planner.purls, batches_total=sent)
    if sent:
        # Every batch may have been counted before the totals were there to compare.
        finish(scan.scan_id)
    return sent


def scan_feeds(scan: Scan, feed: str | None) -> int:
    """Plans a scan of `feed`, or of every feed: the coordinator's work."""
    feeds_of_source = attached_sources(feed)
    feeds = set().union(*feeds_of_source.values()) if feeds_of_source else set()
    return plan_and_enqueue(scan, feeds_of_source, package_rows(feeds))


def scan_new_packages(scan_id: str, feed: str, source_ids: list[str], purls: list[str]) -> str | None:
    """A scan of just-added packages, so they need not wait for the schedule."""
    if not source_ids or not purls:
        return None
    scan = scans.create(scan_id, feed, "packages", refresh=False)
    rows = ((purl, {feed: Known()}) for purl in sorted(set(purls)))
    plan_and_enqueue(scan, {source: {feed} for source in source_ids}, rows, covers_feeds=False)
    return scan_id


def finish(scan_id: str) -> Scan | None:
    """Gives the scan its final status once every batch is counted; returns
    it to the one caller that did. After a fully successful scan of whole
    feeds, the findings their packages no longer report are withdrawn."""
    finished = scans.finish_if_complete(scan_id)
    if finished is None:
        return None
    logger.info("scan finished", extra={"scan_id": scan_id, "status": finished.status})
    if finished.status != "succeeded":
        return finished
    from feedguard.dal import (
        detections,
    )  # the OSS Index types: workers have them loaded, the coordinator rarely needs them

    now = clock.now()
    for feed in sorted(finished.covered_feeds or ()):
        if finished.started_at:
            feed_store.mark_scanned(feed, finished.started_at)
        withdrawn = detections.withdraw_unreported(feed, now)
        if withdrawn:
            logger.info("findings withdrawn", extra={"feed": feed, "count": withdrawn})
    return finished
