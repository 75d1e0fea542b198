"""Package exceptions of a feed (feedguard.exceptions), stored in the
assessments table under the feed's id (dal.models.ExceptionItem).

Each change writes the exception and the history entries that record it
in one transaction: one in the feed's own stream (`<feed id>#*`, read as
the history of vulnerability `*`), and one in the history of each
vulnerability the exception lists, so a finding's history shows the
exceptions made for it. An exception for every vulnerability is recorded
in the feed's stream only.

Reads: one Query of the feed's exceptions (`begins_with "#exception#"`),
every page; a feed holds few, and the gate reads them once per check."""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import TransactWriteError

from feedguard import clock
from feedguard.actors import AUTO, Actor
from feedguard.dal import conditions, history, transactions
from feedguard.dal.models import EXCEPTION_KEY_PREFIX, ExceptionItem, HistoryEntry
from feedguard.dal.pages import Page, collect
from feedguard.errors import NotFound
from feedguard.exceptions import PackageException
from feedguard.ids import new_id

EXCEPTION_ID_PREFIX = "ex_"
# The history of the feed's exceptions: no vulnerability id is `*`.
FEED_STREAM = "*"
# Entries a change writes: the feed's and one a listed vulnerability, with
# the exception, within a transaction's 100 items.
MAX_VULNERABILITY_IDS = 50


def as_exception(item: ExceptionItem) -> PackageException:
    return PackageException(
        feed=item.feed,
        id=item.id,
        purl=item.purl,
        versions=item.versions,
        vulnerability_ids=tuple(str(vid) for vid in item.vulnerability_ids)
        if item.vulnerability_ids is not None
        else None,
        type=item.type,
        effect=item.effect,
        comment=item.comment,
        created_by=item.created_by,
        created_by_id=item.created_by_id,
        created_at=item.created_at,
        expires_at=item.expires_at,
    )


def describe(exception: PackageException) -> str:
    """The exception in one sentence, for the history's `reason`."""
    versions = f" {exception.versions}" if exception.versions else " (every version)"
    covered = ", ".join(exception.vulnerability_ids) if exception.vulnerability_ids else "every vulnerability"
    expiry = f"expires at {exception.expires_at}" if exception.expires_at else "does not expire"
    return f"Exception {exception.id}: {exception.type} for {exception.purl}{versions}, {covered}; {expiry}."


def _streams(exception: PackageException) -> list[str]:
    """The histories an exception's changes are recorded in."""
    return [FEED_STREAM, *(exception.vulnerability_ids or ())]


def create(
    feed: str,
    *,
    purl: str,
    versions: str | None,
    vulnerability_ids: list[str] | None,
    type_id: str,
    effect: str,
    comment: str | None,
    expires_at: datetime | None,
    actor: Actor,
) -> PackageException:
    """The exception made now (its arguments already checked), with its `exception_created` entries."""
    exception_id = new_id(EXCEPTION_ID_PREFIX)
    now = clock.iso(clock.now())
    item = ExceptionItem(
        feed=feed,
        key=ExceptionItem.key_of(exception_id),
        id=exception_id,
        purl=purl,
        versions=versions,
        vulnerability_ids=list(dict.fromkeys(vulnerability_ids)) if vulnerability_ids is not None else None,
        type=type_id,
        effect=effect,
        comment=comment,
        created_by=actor.name,
        created_by_id=actor.id,
        created_at=now,
        expires_at=clock.iso(expires_at) if expires_at else None,
        expires_ttl=int(expires_at.timestamp()) if expires_at else None,
    )
    exception = as_exception(item)
    entries = [
        history.new_entry(
            feed,
            stream,
            now,
            "exception_created",
            actor,
            type=type_id,
            comment=comment,
            reason=describe(exception),
            expires_at=exception.expires_at,
        )
        for stream in _streams(exception)
    ]

    def write() -> None:
        with transactions.write() as transaction:
            transaction.save(item, condition=ExceptionItem.key.does_not_exist())
            for entry in entries:
                transaction.save(entry)

    transactions.retrying(write)
    return exception


def _item(feed: str, exception_id: str) -> ExceptionItem | None:
    try:
        return ExceptionItem.get(feed, ExceptionItem.key_of(exception_id), consistent_read=True)
    except ExceptionItem.DoesNotExist:
        return None


def get(feed: str, exception_id: str) -> PackageException | None:
    item = _item(feed, exception_id)
    return as_exception(item) if item else None


def page(feed: str, limit: int, cursor: str | None) -> Page[PackageException]:
    """A page of the feed's exceptions, oldest first (ids sort by creation)."""
    read = collect(
        lambda **kw: ExceptionItem.query(
            feed, ExceptionItem.key.startswith(EXCEPTION_KEY_PREFIX), consistent_read=True, **kw
        ),
        limit,
        cursor,
    )
    return Page([as_exception(item) for item in read.items], read.next_cursor)


def of_feed(feed: str, consistent: bool = False) -> list[PackageException]:
    """Every exception of the feed, expired ones not yet deleted by TTL
    included (PackageException.live tells them): one Query, every page."""
    return [
        as_exception(item)
        for item in ExceptionItem.query(
            feed, ExceptionItem.key.startswith(EXCEPTION_KEY_PREFIX), consistent_read=consistent
        )
    ]


def delete(feed: str, exception_id: str, *, actor: Actor) -> None:
    """Deletes the exception, with its `exception_deleted` entries; NotFound when there is none."""
    item = _item(feed, exception_id)
    if item is None:
        raise NotFound(f"The feed has no exception {exception_id}.")
    exception = as_exception(item)
    now = clock.iso(clock.now())
    entries = [
        history.new_entry(
            feed, stream, now, "exception_deleted", actor, type=exception.type, reason=describe(exception)
        )
        for stream in _streams(exception)
    ]

    def write() -> None:
        with transactions.write() as transaction:
            transaction.delete(item, condition=ExceptionItem.key.exists())
            for entry in entries:
                transaction.save(entry)

    try:
        transactions.retrying(write)
    except TransactWriteError as error:
        if conditions.failed_in_transaction(error, 0):  # deleted meanwhile (by someone else, or TTL)
            raise NotFound(f"The feed has no exception {exception_id}.") from None
        raise


def expired_seq(expires_at: str, exception_id: str) -> str:
    """The same key for every writer of one exception's expiry, so a
    redelivered stream record writes its entries once."""
    return f"{expires_at}#{0:019d}#exception_expired#{exception_id}"


def record_expired(exception: PackageException) -> bool:
    """Records that TTL deleted `exception` at its expiry, in each history
    its changes are recorded in. False when it was recorded already."""
    at = str(exception.expires_at)
    entries = [
        HistoryEntry(
            finding=history.finding_key(exception.feed, stream),
            seq=expired_seq(at, exception.id),
            at=at,
            # Time ends it, by the rule it was made under.
            actor=AUTO.name,
            actor_id=AUTO.id,
            action="exception_expired",
            type=exception.type,
            reason=describe(exception),
        )
        for stream in _streams(exception)
    ]

    def write() -> None:
        with transactions.write() as transaction:
            for entry in entries:
                transaction.save(entry, condition=HistoryEntry.seq.does_not_exist())

    try:
        transactions.retrying(write)
    except TransactWriteError as error:
        if conditions.failed_in_transaction(error, 0):
            return False
        raise
    return True


def from_image(image: dict[str, object]) -> PackageException | None:
    """The exception a stream record's image holds (as powertools decodes
    it), None when the image is not an exception's."""
    if image.get("entity") != "exception":
        return None
    listed = image.get("vulnerability_ids")
    return PackageException(
        feed=str(image["feed"]),
        id=str(image["id"]),
        purl=str(image["purl"]),
        versions=str(image["versions"]) if image.get("versions") is not None else None,
        vulnerability_ids=tuple(str(v) for v in listed) if isinstance(listed, list) else None,
        type=str(image["type"]),
        effect=str(image["effect"]),
        comment=str(image["comment"]) if image.get("comment") is not None else None,
        created_by=str(image["created_by"]),
        created_by_id=str(image["created_by_id"]),
        created_at=str(image["created_at"]),
        expires_at=str(image["expires_at"]) if image.get("expires_at") is not None else None,
    )


def record_warning(exception: PackageException, now: datetime) -> bool:
    """Records the `exception_expiring` warning of the exception (the hourly
    sweep, feedguard.decisions): sets its `warned_at` and writes the entry
    in each history its changes are recorded in (the feed's stream, whose
    entry the events function publishes as Exception Expiring, and each
    listed vulnerability's), in one transaction, on condition that it is
    still there and not warned. False when it was deleted meanwhile or
    warned already (by another sweep, or by this one before a retry)."""
    feed, expires_at = exception.feed, str(exception.expires_at)
    at = clock.iso(now)
    left = clock.days_left(expires_at, at)
    entries = [
        history.new_entry(
            feed,
            stream,
            at,
            "exception_expiring",
            AUTO,
            type=exception.type,
            reason=f"{describe(exception)} It expires in {left} day{'' if left == 1 else 's'}.",
            expires_at=expires_at,
        )
        for stream in _streams(exception)
    ]

    def write() -> None:
        with transactions.write() as transaction:
            transaction.update(
                ExceptionItem(feed=feed, key=ExceptionItem.key_of(exception.id)),
                actions=[ExceptionItem.warned_at.set(at)],
                condition=ExceptionItem.key.exists() & ExceptionItem.warned_at.does_not_exist(),
            )
            for entry in entries:
                transaction.save(entry)

    try:
        transactions.retrying(write)
    except TransactWriteError as error:
        # PynamoDB sends puts before updates: the exception's update comes after the entries.
        if conditions.failed_in_transaction(error, len(entries)):
            return False
        raise
    return True
