"""Findings across the feeds a key may see (GET /vulnerabilities): the feeds
where one vulnerability is a finding, or the findings of a status in every
such feed, most severe first. docs/data-model.md counts the calls.

The key's feeds are its roles (FeedsTable.by_member, every page) and their
feed items (one BatchGet, 100 a call, in parallel), keeping a role only
while the feed of its name has the id it was granted on, as GET /feeds
does; the admin's are every feed (FeedsTable.by_entity).

- By vulnerability id: FindingsTable.by_vulnerability (keys only) names the
  feeds with a finding of it, in one Query (asked while the key's feeds are
  read); the feeds the key may see are kept, and their findings and
  assessments read in one round trip of BatchGets.
- By status: one Query of FindingsTable.by_status a feed (its status's
  partition, the score range), QUERIES_AT_ONCE in flight at a time, merged
  by score (descending), then feed name, then vulnerability id. A status
  index across feeds would be one Query a page, but every finding of the
  organisation in one partition (a scan's writes all on one key) and the
  reads of every other key's feeds billed and filtered out.

A cursor is the last item given (its score key, feed name and id) with a
hash of the parameters it was given with: each feed resumes after it in
that order. Items of equal score in one feed come out of the index in no
order this relies on: each feed's read takes the whole group of the score
it stops in, and sorts."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from feedguard.dal import batching
from feedguard.dal.findings import BAND_KEYS, min_score_key
from feedguard.dal.models import FEED_SK, PERMISSION_SK_PREFIX, Assessment, Feed, FeedPermission, Finding
from feedguard.dal.pages import Page, decode_cursor, encode_cursor
from feedguard.errors import InvalidInput

T = TypeVar("T")
R = TypeVar("R")

# Queries in flight at once, for one request: a key's 200 feeds are 13
# rounds of Queries. Its own pool: dal.batching's threads must never wait
# on calls of its pool (a Query here does not batch, but stays apart).
QUERIES_AT_ONCE = 16
_queries = ThreadPoolExecutor(max_workers=QUERIES_AT_ONCE, thread_name_prefix="across-feeds")

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class Visible:
    """A feed the caller may see, and the caller's role on it (`admin` for the admin)."""

    feed: Feed
    role: str

    @property
    def name(self) -> str:
        return self.feed.feed


@dataclass(frozen=True)
class Row:
    """A finding of a feed the caller may see, with its assessment (if any)."""

    visible: Visible
    finding: Finding
    assessment: Assessment | None


def finding_id(vulnerability_id: str) -> str:
    """The id to look a caller's id up by: the id itself. Any id of a
    finding names it, its aliases too: the findings table holds an alias
    item `(feed, alias)` naming the canonical id (docs/data-model.md,
    "Aliases"), and `by_vulnerability` indexes those items like findings,
    so the reads below follow them to the finding."""
    return vulnerability_id


def in_parallel(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`work` of each item, QUERIES_AT_ONCE at a time, in the items' order
    (an error of any is raised, once all have ended)."""
    if len(items) <= 1:
        return [work(item) for item in items]
    return list(_queries.map(work, items))


def visible_feeds(key_id: str | None) -> list[Visible]:
    """The feeds a key has a role on (None: the admin, every feed), by name."""
    if key_id is None:
        feeds = [Visible(feed, ADMIN_ROLE) for feed in Feed.by_entity.query("feed")]
    else:
        roles = {role.feed: role for role in FeedPermission.by_member.query(f"key#{key_id}")}
        found = batching.read(Feed, [(name, FEED_SK) for name in sorted(roles)])
        feeds = [Visible(feed, roles[feed.feed].role) for feed in found if roles[feed.feed].granted_on == feed.feed_id]
    return sorted(feeds, key=lambda visible: visible.name)


def _feeds_with(vulnerability_id: str) -> set[str]:
    return {item.feed for item in Finding.by_vulnerability.query(vulnerability_id)}


# ---------------------------------------------------------------- by vulnerability id


def with_vulnerability(key_id: str | None, vulnerability_id: str, limit: int, cursor: str | None) -> Page[Row]:
    """The findings of `vulnerability_id` in the feeds the key may see (not
    withdrawn), by feed name, `limit` a page: the index's Query runs while
    the key's feeds are read, then one round trip reads the page's findings
    and assessments."""
    wanted = finding_id(vulnerability_id)
    signature = _signature("id", wanted)
    after = _resume(cursor, signature, ("feed",))
    holding = _queries.submit(_feeds_with, wanted)
    visible = visible_feeds(key_id)
    with_it = holding.result()
    candidates = [v for v in visible if v.feed.feed_id in with_it and (after is None or v.name > after["feed"])]
    rows: list[Row] = []
    # Withdrawn findings are in the index too: read on until the page is full.
    while candidates and len(rows) <= limit:
        chunk, candidates = candidates[: limit + 1 - len(rows)], candidates[limit + 1 - len(rows) :]
        rows += _rows([(v, wanted) for v in chunk])
    page, more = rows[:limit], len(rows) > limit
    next_cursor = _cursor(signature, {"feed": page[-1].visible.name}) if more else None
    return Page(page, next_cursor)


def _rows(pairs: Sequence[tuple[Visible, str]]) -> list[Row]:
    """The findings of these (feed, vulnerability id) pairs that are not
    withdrawn, with their assessments, in the pairs' order: one round trip,
    and a second for ids that are a finding's alias (their alias items name
    the finding's canonical id, under which it and its assessment are kept)."""
    keys = [(v.feed.feed_id, vid) for v, vid in pairs]
    found, assessed = batching.read_tables([(Finding, keys), (Assessment, keys)])
    items = {(f.feed, f.vulnerability_id): f for f in cast("list[Finding]", found)}
    assessments = {(a.feed, a.vulnerability_id): a for a in cast("list[Assessment]", assessed)}
    canonical = {key: (key[0], item.alias_of) for key, item in items.items() if item.alias_of is not None}
    if canonical:
        targets = sorted(set(canonical.values()))
        more, more_assessed = batching.read_tables([(Finding, targets), (Assessment, targets)])
        items.update({(f.feed, f.vulnerability_id): f for f in cast("list[Finding]", more)})
        assessments.update({(a.feed, a.vulnerability_id): a for a in cast("list[Assessment]", more_assessed)})
    rows: list[Row] = []
    for visible, vid in pairs:
        key = canonical.get((visible.feed.feed_id, vid), (visible.feed.feed_id, vid))
        finding = items.get(key)
        if finding is not None and finding.alias_of is None and finding.status != "withdrawn":
            rows.append(Row(visible, finding, assessments.get(key)))
    return rows


def findings_among(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Of these (feed id, vulnerability id), those that name a finding, each
    with the finding's canonical id: a finding not withdrawn names itself,
    an alias item the finding it names (`PUT …/assessment` resolves it the
    same way, and answers for a withdrawn one). BatchGets of the status and
    `alias_of` only, 100 keys a call, in parallel."""
    attributes = [Finding.feed, Finding.vulnerability_id, Finding.status, Finding.alias_of]
    named: dict[tuple[str, str], str] = {}
    for item in batching.read_values(Finding, keys, attributes):
        key = (item["feed"], item["vulnerability_id"])
        if item.get("alias_of"):
            named[key] = item["alias_of"]
        elif item.get("status") != "withdrawn":
            named[key] = item["vulnerability_id"]
    return named


# ---------------------------------------------------------------- by status


def max_score_key(max_cvss: float | None) -> str | None:
    """The largest score_key at or below `max_cvss` (score keys are tenths)."""
    if max_cvss is None:
        return None
    return f"{min(100, int(round(max_cvss * 10, 6))):03d}"


def score_range(severity: str | None, min_cvss: float | None, max_cvss: float | None) -> tuple[str, str]:
    """The score_key range of a band and bounds, all of them applying."""
    low, high = BAND_KEYS[severity] if severity else ("000", "100")
    floor, ceiling = min_score_key(min_cvss), max_score_key(max_cvss)
    return max(low, floor or low), min(high, ceiling or high)


@dataclass(frozen=True)
class StatusFilter:
    """What GET /vulnerabilities?status= narrows the list by."""

    status: str
    severity: str | None = None
    min_cvss: float | None = None
    max_cvss: float | None = None

    def signature(self) -> str:
        low, high = score_range(self.severity, self.min_cvss, self.max_cvss)
        return _signature("status", self.status, low, high)


def with_status(key_id: str | None, filters: StatusFilter, limit: int, cursor: str | None, now: datetime) -> Page[Row]:
    """A page of the findings in `filters.status` (as of `now`: `expired`
    holds assessed findings whose expiry has passed) of the feeds the key
    may see: score descending, then feed name, then vulnerability id."""
    signature = filters.signature()
    after = _resume(cursor, signature, ("score", "feed", "id"))
    low, high = score_range(filters.severity, filters.min_cvss, filters.max_cvss)
    if low > high:
        return Page([], None)  # e.g. severity=low&min_cvss=7: nothing, and BETWEEN refuses it
    feeds = visible_feeds(key_id)
    moment = int(now.timestamp())
    streams = _streams(filters.status, moment)

    def read(feed: Visible) -> list[Finding]:
        ceiling, drop = high, None
        if after is not None:
            last = after["score"]
            if feed.name < after["feed"]:
                ceiling = min(high, f"{int(last) - 1:03d}") if last > "000" else ""
            elif feed.name == after["feed"]:
                ceiling = min(high, last)
                drop = (last, after["id"])
            else:
                ceiling = min(high, last)
        if ceiling < low:
            return []
        found: list[Finding] = []
        for status, live in streams:
            found += _read_stream(Finding.status_key(feed.feed.feed_id, status), live, low, ceiling, drop, limit)
        return found

    candidates = [
        (visible, finding) for visible, found in zip(feeds, in_parallel(read, feeds), strict=True) for finding in found
    ]
    candidates.sort(key=lambda pair: (-int(pair[1].score_key), pair[0].name, pair[1].vulnerability_id))
    page, more = candidates[:limit], len(candidates) > limit
    assessments = {
        (a.feed, a.vulnerability_id): a
        for a in batching.read(Assessment, [(f.feed, f.vulnerability_id) for _, f in page])
    }
    rows = [Row(v, f, assessments.get((f.feed, f.vulnerability_id))) for v, f in page]
    if not more:
        return Page(rows, None)
    last_visible, last = page[-1]
    return Page(
        rows, _cursor(signature, {"score": last.score_key, "feed": last_visible.name, "id": last.vulnerability_id})
    )


def _streams(status: str, moment: int) -> list[tuple[str, Any]]:
    """The by_status partitions (by stored status) a status reads, each with
    the filter of what counts at `moment`: an assessment past its expiry is
    expired at once, before DynamoDB's TTL deletes it."""
    passed = Finding.assessment_expires_ttl.exists() & (Finding.assessment_expires_ttl <= moment)
    in_force = Finding.assessment_expires_ttl.does_not_exist() | (Finding.assessment_expires_ttl > moment)
    if status == "unassessed":
        return [("unassessed", None)]
    if status == "assessed":
        return [("assessed", in_force)]
    return [("expired", None), ("assessed", passed)]


def _read_stream(
    partition: str, live: Any, low: str, high: str, drop: tuple[str, str] | None, limit: int
) -> list[Finding]:
    """One feed's findings of one by_status partition, most severe first:
    `limit` + 1 of them (after `drop`, the cursor's (score, id) in this
    feed) and the rest of the group of equal score the last is in, which
    the index gives in no defined order."""
    results = Finding.by_status.query(
        partition,
        range_key_condition=Finding.score_key.between(low, high),
        filter_condition=live,
        scan_index_forward=False,
        page_size=limit + 1,
    )
    kept: list[Finding] = []
    for item in results:
        if len(kept) > limit and item.score_key != kept[-1].score_key:
            break
        if drop is not None and item.score_key == drop[0] and item.vulnerability_id <= drop[1]:
            continue
        kept.append(item)
    return kept


# ---------------------------------------------------------------- cursors


def _signature(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _cursor(signature: str, position: dict[str, str]) -> str | None:
    return encode_cursor({"query": {"S": signature}, **{name: {"S": value} for name, value in position.items()}})


SCORE_KEY = re.compile(r"[0-9]{3}")


def _resume(cursor: str | None, signature: str, fields: Iterable[str]) -> dict[str, str] | None:
    """The position a cursor this list gave out names (None: the first page)."""
    if not cursor:
        return None
    refused = InvalidInput("The cursor is not one this API gave out.", [_problem("not a cursor of this list")])
    try:
        key = decode_cursor(cursor) or {}
    except InvalidInput:
        raise refused from None
    names = {"query", *fields}
    if set(key) != names or any(set(value) != {"S"} for value in key.values()):
        raise refused
    position = {name: key[name]["S"] for name in names}
    if "score" in position and not SCORE_KEY.fullmatch(position["score"]):
        raise refused
    if position.pop("query") != signature:
        raise InvalidInput(
            "The cursor belongs to a list with other parameters; send the same id, or status, severity, min_cvss "
            "and max_cvss, as the request that returned it.",
            [_problem("the parameters differ from those the cursor was given out with")],
        )
    return position


def _problem(message: str) -> dict[str, Any]:
    return {"loc": ["query", "cursor"], "type": "value_error", "msg": message}


# ---------------------------------------------------------------- roles on several feeds


def access_many(names: Sequence[str], key_id: str | None) -> dict[str, tuple[Feed | None, str | None]]:
    """dal.feeds.access of each name, in one round trip: the feeds' items
    and the key's roles on them (None: the admin, no role read) in
    consistent BatchGets, 100 keys a call, in parallel. A role counts only
    when it was granted on the id of the feed of its name."""
    keys = [{"feed": {"S": name}, "sk": {"S": FEED_SK}} for name in names]
    if key_id is not None:
        keys += [{"feed": {"S": name}, "sk": {"S": f"{PERMISSION_SK_PREFIX}{key_id}"}} for name in names]
    feeds: dict[str, Feed] = {}
    roles: dict[str, FeedPermission] = {}
    for item in batching.read_serialized(Feed, keys, consistent=True):
        if item["sk"]["S"] == FEED_SK:
            feeds[item["feed"]["S"]] = Feed.from_raw_data(item)
        else:
            roles[item["feed"]["S"]] = FeedPermission.from_raw_data(item)
    answer: dict[str, tuple[Feed | None, str | None]] = {}
    for name in names:
        feed, role = feeds.get(name), roles.get(name)
        counts = feed is not None and role is not None and role.granted_on == feed.feed_id
        answer[name] = (feed, role.role if counts and role is not None else None)
    return answer
