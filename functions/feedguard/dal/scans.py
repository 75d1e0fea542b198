"""Scan records: created by the coordinator, counted by the workers."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action

from feedguard import clock
from feedguard.dal.models import ALL_FEEDS_SCOPE, SCAN_SK, Scan


def create(scan_id: str, feed: str | None, trigger: str, refresh: bool) -> Scan:
    scan = Scan(
        scan_id=scan_id,
        sk=SCAN_SK,
        scope=feed or ALL_FEEDS_SCOPE,
        trigger=trigger,
        refresh_cache=refresh,
        status="queued",
        started_at=clock.iso(clock.now()),
    )
    scan.save(condition=Scan.scan_id.does_not_exist())
    return scan


def get(scan_id: str) -> Scan | None:
    try:
        return Scan.get(scan_id, SCAN_SK, consistent_read=True)
    except DoesNotExist:
        return None


def mark_planned(scan: Scan, packages_total: int, batches_total: int) -> None:
    """Running with its work on the queue, or succeeded when there is none."""
    actions: list[Action] = [Scan.packages_total.set(packages_total), Scan.batches_total.set(batches_total)]
    if batches_total == 0:
        actions += [Scan.status.set("succeeded"), Scan.finished_at.set(clock.iso(clock.now()))]
    else:
        actions.append(Scan.status.set("running"))
    scan.update(actions=actions)
