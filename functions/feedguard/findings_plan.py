"""The rules of findings, without AWS: given what a scan batch's sources
reported and what is stored, what to write. Each function here is pure;
feedguard.recording reads the stored state through the data-access layer,
asks these for a plan and has feedguard.dal.detections carry it out (one
transaction per finding, as before).

- a vulnerability is written when it is new or its fingerprint changed;
- a package row is written when its answer changed, or when it was never
  scanned and the scan does not cover its whole feed;
- a finding seen for the first time is created `unassessed`, or assessed
  by `auto` when a custom type's range holds its score (the most severe
  effect wins where ranges overlap);
- a finding reported again gets the packages it lacks, a new score or
  title, and is revived if it was withdrawn;
- an assessed finding reported in a higher band than its assessment was
  made at is reopened (the assessment ends, the finding is `expired`);
- a redelivered batch counts the findings its first delivery created as new
  again, and auto-assesses any that delivery left unassessed;
- after a fully successful scan of a whole feed, a finding none of the
  feed's packages reports any more is withdrawn, and the others list
  exactly the packages that report them."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta

from feedguard.domain import Report, Severity, StoredStatus, Vulnerability
from feedguard.effects import AssessmentType, auto_type, band_rank, severity
from feedguard.scanplan import Rows

# (feed, vulnerability id): one finding.
Key = tuple[str, str]

# ---------------------------------------------------------------- vulnerabilities

FINGERPRINTED = tuple(field.name for field in dataclass_fields(Vulnerability))


def fingerprint(vulnerability: Vulnerability) -> str:
    """What the vulnerabilities table keeps to tell a changed report from the same one."""
    # Its fields are plain values: no need for asdict's deep copy (the JSON is the same).
    fields = {name: getattr(vulnerability, name) for name in FINGERPRINTED}
    if not fields.get("aliases"):
        # A field added later counts only when set: a vulnerability without
        # aliases (OSS Index's) keeps the fingerprint stored before it existed.
        del fields["aliases"]
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def latest(reports: Iterable[Report]) -> dict[str, Vulnerability]:
    """Each vulnerability the reports name, once, as the last report says it."""
    found: dict[str, Vulnerability] = {}
    for report in reports:
        for vulnerability in report.vulnerabilities:
            found[vulnerability.id] = vulnerability
    return found


def changed_vulnerabilities(
    reported: Mapping[str, Vulnerability], known: Mapping[str, str]
) -> list[tuple[Vulnerability, str]]:
    """The vulnerabilities to write, with their fingerprints: those unknown
    (`known`: the stored fingerprints by id) or reported differently."""
    printed = ((vulnerability, fingerprint(vulnerability)) for vulnerability in reported.values())
    return [(vulnerability, new) for vulnerability, new in printed if known.get(vulnerability.id) != new]


# ---------------------------------------------------------------- packages


@dataclass(frozen=True)
class PackagesPlan:
    answered: tuple[tuple[str, str], ...]  # (feed, purl) of every row the batch has an answer for
    rewrite: Mapping[tuple[str, str], frozenset[str]]  # (feed, purl) -> its vulnerability ids now
    changes: Mapping[str, int]  # feed -> rows whose vulnerability ids changed


def plan_packages(rows: Rows, reports: Mapping[str, Report], covered: Iterable[str] = ()) -> PackagesPlan:
    """`rows` says what each row held when the scan was planned. A row is
    rewritten when its answer changed, or when it was never scanned and the
    scan does not cover its feed whole (a scan that does stamps the feed
    once when it succeeds). A purl the source did not answer is left alone."""
    whole = set(covered)
    answered: list[tuple[str, str]] = []
    rewrite: dict[tuple[str, str], frozenset[str]] = {}
    changes: Counter[str] = Counter()
    for purl, feeds in rows.items():
        report = reports.get(purl)
        if report is None:
            continue
        ids = frozenset(v.id for v in report.vulnerabilities)
        for feed, known in feeds.items():
            answered.append((feed, purl))
            if ids != known.vulnerabilities:
                rewrite[(feed, purl)] = ids
                changes[feed] += 1
            elif not (known.scanned or feed in whole):
                rewrite[(feed, purl)] = ids
    return PackagesPlan(tuple(answered), rewrite, dict(changes))


# ---------------------------------------------------------------- findings


@dataclass(frozen=True)
class StoredFinding:
    """What planning reads of a finding that exists: all it compares."""

    status: StoredStatus
    packages: frozenset[str]
    cvss_score: float | None
    title: str | None
    detected_in: str | None  # "<scan id>#<batch>" of the batch that created it
    assessment_band: str | None  # the band its assessment was made at, when assessed
    fixed_versions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # purl -> versions that fix it


@dataclass(frozen=True)
class StoredAssessment:
    """What reopening needs of the assessment in force."""

    version: int
    type: str
    band: str | None  # the finding's band when it was made


@dataclass(frozen=True)
class Sightings:
    """What a batch reports, by finding: the purls that report it, and each vulnerability once."""

    purls: Mapping[Key, frozenset[str]]
    reported: Mapping[str, Vulnerability]
    # By finding, the versions that fix it in each purl that reports it, where a source said.
    fixed: Mapping[Key, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)


def sightings(answered: Iterable[tuple[str, str]], reports: Mapping[str, Report]) -> Sightings:
    """`answered`: (feed, purl) of each row that has a report."""
    purls: dict[Key, set[str]] = defaultdict(set)
    reported: dict[str, Vulnerability] = {}
    fixed: dict[Key, dict[str, tuple[str, ...]]] = defaultdict(dict)
    for feed, purl in answered:
        report = reports[purl]
        for vulnerability in report.vulnerabilities:
            purls[(feed, vulnerability.id)].add(purl)
            reported[vulnerability.id] = vulnerability
            versions = report.fixed_versions.get(vulnerability.id)
            if versions:
                fixed[(feed, vulnerability.id)][purl] = tuple(versions)
    return Sightings({key: frozenset(found) for key, found in purls.items()}, reported, dict(fixed))


def fixed_after(finding: StoredFinding, seen: Sightings, key: Key) -> dict[str, tuple[str, ...]]:
    """The finding's fixed versions once this batch is recorded: what it
    says of its purls replaces what was stored of them (a purl it names no
    fix for has none now); the other purls keep theirs."""
    purls = seen.purls[key]
    kept = {purl: tuple(v) for purl, v in finding.fixed_versions.items() if purl not in purls}
    return {**kept, **seen.fixed.get(key, {})}


def rose(band: str | None, vulnerability: Vulnerability) -> bool:
    """The vulnerability is reported in a higher band than `band` (none: below every band)."""
    return band_rank(severity(vulnerability.cvss_score)) > band_rank(band)


def assessments_to_read(seen: Sightings, stored: Mapping[Key, StoredFinding]) -> list[Key]:
    """The assessed findings reported above the band their assessment
    recorded (copied on the finding): only their assessments are read. A
    daily scan of a feed whose findings are assessed reads none."""
    return [
        key
        for key, finding in stored.items()
        if finding.status == "assessed" and rose(finding.assessment_band, seen.reported[key[1]])
    ]


def redelivered(finding: StoredFinding | None, batch: str | None) -> bool:
    """Created by an earlier delivery of this very batch."""
    return finding is not None and batch is not None and finding.detected_in == batch


def needs_types(seen: Sightings, stored: Mapping[Key, StoredFinding], batch: str | None) -> bool:
    """Whether the plan needs the auto-assessing types: a finding is new, or
    one this batch created earlier is still unassessed."""
    for key in seen.purls:
        finding = stored.get(key)
        if finding is None or (redelivered(finding, batch) and finding.status == "unassessed"):
            return True
    return False


@dataclass(frozen=True)
class AutoAssessment:
    """What an auto-assessment by a type says (its actor is `auto`)."""

    type_id: str
    effect: str
    comment: str
    expires_at: datetime | None


def auto_assessment(score: float | None, types: list[AssessmentType], now: datetime) -> AutoAssessment | None:
    """The assessment of a new finding scored `score`, when a type's range holds it."""
    kind = auto_type(score, types)
    if kind is None:
        return None
    return AutoAssessment(
        type_id=kind.id,
        effect=str(kind.effect),
        comment=f"CVSS {score} is in the {kind.name} range {kind.auto_assess_min}-{kind.auto_assess_max}.",
        expires_at=now + timedelta(days=kind.expiration_days) if kind.expiration_days else None,
    )


@dataclass(frozen=True)
class Creation:
    """A finding seen for the first time, and its assessment when a type's range holds its score."""

    feed: str
    vid: str
    purls: frozenset[str]
    vulnerability: Vulnerability
    auto: AutoAssessment | None
    fixed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # purl -> versions that fix it

    @property
    def items(self) -> int:
        """Its items in a transaction: the finding and `detected`, and the assessment and `assessed`."""
        return 4 if self.auto else 2

    @property
    def reason(self) -> str:
        return f"Reported for {', '.join(sorted(self.purls))}."


@dataclass(frozen=True)
class Reopen:
    """The assessment in force ends: the vulnerability is reported in a higher band than it was made at."""

    assessment: StoredAssessment
    band: Severity

    @property
    def reason(self) -> str:
        return f"Severity rose from {self.assessment.band or 'none'} to {self.band}."


@dataclass(frozen=True)
class Change:
    """What a batch changes of a finding that exists, in this order: its
    auto-assessment (a redelivered batch's own finding left unassessed), the
    reopening of its assessment, then the finding itself: packages added,
    score and title, revived when it was withdrawn."""

    feed: str
    vid: str
    vulnerability: Vulnerability
    auto: AutoAssessment | None = None
    reopen: Reopen | None = None
    add_packages: frozenset[str] = frozenset()
    rescore: bool = False
    revive: bool = False
    fixed: Mapping[str, tuple[str, ...]] | None = None  # the fixed versions by purl now, when they changed


@dataclass(frozen=True)
class FindingsPlan:
    creations: tuple[Creation, ...]
    changes: tuple[Change, ...]
    redelivered: int  # findings this batch created on an earlier delivery: counted as new again


def plan_findings(
    seen: Sightings,
    stored: Mapping[Key, StoredFinding],
    assessments: Mapping[Key, StoredAssessment],
    types: list[AssessmentType],
    now: datetime,
    batch: str | None = None,
) -> FindingsPlan:
    """The batch's creations and changes, in (feed, vulnerability) order.
    `stored`: the findings of `seen` that exist; `assessments`: those
    assessments_to_read named that exist; `types`: the auto-assessing types
    (needed only when needs_types says so)."""
    creations: list[Creation] = []
    changes: list[Change] = []
    again = 0
    for key in sorted(seen.purls):
        feed, vid = key
        vulnerability, purls = seen.reported[vid], seen.purls[key]
        finding = stored.get(key)
        if finding is None:
            creations.append(
                Creation(
                    feed,
                    vid,
                    purls,
                    vulnerability,
                    auto_assessment(vulnerability.cvss_score, types, now),
                    seen.fixed.get(key, {}),
                )
            )
            continue
        auto = None
        if redelivered(finding, batch):
            again += 1
            if finding.status == "unassessed":
                # Created by an earlier delivery, perhaps by a version that auto-assessed after creating.
                auto = auto_assessment(vulnerability.cvss_score, types, now)
        assessment = assessments.get(key)
        reopen = (
            Reopen(assessment, severity(vulnerability.cvss_score))
            if assessment is not None and rose(assessment.band, vulnerability)
            else None
        )
        change = Change(
            feed,
            vid,
            vulnerability,
            auto=auto,
            reopen=reopen,
            add_packages=purls - finding.packages,
            rescore=finding.cvss_score != vulnerability.cvss_score or finding.title != vulnerability.title,
            revive=finding.status == "withdrawn",
        )
        fixed = fixed_after(finding, seen, key)
        if fixed != dict(finding.fixed_versions):
            change = replace(change, fixed=fixed)
        if (
            change.auto
            or change.reopen
            or change.add_packages
            or change.rescore
            or change.revive
            or change.fixed is not None
        ):
            changes.append(change)
    return FindingsPlan(tuple(creations), tuple(changes), again)


# ---------------------------------------------------------------- withdrawals


@dataclass(frozen=True)
class Listed:
    """A finding that is not withdrawn, and the packages it lists."""

    vid: str
    packages: frozenset[str]


@dataclass(frozen=True)
class WithdrawalPlan:
    narrow: Mapping[str, frozenset[str]]  # vulnerability id -> exactly the packages that still report it
    withdraw: tuple[str, ...]  # vulnerability ids no package reports any more


def listed_packages(findings: Iterable[Listed]) -> list[str]:
    """The packages to read: only those the findings list. A scan adds every
    package that reports a vulnerability to its finding, so a package that
    reports it and is not listed cannot exist."""
    return sorted({purl for finding in findings for purl in finding.packages})


def plan_withdrawals(findings: Iterable[Listed], reports: Mapping[str, frozenset[str]]) -> WithdrawalPlan:
    """`reports`: the vulnerability ids each listed package's row holds (a
    package removed since is absent, and reports nothing)."""
    narrow: dict[str, frozenset[str]] = {}
    withdraw: list[str] = []
    for finding in findings:
        still = frozenset(purl for purl in finding.packages if finding.vid in reports.get(purl, ()))
        if not still:
            withdraw.append(finding.vid)
        elif still != finding.packages:
            narrow[finding.vid] = still
    return WithdrawalPlan(narrow, tuple(withdraw))
