"""Recording what a scan found: vulnerabilities (once per id), the packages'
last answers, findings (one per feed and vulnerability) and their `detected`
and `withdrawn` history. Writes happen only where something changed, so a
rescan that finds nothing new rewrites no finding and no vulnerability."""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from datetime import datetime, timedelta
from functools import partial
from itertools import accumulate
from typing import Any

from aws_lambda_powertools import Logger
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from feedguard import clock
from feedguard.actors import AUTO, SCANNER
from feedguard.dal import assessment_types as type_store
from feedguard.dal import assessments as assessments_store
from feedguard.dal import batching, conditions, history, transactions
from feedguard.dal import feeds as feed_store
from feedguard.dal.models import Assessment, Finding, HistoryEntry, Package, Vulnerability
from feedguard.effects import AssessmentType, auto_type, band_rank, score_key, severity
from feedguard.ossindex import ComponentReport
from feedguard.ossindex import Vulnerability as Reported
from feedguard.scanplan import Rows

logger = Logger(child=True)


FINGERPRINTED = tuple(field.name for field in dataclass_fields(Reported))


def fingerprint(vulnerability: Reported) -> str:
    # Its fields are plain values: no need for asdict's deep copy (the JSON is the same).
    fields = {name: getattr(vulnerability, name) for name in FINGERPRINTED}
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class Recorded:
    """What a batch reads of a finding already recorded: all it compares
    with what OSS Index said. The rest of the item is never read (a daily
    scan reads every finding its packages report, and building models of
    whole items was most of a batch's extra CPU when it had findings)."""

    status: str
    packages: frozenset[str]
    cvss_score: float | None
    title: str | None
    detected_in: str | None
    assessment_band: str | None  # the band its assessment recorded, when assessed

    @classmethod
    def read(cls, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Recorded]:
        """The findings of these (feed, vulnerability id) that exist."""
        feed, vid, status = Finding.feed, Finding.vulnerability_id, Finding.status
        packages, score, title, batch = Finding.packages, Finding.cvss_score, Finding.title, Finding.detected_in
        band = Finding.assessment_band
        found: dict[tuple[str, str], Recorded] = {}
        for values in batching.read_values(Finding, keys, (feed, vid, status, packages, score, title, batch, band)):
            found[(values[feed.attr_name], values[vid.attr_name])] = cls(
                status=values[status.attr_name],
                packages=frozenset(values[packages.attr_name] or ()),
                cvss_score=float(values[score.attr_name]) if values[score.attr_name] is not None else None,
                title=values[title.attr_name],
                detected_in=values[batch.attr_name],
                assessment_band=values[band.attr_name],
            )
        return found


def _entry(feed: str, vulnerability_id: str, at: str, action: str, reason: str | None = None) -> HistoryEntry:
    return history.new_entry(feed, vulnerability_id, at, action, SCANNER, reason=reason)


def record_vulnerabilities(reports: Iterable[ComponentReport], now: datetime) -> int:
    """Stores each vulnerability new or changed since last seen; returns how many were written."""
    latest: dict[str, Reported] = {}
    for report in reports:
        for vulnerability in report.vulnerabilities:
            latest[vulnerability.id] = vulnerability
    if not latest:
        return 0
    identifier, printed = Vulnerability.id, Vulnerability.fingerprint
    known = {
        values[identifier.attr_name]: values[printed.attr_name]
        for values in batching.read_values(Vulnerability, latest, (identifier, printed))
    }
    changed = [v for v in latest.values() if known.get(v.id) != fingerprint(v)]
    batching.write(
        Vulnerability,
        puts=[
            Vulnerability(
                id=v.id,
                display_name=v.display_name,
                title=v.title,
                description=v.description,
                cvss_score=v.cvss_score,
                cvss_vector=v.cvss_vector,
                cwe=v.cwe,
                cve=v.cve,
                reference=v.reference,
                external_references=list(v.external_references),
                fingerprint=fingerprint(v),
                updated_at=clock.iso(now),
            )
            for v in changed
        ],
    )
    return len(changed)


def record_packages(
    rows: Rows, reports: dict[str, ComponentReport], now: datetime, covered: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """The answered packages of the batch, as (feed, purl), and their rows
    brought up to date. `rows` says what each row held when the scan was
    planned, so only a row whose answer changed is read and written, or one
    never scanned whose feed this scan does not cover whole (a scan that does
    stamps the feed once when it succeeds: see feeds.mark_scanned). A row
    removed since the scan was planned is not written back."""
    whole = set(covered)
    answered: list[tuple[str, str]] = []
    stale: dict[tuple[str, str], set[str]] = {}
    for purl, feeds in rows.items():
        report = reports.get(purl)
        if report is None:
            continue
        ids = {v.id for v in report.vulnerabilities}
        for feed, known in feeds.items():
            answered.append((feed, purl))
            if ids != known.vulnerabilities or not (known.scanned or feed in whole):
                stale[(feed, purl)] = ids
    at = clock.iso(now)
    changed = batching.read(Package, list(stale)) if stale else []
    for package in changed:
        package.vulnerability_ids = stale[(package.feed, package.purl)] or None
        package.last_scanned_at = at
    batching.write(Package, puts=changed)
    # Counted once written: a batch cut short in between is delivered again,
    # and on its last delivery its scan does not succeed (scanner.finish).
    reporting = Counter(feed for (feed, purl), ids in stale.items() if ids != rows[purl][feed].vulnerabilities)
    for feed, count in sorted(reporting.items()):
        feed_store.note_package_changes(feed, count)
    return answered


def record_findings(
    packages: Iterable[tuple[str, str]], reports: dict[str, ComponentReport], now: datetime, batch: str | None = None
) -> int:
    """Creates each finding seen for the first time (status unassessed, with a
    `detected` entry in the same transaction), revives withdrawn ones, adds
    newly affected packages. Returns how many findings are new.

    `batch` ("<scan id>#<number>") makes a redelivered batch idempotent in
    what it reports too: the findings it created on an earlier delivery count
    as new again, and get the auto-assessment that delivery may not have
    reached."""
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    reported: dict[str, Reported] = {}
    for feed, purl in packages:
        for vulnerability in reports[purl].vulnerabilities:
            wanted[(feed, vulnerability.id)].add(purl)
            reported[vulnerability.id] = vulnerability
    if not wanted:
        return 0
    existing = Recorded.read(list(wanted))
    # An assessment is read only when the band reported is above the one it
    # recorded (copied on its finding): a daily scan of a feed whose findings
    # are assessed reads none. A finding assessed before the copy existed has
    # none, below every band, so its assessment is read as it always was.
    suspect = [
        (feed, vid)
        for (feed, vid), f in existing.items()
        if f.status == "assessed" and _rose(f.assessment_band, reported[vid])
    ]
    assessments = {(a.feed, a.vulnerability_id): a for a in batching.read(Assessment, suspect)} if suspect else {}
    at = clock.iso(now)
    unseen = [(feed, vid) for feed, vid in sorted(wanted) if (feed, vid) not in existing]
    autos = type_store.auto_assessing() if unseen else None
    created, lost, unassessed = _create_all(
        [
            _Creation(feed, vid, wanted[(feed, vid)], reported[vid], auto_type(reported[vid].cvss_score, autos or []))
            for feed, vid in unseen
        ],
        at,
        batch,
        now,
    )
    for feed, vid in lost:  # another batch created it first: this one's packages go on it
        _add_packages(feed, vid, wanted[(feed, vid)], at)
    for creation in unassessed:
        _auto_assess(creation.feed, creation.vid, creation.vulnerability, creation.auto, now)
    new = 0
    for (feed, vid), purls in sorted(wanted.items()):
        vulnerability = reported[vid]
        finding = existing.get((feed, vid))
        redelivered = finding is not None and batch is not None and finding.detected_in == batch
        if (feed, vid) in created or redelivered:
            new += 1
        if redelivered and finding is not None and finding.status == "unassessed":
            # Created by an earlier delivery, perhaps by a version that auto-assessed after creating.
            autos = type_store.auto_assessing() if autos is None else autos
            _auto_assess(feed, vid, vulnerability, auto_type(vulnerability.cvss_score, autos), now)
        if finding is not None:
            assessment = assessments.get((feed, vid))
            if assessment is not None and _reopen_if_rose(feed, vid, assessment, vulnerability, at):
                finding = replace(finding, status="expired")
            _update(feed, vid, finding, purls, vulnerability, at)
    return new


def _rose(assessed_band: str | None, vulnerability: Reported) -> bool:
    return band_rank(severity(vulnerability.cvss_score)) > band_rank(assessed_band)


def _reopen_if_rose(feed: str, vid: str, assessment: Assessment | None, vulnerability: Reported, at: str) -> bool:
    """Reopens the assessment if the vulnerability got more severe than when
    it was assessed. When it was reassessed or removed meanwhile, the
    assessment now in force is read and checked in turn: one made while this
    scan ran was made at the band before it. True when one was reopened."""
    for _ in range(assessments_store.RACE_RETRIES):
        if assessment is None or not _rose(assessment.severity_band, vulnerability):
            return False
        if _reopen(feed, vid, assessment, vulnerability, at):
            return True
        assessment = assessments_store.current(feed, vid)
    # It kept changing: whichever assessment is left, its band is on the
    # finding, and the next scan compares with it.
    logger.warning(
        "an assessment kept changing while a scan reopened it", extra={"feed": feed, "vulnerability_id": vid}
    )
    return False


def _reopen(feed: str, vid: str, assessment: Assessment, vulnerability: Reported, at: str) -> bool:
    """The vulnerability got more severe than when it was assessed: the
    assessment ends as `reopened` and the finding needs reassessing (its
    status is then `expired`). False when the assessment changed since it
    was read."""
    old, new = assessment.severity_band or "none", severity(vulnerability.cvss_score)
    entry = _entry(feed, vid, at, "reopened", f"Severity rose from {old} to {new}.")
    entry.type = assessment.type
    return assessments_store.end(assessment, Finding(feed=feed, vulnerability_id=vid), "expired", entry)


def _auto_assess(feed: str, vid: str, vulnerability: Reported, kind: AssessmentType | None, now: datetime) -> None:
    """A finding that exists assessed by `kind`, when a type's range holds its score."""
    if kind is not None:
        assessments_store.assess(feed, vid, **_auto_assessment(kind, vulnerability, now))


def _auto_assessment(kind: AssessmentType, vulnerability: Reported, now: datetime) -> dict[str, Any]:
    """What an auto-assessment by `kind` says."""
    return {
        "type_id": kind.id,
        "effect": str(kind.effect),
        "comment": f"CVSS {vulnerability.cvss_score} is in the {kind.name} range "
        f"{kind.auto_assess_min}-{kind.auto_assess_max}.",
        "expires_at": now + timedelta(days=kind.expiration_days) if kind.expiration_days else None,
        "actor": AUTO,
    }


@dataclass(frozen=True)
class _Creation:
    """A finding a batch creates, and the type that auto-assesses it as it is created."""

    feed: str
    vid: str
    purls: set[str]
    vulnerability: Reported
    auto: AssessmentType | None

    @property
    def items(self) -> int:
        return 4 if self.auto else 2


def _create_all(
    creations: list[_Creation], at: str, batch: str | None, now: datetime
) -> tuple[set[tuple[str, str]], list[tuple[str, str]], list[_Creation]]:
    """Creates each finding (unassessed, or assessed by the type whose range
    holds its score) with its entries, DynamoDB's 100 items a transaction (a
    finding and its `detected` entry, and the assessment and its `assessed`
    entry when a type auto-assesses it): a first scan of a feed creates
    thousands, and a transaction each was most of its time. Returns the (feed, vulnerability) of those
    created; of those another batch of the scan created first (a finding's
    condition failed: it and its items are left out, and the others are
    written again); and those created unassessed because an assessment was
    there already (a feed deleted part way, its name used again), for
    assessments.assess, which replaces it."""
    created: set[tuple[str, str]] = set()
    lost: list[tuple[str, str]] = []
    unassessed: list[_Creation] = []
    for together in _transactions_of(creations):
        pending = together
        while pending:
            try:
                _create_together(pending, at, batch, now)
            except TransactWriteError as error:
                # Each creation's items in order: the finding first, its assessment third.
                starts = [0, *accumulate(c.items for c in pending)][:-1]
                refused = {i for i, start in enumerate(starts) if conditions.failed_in_transaction(error, start)}
                stale = {
                    i
                    for i, start in enumerate(starts)
                    if pending[i].auto and conditions.failed_in_transaction(error, start + 2)
                } - refused
                if not refused and not stale:
                    raise
                lost += [(pending[i].feed, pending[i].vid) for i in sorted(refused)]
                unassessed += [pending[i] for i in sorted(stale)]
                pending = [
                    replace(c, auto=None) if i in stale else c for i, c in enumerate(pending) if i not in refused
                ]
                continue
            created.update((c.feed, c.vid) for c in pending)
            break
    return created, lost, unassessed


def _transactions_of(creations: list[_Creation]) -> Iterator[list[_Creation]]:
    chunk: list[_Creation] = []
    items = 0
    for creation in creations:
        if chunk and items + creation.items > batching.TRANSACTION_ITEMS:
            yield chunk
            chunk, items = [], 0
        chunk.append(creation)
        items += creation.items
    if chunk:
        yield chunk


def _create_together(creations: list[_Creation], at: str, batch: str | None, now: datetime) -> None:
    def create() -> None:
        with transactions.write() as transaction:
            for c in creations:
                finding = _new_finding(c.feed, c.vid, c.purls, c.vulnerability, at, batch)
                detected = _entry(c.feed, c.vid, at, "detected", f"Reported for {', '.join(sorted(c.purls))}.")
                # The assessment (saved on condition that there is none) and its entry, after `detected`.
                assessed = (
                    assessments_store.first(finding, **_auto_assessment(c.auto, c.vulnerability, now)) if c.auto else ()
                )
                transaction.save(finding, condition=Finding.vulnerability_id.does_not_exist())
                transaction.save(detected)
                if assessed:
                    assessment, entry = assessed
                    transaction.save(assessment, condition=Assessment.vulnerability_id.does_not_exist())
                    transaction.save(entry)

    # Batches of one scan may report the same vulnerability for one feed at once.
    transactions.retrying(create)


def _new_finding(feed: str, vid: str, purls: set[str], vulnerability: Reported, at: str, batch: str | None) -> Finding:
    return Finding(
        feed=feed,
        vulnerability_id=vid,
        packages=purls,
        status="unassessed",
        feed_status=Finding.status_key(feed, "unassessed"),
        score_key=score_key(vulnerability.cvss_score),
        cvss_score=vulnerability.cvss_score,
        title=vulnerability.title,
        display_name=vulnerability.display_name,
        cve=vulnerability.cve,
        severity_band=severity(vulnerability.cvss_score),
        first_seen=at,
        last_seen=at,
        detected_in=batch,
    )


def _add_packages(feed: str, vid: str, purls: set[str], at: str) -> None:
    """Puts a batch's packages on a finding another batch created meanwhile:
    without them a scan that reported a vulnerability for two packages in two
    batches at once listed only one, and kept it so."""
    finding = Finding(feed=feed, vulnerability_id=vid)
    transactions.retrying(
        lambda: finding.update(
            actions=[Finding.packages.add(purls), Finding.last_seen.set(at)],
            condition=Finding.vulnerability_id.exists(),
        )
    )


def _update(feed: str, vid: str, finding: Recorded, purls: set[str], vulnerability: Reported, at: str) -> None:
    actions: list[Action] = []
    missing = purls - finding.packages
    if missing:
        actions.append(Finding.packages.add(missing))
    band = severity(vulnerability.cvss_score)
    if finding.cvss_score != vulnerability.cvss_score or finding.title != vulnerability.title:
        actions += [
            Finding.cvss_score.set(vulnerability.cvss_score)
            if vulnerability.cvss_score is not None
            else Finding.cvss_score.remove(),
            Finding.score_key.set(score_key(vulnerability.cvss_score)),
            Finding.title.set(vulnerability.title) if vulnerability.title is not None else Finding.title.remove(),
            Finding.severity_band.set(band),
        ]
    stored = Finding(feed=feed, vulnerability_id=vid)
    if finding.status == "withdrawn":
        # Reported again after it was withdrawn: it needs assessing again.
        actions += [
            *Finding.status_change(feed, "unassessed"),
            Finding.withdrawn_at.remove(),
        ]

        def revive() -> None:
            with transactions.write() as transaction:
                transaction.update(stored, actions=[*actions, Finding.last_seen.set(at)])
                transaction.save(_entry(feed, vid, at, "detected", "Reported again."))

        transactions.retrying(revive)
        return
    if actions:
        transactions.retrying(lambda: stored.update(actions=[*actions, Finding.last_seen.set(at)]))


def withdraw_unreported(feed: str, now: datetime) -> int:
    """After a fully successful scan of `feed`: findings no longer reported for
    any of its packages are withdrawn; the others list exactly the packages
    that report them. Returns how many were withdrawn.

    Only the packages a finding lists are read: a scan adds every package
    that reports a vulnerability to its finding, so a package that reports it
    and is not listed cannot exist. The cost follows the findings, not the
    feed's size, and is paid only when a package changed what it reports, or
    was removed, since the findings were last checked (feeds.findings_to_check):
    a daily scan that finds nothing new reads no finding."""
    changes = feed_store.findings_to_check(feed)
    if changes is None:
        return 0  # no package changed what it reports, and none was removed, since the findings were checked
    findings = [finding for finding in Finding.query(feed) if finding.status != "withdrawn"]
    listed = sorted({(feed, purl) for finding in findings for purl in finding.packages or ()})
    reports = {package.purl: package.vulnerability_ids or set() for package in batching.read(Package, listed)}
    at = clock.iso(now)
    withdrawn = 0
    for finding in findings:
        purls = {purl for purl in finding.packages or () if finding.vulnerability_id in reports.get(purl, ())}
        if purls:
            if purls != set(finding.packages or ()):
                finding.update(actions=[Finding.packages.set(purls)])
            continue
        transactions.retrying(partial(_withdraw, feed, finding, at))
        withdrawn += 1
    feed_store.findings_checked(feed, changes)
    return withdrawn


def _withdraw(feed: str, finding: Finding, at: str) -> None:
    with transactions.write() as transaction:
        transaction.update(
            finding,
            actions=[*Finding.status_change(feed, "withdrawn"), Finding.withdrawn_at.set(at)],
            condition=Finding.status != "withdrawn",
        )
        transaction.save(
            _entry(
                feed, finding.vulnerability_id, at, "withdrawn", "No package of the feed is reported with it any more."
            )
        )
