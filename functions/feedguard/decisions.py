"""A feed's decisions, across their kinds: which are stale, which expire
soon (GET /feeds/{feed}/decisions), and the `expiring` warning each gets
once, ExpiringWarningDays before it expires (the hourly sweep,
handlers.expiring).

Kinds: `assessment` (dal.decisions) and `exception`, a package exception
(dal.exceptions, feedguard.exceptions). Both live in the assessments table
(an exception's sort key is `#exception#<id>`, with `entity="exception"`),
so every reader of assessments skips exceptions: by key where it can (the
stale assessments' Query starts at ASSESSMENT_KEY_FLOOR), else by `entity`.
A kind is a `Kind` in KINDS, which answers two questions for one feed (its id):

- `stale(feed, limit, after, now)`: its decisions that match nothing the
  feed has any more (an assessment whose finding is withdrawn or gone; a
  package exception that matches no package of the feed);
- `warn(due, now)`: records one's warning, once.

`stale` answers (items, resume point): a string the kind alone reads back
as `after` (None: nothing more of this kind), and may answer fewer than
`limit` items with a resume point. The route goes through KINDS in order,
so a stale page holds one kind's items, then the next's; its cursor names
the kind and that kind's resume point.

Expiring and due decisions are read for both kinds at once from the
`by_expiry` index they share (dal.decisions.expiring, .due: one Query a page,
a feed), soonest first, each item told apart by `entity`; a due one is
warned by its kind (WARNS). A kind's items are frozen dataclasses with
`kind` and `reason` ("withdrawn", "no_finding", "expiring" for assessments;
"matches_no_package", "expiring" for exceptions), which the route shows in
that kind's shape.

The warning contract (what a kind's items do to join the sweep): they carry
`expires_at` (clock.iso) in `by_expiry` (feed id, expires_at), and
`warned_at`, absent until the warning is recorded. `warn` sets `warned_at`
on condition that the decision read is still in force and not warned, in
the same transaction as the records the warning is published from: for an
assessment (whose `version` grows with each change, `warned_at` absent
again on each) the finding's `expiring` history entry, published as
Assessment Expiring; for an exception (never changed once made) its
`exception_expiring` entries in the feed's stream and each listed
vulnerability's history, the feed's published as Exception Expiring. A
sweep run twice, two at once, or one retried after a crash records it once;
an assessment changed meanwhile is warned of in its new version. Publishing
is at least once, as for every event.

Why a sweep and not a one-time EventBridge Scheduler schedule per
decision: docs/architecture.md, "Expiry warnings"."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from aws_lambda_powertools import Logger

from feedguard import exceptions as rules
from feedguard.dal import decisions as assessment_decisions
from feedguard.dal import exceptions as exception_store
from feedguard.dal import feeds as feed_store
from feedguard.dal import packages as package_store
from feedguard.dal.pages import Page, decode_cursor, encode_cursor
from feedguard.domain import DecisionState
from feedguard.errors import InvalidInput

logger = Logger(child=True)

DEFAULT_WITHIN_DAYS = 7
MAX_WITHIN_DAYS = 365


class Kind(Protocol):
    name: str

    def stale(self, feed: str, limit: int, after: str | None, now: datetime) -> tuple[list[Any], str | None]: ...

    def warn(self, due: Any, now: datetime) -> bool: ...


class Assessments:
    """The assessments of a feed (dal.decisions)."""

    name = "assessment"

    def stale(self, feed: str, limit: int, after: str | None, now: datetime) -> tuple[list[Any], str | None]:
        items, resume = assessment_decisions.stale(feed, limit, after, now)
        return list(items), resume

    def warn(self, due: Any, now: datetime) -> bool:
        return assessment_decisions.record_warning(due, now)


# Stale exceptions: the feed's exceptions in force are tested EXCEPTION_CHUNK
# at a time (in id order) against one pass over the feed's purls, PACKAGE_CHUNK
# a Query, at most MAX_PACKAGE_QUERIES Queries a request (so a resume point
# names at most EXCEPTION_CHUNK ids).
EXCEPTION_CHUNK = 50
PACKAGE_CHUNK = 1000
MAX_PACKAGE_QUERIES = 5


class Exceptions:
    """The package exceptions of a feed (dal.exceptions): stale when they
    match no package of the feed (feedguard.exceptions.matches)."""

    name = "exception"

    def stale(self, feed: str, limit: int, after: str | None, now: datetime) -> tuple[list[Any], str | None]:
        """Exceptions in force that match no package of the feed, in id
        order. A request costs one Query of the feed's exceptions, then at
        most MAX_PACKAGE_QUERIES Queries of its purls (PACKAGE_CHUNK each),
        one pass testing a chunk of EXCEPTION_CHUNK exceptions at once and
        stopping as soon as each has matched a package: a feed of up to
        5,000 packages answers in one request, a larger one may answer
        fewer than `limit` items with a resume point. An exception made or
        deleted while a listing is paged is seen as of the page that reads
        its chunk."""
        state = _ExceptionsResume.read(after)
        live = sorted((e for e in exception_store.of_feed(feed) if e.live(now)), key=lambda e: e.id)
        found: list[Any] = []
        queries = 0
        while True:
            chunk = [e for e in live if e.id > state.start][:EXCEPTION_CHUNK]
            if not chunk:
                return found, None
            left = chunk if state.left is None else [e for e in chunk if e.id in state.left]
            purl = state.purl
            more = not state.done
            while more and left:
                if queries == MAX_PACKAGE_QUERIES:
                    return found, _ExceptionsResume(state.start, purl, [e.id for e in left], False).write()
                purls, more = package_store.purls_after(feed, purl, PACKAGE_CHUNK)
                queries += 1
                left = [e for e in left if not any(rules.matches(e, p) for p in purls)]
                purl = purls[-1] if purls else purl
            room = limit - len(found)
            found += [assessment_decisions.exception_decision(e, "matches_no_package") for e in left[:room]]
            if len(left) > room:
                return found, _ExceptionsResume(state.start, None, [e.id for e in left[room:]], True).write()
            state = _ExceptionsResume(chunk[-1].id, None, None, False)
            if len(found) == limit:
                return found, state.write() if any(e.id > state.start for e in live) else None

    def warn(self, due: Any, now: datetime) -> bool:
        return exception_store.record_warning(due.exception, now)


@dataclass(frozen=True)
class _ExceptionsResume:
    """Where a stale exceptions' list resumes: after exception `start` (""
    the first), its chunk's pass over the purls after `purl`, with `left`
    the chunk's ids not yet matched (None: all of it); `done`, the pass is
    over and `left` are stale, still to list."""

    start: str
    purl: str | None
    left: list[str] | None
    done: bool

    @staticmethod
    def read(after: str | None) -> _ExceptionsResume:
        if not after:
            return _ExceptionsResume("", None, None, False)
        try:
            raw = json.loads(after)
            state = _ExceptionsResume(str(raw["s"]), raw["p"], raw["l"], bool(raw["d"]))
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(
                "The cursor is not one this API gave out.", [_cursor_problem("not a cursor of this list")]
            ) from None
        # A purl DynamoDB takes as a sort key (at most 1,024 bytes) and ids as the API gave them out.
        valid = (state.purl is None or (isinstance(state.purl, str) and len(state.purl.encode()) <= 1024)) and (
            state.left is None or (isinstance(state.left, list) and all(isinstance(i, str) for i in state.left))
        )
        if not valid:
            raise InvalidInput(
                "The cursor is not one this API gave out.", [_cursor_problem("not a cursor of this list")]
            )
        return state

    def write(self) -> str:
        return json.dumps({"s": self.start, "p": self.purl, "l": self.left, "d": self.done}, separators=(",", ":"))


KINDS: tuple[Kind, ...] = (Assessments(), Exceptions())
WARNS: dict[type, Kind] = {
    assessment_decisions.Due: KINDS[0],
    assessment_decisions.ExceptionDue: KINDS[1],
}


# ---------------------------------------------------------------- the list


def page(
    feed: str, state: DecisionState, within_days: int | None, limit: int, cursor: str | None, now: datetime
) -> Page[Any]:
    """A page of the feed's decisions in `state`. Stale: kind after kind
    (KINDS). Expiring: both kinds at once, soonest first, from one Query of
    by_expiry a page (dal.decisions.expiring). `within_days` (expiring): the
    window from now. A cursor continues only the list (feed, state, window)
    it was given with."""
    days = within_days or DEFAULT_WITHIN_DAYS
    signature = _signature(feed, state, days if state == "expiring" else None)
    index, after = _resume(cursor, signature)
    if state == "expiring":
        got, resume = assessment_decisions.expiring(feed, now, now + timedelta(days=days), limit, after)
        return Page(list(got), _cursor(signature, 0, resume) if resume is not None else None)
    items: list[Any] = []
    while index < len(KINDS):
        kind = KINDS[index]
        got, resume = kind.stale(feed, limit - len(items), after, now)
        items += got
        if resume is not None:
            return Page(items, _cursor(signature, index, resume))
        index, after = index + 1, None
        if len(items) >= limit:
            break
    return Page(items, _cursor(signature, index, None) if index < len(KINDS) else None)


def _signature(feed: str, state: str, days: int | None) -> str:
    text = "\n".join([feed, state, str(days or "")])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cursor(signature: str, index: int, after: str | None) -> str | None:
    return encode_cursor({"query": {"S": signature}, "kind": {"N": str(index)}, "after": {"S": after or ""}})


def _resume(cursor: str | None, signature: str) -> tuple[int, str | None]:
    """(the kind's index, its resume point) of a cursor this list gave out."""
    if not cursor:
        return 0, None
    refused = InvalidInput("The cursor is not one this API gave out.", [_cursor_problem("not a cursor of this list")])
    try:
        key = decode_cursor(cursor) or {}
    except InvalidInput:
        raise refused from None
    if set(key) != {"query", "kind", "after"} or key["kind"].get("N") not in {str(n) for n in range(len(KINDS))}:
        raise refused
    if key["query"].get("S") != signature:
        raise InvalidInput(
            "The cursor belongs to a list with other parameters; send the same feed, state and within_days as the "
            "request that returned it.",
            [_cursor_problem("the parameters differ from those the cursor was given out with")],
        )
    after = key["after"].get("S")
    if not isinstance(after, str):
        raise refused
    return int(key["kind"]["N"]), after or None


def _cursor_problem(message: str) -> dict[str, Any]:
    return {"loc": ["query", "cursor"], "type": "value_error", "msg": message}


# ---------------------------------------------------------------- warnings


@dataclass
class Sweep:
    """What one run of the warnings did."""

    feeds: int = 0
    warned: int = 0
    # Due when read, but warned by another run or changed since: nothing to do.
    skipped: int = 0
    # (feed id, kind) whose warnings failed; their decisions stay due for the next run.
    failed: list[tuple[str, str]] = field(default_factory=list)


def warn_expiring(now: datetime, days: int) -> Sweep:
    """Records the warning of every decision of every feed that expires
    within `days` from `now` and was not warned of: for each feed one Query
    of the due of both kinds (dal.decisions.due), then one transaction a
    warning, by its kind (WARNS). A feed whose warnings fail is reported in
    `failed` and the others are still swept; its decisions stay due, so the
    next run retries them."""
    sweep = Sweep()
    until = now + timedelta(days=days)
    for feed in feed_store.all_feeds():
        sweep.feeds += 1
        failed: set[str] = set()
        try:
            for due in assessment_decisions.due(feed.feed_id, now, until):
                kind = WARNS[type(due)]
                try:
                    if kind.warn(due, now):
                        sweep.warned += 1
                    else:
                        sweep.skipped += 1
                except Exception:
                    logger.exception("expiry warning failed", extra={"feed_id": feed.feed_id, "kind": kind.name})
                    failed.add(kind.name)
        except Exception:
            logger.exception("expiry warnings failed", extra={"feed_id": feed.feed_id})
            failed.add("decisions")
        sweep.failed += [(feed.feed_id, name) for name in sorted(failed)]
    return sweep
