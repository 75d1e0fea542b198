"""Use cases of findings: recording what a scan batch's sources reported,
and withdrawing what a whole-feed scan no longer finds. Each reads the
stored state through the data-access layer, asks feedguard.findings_plan
for a plan, and has the data-access layer carry it out. Writes happen only
where something changed, so a rescan that finds nothing new rewrites no
finding, no vulnerability and no package row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from feedguard import findings_plan
from feedguard.dal import assessment_types as type_store
from feedguard.dal import detections
from feedguard.dal import feeds as feed_store
from feedguard.domain import Report
from feedguard.scanplan import Rows


def record_batch(
    rows: Rows, reports: Mapping[str, Report], now: datetime, covered: Iterable[str] = (), batch: str | None = None
) -> int:
    """Records a batch's answers (`reports`, by purl) for its rows: the
    vulnerabilities, the package rows, the findings. Returns how many
    findings are new. `covered`: the feeds the scan covers whole;
    `batch` ("<scan id>#<number>"): the batch, so that its redelivery
    counts what it created as new again."""
    record_vulnerabilities(reports.values(), now)
    answered = record_packages(rows, reports, now, covered)
    return record_findings(answered, reports, now, batch)


def record_vulnerabilities(reports: Iterable[Report], now: datetime) -> int:
    """Stores each vulnerability new or changed since last seen; returns how many were written."""
    reported = findings_plan.latest(reports)
    if not reported:
        return 0
    changed = findings_plan.changed_vulnerabilities(reported, detections.fingerprints(list(reported)))
    detections.write_vulnerabilities(changed, now)
    return len(changed)


def record_packages(
    rows: Rows, reports: Mapping[str, Report], now: datetime, covered: Iterable[str] = ()
) -> tuple[tuple[str, str], ...]:
    """Brings the batch's package rows up to date; returns the (feed, purl) answered."""
    plan = findings_plan.plan_packages(rows, reports, covered)
    detections.write_packages(plan, now)
    return plan.answered


def record_findings(
    answered: Iterable[tuple[str, str]], reports: Mapping[str, Report], now: datetime, batch: str | None = None
) -> int:
    """Creates, updates, revives, reopens, auto-assesses and merges the
    findings the answered rows report (findings_plan), each found by any of
    its ids (one BatchGet of every id and alias the batch names; a second
    only for findings an alias item names that the first did not read);
    returns how many are new."""
    seen = findings_plan.sightings(answered, reports)
    if not seen.purls:
        return 0
    stored, pointers = detections.linked_findings(findings_plan.keys_to_read(seen))
    found = findings_plan.targets(seen, stored, pointers)
    suspects = findings_plan.assessments_to_read(found, stored)
    assessments = detections.stored_assessments(suspects) if suspects else {}
    types = type_store.auto_assessing() if findings_plan.needs_types(found, stored, batch) else []
    plan = findings_plan.plan_findings(found, stored, assessments, types, now, batch)
    return detections.carry_out(plan, now, batch) + plan.redelivered


def withdraw_unreported(feed: str, now: datetime) -> int:
    """After a fully successful scan of `feed`: findings no longer reported
    for any of its packages are withdrawn; the others list exactly the
    packages that report them. Returns how many were withdrawn. Paid only
    when a package changed what it reports, or was removed, since the
    findings were last checked (feeds.findings_to_check): a daily scan that
    finds nothing new reads no finding."""
    changes = feed_store.findings_to_check(feed)
    if changes is None:
        return 0
    findings = detections.open_findings(feed)
    reports = detections.package_reports(feed, findings_plan.listed_packages(findings))
    plan = findings_plan.plan_withdrawals(findings, reports)
    detections.withdraw(feed, plan, now)
    feed_store.findings_checked(feed, changes)
    return len(plan.withdraw)
