"""Findings as the API reads them: with their assessments, batch-read."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from feedguard import clock
from feedguard.dal import batching
from feedguard.dal.models import Assessment, Finding, Vulnerability
from feedguard.dal.pages import Page, collect, decode_cursor, encode_cursor
from feedguard.effects import finding_effect
from feedguard.errors import InvalidInput


def with_effects(
    feed: str, vulnerability_ids: Iterable[str], unassessed_effect: str, now: datetime | None = None
) -> dict[str, tuple[Finding, str, str]]:
    """Each finding with its (status, effect) at `now`: two BatchGets, whatever the count."""
    ids = sorted(set(vulnerability_ids))
    if not ids:
        return {}
    moment = now or clock.now()
    found = {item.vulnerability_id: item for item in batching.read(Finding, [(feed, vid) for vid in ids])}
    assessments = {item.vulnerability_id: item for item in batching.read(Assessment, [(feed, vid) for vid in found])}
    answer = {}
    for vid, finding in found.items():
        assessment = assessments.get(vid)
        expires = clock.parse_iso(assessment.expires_at) if assessment and assessment.expires_at else None
        status, effect = finding_effect(
            finding.status, assessment.effect if assessment else None, expires, moment, unassessed_effect
        )
        answer[vid] = (finding, status, effect)
    return answer


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


def _query(partition_index: Any, partition: str, lowest: str | None, live_filter: Any, **kwargs: Any) -> Any:
    condition = Finding.score_key >= lowest if lowest is not None else None
    return partition_index.query(
        partition, range_key_condition=condition, filter_condition=live_filter, scan_index_forward=False, **kwargs
    )


def list_page(
    feed: str, status: str | None, min_cvss: float | None, limit: int, cursor: str | None, now: datetime
) -> Page[Finding]:
    """A page of the feed's findings, most severe first, one Query on an index
    (two phases for `expired`, which includes assessments whose expiry has
    passed before DynamoDB's TTL deleted them)."""
    lowest = min_score_key(min_cvss)
    moment = int(now.timestamp())
    passed = Finding.assessment_expires_ttl.exists() & (Finding.assessment_expires_ttl <= moment)
    in_force = Finding.assessment_expires_ttl.does_not_exist() | (Finding.assessment_expires_ttl > moment)
    by_status, by_score = Finding.by_status, Finding.by_score
    keys = {kind: Finding.status_key(feed, kind) for kind in ("unassessed", "assessed", "expired")}
    if status is None:
        return collect(lambda **kw: _query(by_score, feed, lowest, Finding.status != "withdrawn", **kw), limit, cursor)
    if status == "unassessed":
        return collect(lambda **kw: _query(by_status, keys["unassessed"], lowest, None, **kw), limit, cursor)
    if status == "assessed":
        return collect(lambda **kw: _query(by_status, keys["assessed"], lowest, in_force, **kw), limit, cursor)
    # expired: those stored as expired, then those assessed whose expiry has passed
    phase, inner = _split_cursor(cursor)
    if phase == 0:
        page = collect(lambda **kw: _query(by_status, keys["expired"], lowest, None, **kw), limit, inner)
        if page.next_cursor:
            return Page(page.items, _phase_cursor(0, page.next_cursor))
        rest = limit - len(page.items)
        if rest == 0:
            return Page(page.items, _phase_cursor(1, None))
        more = collect(lambda **kw: _query(by_status, keys["assessed"], lowest, passed, **kw), rest, None)
        return Page(page.items + more.items, _phase_cursor(1, more.next_cursor) if more.next_cursor else None)
    page = collect(lambda **kw: _query(by_status, keys["assessed"], lowest, passed, **kw), limit, inner)
    return Page(page.items, _phase_cursor(1, page.next_cursor) if page.next_cursor else None)


def _phase_cursor(phase: int, inner: str | None) -> str | None:
    return encode_cursor({"phase": {"N": str(phase)}, "inner": {"S": inner or ""}})


def _split_cursor(cursor: str | None) -> tuple[int, str | None]:
    if not cursor:
        return 0, None
    key = decode_cursor(cursor) or {}
    if set(key) != {"phase", "inner"} or key["phase"].get("N") not in ("0", "1"):
        raise InvalidInput("The cursor is not one this API gave out.")
    return int(key["phase"]["N"]), key["inner"].get("S") or None


def get(feed: str, vulnerability_id: str) -> Finding | None:
    try:
        finding = Finding.get(feed, vulnerability_id, consistent_read=True)
    except Finding.DoesNotExist:
        return None
    return None if finding.status == "withdrawn" else finding


def assessments_of(feed: str, vulnerability_ids: Iterable[str]) -> dict[str, Assessment]:
    ids = sorted(set(vulnerability_ids))
    return {item.vulnerability_id: item for item in batching.read(Assessment, [(feed, vid) for vid in ids])}


def vulnerability(vulnerability_id: str) -> Vulnerability | None:
    try:
        return Vulnerability.get(vulnerability_id)
    except Vulnerability.DoesNotExist:
        return None
