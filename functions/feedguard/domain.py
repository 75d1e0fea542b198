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

# What the history records.
Action = Literal["detected", "assessed", "unassessed", "expired", "reopened", "withdrawn"]


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
    # Other names of the same flaw, as the source lists them (OSV's `aliases`).
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
