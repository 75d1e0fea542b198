"""What a deleted feed's id owns, deleted a chunk at a time: its roles
(under its name, only those granted on this id), attached sources, packages,
findings, assessments and scans, then its id's item. Its history stays.

Resumable: each phase Queries what is left of its rows from the start, so
running a phase again (a redelivered message, a continuation) deletes only
what remains, and a purge stopped anywhere continues where it stopped. A
phase waits while a scan that covers the feed is queued or running, as such
a scan's workers still write the feed's rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DeleteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model

from feedguard.dal import batching, conditions
from feedguard.dal.models import (
    ATTACHMENT_SK_PREFIX,
    FEED_ID_SK,
    PERMISSION_SK_PREFIX,
    Assessment,
    FeedAttachment,
    FeedIdItem,
    FeedPermission,
    Finding,
    Package,
    Scan,
    ScanBatchMarker,
)
from feedguard.domain import ALL_FEEDS_SCOPE
from feedguard.ids import FEED_ID_PREFIX

# Rows read and deleted a step: a Query page and 40 BatchWriteItem calls of
# 25, in parallel (dal.batching), well within a second on DynamoDB.
CHUNK = 1000
PHASES = ("scans", "permissions", "attachments", "packages", "findings", "assessments", "id")


@dataclass(frozen=True)
class Outcome:
    """Where a purge stopped: `phase` None when it is done; `wait` when a
    scan that covers the feed is still running (continue later)."""

    phase: str | None
    deleted: int
    wait: bool = False


def run(feed_id: str, name: str, phase: str | None, time_left: Callable[[], float]) -> Outcome:
    """Deletes from `phase` on (None: the first) while `time_left()` (in
    seconds) allows another step."""
    phases = PHASES[PHASES.index(phase) :] if phase else PHASES
    deleted = 0
    for current in phases:
        while True:
            if time_left() <= 0:
                return Outcome(current, deleted)
            if current == "scans" and _scanning(feed_id):
                return Outcome(current, deleted, wait=True)
            count, done = STEPS[current](feed_id, name)
            deleted += count
            if done:
                break
    return Outcome(None, deleted)


def _scanning(feed_id: str) -> bool:
    """Whether a scan that writes the feed's rows may still be running: one
    of the feed, or the newest of every feed while it covers the feed (or is
    not planned yet). Wedged scans end by the scans' own rule (dal.scans)."""
    from feedguard.dal import scans

    for scan in Scan.by_scope.query(feed_id, scan_index_forward=False, limit=5):
        if scan.status in ("queued", "running") and scans.in_progress(scans.as_scan(scan)):
            return True
    for scan in Scan.by_scope.query(ALL_FEEDS_SCOPE, scan_index_forward=False, limit=1):
        covers = scan.covered_feeds is None or feed_id in scan.covered_feeds
        if covers and scans.in_progress(scans.as_scan(scan)):
            return True
    return False


def _delete_all(model: type[Model], items: Iterable[Any]) -> tuple[int, bool]:
    rows = list(items)
    batching.write(model, deletes=rows)
    return len(rows), len(rows) < CHUNK


def _keys(model: type[Model], feed_id: str) -> tuple[int, bool]:
    hash_name = model._hash_key_attribute().attr_name  # type: ignore[no-untyped-call]
    range_name = model._range_key_attribute().attr_name  # type: ignore[no-untyped-call]
    return _delete_all(model, model.query(feed_id, limit=CHUNK, attributes_to_get=[hash_name, range_name]))


def _scans(feed_id: str, name: str) -> tuple[int, bool]:
    from feedguard.dal.scans import lock_key

    deleted = 0
    for scan in Scan.by_scope.query(feed_id, limit=CHUNK // 10):
        rows = list(ScanBatchMarker.query(scan.scan_id, attributes_to_get=["scan_id", "sk"]))
        batching.write(ScanBatchMarker, deletes=rows)
        deleted += len(rows)
    key = lock_key(feed_id)
    lock = ScanBatchMarker(scan_id=key["scan_id"], sk=key["sk"])
    try:
        lock.delete(condition=ScanBatchMarker.sk.exists())
        deleted += 1
    except DeleteError as error:
        if not conditions.failed(error):
            raise
    # The index follows the table a moment later: done when it lists none.
    return deleted, next(iter(Scan.by_scope.query(feed_id, limit=1)), None) is None


def _permissions(feed_id: str, name: str) -> tuple[int, bool]:
    """Roles granted on this id, under its name: each deleted on condition
    that it is still that grant (the name may be another feed's by now)."""
    granted: Condition = FeedPermission.feed_id == feed_id
    if not feed_id.startswith(FEED_ID_PREFIX):
        granted = FeedPermission.feed_id.does_not_exist()
    deleted = 0
    for role in FeedPermission.query(name, FeedPermission.sk.startswith(PERMISSION_SK_PREFIX)):
        if role.granted_on != feed_id:
            continue
        try:
            FeedPermission(feed=name, sk=role.sk).delete(condition=granted)
            deleted += 1
        except DeleteError as error:
            if not conditions.failed(error):
                raise
    return deleted, True


def _attachments(feed_id: str, name: str) -> tuple[int, bool]:
    return _delete_all(
        FeedAttachment, FeedAttachment.query(feed_id, FeedAttachment.sk.startswith(ATTACHMENT_SK_PREFIX), limit=CHUNK)
    )


def _id_item(feed_id: str, name: str) -> tuple[int, bool]:
    if not feed_id.startswith(FEED_ID_PREFIX):
        return 0, True
    try:
        FeedIdItem(feed=feed_id, sk=FEED_ID_SK).delete(condition=FeedIdItem.feed.exists())
    except DeleteError as error:
        if conditions.failed(error):
            return 0, True
        raise
    return 1, True


STEPS: dict[str, Callable[[str, str], tuple[int, bool]]] = {
    "scans": _scans,
    "permissions": _permissions,
    "attachments": _attachments,
    "packages": lambda feed_id, name: _keys(Package, feed_id),
    "findings": lambda feed_id, name: _keys(Finding, feed_id),
    "assessments": lambda feed_id, name: _keys(Assessment, feed_id),
    "id": _id_item,
}
