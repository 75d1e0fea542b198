"""The service's own vocabulary, defined once: effects, statuses and bands
as the contract spells them, and what a vulnerability source reports, in a
form no source owns. A source's client (feedguard.ossindex) converts its
answers into `Report`s; the use cases (feedguard.findings_plan) and the
data-access layer take them as they are.

The value sets are Literal types, so pydantic's request and response models
and mypy check them, and the API document shows them inline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    # findings found to be one vulnerability under several ids became one (feedguard.aliases)
    "merged",
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
    # The other ids the source knows it by (OSV's `aliases`; OSS Index's
    # `cve` when its id is another): feedguard.aliases makes one finding of them.
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """What a source says of one purl: the vulnerabilities that affect it
    (none: it was asked and is clean). A purl a source did not answer for
    has no Report at all.

    `fixed_versions`: by vulnerability id, the versions of this purl's
    package that fix it, where the source knows them (OSV's ranges; OSS
    Index gives none). Kept beside the vulnerabilities, not in them: a
    Vulnerability is one row per id for every package, and its fingerprint
    would change with each package's fixes."""

    vulnerabilities: tuple[Vulnerability, ...]
    fixed_versions: Mapping[str, tuple[str, ...]] = field(default_factory=dict, kw_only=True)


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
    # Its other ids (none on findings stored before aliases were kept); its
    # `vulnerability_id` is the canonical one (feedguard.aliases.canonical).
    aliases: frozenset[str] = frozenset()
    # Ids it was stored under before merges: their history is its history.
    merged_from: frozenset[str] = frozenset()
    # By package, the versions that fix it, where a source knows them (OSV).
    fixed_versions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


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


# A scan's scope when it covers every feed (else the scope is a feed's id).
ALL_FEEDS_SCOPE = "*"


@dataclass(frozen=True)
class Feed:
    """A feed as stored. Its fields keep the item's names: `feed` is the
    feed's name (which the API names it by, and its deletion frees), `id`
    its immutable id; everything the feed owns is keyed by `feed_id`."""

    feed: str
    id: str | None  # none on feeds made before feeds had ids: their name is their id
    description: str | None
    unassessed_effect: str
    created_at: str
    updated_at: str | None
    # When the last fully successful scan of every package of the feed started.
    scanned_at: str | None = None
    # Package changes counted, and that count when the findings were last checked.
    package_changes: int | None = None
    findings_checked: int | None = None

    @property
    def feed_id(self) -> str:
        """What the feed's rows are keyed by: its id (its name, for a feed
        made before feeds had ids: "f_" starts no name, so no id is one)."""
        return self.id or self.feed


@dataclass(frozen=True)
class Package:
    """A package row of a feed (of id `feed`)."""

    feed: str
    purl: str
    added_at: str
    last_scanned_at: str | None
    vulnerability_ids: frozenset[str]  # what the last scan reported


@dataclass(frozen=True)
class FeedRole:
    """One key's role on one feed (the feed's name), granted on the feed of
    `granted_on` (a role left from a deleted feed of that name counts for nothing)."""

    feed: str
    key_id: str
    role: str
    granted_at: str
    granted_on: str


@dataclass(frozen=True)
class Source:
    """A vulnerability source. Its token is in Secrets Manager under
    `secret_name`; this holds no secret, only where the secret is."""

    id: str
    name: str
    source_kind: str
    url: str
    auth: str
    username: str | None
    secret_name: str
    created_at: str
    updated_at: str | None
    # Health (feedguard.source_health): what the source last answered.
    last_success_at: str | None = None
    last_error_at: str | None = None
    last_error_status: int | None = None  # none: no answer at all
    last_error_message: str | None = None
    credits_exhausted: bool | None = None


@dataclass(frozen=True)
class Scan:
    """A scan's record and counters as stored."""

    scan_id: str
    scope: str  # a feed's id, or ALL_FEEDS_SCOPE
    feed_name: str | None  # the name of the feed of `scope` (none: every feed, or made before ids)
    status: str
    trigger: str
    refresh_cache: bool
    packages_total: int
    packages_scanned: int
    requests_made: int
    cache_hits: int
    findings_new: int
    batches_total: int
    batches_done: int
    batches_failed: int
    error_set: frozenset[str]  # {"source", "message"} as JSON
    stopped_sources: frozenset[str]
    covered_feeds: frozenset[str]  # the feeds (ids) this scan covers completely
    started_at: str | None
    planned_at: str | None
    finished_at: str | None
    osv_requests: int = 0  # of requests_made, OSV's (querybatch pages and record fetches)


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
