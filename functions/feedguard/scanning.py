"""Starting a scan: the scan record, its batches on the queue, its totals.
Shared by the coordinator (schedule, POST /scans) and the package import."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from feedguard import scan_queue, scanplan
from feedguard.dal import scans
from feedguard.dal.models import Scan


def plan_and_enqueue(scan: Scan, purls_by_source: Mapping[str, Iterable[str]]) -> int:
    """Puts the scan's batches on the queue and marks it planned; returns the
    number of batches (0: the scan succeeded with nothing to ask)."""
    grouped = {source: set(purls) for source, purls in purls_by_source.items()}
    batches = scanplan.plan(scan.scan_id, grouped, bool(scan.refresh_cache))
    scan_queue.enqueue(batches)
    distinct = len(set().union(*grouped.values())) if grouped else 0
    scans.mark_planned(scan, packages_total=distinct, batches_total=len(batches))
    return len(batches)


def scan_new_packages(scan_id: str, feed: str, source_ids: list[str], purls: list[str]) -> str | None:
    """A scan of just-added packages, so they need not wait for the schedule."""
    if not source_ids or not purls:
        return None
    scan = scans.create(scan_id, feed, "packages", refresh=False)
    plan_and_enqueue(scan, dict.fromkeys(source_ids, purls))
    return scan_id
