"""The service's own vocabulary, defined once: effects, statuses and bands
as the contract spells them, and what a vulnerability source reports, in a
form no source owns. A source's client (feedguard.ossindex) converts its
answers into `Report`s; the use cases (feedguard.findings_plan) and the
data-access layer take them as they are.

The value sets are Literal types, so pydantic's request and response models
and mypy check them, and the API document shows them inline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Effect = Literal["allow", "warn", "block"]
# Ordered: allow < warn < block.
EFFECTS: tuple[Effect, ...] = get_args(Effect)

# A finding's status as the API shows it: an assessment whose expiry passed is `expired` at once.
FindingStatus = Literal["unassessed", "assessed", "expired"]
# As a finding stores it: also `withdrawn`, when no package of its feed reports it any more.
StoredStatus = Literal["unassessed", "assessed", "expired", "withdrawn"]
STORED_STATUSES: tuple[StoredStatus, ...] = get_args(StoredStatus)

# CVSS v3 bands, ordered.
Severity = Literal["none", "low", "medium", "high", "critical"]
BANDS: tuple[Severity, ...] = get_args(Severity)

ScanStatus = Literal["queued", "running", "succeeded", "partial", "failed"]

# What the history records (`expiring`: the warning, ExpiringWarningDays before an expiry).
Action = Literal[
    "detected",
    "assessed",
    "unassessed",
    "expired",
    "reopened",
    "withdrawn",
    "expiring",
    # a package exception's (docs/exceptions.md), in the feed's stream and each listed vulnerability's history
    "exception_created",
    "exception_deleted",
    "exception_expired",
    "exception_expiring",
]

# A feed's decisions (GET /feeds/{feed}/decisions, feedguard.decisions): of
# which kind, and why one is listed.
DecisionKind = Literal["assessment", "exception"]
DecisionState = Literal["stale", "expiring"]
DecisionReason = Literal["withdrawn", "no_finding", "expiring"]
ExceptionDecisionReason = Literal["matches_no_package", "expiring"]


@dataclass(frozen=True)
class Vulnerability:
    """A vulnerability as a source reports it. Its fields are what the
    vulnerabilities table stores, and what its fingerprint covers
    (findings_plan.fingerprint): renaming one would rewrite every
    vulnerability stored at the next scan."""

    id: str
    display_name: str | None
    title: str | None
    description: str | None
    cvss_score: float | None
    cvss_vector: str | None
    cwe: str | None
    cve: str | None
    reference: str | None
    external_references: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    """What a source says of one purl: the vulnerabilities that affect it
    (none: it was asked and is clean). A purl a source did not answer for
    has no Report at all."""

    vulnerabilities: tuple[Vulnerability, ...]


# ---------------------------------------------------------------- what the data-access layer answers


@dataclass(frozen=True)
class Finding:
    """A finding as stored: one per feed and vulnerability. `status` is the
    stored one; effects.finding_effect gives the one the API shows."""

    feed: str
    vulnerability_id: str
    status: StoredStatus
    packages: frozenset[str]
    cvss_score: float | None
    title: str | None
    display_name: str | None
    cve: str | None
    first_seen: str


@dataclass(frozen=True)
class Assessment:
    """The assessment in force on a finding."""

    feed: str
    vulnerability_id: str
    type: str
    effect: str
    comment: str | None
    assessed_by: str  # the name the assessing key had
    assessed_by_id: str | None  # None: made before ids were recorded
    assessed_at: str
    expires_at: str | None
    version: int


@dataclass(frozen=True)
class HistoryEntry:
    """One thing that happened to a finding."""

    at: str
    actor: str
    actor_id: str | None
    action: str
    type: str | None
    comment: str | None
    reason: str | None


@dataclass(frozen=True)
class AssessmentDecision:
    """An assessment as GET /feeds/{feed}/decisions lists it (kind
    `assessment`): why it is listed, and the assessment in force.
    `withdrawn_at`: when its finding was withdrawn (reason `withdrawn`).
    Another kind of decision (a package exception) is a dataclass of its
    own with `kind` and `reason`."""

    reason: DecisionReason
    vulnerability_id: str
    type: str
    effect: str
    comment: str | None
    assessed_by: str
    assessed_by_id: str | None
    assessed_at: str
    expires_at: str | None
    version: int
    withdrawn_at: str | None = None
    kind: Literal["assessment"] = "assessment"


@dataclass(frozen=True)
class ExceptionDecision:
    """A package exception as GET /feeds/{feed}/decisions lists it (kind
    `exception`): why (it matches no package of the feed, or it expires
    soon), and the exception in force."""

    reason: ExceptionDecisionReason
    id: str
    purl: str
    versions: str | None
    vulnerability_ids: tuple[str, ...] | None
    type: str
    effect: str
    comment: str | None
    created_by: str
    created_by_id: str | None
    created_at: str
    expires_at: str | None
    kind: Literal["exception"] = "exception"
