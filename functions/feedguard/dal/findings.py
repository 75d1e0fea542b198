"""Findings as the API reads them: with their assessments, batch-read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from feedguard import clock
from feedguard.dal import batching
from feedguard.dal.models import Assessment, Finding
from feedguard.effects import finding_effect


def effects_for(
    feed: str, vulnerability_ids: Iterable[str], unassessed_effect: str, now: datetime | None = None
) -> dict[str, tuple[str, str]]:
    """(status, effect) of each finding, at `now`: two BatchGets, whatever the count."""
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
        answer[vid] = finding_effect(
            finding.status, assessment.effect if assessment else None, expires, moment, unassessed_effect
        )
    return answer
