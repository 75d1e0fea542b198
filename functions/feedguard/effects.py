"""Effects, assessment types and verdicts: the rules, without AWS."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from feedguard.domain import BANDS, EFFECTS, Severity

UNASSESSED = "unassessed"


def rank(effect: str) -> int:
    return EFFECTS.index(effect)


def strongest(effects: list[str]) -> str:
    """The verdict: the highest effect, `allow` when there is none."""
    return max(effects, key=rank, default="allow")


@dataclass(frozen=True)
class AssessmentType:
    id: str
    name: str
    effect: str | None  # None: the feed's unassessed_effect (only `unassessed`)
    expiration_days: int | None
    description: str | None = None
    color: str | None = None
    auto_assess_min: float | None = None
    auto_assess_max: float | None = None
    created_at: str | None = None
    # What a VEX export says of findings assessed with this type (feedguard.vex):
    # an OpenVEX status, and for not_affected, an OpenVEX justification.
    vex_status: str | None = None
    vex_justification: str | None = None

    @property
    def builtin(self) -> bool:
        return self.id in BUILTIN_TYPES


# Built into the code, so every deployment has them without a set-up call.
BUILTIN_TYPES: dict[str, AssessmentType] = {
    t.id: t
    for t in (
        AssessmentType(UNASSESSED, "Unassessed", None, None, "Not assessed yet; takes the feed's unassessed_effect."),
        AssessmentType(
            "ignore",
            "Ignore",
            "allow",
            90,
            "Not a risk here.",
            "#2e7d32",
            vex_status="not_affected",
            vex_justification="vulnerable_code_not_in_execute_path",
        ),
        AssessmentType("caution", "Caution", "warn", 90, "Usable, with care.", "#f9a825", vex_status="affected"),
        AssessmentType("blocked", "Blocked", "block", 90, "Must not be used.", "#c62828", vex_status="affected"),
    )
}


def slug(name: str) -> str:
    """`Accepted Risk (legal)` -> `accepted-risk-legal`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].strip("-")


def finding_effect(
    status: str, assessment_effect: str | None, expires_at: datetime | None, now: datetime, unassessed_effect: str
) -> tuple[str, str]:
    """(status, effect) of a finding at `now`: an assessment whose expiry has
    passed counts as expired at once, whether or not TTL has deleted it."""
    if status == "assessed" and assessment_effect is not None:
        if expires_at is not None and expires_at <= now:
            return "expired", unassessed_effect
        return "assessed", assessment_effect
    if status == "assessed":
        # Stored as assessed but the assessment is gone: TTL deleted it on expiry.
        return "expired", unassessed_effect
    return status, unassessed_effect


def severity(score: float | None) -> Severity:
    """CVSS v3 bands: none 0, low 0.1-3.9, medium 4.0-6.9, high 7.0-8.9, critical 9.0-10.0."""
    if score is None or score <= 0:
        return "none"
    if score < 4.0:
        return "low"
    if score < 7.0:
        return "medium"
    if score < 9.0:
        return "high"
    return "critical"


def score_key(score: float | None) -> str:
    """Tenths of the score, zero-padded, so index order is score order."""
    return f"{round((score or 0.0) * 10):03d}"


def band_rank(band: str | None) -> int:
    return BANDS.index(band) if band in BANDS else 0


def auto_type(score: float | None, candidates: list[AssessmentType]) -> AssessmentType | None:
    """The type that auto-assesses a finding scored `score`: the one whose
    range holds it; the most severe effect when ranges overlap."""
    if score is None:
        return None
    matching = [
        t
        for t in candidates
        if t.effect
        and t.auto_assess_min is not None
        and t.auto_assess_max is not None
        and t.auto_assess_min <= score <= t.auto_assess_max
    ]
    return max(sorted(matching, key=lambda t: t.id), key=lambda t: rank(str(t.effect)), default=None)
