"""The assessments of a feed as decisions (feedguard.decisions): those that
are stale, those that expire soon, and the record of an expiry's warning.
Every read is a Query on the assessments table's key or its sparse
`by_expiry` index (feed id, expires_at), or a BatchGet of findings: never a
Scan.

The table holds the feed's package exceptions too (`#exception#<id>`,
dal.exceptions). The assessments' Query starts above their keys
(models.ASSESSMENT_KEY_FLOOR), so it never reads one; by_expiry holds both
kinds, and `expiring` and `due` read it once for both (models.DecisionItem),
each item told apart by its `entity`.

Warnings: an assessment is due one while its expiry is within the window
and it has no `warned_at`. Recording one sets `warned_at` and writes the
finding's `expiring` history entry in one transaction, on condition that
the assessment is still the version read and not yet warned: two sweeps at
once, or a sweep retried after it crashed, record it once, and an
assessment made again meanwhile (a new version, without `warned_at`) is
due a warning of its own. The events function publishes the entry (the
history is the events' outbox)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import TransactWriteError

from feedguard import clock
from feedguard.actors import AUTO
from feedguard.dal import batching, conditions, history, transactions
from feedguard.dal.models import ASSESSMENT_KEY_FLOOR, Assessment, DecisionItem, Finding
from feedguard.dal.pages import collect
from feedguard.domain import AssessmentDecision, DecisionReason, ExceptionDecision
from feedguard.errors import InvalidInput
from feedguard.exceptions import PackageException

# Stale: assessments read a Query, whose findings one BatchGet then reads
# (DynamoDB's 100 keys a call); at most MAX_ROUNDS of them for one page.
READ_CHUNK = batching.READ_LIMIT
MAX_ROUNDS = 5


def _decision(
    item: Assessment | DecisionItem, reason: DecisionReason, withdrawn_at: str | None = None
) -> AssessmentDecision:
    return AssessmentDecision(
        reason=reason,
        vulnerability_id=item.vulnerability_id,
        type=item.type,
        effect=item.effect,
        comment=item.comment,
        assessed_by=str(item.assessed_by),
        assessed_by_id=item.assessed_by_id,
        assessed_at=str(item.assessed_at),
        expires_at=item.expires_at,
        version=int(item.version or 0),
        withdrawn_at=withdrawn_at,
    )


def _in_force(item: Assessment, moment: int) -> bool:
    return item.expires_ttl is None or int(item.expires_ttl) > moment


# ---------------------------------------------------------------- stale


def stale(feed: str, limit: int, after: str | None, now: datetime) -> tuple[list[AssessmentDecision], str | None]:
    """Assessments in force whose vulnerability no package of the feed
    reports any more: their finding is withdrawn (a whole-feed scan no longer
    found it; withdrawal keeps the assessment, which a revived finding would
    find again), or there is none (a feed purged part way before feeds had
    ids). An expired assessment TTL has not deleted yet is not in force and
    not listed.

    The feed's assessments are read in vulnerability id order, READ_CHUNK a
    Query, and each chunk's findings by one BatchGet of two attributes, for
    at most MAX_ROUNDS chunks: a page costs at most 2 x MAX_ROUNDS calls, and
    may then hold fewer than `limit` items, even none, with a resume point.
    `after`: the vulnerability id to resume after. Returns the decisions and
    the id to resume after (None: the feed's assessments are all read)."""
    if after is not None and after < ASSESSMENT_KEY_FLOOR:
        # Outside the Query's key range: DynamoDB would refuse it as a starting point.
        raise InvalidInput("The cursor is not one this API gave out.")
    found: list[AssessmentDecision] = []
    moment = int(now.timestamp())
    start = after
    for _ in range(MAX_ROUNDS):
        results = Assessment.query(
            feed,
            # Above the exceptions' keys (`#exception#…`): only assessments are read.
            Assessment.vulnerability_id >= ASSESSMENT_KEY_FLOOR,
            limit=READ_CHUNK,
            page_size=READ_CHUNK,
            last_evaluated_key=_assessment_key(feed, start) if start else None,
        )
        chunk = list(results)
        more = results.last_evaluated_key is not None
        in_force = [item for item in chunk if _in_force(item, moment)]
        findings = _finding_states(feed, [item.vulnerability_id for item in in_force])
        for position, item in enumerate(chunk):
            start = item.vulnerability_id
            if not _in_force(item, moment):
                continue
            state = findings.get(item.vulnerability_id)
            if state is None:
                found.append(_decision(item, "no_finding"))
            elif state[0] == "withdrawn":
                found.append(_decision(item, "withdrawn", state[1]))
            if len(found) == limit:
                rest = more or position < len(chunk) - 1
                return found, start if rest else None
        if not more:
            return found, None
    return found, start


def _assessment_key(feed: str, vulnerability_id: str) -> dict[str, Any]:
    return {"feed": {"S": feed}, "vulnerability_id": {"S": vulnerability_id}}


def _finding_states(feed: str, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """(status, withdrawn_at) of the findings of these ids that exist."""
    if not ids:
        return {}
    vid, status, withdrawn = Finding.vulnerability_id, Finding.status, Finding.withdrawn_at
    return {
        values[vid.attr_name]: (values[status.attr_name], values[withdrawn.attr_name])
        for values in batching.read_values(Finding, [(feed, v) for v in ids], (vid, status, withdrawn))
    }


# ---------------------------------------------------------------- expiring


def _window(now: datetime, until: datetime) -> Any:
    """The by_expiry key range of expiries after `now` (not yet expired) up to `until`."""
    return DecisionItem.expires_at.between(clock.iso(now + timedelta(seconds=1)), clock.iso(until))


def is_exception(item: DecisionItem) -> bool:
    return item.entity == "exception"


def as_exception(item: DecisionItem) -> PackageException:
    """The exception an item of by_expiry holds (its `entity` is "exception")."""
    return PackageException(
        feed=item.feed,
        id=str(item.id),
        purl=str(item.purl),
        versions=item.versions,
        vulnerability_ids=tuple(str(v) for v in item.vulnerability_ids) if item.vulnerability_ids is not None else None,
        type=item.type,
        effect=item.effect,
        comment=item.comment,
        created_by=str(item.created_by),
        created_by_id=item.created_by_id,
        created_at=str(item.created_at),
        expires_at=item.expires_at,
    )


def exception_decision(exception: PackageException, reason: Any) -> ExceptionDecision:
    return ExceptionDecision(
        reason=reason,
        id=exception.id,
        purl=exception.purl,
        versions=exception.versions,
        vulnerability_ids=exception.vulnerability_ids,
        type=exception.type,
        effect=exception.effect,
        comment=exception.comment,
        created_by=exception.created_by,
        created_by_id=exception.created_by_id,
        created_at=exception.created_at,
        expires_at=exception.expires_at,
    )


def expiring(
    feed: str, now: datetime, until: datetime, limit: int, cursor: str | None
) -> tuple[list[AssessmentDecision | ExceptionDecision], str | None]:
    """The feed's decisions of both kinds, assessments and package
    exceptions, that expire after `now` and by `until`, soonest first: one
    Query of by_expiry a page, each item in its kind's shape.
    `cursor`: this list's own (pages.collect)."""
    if until <= now:
        return [], None
    page = collect(
        lambda **kwargs: DecisionItem.by_expiry.query(feed, range_key_condition=_window(now, until), **kwargs),
        limit,
        cursor,
    )
    return [
        exception_decision(as_exception(item), "expiring") if is_exception(item) else _decision(item, "expiring")
        for item in page.items
    ], page.next_cursor


# ---------------------------------------------------------------- warnings


@dataclass(frozen=True)
class Due:
    """An assessment whose expiry's warning is due."""

    feed: str
    vulnerability_id: str
    type: str
    expires_at: str
    version: int


@dataclass(frozen=True)
class ExceptionDue:
    """A package exception whose expiry's warning is due (dal.exceptions.record_warning)."""

    exception: PackageException


def due(feed: str, now: datetime, until: datetime) -> Iterator[Due | ExceptionDue]:
    """The feed's decisions of both kinds that expire after `now` and by
    `until` and were not warned of: one Query of by_expiry (and one more a
    MB), assessments as Due, exceptions as ExceptionDue."""
    if until <= now:
        return
    for item in DecisionItem.by_expiry.query(
        feed, range_key_condition=_window(now, until), filter_condition=DecisionItem.warned_at.does_not_exist()
    ):
        if is_exception(item):
            yield ExceptionDue(as_exception(item))
        else:
            yield Due(feed, item.vulnerability_id, item.type, str(item.expires_at), int(item.version or 0))


def record_warning(warning: Due, now: datetime) -> bool:
    """Marks the assessment warned and writes its `expiring` entry, in one
    transaction; False when it is no longer that version, or was warned
    already (by another sweep, or by this one before a retry)."""
    at = clock.iso(now)
    left = clock.days_left(warning.expires_at, at)
    entry = history.new_entry(
        warning.feed,
        warning.vulnerability_id,
        at,
        "expiring",
        AUTO,
        type=warning.type,
        reason=f"The {warning.type} assessment expires at {warning.expires_at}, "
        f"in {left} day{'' if left == 1 else 's'}.",
        expires_at=warning.expires_at,
    )

    def write() -> None:
        with transactions.write() as transaction:
            transaction.update(
                Assessment(feed=warning.feed, vulnerability_id=warning.vulnerability_id),
                actions=[Assessment.warned_at.set(at)],
                condition=(Assessment.version == warning.version) & Assessment.warned_at.does_not_exist(),
            )
            transaction.save(entry)

    try:
        transactions.retrying(write)
    except TransactWriteError as error:
        # PynamoDB sends puts before updates: the assessment's update is the second item.
        if conditions.failed_in_transaction(error, 1):
            return False
        raise
    return True
