"""The assessments of a feed as decisions (feedguard.decisions): those that
are stale, those that expire soon, and the record of an expiry's warning.
Every read is a Query on the assessments table's key or its sparse
`by_expiry` index (feed id, expires_at), or a BatchGet of findings: never a
Scan.

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
from feedguard.dal.models import Assessment, Finding
from feedguard.dal.pages import collect
from feedguard.domain import AssessmentDecision, DecisionReason

# Stale: assessments read a Query, whose findings one BatchGet then reads
# (DynamoDB's 100 keys a call); at most MAX_ROUNDS of them for one page.
READ_CHUNK = batching.READ_LIMIT
MAX_ROUNDS = 5


def _decision(item: Assessment, reason: DecisionReason, withdrawn_at: str | None = None) -> AssessmentDecision:
    return AssessmentDecision(
        reason=reason,
        vulnerability_id=item.vulnerability_id,
        type=item.type,
        effect=item.effect,
        comment=item.comment,
        assessed_by=item.assessed_by,
        assessed_by_id=item.assessed_by_id,
        assessed_at=item.assessed_at,
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
    found: list[AssessmentDecision] = []
    moment = int(now.timestamp())
    start = after
    for _ in range(MAX_ROUNDS):
        results = Assessment.query(
            feed,
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
    return Assessment.expires_at.between(clock.iso(now + timedelta(seconds=1)), clock.iso(until))


def expiring(
    feed: str, now: datetime, until: datetime, limit: int, cursor: str | None
) -> tuple[list[AssessmentDecision], str | None]:
    """Assessments that expire after `now` and by `until`, soonest first:
    one Query of by_expiry a page. `cursor`: this list's own (pages.collect)."""
    if until <= now:
        return [], None
    page = collect(
        lambda **kwargs: Assessment.by_expiry.query(feed, range_key_condition=_window(now, until), **kwargs),
        limit,
        cursor,
    )
    return [_decision(item, "expiring") for item in page.items], page.next_cursor


# ---------------------------------------------------------------- warnings


@dataclass(frozen=True)
class Due:
    """An assessment whose expiry's warning is due."""

    feed: str
    vulnerability_id: str
    type: str
    expires_at: str
    version: int


def due(feed: str, now: datetime, until: datetime) -> Iterator[Due]:
    """The feed's assessments that expire after `now` and by `until` and
    were not warned of: one Query of by_expiry (and one more a MB)."""
    if until <= now:
        return
    for item in Assessment.by_expiry.query(
        feed, range_key_condition=_window(now, until), filter_condition=Assessment.warned_at.does_not_exist()
    ):
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
