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
- a finding reported again gets the packages and aliases it lacks, a new
  score or title, and is revived if it was withdrawn;
- a finding is keyed by the canonical id of every id and alias its sources
  report (feedguard.aliases); stored findings an alias links merge into
  one under that id, the stricter assessment standing (stricter);
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

from feedguard import aliases
from feedguard.domain import EFFECTS, Report, Severity, StoredStatus, Vulnerability
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
        # Every id and alias: the gate and withdrawals find the finding by any of them.
        ids = frozenset(vid for v in report.vulnerabilities for vid in aliases.ids_of(v))
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
    aliases: frozenset[str] = frozenset()  # its other ids (none: stored before aliases were kept)
    fixed_versions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # purl -> versions that fix it


@dataclass(frozen=True)
class StoredAssessment:
    """What reopening needs of the assessment in force."""

    version: int
    type: str
    band: str | None  # the finding's band when it was made


@dataclass(frozen=True)
class Sightings:
    """What a batch reports, by vulnerability: `ids` joins the ids and
    aliases its reports share (feedguard.aliases.groups), each group named
    by its canonical id; `purls`, by (feed, group), the purls that report
    it; `reported`, by group, the report its score and title come from."""

    purls: Mapping[Key, frozenset[str]]
    reported: Mapping[str, Vulnerability]
    ids: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def ids_of(self, group: str) -> frozenset[str]:
        return self.ids.get(group, frozenset({group}))

    # By finding, the versions that fix it in each purl that reports it, where a source said.
    fixed: Mapping[Key, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)


def sightings(answered: Iterable[tuple[str, str]], reports: Mapping[str, Report]) -> Sightings:
    """`answered`: (feed, purl) of each row that has a report."""
    answered = list(answered)
    every: dict[str, list[Vulnerability]] = defaultdict(list)
    for _, purl in answered:
        for vulnerability in reports[purl].vulnerabilities:
            every[vulnerability.id].append(vulnerability)
    joined = aliases.groups(aliases.ids_of(v) for found in every.values() for v in found)
    group_of = {member: aliases.canonical(group) for group in joined for member in group}
    purls: dict[Key, set[str]] = defaultdict(set)
    fixed: dict[Key, dict[str, tuple[str, ...]]] = defaultdict(dict)
    for feed, purl in answered:
        report = reports[purl]
        for vulnerability in report.vulnerabilities:
            key = (feed, group_of[vulnerability.id])
            purls[key].add(purl)
            versions = report.fixed_versions.get(vulnerability.id)
            if versions:
                # Two sources naming fixes of one flaw for one purl: every version either names, in their order.
                fixed[key][purl] = tuple(dict.fromkeys((*fixed[key].get(purl, ()), *versions)))
    by_group: dict[str, list[Vulnerability]] = defaultdict(list)
    for vid, found in every.items():
        by_group[group_of[vid]] += found
    return Sightings(
        {key: frozenset(found) for key, found in purls.items()},
        {group: aliases.representative(found, group) for group, found in by_group.items()},
        {aliases.canonical(group): group for group in joined},
        dict(fixed),
    )


def keys_to_read(seen: Sightings) -> list[Key]:
    """Every (feed, id) the batch names a finding by: a stored finding, or an
    alias item naming one, is found under any of them."""
    return sorted({(feed, vid) for feed, group in seen.purls for vid in seen.ids_of(group)})


@dataclass(frozen=True)
class Target:
    """One finding a batch reports, after its ids are matched with what is
    stored: `vid` its canonical id (of every id the batch and the stored
    findings it links know it by, `ids`), `linked` the stored findings it is
    (one under `vid`: a plain update; others: they merge into `vid`)."""

    feed: str
    vid: str
    ids: frozenset[str]
    purls: frozenset[str]
    vulnerability: Vulnerability
    linked: tuple[str, ...]
    # The versions that fix it in each of the batch's purls that reports it, where a source said.
    fixed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def plain(self) -> bool:
        """Stored under its canonical id alone: no merge."""
        return self.linked == (self.vid,)


def targets(seen: Sightings, stored: Mapping[Key, StoredFinding], pointers: Mapping[Key, str]) -> list[Target]:
    """The batch's findings, joined with the stored findings they share an
    id with (`pointers`: alias items read, (feed, alias) -> canonical id),
    in (feed, canonical id) order. Two groups of the batch that a stored
    finding's aliases link are one target."""
    by_feed: dict[str, list[str]] = defaultdict(list)
    for feed, group in seen.purls:
        by_feed[feed].append(group)
    answer: list[Target] = []
    for feed, groups in by_feed.items():
        linked: set[str] = set()
        for group in groups:
            for vid in seen.ids_of(group):
                key = vid if (feed, vid) in stored else pointers.get((feed, vid))
                if key is not None and (feed, key) in stored:
                    linked.add(key)
        sets = [seen.ids_of(group) for group in groups]
        sets += [frozenset({key}) | stored[(feed, key)].aliases for key in linked]
        for joined in aliases.groups(sets):
            vid = aliases.canonical(joined)
            members = [group for group in groups if group in joined]
            answer.append(
                Target(
                    feed=feed,
                    vid=vid,
                    ids=joined,
                    purls=frozenset().union(*(seen.purls[(feed, group)] for group in members)),
                    vulnerability=aliases.representative((seen.reported[group] for group in members), vid),
                    linked=tuple(sorted(key for key in linked if key in joined)),
                    fixed={
                        purl: versions
                        for group in members
                        for purl, versions in seen.fixed.get((feed, group), {}).items()
                    },
                )
            )
    return sorted(answer, key=lambda target: (target.feed, target.vid))


def fixed_after(finding: StoredFinding, target: Target) -> dict[str, tuple[str, ...]]:
    """The finding's fixed versions once this batch is recorded: what it
    says of its purls replaces what was stored of them (a purl it names no
    fix for has none now); the other purls keep theirs."""
    kept = {purl: tuple(v) for purl, v in finding.fixed_versions.items() if purl not in target.purls}
    return {**kept, **target.fixed}


def rose(band: str | None, vulnerability: Vulnerability) -> bool:
    """The vulnerability is reported in a higher band than `band` (none: below every band)."""
    return band_rank(severity(vulnerability.cvss_score)) > band_rank(band)


def _targets(found: Sightings | Iterable[Target], stored: Mapping[Key, StoredFinding]) -> list[Target]:
    """Targets as given, or of sightings with no alias items read."""
    return targets(found, stored, {}) if isinstance(found, Sightings) else list(found)


def assessments_to_read(found: Sightings | Iterable[Target], stored: Mapping[Key, StoredFinding]) -> list[Key]:
    """The assessed findings reported above the band their assessment
    recorded (copied on the finding): only their assessments are read. A
    daily scan of a feed whose findings are assessed reads none. (A merge
    reads the assessments of the findings it joins itself.)"""
    wanted = []
    for target in _targets(found, stored):
        finding = stored.get((target.feed, target.vid)) if target.plain else None
        if finding is not None and finding.status == "assessed" and rose(finding.assessment_band, target.vulnerability):
            wanted.append((target.feed, target.vid))
    return wanted


def redelivered(finding: StoredFinding | None, batch: str | None) -> bool:
    """Created by an earlier delivery of this very batch."""
    return finding is not None and batch is not None and finding.detected_in == batch


def needs_types(found: Sightings | Iterable[Target], stored: Mapping[Key, StoredFinding], batch: str | None) -> bool:
    """Whether the plan needs the auto-assessing types: a finding is new, or
    one this batch created earlier is still unassessed."""
    for target in _targets(found, stored):
        if not target.linked:
            return True
        finding = stored.get((target.feed, target.vid)) if target.plain else None
        if redelivered(finding, batch) and finding is not None and finding.status == "unassessed":
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


# A transaction holds at most this many alias items of one finding; a
# finding with more keeps them all in `aliases`, and the rest are written after.
ALIAS_ITEMS_IN_TRANSACTION = 40


@dataclass(frozen=True)
class Creation:
    """A finding seen for the first time, and its assessment when a type's range holds its score."""

    feed: str
    vid: str
    purls: frozenset[str]
    vulnerability: Vulnerability
    auto: AutoAssessment | None
    aliases: frozenset[str] = frozenset()  # its other ids: an alias item each, in its transaction
    fixed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # purl -> versions that fix it

    @property
    def items(self) -> int:
        """Its items in a transaction: the finding and `detected`, the
        assessment and `assessed`, then its alias items."""
        return (4 if self.auto else 2) + len(self.alias_items)

    @property
    def alias_items(self) -> tuple[str, ...]:
        return tuple(sorted(self.aliases, key=aliases.rank)[:ALIAS_ITEMS_IN_TRANSACTION])

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
    aliases learnt, score and title, revived when it was withdrawn."""

    feed: str
    vid: str
    vulnerability: Vulnerability
    auto: AutoAssessment | None = None
    reopen: Reopen | None = None
    add_packages: frozenset[str] = frozenset()
    rescore: bool = False
    revive: bool = False
    add_aliases: frozenset[str] = frozenset()
    fixed: Mapping[str, tuple[str, ...]] | None = None  # the fixed versions by purl now, when they changed


@dataclass(frozen=True)
class Merge:
    """Stored findings an alias links (`merged`, by their ids) become one
    under the canonical id `vid`, which may be one of them (`into_existing`)
    or new: every id and package of each, the batch's ones, and their
    assessments as merged_assessment decides."""

    feed: str
    vid: str
    merged: tuple[str, ...]  # the stored findings that move into `vid` (never `vid` itself)
    into_existing: bool  # a finding is stored under `vid` already
    ids: frozenset[str]
    purls: frozenset[str]
    vulnerability: Vulnerability
    fixed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # the batch's: purl -> versions that fix it

    @property
    def reason(self) -> str:
        return f"{', '.join(self.merged)} {'is' if len(self.merged) == 1 else 'are'} {self.vid}: merged."


@dataclass(frozen=True)
class FindingsPlan:
    creations: tuple[Creation, ...]
    changes: tuple[Change, ...]
    redelivered: int  # findings this batch created on an earlier delivery: counted as new again
    merges: tuple[Merge, ...] = ()


def plan_findings(
    found: Sightings | Iterable[Target],
    stored: Mapping[Key, StoredFinding],
    assessments: Mapping[Key, StoredAssessment],
    types: list[AssessmentType],
    now: datetime,
    batch: str | None = None,
) -> FindingsPlan:
    """The batch's creations, changes and merges, in (feed, vulnerability)
    order. `found`: targets(); `stored`: the findings of `found` that exist;
    `assessments`: those assessments_to_read named that exist; `types`: the
    auto-assessing types (needed only when needs_types says so)."""
    creations: list[Creation] = []
    changes: list[Change] = []
    merges: list[Merge] = []
    again = 0
    for target in _targets(found, stored):
        feed, vid, vulnerability, purls = target.feed, target.vid, target.vulnerability, target.purls
        key = (feed, vid)
        if not target.linked:
            creations.append(
                Creation(
                    feed,
                    vid,
                    purls,
                    vulnerability,
                    auto_assessment(vulnerability.cvss_score, types, now),
                    aliases=target.ids - {vid},
                    fixed=target.fixed,
                )
            )
            continue
        if not target.plain:
            merged = tuple(k for k in target.linked if k != vid)
            merges.append(
                Merge(feed, vid, merged, vid in target.linked, target.ids, purls, vulnerability, target.fixed)
            )
            continue
        finding = stored[key]
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
            add_aliases=target.ids - {vid} - finding.aliases,
        )
        fixed = fixed_after(finding, target)
        if fixed != dict(finding.fixed_versions):
            change = replace(change, fixed=fixed)
        if (
            change.auto
            or change.reopen
            or change.add_packages
            or change.rescore
            or change.revive
            or change.add_aliases
            or change.fixed is not None
        ):
            changes.append(change)
    return FindingsPlan(tuple(creations), tuple(changes), again, tuple(merges))


# ---------------------------------------------------------------- merges


@dataclass(frozen=True)
class Held:
    """An assessment of one of the findings a merge joins, as merging weighs it."""

    vid: str  # the finding it is the assessment of
    effect: str
    expires_at: datetime | None  # None: never
    version: int


def stricter(candidates: Iterable[Held], canonical_id: str, now: datetime) -> Held | None:
    """The assessment that stands when findings merge: of those still in
    force at `now`, the stricter effect (block > warn > allow); on a tie the
    later expiry (never is latest), then the canonical finding's, then the
    lowest id. None when none is in force."""
    live = [held for held in candidates if held.expires_at is None or held.expires_at > now]
    if not live:
        return None

    def weight(held: Held) -> tuple[int, float, bool, tuple[int, int, int, str]]:
        effect = EFFECTS.index(held.effect) if held.effect in EFFECTS else len(EFFECTS)  # unknown: strictest
        expiry = held.expires_at.timestamp() if held.expires_at else float("inf")
        return (-effect, -expiry, held.vid != canonical_id, aliases.rank(held.vid))

    return min(live, key=weight)


def merged_status(statuses: Iterable[str], assessed: bool) -> StoredStatus:
    """The stored status of findings merged, reported again: assessed when
    an assessment stands; expired when one of them needs reassessing; else
    unassessed (a withdrawn one is reported again)."""
    if assessed:
        return "assessed"
    return "expired" if "expired" in set(statuses) or "assessed" in set(statuses) else "unassessed"


# ---------------------------------------------------------------- withdrawals


@dataclass(frozen=True)
class Listed:
    """A finding that is not withdrawn, and the packages it lists."""

    vid: str
    packages: frozenset[str]
    aliases: frozenset[str] = frozenset()

    @property
    def ids(self) -> frozenset[str]:
        return self.aliases | {self.vid}


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
    package removed since is absent, and reports nothing). A package reports
    a finding when it reports any of the finding's ids."""
    narrow: dict[str, frozenset[str]] = {}
    withdraw: list[str] = []
    for finding in findings:
        still = frozenset(purl for purl in finding.packages if finding.ids & reports.get(purl, frozenset()))
        if not still:
            withdraw.append(finding.vid)
        elif still != finding.packages:
            narrow[finding.vid] = still
    return WithdrawalPlan(narrow, tuple(withdraw))
