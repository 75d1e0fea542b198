"""Findings as the API reads them: with their assessments, batch-read."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from feedguard import aliases as alias_rules
from feedguard import clock, domain
from feedguard.dal import batching
from feedguard.dal.models import Assessment, Finding, Vulnerability
from feedguard.dal.pages import MAX_LIMIT, Page, collect, decode_cursor, encode_cursor
from feedguard.effects import finding_effect
from feedguard.errors import InvalidInput


def with_effects(
    feed: str, vulnerability_ids: Iterable[str], unassessed_effect: str, now: datetime | None = None
) -> dict[str, tuple[Finding, str, str]]:
    """Each finding with its (status, effect) at `now`, by each of
    `vulnerability_ids` that names it (an alias answers its finding, whose
    `vulnerability_id` is the canonical id): the findings and their
    assessments read together, one round trip whatever the count (BatchGets
    of 100 keys of either table, in parallel), and a second only when an
    alias item names a finding none of the ids is. An id that is no finding
    costs the read of two absent items (half a read unit each)."""
    ids = sorted(set(vulnerability_ids))
    if not ids:
        return {}
    moment = now or clock.now()
    keys = [(feed, vid) for vid in ids]
    read_findings, read_assessments = batching.read_tables([(Finding, keys), (Assessment, keys)])
    found = {item.vulnerability_id: item for item in cast("list[Finding]", read_findings)}
    assessments = {item.vulnerability_id: item for item in cast("list[Assessment]", read_assessments)}
    pointers = {vid: item.alias_of for vid, item in found.items() if item.alias_of is not None}
    # Findings only alias items named: read in a second round trip (package
    # rows hold every id and alias, so the canonical one is usually read already).
    named = sorted(set(pointers.values()) - set(found))
    if named:
        more_findings, more_assessments = batching.read_tables(
            [(Finding, [(feed, vid) for vid in named]), (Assessment, [(feed, vid) for vid in named])]
        )
        found.update({item.vulnerability_id: item for item in cast("list[Finding]", more_findings)})
        assessments.update({item.vulnerability_id: item for item in cast("list[Assessment]", more_assessments)})
    answer: dict[str, tuple[Finding, str, str]] = {}
    for vid, finding in found.items():
        if finding.alias_of is not None:
            continue
        assessment = assessments.get(vid)
        expires = clock.parse_iso(assessment.expires_at) if assessment and assessment.expires_at else None
        status, effect = finding_effect(
            finding.status, assessment.effect if assessment else None, expires, moment, unassessed_effect
        )
        answer[vid] = (finding, status, effect)
    for alias, vid in pointers.items():
        if vid in answer:
            answer[alias] = answer[vid]  # the finding it names; its vulnerability_id is the canonical id
    asked = set(ids)
    return {vid: found for vid, found in answer.items() if vid in asked}


def effects_for(
    feed: str, vulnerability_ids: Iterable[str], unassessed_effect: str, now: datetime | None = None
) -> dict[str, tuple[str, str]]:
    """(status, effect) of each finding at `now`."""
    return {
        vid: (status, effect)
        for vid, (_, status, effect) in with_effects(feed, vulnerability_ids, unassessed_effect, now).items()
    }


def min_score_key(min_cvss: float | None) -> str | None:
    """The smallest score_key at or above `min_cvss` (score keys are tenths)."""
    if min_cvss is None:
        return None
    return f"{max(0, math.ceil(round(min_cvss * 10, 6))):03d}"


# effects.severity's CVSS v3 bands as score_key ranges: scores have one
# decimal, so a band is the keys of its tenths (no score is "000" but none).
BAND_KEYS = {
    "none": ("000", "000"),
    "low": ("001", "039"),
    "medium": ("040", "069"),
    "high": ("070", "089"),
    "critical": ("090", "100"),
}
# Pages read with a package filter: the filter applies after the read, so a
# rare package would otherwise cost a call for every limit + 1 findings.
FILTERED_PAGE_SIZE = MAX_LIMIT + 1


@dataclass(frozen=True)
class Filters:
    """What GET /feeds/{feed}/vulnerabilities narrows its list by."""

    status: str | None = None
    severity: str | None = None
    min_cvss: float | None = None
    package: str | None = None  # canonical purl
    ascending: bool = False

    def score_keys(self) -> tuple[str | None, str | None]:
        """The score_key range of the index's key condition (None: unbounded)."""
        low, high = BAND_KEYS[self.severity] if self.severity else (None, None)
        floor = min_score_key(self.min_cvss)
        if floor is not None and (low is None or floor > low):
            low = floor
        return low, high

    def signature(self, feed: str) -> str:
        """Names the Query a cursor resumes: one from another list is refused,
        not run where its key would be out of the key condition's range."""
        low, high = self.score_keys()
        parts = [
            feed,
            self.status or "",
            low or "",
            high or "",
            self.package or "",
            "asc" if self.ascending else "desc",
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _key_condition(low: str | None, high: str | None) -> Any:
    if low is not None and high is not None:
        return Finding.score_key.between(low, high)
    if low is not None:
        return Finding.score_key >= low
    if high is not None:
        return Finding.score_key <= high
    return None


def _both(first: Any, second: Any) -> Any:
    return first if second is None else second if first is None else first & second


def as_finding(item: Finding) -> domain.Finding:
    return domain.Finding(
        feed=item.feed,
        vulnerability_id=item.vulnerability_id,
        status=item.status,  # type: ignore[arg-type]
        packages=frozenset(item.packages or ()),
        cvss_score=float(item.cvss_score) if item.cvss_score is not None else None,
        title=item.title,
        display_name=item.display_name,
        cve=item.cve,
        first_seen=item.first_seen,
        aliases=frozenset(item.aliases or ()),
        merged_from=frozenset(item.merged_from or ()),
        fixed_versions={purl: tuple(v) for purl, v in item.fixed_by_package().items()},
    )


def as_assessment(item: Assessment) -> domain.Assessment:
    return domain.Assessment(
        feed=item.feed,
        vulnerability_id=item.vulnerability_id,
        type=item.type,
        effect=item.effect,
        comment=item.comment,
        assessed_by=item.assessed_by,
        assessed_by_id=item.assessed_by_id,
        assessed_at=item.assessed_at,
        expires_at=item.expires_at,
        version=int(item.version or 0),
    )


def list_page(feed: str, filters: Filters, limit: int, cursor: str | None, now: datetime) -> Page[domain.Finding]:
    """A page of the feed's findings (list_items)."""
    page = _list_page(feed, filters, limit, cursor, now)
    return Page([as_finding(item) for item in page.items], page.next_cursor)


def _list_page(feed: str, filters: Filters, limit: int, cursor: str | None, now: datetime) -> Page[Finding]:
    """A page of the feed's findings, most severe first (least with
    `ascending`), one Query on an index: by_score, or by_status for a status
    (two phases for `expired`: those stored expired, then those assessed whose
    expiry has passed before DynamoDB's TTL deleted them, each in score order).

    `severity` and `min_cvss` narrow the Query's key condition on score_key,
    so they read only the findings they list. `package` is a filter
    expression on that Query: DynamoDB reads, and bills, every finding of the
    key range in order until `limit` name the package (all of them when fewer
    do), in calls of up to FILTERED_PAGE_SIZE findings (1 MB at most): a
    feed's rare package costs the read of its whole key range, about
    ceil(n / 501) calls for n findings.

    A cursor is valid only for the feed and filters (and order) it came with."""
    low, high = filters.score_keys()
    signature = filters.signature(feed)
    phase, inner = _resume(cursor, signature)
    if low is not None and high is not None and low > high:
        return Page([], None)  # e.g. severity=low&min_cvss=7: nothing, and BETWEEN refuses it
    moment = int(now.timestamp())
    passed = Finding.assessment_expires_ttl.exists() & (Finding.assessment_expires_ttl <= moment)
    in_force = Finding.assessment_expires_ttl.does_not_exist() | (Finding.assessment_expires_ttl > moment)
    holds = Finding.packages.contains(filters.package) if filters.package else None

    def query(index: Any, partition: str, live_filter: Any) -> Callable[..., Any]:
        def run(**kwargs: Any) -> Any:
            if holds is not None:
                kwargs["page_size"] = FILTERED_PAGE_SIZE
            return index.query(
                partition,
                range_key_condition=_key_condition(low, high),
                filter_condition=_both(live_filter, holds),
                scan_index_forward=filters.ascending,
                **kwargs,
            )

        return run

    def resumable(page: Page[Finding], next_phase: int) -> Page[Finding]:
        return Page(page.items, _cursor(signature, next_phase, page.next_cursor) if page.next_cursor else None)

    by_status, by_score = Finding.by_status, Finding.by_score
    keys = {kind: Finding.status_key(feed, kind) for kind in ("unassessed", "assessed", "expired")}
    if filters.status is None:
        return resumable(collect(query(by_score, feed, Finding.status != "withdrawn"), limit, inner), 0)
    if filters.status == "unassessed":
        return resumable(collect(query(by_status, keys["unassessed"], None), limit, inner), 0)
    if filters.status == "assessed":
        return resumable(collect(query(by_status, keys["assessed"], in_force), limit, inner), 0)
    # expired: those stored as expired, then those assessed whose expiry has passed
    if phase == 0:
        page = collect(query(by_status, keys["expired"], None), limit, inner)
        if page.next_cursor:
            return resumable(page, 0)
        rest = limit - len(page.items)
        if rest == 0:
            return Page(page.items, _cursor(signature, 1, None))
        more = collect(query(by_status, keys["assessed"], passed), rest, None)
        return Page(page.items + more.items, resumable(more, 1).next_cursor)
    return resumable(collect(query(by_status, keys["assessed"], passed), limit, inner), 1)


def _cursor(signature: str, phase: int, inner: str | None) -> str | None:
    return encode_cursor({"query": {"S": signature}, "phase": {"N": str(phase)}, "inner": {"S": inner or ""}})


def _resume(cursor: str | None, signature: str) -> tuple[int, str | None]:
    """(phase, the index key to resume after) of a cursor this list gave out."""
    if not cursor:
        return 0, None
    refused = InvalidInput("The cursor is not one this API gave out.", [_cursor_problem("not a cursor of this list")])
    try:
        key = decode_cursor(cursor) or {}
    except InvalidInput:
        raise refused from None
    if set(key) != {"query", "phase", "inner"} or key["phase"].get("N") not in ("0", "1"):
        raise refused
    if key["query"].get("S") != signature:
        raise InvalidInput(
            "The cursor belongs to a list with other parameters; send the same feed, status, severity, "
            "min_cvss, package and order as the request that returned it.",
            [_cursor_problem("the parameters differ from those the cursor was given out with")],
        )
    return int(key["phase"]["N"]), key["inner"].get("S") or None


def _cursor_problem(message: str) -> dict[str, Any]:
    return {"loc": ["query", "cursor"], "type": "value_error", "msg": message}


def resolve(feed: str, vulnerability_id: str) -> Finding | None:
    """The finding of the feed any of whose ids is `vulnerability_id`: one
    consistent GetItem for its canonical id, two for an alias (its alias
    item, then the finding it names). Findings stored before aliases were
    kept are found by their id alone."""
    try:
        item = Finding.get(feed, vulnerability_id, consistent_read=True)
    except Finding.DoesNotExist:
        return None
    if item.alias_of is None:
        return item
    try:
        found = Finding.get(feed, item.alias_of, consistent_read=True)
    except Finding.DoesNotExist:
        return None  # an alias item written before its finding (a transaction that failed)
    return found if found.alias_of is None else None


def get(feed: str, vulnerability_id: str) -> domain.Finding | None:
    """The finding any of whose ids is `vulnerability_id`, unless it does not exist or is withdrawn."""
    finding = resolve(feed, vulnerability_id)
    return None if finding is None or finding.status == "withdrawn" else as_finding(finding)


def resolved(feed: str, vulnerability_id: str) -> domain.Finding | None:
    """As `get`, withdrawn findings too."""
    finding = resolve(feed, vulnerability_id)
    return None if finding is None else as_finding(finding)


def read(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], domain.Finding]:
    """The findings of these (feed, vulnerability id) that exist, withdrawn ones too (not alias items)."""
    wanted = sorted(set(keys))
    items = batching.read(Finding, wanted) if wanted else []
    return {(f.feed, f.vulnerability_id): as_finding(f) for f in items if f.alias_of is None}


def assessments_of(feed: str, vulnerability_ids: Iterable[str]) -> dict[str, domain.Assessment]:
    ids = sorted(set(vulnerability_ids))
    return {
        item.vulnerability_id: as_assessment(item) for item in batching.read(Assessment, [(feed, vid) for vid in ids])
    }


def vulnerability(vulnerability_id: str, aliases: Iterable[str] = ()) -> domain.Vulnerability | None:
    """The vulnerability's details as last reported: under its id, else under
    the first of its aliases (by feedguard.aliases.rank) a source reported
    it by. One GetItem without aliases, one BatchGet with."""
    others = sorted(set(aliases) - {vulnerability_id}, key=alias_rules.rank)
    if not others:
        try:
            return _details(Vulnerability.get(vulnerability_id))
        except Vulnerability.DoesNotExist:
            return None
    found = {item.id: item for item in batching.read(Vulnerability, [vulnerability_id, *others])}
    for vid in (vulnerability_id, *others):
        if vid in found:
            return _details(found[vid])
    return None


def _details(item: Vulnerability) -> domain.Vulnerability:
    return domain.Vulnerability(
        id=item.id,
        display_name=item.display_name,
        title=item.title,
        description=item.description,
        cvss_score=float(item.cvss_score) if item.cvss_score is not None else None,
        cvss_vector=item.cvss_vector,
        cwe=item.cwe,
        cve=item.cve,
        reference=item.reference,
        external_references=tuple(str(reference) for reference in item.external_references or ()),
        aliases=tuple(sorted(item.aliases or ())),
    )
