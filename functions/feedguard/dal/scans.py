"""Scan records: created by the coordinator, counted by the workers, finished
once. A batch counts once: its `batch#<n>` marker and the counters move in
one transaction, so a redelivered message never counts twice. The same
transaction tells whether batches remain, so only the last batch reads the
scan back to finish it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from feedguard import clock, domain
from feedguard.dal import conditions, transactions
from feedguard.dal.models import SCAN_SK, Scan, ScanBatchMarker, Stored, _Meta
from feedguard.dal.pages import Page, collect
from feedguard.domain import ALL_FEEDS_SCOPE

ENTITY = "scan"

# A scan queued or running for longer than this no longer holds its scope:
# the coordinator gives a request up after three tries of 30 minutes (the
# request queue's visibility timeout and maxReceiveCount), and a planned
# scan's batches take minutes, so such a scan is wedged, not working.
WEDGED_AFTER = timedelta(hours=2)
LOCK_SK = "#lock"
_LOCK_PREFIX = "lock#"


class ScanLock(Stored):
    """One per scope (a feed's id, or * for every feed) that a scan was
    requested for through the API, in the scans table: which scan holds the
    scope, and when a refresh was last asked for. Requests take it by a
    conditional write, so two at once cannot both start a scan. It has no
    `entity` or `scope`, so neither index of the table lists it."""

    class Meta(_Meta):
        table_name = Scan.Meta.table_name

    scan_id = UnicodeAttribute(hash_key=True)  # lock#<scope>
    sk = UnicodeAttribute(range_key=True, default=LOCK_SK)
    active_scan_id = UnicodeAttribute(null=True)
    refreshed_at = UnicodeAttribute(null=True)


class ScanInProgress(Exception):
    def __init__(self, scan_id: str) -> None:
        super().__init__(scan_id)
        self.scan_id = scan_id


class RefreshTooSoon(Exception):
    def __init__(self, allowed_at: datetime) -> None:
        super().__init__(allowed_at)
        self.allowed_at = allowed_at


def as_scan(item: Scan) -> domain.Scan:
    """The domain's scan of a scan's item."""
    return domain.Scan(
        scan_id=item.scan_id,
        scope=item.scope,
        feed_name=item.feed_name,
        status=item.status,
        trigger=item.trigger,
        refresh_cache=bool(item.refresh_cache),
        packages_total=int(item.packages_total),
        packages_scanned=int(item.packages_scanned),
        requests_made=int(item.requests_made),
        cache_hits=int(item.cache_hits),
        osv_requests=int(item.osv_requests or 0),
        findings_new=int(item.findings_new),
        batches_total=int(item.batches_total),
        batches_done=int(item.batches_done),
        batches_failed=int(item.batches_failed),
        error_set=frozenset(item.error_set or ()),
        stopped_sources=frozenset(item.stopped_sources or ()),
        covered_feeds=frozenset(item.covered_feeds or ()),
        started_at=item.started_at,
        planned_at=item.planned_at,
        finished_at=item.finished_at,
    )


def _item(scan: domain.Scan) -> Scan:
    """The key of a scan's item, for an update."""
    return Scan(scan_id=scan.scan_id, sk=SCAN_SK)


def _in_progress(scan_id: str, now: datetime) -> bool:
    scan = get(scan_id)
    return scan is not None and in_progress(scan, now)


def in_progress(scan: domain.Scan, now: datetime | None = None) -> bool:
    """Queued or running, and not wedged."""
    if scan.status not in ("queued", "running"):
        return False
    return scan.started_at is None or clock.parse_iso(scan.started_at) > (now or clock.now()) - WEDGED_AFTER


def lock_key(scope: str) -> dict[str, str]:
    """The key of a scope's lock item (a feed's purge deletes it)."""
    return {"scan_id": _LOCK_PREFIX + scope, "sk": LOCK_SK}


def start(
    scan_id: str,
    feed: str | None,
    trigger: str,
    refresh: bool,
    refresh_interval: timedelta | None,
    feed_name: str | None = None,
) -> domain.Scan:
    """Records a requested scan of the feed of id `feed` (None: every feed), named `feed_name`, queued, unless
    a scan of that scope is queued or running (ScanInProgress, naming it),
    or, with `refresh` and a `refresh_interval`, a refresh of the scope was
    asked for within it (RefreshTooSoon). The scan and the scope's lock are
    written in one transaction, on condition that the lock still names the
    scan found finished (or none) and, for a limited refresh, still holds a
    refresh time old enough: a request that loses the race reads again."""
    scope = feed or ALL_FEEDS_SCOPE
    for _ in range(transactions.CONFLICT_ATTEMPTS):
        now = clock.now()
        try:
            lock = ScanLock.get(_LOCK_PREFIX + scope, LOCK_SK, consistent_read=True)
        except DoesNotExist:
            lock = ScanLock(scan_id=_LOCK_PREFIX + scope, sk=LOCK_SK)
        holder = lock.active_scan_id
        if holder is not None and _in_progress(holder, now):
            raise ScanInProgress(holder)
        limited = refresh_interval if refresh else None
        cutoff = clock.iso(now - limited) if limited else None
        if limited and cutoff and lock.refreshed_at is not None and lock.refreshed_at > cutoff:
            raise RefreshTooSoon(clock.parse_iso(lock.refreshed_at) + limited)
        condition = ScanLock.active_scan_id.does_not_exist() if holder is None else ScanLock.active_scan_id == holder
        if cutoff is not None:
            condition &= ScanLock.refreshed_at.does_not_exist() | (ScanLock.refreshed_at <= cutoff)
        actions: list[Action] = [ScanLock.active_scan_id.set(scan_id)]
        if refresh:
            actions.append(ScanLock.refreshed_at.set(clock.iso(now)))
        scan = _new_scan(scan_id, feed, trigger, refresh, feed_name)
        try:
            with transactions.write() as transaction:
                transaction.save(scan, condition=Scan.scan_id.does_not_exist())
                transaction.update(lock, actions=actions, condition=condition)
        except TransactWriteError as error:
            if conditions.failed_in_transaction(error, 1) or conditions.conflicted(error):
                continue  # another request took the scope first: see which scan holds it now
            raise
        return as_scan(scan)
    raise ScanInProgress(_holder(scope) or "")


def abandon(scan: domain.Scan, reason: str) -> None:
    """A requested scan that could not be queued fails at once, so it holds
    its scope no longer."""
    error = json.dumps({"source": None, "message": reason}, sort_keys=True)
    actions: list[Action] = [
        Scan.status.set("failed"),
        Scan.finished_at.set(clock.iso(clock.now())),
        Scan.error_set.add({error}),
    ]
    transactions.retrying(lambda: _item(scan).update(actions=actions))


def _holder(scope: str) -> str | None:
    try:
        return ScanLock.get(_LOCK_PREFIX + scope, LOCK_SK, consistent_read=True).active_scan_id
    except DoesNotExist:
        return None


def _new_scan(scan_id: str, feed: str | None, trigger: str, refresh: bool, feed_name: str | None) -> Scan:
    return Scan(
        scan_id=scan_id,
        sk=SCAN_SK,
        scope=feed or ALL_FEEDS_SCOPE,
        feed_name=feed_name if feed else None,
        trigger=trigger,
        refresh_cache=refresh,
        status="queued",
        started_at=clock.iso(clock.now()),
        batches_counted=0,
    )


def create(scan_id: str, feed: str | None, trigger: str, refresh: bool, feed_name: str | None = None) -> domain.Scan:
    """Records a scan the system starts (the schedule, added packages) of
    the feed of id `feed` (None: every feed): it takes no scope's lock;
    requests through the API use `start`."""
    scan = _new_scan(scan_id, feed, trigger, refresh, feed_name)
    scan.save(condition=Scan.scan_id.does_not_exist())
    return as_scan(scan)


def get(scan_id: str) -> domain.Scan | None:
    try:
        return as_scan(Scan.get(scan_id, SCAN_SK, consistent_read=True))
    except DoesNotExist:
        return None


def _page(page: Page[Scan]) -> Page[domain.Scan]:
    return Page([as_scan(item) for item in page.items], page.next_cursor)


def list_all(limit: int, cursor: str | None) -> Page[domain.Scan]:
    return _page(
        collect(lambda **kwargs: Scan.by_entity.query(ENTITY, scan_index_forward=False, **kwargs), limit, cursor)
    )


def list_for_feed(feed_id: str, limit: int, cursor: str | None) -> Page[domain.Scan]:
    return _page(
        collect(lambda **kwargs: Scan.by_scope.query(feed_id, scan_index_forward=False, **kwargs), limit, cursor)
    )


def _newest(scope: str) -> domain.Scan | None:
    newest = next(iter(Scan.by_scope.query(scope, scan_index_forward=False, limit=1)), None)
    return None if newest is None else as_scan(newest)


def latest_of_feed(feed: str, has_sources: bool) -> domain.Scan | None:
    """The most recent scan that included the feed of id `feed`: two
    Queries of one item on `by_scope`, newest first (a feed created again
    under a deleted one's name has another id, and sees none of its scans).

    The newest scan of the feed alone, and the newest scan of every feed,
    which counts when its `covered_feeds` names the feed, or, still queued
    (not planned: none covered yet), when the feed has a source attached, as
    its planning will then include the feed. An older scan of every feed is
    not looked for when the newest one did not include the feed (the feed had
    no source when it was planned): it would cost a read per such scan."""
    own = _newest(feed)
    every = _newest(ALL_FEEDS_SCOPE)
    if every is not None:
        covered = feed in every.covered_feeds
        pending = every.status == "queued" and has_sources
        if not (covered or pending):
            every = None
    return max((scan for scan in (own, every) if scan is not None), key=lambda scan: scan.scan_id, default=None)


def mark_running(scan: domain.Scan, covered_feeds: set[str]) -> None:
    """Being planned: its first batches go on the queue before the last are
    known, so what the workers need of the scan is there before them."""
    actions: list[Action] = [Scan.status.set("running")]
    if covered_feeds:
        actions.append(Scan.covered_feeds.set(covered_feeds))
    transactions.retrying(lambda: _item(scan).update(actions=actions))


def planned(scan: domain.Scan) -> bool:
    """Whether the scan has all its batches on the queue (or has ended)."""
    return scan.planned_at is not None or scan.status not in ("queued", "running")


def set_totals(scan: domain.Scan, packages_total: int, batches_total: int) -> None:
    """Its totals, once every batch is known and before the last are sent:
    so the worker that counts the last batch can tell, and finishes the scan.
    A scan with nothing to ask succeeds here."""
    actions: list[Action] = [Scan.packages_total.set(packages_total), Scan.batches_total.set(batches_total)]
    if batches_total > 0:
        actions.append(Scan.batches_before_last.set(batches_total - 1))
    else:
        actions += [Scan.status.set("succeeded"), Scan.finished_at.set(clock.iso(clock.now()))]
    transactions.retrying(lambda: _item(scan).update(actions=actions))


def mark_planned(scan: domain.Scan) -> None:
    """Every batch is on the queue: a retried request for it stops here."""
    transactions.retrying(lambda: _item(scan).update(actions=[Scan.planned_at.set(clock.iso(clock.now()))]))


def _marker_sk(number: int) -> str:
    return f"batch#{number:06d}"


def batch_counted(scan_id: str, number: int) -> bool:
    try:
        ScanBatchMarker.get(scan_id, _marker_sk(number), consistent_read=True)
    except DoesNotExist:
        return False
    return True


@dataclass(frozen=True)
class BatchOutcome:
    packages_scanned: int = 0
    requests_made: int = 0  # every source's
    osv_requests: int = 0  # of those, OSV's
    cache_hits: int = 0
    findings_new: int = 0
    failed: bool = False
    error_source: str | None = None
    error_message: str | None = None


class Counted(Enum):
    ALREADY = "already"  # counted before: a redelivered message
    REMAINING = "remaining"  # counted, and some batch of the scan is not yet
    PERHAPS_LAST = "perhaps last"  # counted; finish_if_complete tells whether it was


def count_batch(scan_id: str, number: int, outcome: BatchOutcome) -> Counted:
    """Adds the batch to the scan's counters once, on condition that other
    batches remain: so without reading the scan. They do while the total is
    unknown (the coordinator writes it before it sends the last batches), and
    then while fewer than `batches_before_last` are counted. Only a count
    that finds none left (the last batch, or a scan recorded before the
    counter was) is made again without that condition, and may finish the
    scan. That count leaves the counter alone: a counter that a scan lacked
    from its start would miss the counts before, and say batches remain
    after the last."""
    # Counters the scan was created with at 0; one a batch leaves alone is no
    # action (a count with them all was moto's costliest write in a scan).
    counters = [
        (Scan.packages_scanned, outcome.packages_scanned),
        (Scan.requests_made, outcome.requests_made),
        (Scan.osv_requests, outcome.osv_requests),
        (Scan.cache_hits, outcome.cache_hits),
        (Scan.findings_new, outcome.findings_new),
        (Scan.batches_failed if outcome.failed else Scan.batches_done, 1),
    ]
    actions: list[Action] = [counter.add(amount) for counter, amount in counters if amount]
    if outcome.error_message:
        error = json.dumps({"source": outcome.error_source, "message": outcome.error_message}, sort_keys=True)
        actions.append(Scan.error_set.add({error}))
    marker = ScanBatchMarker(scan_id=scan_id, sk=_marker_sk(number), done_at=clock.iso(clock.now()))
    exists = Scan.scan_id.exists()
    remaining = Scan.batches_counted.exists() & (
        (Scan.batches_total == 0) | (Scan.batches_counted < Scan.batches_before_last)
    )

    def count(counted: list[Action], condition: Condition) -> None:
        with transactions.write() as transaction:
            transaction.save(marker, condition=ScanBatchMarker.sk.does_not_exist())
            transaction.update(Scan(scan_id=scan_id, sk=SCAN_SK), actions=counted, condition=condition)

    # Every worker counts on the same scan item: conflicts are retried.
    try:
        transactions.retrying(lambda: count([*actions, Scan.batches_counted.add(1)], exists & remaining))
        return Counted.REMAINING
    except TransactWriteError as error:
        if conditions.failed_in_transaction(error, 0):
            return Counted.ALREADY
        if not conditions.failed_in_transaction(error, 1):
            raise
    try:
        transactions.retrying(lambda: count(actions, exists))
    except TransactWriteError as error:
        if conditions.failed_in_transaction(error, 0):
            return Counted.ALREADY
        raise
    return Counted.PERHAPS_LAST


def stop_source(scan_id: str, source_id: str) -> None:
    scan = Scan(scan_id=scan_id, sk=SCAN_SK)
    transactions.retrying(lambda: scan.update(actions=[Scan.stopped_sources.add({source_id})]))


def finish_if_complete(scan_id: str) -> domain.Scan | None:
    """Sets the final status once every batch is counted; returns the scan to
    the one caller that finished it, None to every other."""
    scan = get(scan_id)
    if scan is None or scan.status != "running" or not scan.batches_total:
        return None  # gone, ended, or its totals are not known yet
    done, failed = int(scan.batches_done), int(scan.batches_failed)
    if done + failed < int(scan.batches_total):
        return None
    # A batch done with an error (some purls unanswered) still makes the scan partial.
    clean = failed == 0 and not scan.error_set
    status = "succeeded" if clean else ("failed" if done == 0 else "partial")
    item = _item(scan)
    try:
        transactions.retrying(
            lambda: item.update(  # ALL_NEW: the scan as finished
                actions=[Scan.status.set(status), Scan.finished_at.set(clock.iso(clock.now()))],
                condition=Scan.status == "running",
            )
        )
    except UpdateError as error:
        if conditions.failed(error):
            return None
        raise
    return as_scan(item)


def errors_of(scan: domain.Scan) -> list[dict[str, str]]:
    return sorted((json.loads(entry) for entry in scan.error_set), key=lambda e: (e["source"] or "", e["message"]))
