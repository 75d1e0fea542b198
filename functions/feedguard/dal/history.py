"""Finding history: append-only, oldest first, written in the same
transaction as the change it records."""

from __future__ import annotations

import secrets
import time

from pynamodb.exceptions import TransactWriteError

from feedguard import domain
from feedguard.actors import AUTO, Actor
from feedguard.dal import conditions, transactions
from feedguard.dal.models import Assessment, Finding, HistoryEntry
from feedguard.dal.pages import Page, collect, decode_cursor, encode_cursor
from feedguard.errors import InvalidInput


def finding_key(feed: str, vulnerability_id: str) -> str:
    return f"{feed}#{vulnerability_id}"


def seq(at: str, action: str) -> str:
    """The sort key of an entry: its time, then nanoseconds so that entries of
    the same second keep their order, then something unique."""
    return f"{at}#{time.time_ns():019d}#{action}#{secrets.token_hex(4)}"


def new_entry(
    feed: str,
    vulnerability_id: str,
    at: str,
    action: str,
    actor: Actor,
    *,
    type: str | None = None,  # noqa: A002 - the contract's name
    comment: str | None = None,
    reason: str | None = None,
    expires_at: str | None = None,
) -> HistoryEntry:
    """An entry to write in the transaction of the change it records, naming
    its actor by id and by the name it has now."""
    return HistoryEntry(
        finding=finding_key(feed, vulnerability_id),
        seq=seq(at, action),
        at=at,
        actor=actor.name,
        actor_id=actor.id,
        action=action,
        type=type,
        comment=comment,
        reason=reason,
        expires_at=expires_at,
    )


def derived_seq(at: str, action: str, version: int) -> str:
    """A sort key the same for every writer of one event (expiry), so that
    writing it twice is a conditional-put no-op."""
    return f"{at}#{0:019d}#{action}#v{version}"


def record_expired(feed: str, vulnerability_id: str, assessment_type: str, expires_at: str, version: int) -> bool:
    """Records that the assessment `version` of a finding expired at `expires_at`.

    The entry's key is derived from the assessment it ends, so redelivered
    stream records and the read-time path write it once; the finding turns
    `expired` in the same transaction, unless someone has assessed it again
    since. Returns False when the entry already existed."""
    entry = HistoryEntry(
        finding=finding_key(feed, vulnerability_id),
        seq=derived_seq(expires_at, "expired", version),
        at=expires_at,
        # Time ends it, by the rule the assessment was made under.
        actor=AUTO.name,
        actor_id=AUTO.id,
        action="expired",
        type=assessment_type,
        reason=f"The {assessment_type} assessment expired at {expires_at}.",
    )
    reassessed = _current_version(feed, vulnerability_id)

    def write() -> None:
        with transactions.write() as transaction:
            transaction.save(entry, condition=HistoryEntry.seq.does_not_exist())
            if reassessed is None:
                # The finding keeps the expired version (one assessed before
                # findings kept it has none), so the next assessment's is
                # higher; one found above it was assessed again meanwhile.
                transaction.update(
                    Finding(feed=feed, vulnerability_id=vulnerability_id),
                    actions=[
                        *Finding.status_change(feed, "expired"),
                        Finding.assessment_band.remove(),
                        Finding.assessment_version.set(version),
                    ],
                    condition=Finding.vulnerability_id.exists()
                    & (Finding.assessment_version.does_not_exist() | (Finding.assessment_version <= version)),
                )

    try:
        transactions.retrying(write)
    except TransactWriteError as error:
        if conditions.failed_in_transaction(error, 0):
            return False
        if conditions.failed_in_transaction(error, 1):
            # The finding is gone (its feed was deleted), or was assessed
            # again since: the history still records the expiry.
            entry.save(condition=HistoryEntry.seq.does_not_exist())
            return True
        raise
    return True


def _current_version(feed: str, vulnerability_id: str) -> int | None:
    """The version of the assessment in force now, if any."""
    try:
        return int(Assessment.get(feed, vulnerability_id, consistent_read=True).version or 0)
    except Assessment.DoesNotExist:
        return None


def entries(feed: str, vulnerability_id: str) -> list[HistoryEntry]:
    return list(HistoryEntry.query(finding_key(feed, vulnerability_id), consistent_read=True))


def page(feed: str, vulnerability_ids: list[str], limit: int, cursor: str | None) -> Page[domain.HistoryEntry]:
    """A page of a finding's history, oldest first: `vulnerability_ids`, its
    canonical id first, then the ids of findings merged into it, whose
    history is its own. One Query for a finding never merged; a Query of
    each id's entries (in parallel none: a merged finding has a handful)
    after the cursor's `seq` for one that was, the pages merged by `seq`."""
    first = vulnerability_ids[0]
    if len(vulnerability_ids) == 1:
        read = collect(
            lambda **kw: HistoryEntry.query(finding_key(feed, first), consistent_read=True, **kw),
            limit,
            cursor,
        )
        return Page([_entry(e) for e in read.items], read.next_cursor)
    after = _after(cursor)
    condition = HistoryEntry.seq > after if after is not None else None
    entries: list[HistoryEntry] = []
    for vid in vulnerability_ids:
        entries += HistoryEntry.query(
            finding_key(feed, vid), range_key_condition=condition, consistent_read=True, limit=limit + 1
        )
    entries.sort(key=lambda e: e.seq)
    shown = entries[:limit]
    more = len(entries) > limit
    # The same shape as the single Query's cursor, so either reads the other's.
    last = {"finding": {"S": finding_key(feed, first)}, "seq": {"S": shown[-1].seq}}
    following = encode_cursor(last) if more else None
    return Page([_entry(e) for e in shown], following)


def _after(cursor: str | None) -> str | None:
    """The `seq` a history cursor resumes after."""
    key = decode_cursor(cursor)
    if key is None:
        return None
    seq = key.get("seq", {}).get("S")
    if set(key) != {"finding", "seq"} or not isinstance(seq, str) or not seq:
        raise InvalidInput("The cursor is not one this API gave out.")
    return seq


def _entry(e: HistoryEntry) -> domain.HistoryEntry:
    return domain.HistoryEntry(
        at=e.at,
        actor=e.actor,
        actor_id=e.actor_id,
        action=e.action,
        type=e.type,
        comment=e.comment,
        reason=e.reason,
    )
