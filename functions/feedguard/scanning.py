"""Starting a scan: the scan record, its batches on the queue, its totals.
Shared by the coordinator (schedule, POST /scans) and the package import."""

from __future__ import annotations

from collections.abc import Mapping

from feedguard import scan_queue, scanplan
from feedguard.dal import feeds as feed_store
from feedguard.dal import scans
from feedguard.dal.models import Scan
from feedguard.scanplan import Work


def work_for(feed: str | None) -> dict[str, Work]:
    """Every purl of the scanned feeds, grouped by each source attached to
    them (a purl in several feeds is asked once per source). A feed with no
    source attached is never scanned."""
    names = [feed] if feed else [item.feed for item in feed_store.all_feeds()]
    grouped: dict[str, Work] = {}
    for name in names:
        sources = feed_store.attached_source_ids(name)
        if not sources:
            continue
        purls = set(feed_store.package_purls(name))
        for source_id in sources:
            work = grouped.setdefault(source_id, Work(set(), set()))
            work.purls |= purls
            work.feeds.add(name)
    return grouped


def plan_and_enqueue(scan: Scan, work: Mapping[str, Work], covers_feeds: bool = True) -> int:
    """Puts the scan's batches on the queue and marks it planned; returns the
    number of batches (0: the scan succeeded with nothing to ask). A scan that
    `covers_feeds` asks about every package of its feeds, so a success may
    withdraw their findings that are no longer reported."""
    batches = scanplan.plan(scan.scan_id, work, bool(scan.refresh_cache))
    scan_queue.enqueue(batches)
    distinct = len(set().union(*(w.purls for w in work.values()))) if work else 0
    covered = set().union(*(w.feeds for w in work.values())) if work and covers_feeds else set()
    scans.mark_planned(scan, packages_total=distinct, batches_total=len(batches), covered_feeds=covered)
    return len(batches)


def scan_new_packages(scan_id: str, feed: str, source_ids: list[str], purls: list[str]) -> str | None:
    """A scan of just-added packages, so they need not wait for the schedule."""
    if not source_ids or not purls:
        return None
    scan = scans.create(scan_id, feed, "packages", refresh=False)
    work = {source: Work(set(purls), {feed}) for source in source_ids}
    plan_and_enqueue(scan, work, covers_feeds=False)
    return scan_id
