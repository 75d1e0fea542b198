"""Storing what a scan found, as feedguard.findings_plan decided:
vulnerabilities (one item per id), the packages' last answers, findings
(one per feed and vulnerability) and their `detected`, `reopened` and
`withdrawn` history; and reading the stored state those plans start from.
No rule of findings is decided here: where a write races another (a finding
another batch created first, an assessment changed since it was read),
what is left to do follows the plan's own terms."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime
from functools import partial
from itertools import accumulate

from aws_lambda_powertools import Logger
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action

from feedguard import aliases as alias_rules
from feedguard import clock
from feedguard.actors import AUTO, SCANNER
from feedguard.dal import assessments as assessments_store
from feedguard.dal import batching, conditions, history, merging, transactions
from feedguard.dal import feeds as feed_store
from feedguard.dal.models import Assessment, Finding, FindingAlias, HistoryEntry, Package, Vulnerability
from feedguard.domain import Vulnerability as Reported
from feedguard.effects import band_rank, score_key, severity
from feedguard.findings_plan import (
    AutoAssessment,
    Change,
    Creation,
    FindingsPlan,
    Key,
    Listed,
    PackagesPlan,
    Reopen,
    StoredAssessment,
    StoredFinding,
    WithdrawalPlan,
)

logger = Logger(child=True)


def _entry(feed: str, vulnerability_id: str, at: str, action: str, reason: str | None = None) -> HistoryEntry:
    return history.new_entry(feed, vulnerability_id, at, action, SCANNER, reason=reason)


# ---------------------------------------------------------------- vulnerabilities


def fingerprints(ids: list[str]) -> dict[str, str]:
    """The stored fingerprint of each of these vulnerabilities that is stored."""
    identifier, printed = Vulnerability.id, Vulnerability.fingerprint
    return {
        values[identifier.attr_name]: values[printed.attr_name]
        for values in batching.read_values(Vulnerability, ids, (identifier, printed))
    }


def write_vulnerabilities(changed: list[tuple[Reported, str]], now: datetime) -> None:
    """Puts each (vulnerability, its fingerprint)."""
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
                aliases=set(v.aliases) or None,
                fingerprint=printed,
                updated_at=clock.iso(now),
            )
            for v, printed in changed
        ],
    )


# ---------------------------------------------------------------- packages


def write_packages(plan: PackagesPlan, now: datetime) -> None:
    """Rewrites the rows the plan names that still exist (a row removed
    since the scan was planned is not written back), then counts each
    feed's changed rows: counted once written, since a batch cut short in
    between is delivered again, and on its last delivery its scan does not
    succeed (scanner.finish)."""
    at = clock.iso(now)
    rows = batching.read(Package, list(plan.rewrite)) if plan.rewrite else []
    for package in rows:
        package.vulnerability_ids = set(plan.rewrite[(package.feed, package.purl)]) or None
        package.last_scanned_at = at
    batching.write(Package, puts=rows)
    for feed, count in sorted(plan.changes.items()):
        feed_store.note_package_changes(feed, count)


# ---------------------------------------------------------------- findings


def stored_findings(keys: list[Key]) -> tuple[dict[Key, StoredFinding], dict[Key, str]]:
    """What planning compares of the findings of these keys that exist, and
    the alias items among these keys ((feed, alias) -> canonical id). Only
    those attributes are read (a daily scan reads every finding its
    packages report, and building models of whole items was most of a
    batch's extra CPU when it had findings)."""
    feed, vid, status = Finding.feed, Finding.vulnerability_id, Finding.status
    packages, score, title, batch = Finding.packages, Finding.cvss_score, Finding.title, Finding.detected_in
    band, aliases, alias_of = Finding.assessment_band, Finding.aliases, Finding.alias_of
    fixed = Finding.fixed_versions
    wanted = (feed, vid, status, packages, score, title, batch, band, aliases, alias_of, fixed)
    found: dict[Key, StoredFinding] = {}
    pointers: dict[Key, str] = {}
    for values in batching.read_values(Finding, keys, wanted):
        key = (values[feed.attr_name], values[vid.attr_name])
        if values[alias_of.attr_name] is not None:
            pointers[key] = values[alias_of.attr_name]
            continue
        found[key] = StoredFinding(
            status=values[status.attr_name],
            packages=frozenset(values[packages.attr_name] or ()),
            cvss_score=float(values[score.attr_name]) if values[score.attr_name] is not None else None,
            title=values[title.attr_name],
            detected_in=values[batch.attr_name],
            assessment_band=values[band.attr_name],
            aliases=frozenset(values[aliases.attr_name] or ()),
            fixed_versions=_fixed_read(values[fixed.attr_name]),
        )
    return found, pointers


def linked_findings(keys: list[Key]) -> tuple[dict[Key, StoredFinding], dict[Key, str]]:
    """stored_findings of `keys`, and of the findings the alias items among
    them name that are not among them (a second read, only then)."""
    found, pointers = stored_findings(keys)
    named = sorted({(feed, canonical) for (feed, _), canonical in pointers.items()} - set(found) - set(keys))
    if named:
        more, _ = stored_findings(named)
        found.update(more)
    return found, pointers


def _fixed_read(stored: str | None) -> dict[str, tuple[str, ...]]:
    return {purl: tuple(versions) for purl, versions in json.loads(stored).items()} if stored else {}


def _stored_assessment(assessment: Assessment) -> StoredAssessment:
    return StoredAssessment(int(assessment.version or 0), assessment.type, assessment.severity_band)


def stored_assessments(keys: list[Key]) -> dict[Key, StoredAssessment]:
    """The assessments of these findings that exist."""
    return {(a.feed, a.vulnerability_id): _stored_assessment(a) for a in batching.read(Assessment, keys)}


def carry_out(plan: FindingsPlan, now: datetime, batch: str | None = None) -> int:
    """Writes the plan's creations (together, up to 100 items a transaction)
    and changes (a transaction a finding); returns how many findings it
    created. A finding another batch created first gets this batch's
    packages; one created unassessed because an assessment was left behind
    (a feed deleted part way, its name used again) is assessed after."""
    at = clock.iso(now)
    created, lost, unassessed = _create_all(list(plan.creations), at, batch)
    for creation in lost:  # another batch created it first: this one's packages go on it
        _add_packages(creation.feed, creation.vid, creation.purls, at)
        if creation.aliases:
            _add_aliases(creation.feed, creation.vid, creation.aliases)
    for creation in unassessed:
        if creation.auto is not None:
            _auto_assess(creation.feed, creation.vid, creation.auto)
    for change in plan.changes:
        _change(change, at)
    for merge in plan.merges:
        merging.carry_out(merge, now)
    return len(created)


def _auto_assess(feed: str, vid: str, auto: AutoAssessment) -> None:
    """A finding that exists assessed by `auto`'s type."""
    assessments_store.assess(
        feed,
        vid,
        type_id=auto.type_id,
        effect=auto.effect,
        comment=auto.comment,
        expires_at=auto.expires_at,
        actor=AUTO,
    )


def _first(finding: Finding, auto: AutoAssessment) -> tuple[Assessment, HistoryEntry]:
    """A new finding's assessment by `auto`'s type, and its entry, to write with it."""
    return assessments_store.first(
        finding, type_id=auto.type_id, effect=auto.effect, comment=auto.comment, expires_at=auto.expires_at, actor=AUTO
    )


def _change(change: Change, at: str) -> None:
    if change.auto is not None:
        _auto_assess(change.feed, change.vid, change.auto)
    if change.reopen is not None:
        _reopen_if_rose(change.feed, change.vid, change.reopen, at)
    _update(change, at)


def _reopen_if_rose(feed: str, vid: str, reopen: Reopen, at: str) -> bool:
    """Reopens the assessment read. When it was reassessed or removed
    meanwhile, the assessment now in force is read and checked in turn: one
    made while this scan ran was made at the band before it. True when one
    was reopened."""
    assessment: StoredAssessment | None = reopen.assessment
    for _ in range(assessments_store.RACE_RETRIES):
        if assessment is None or band_rank(reopen.band) <= band_rank(assessment.band):
            return False
        if _reopen(feed, vid, replace(reopen, assessment=assessment), at):
            return True
        current = assessments_store.current(feed, vid)
        assessment = _stored_assessment(current) if current is not None else None
    # It kept changing: whichever assessment is left, its band is on the
    # finding, and the next scan compares with it.
    logger.warning(
        "an assessment kept changing while a scan reopened it", extra={"feed": feed, "vulnerability_id": vid}
    )
    return False


def _reopen(feed: str, vid: str, reopen: Reopen, at: str) -> bool:
    """The assessment ends as `reopened` and the finding needs reassessing
    (its status is then `expired`). False when the assessment changed since
    it was read."""
    entry = _entry(feed, vid, at, "reopened", reopen.reason)
    entry.type = reopen.assessment.type
    assessment = Assessment(feed=feed, vulnerability_id=vid, version=reopen.assessment.version)
    return assessments_store.end(assessment, Finding(feed=feed, vulnerability_id=vid), "expired", entry)


def _create_all(
    creations: list[Creation], at: str, batch: str | None
) -> tuple[set[Key], list[Creation], list[Creation]]:
    """Creates each finding (unassessed, or assessed by the type whose range
    holds its score) with its entries, DynamoDB's 100 items a transaction (a
    finding and its `detected` entry, and the assessment and its `assessed`
    entry when a type auto-assesses it): a first scan of a feed creates
    thousands, and a transaction each was most of its time. Returns the keys
    of those created; those another batch of the scan created first (a
    finding's condition failed: it and its items are left out, and the
    others are written again); and those created unassessed because an
    assessment was there already, for assessments.assess, which replaces it."""
    created: set[Key] = set()
    lost: list[Creation] = []
    unassessed: list[Creation] = []
    for together in _transactions_of(creations):
        pending = together
        while pending:
            try:
                _create_together(pending, at, batch)
            except TransactWriteError as error:
                # Each creation's items in order: the finding first, its assessment third.
                starts = [0, *accumulate(c.items for c in pending)][:-1]
                refused = {i for i, start in enumerate(starts) if conditions.failed_in_transaction(error, start)}
                # An alias stored as a finding of its own meanwhile: the next scan merges them.
                blocked = {
                    i
                    for i, start in enumerate(starts)
                    if any(
                        conditions.failed_in_transaction(error, start + pending[i].items - 1 - j)
                        for j in range(len(pending[i].alias_items))
                    )
                } - refused
                if blocked:
                    logger.warning(
                        "an alias of a new finding became a finding meanwhile",
                        extra={"vulnerability_ids": [pending[i].vid for i in sorted(blocked)]},
                    )
                    refused |= blocked
                stale = {
                    i
                    for i, start in enumerate(starts)
                    if pending[i].auto and conditions.failed_in_transaction(error, start + 2)
                } - refused
                if not refused and not stale and not blocked:
                    raise
                lost += [pending[i] for i in sorted(refused - blocked)]
                unassessed += [pending[i] for i in sorted(stale)]
                pending = [
                    replace(c, auto=None) if i in stale else c for i, c in enumerate(pending) if i not in refused
                ]
                continue
            created.update((c.feed, c.vid) for c in pending)
            break
    return created, lost, unassessed


def _transactions_of(creations: list[Creation]) -> Iterator[list[Creation]]:
    chunk: list[Creation] = []
    items = 0
    for creation in creations:
        if chunk and items + creation.items > batching.TRANSACTION_ITEMS:
            yield chunk
            chunk, items = [], 0
        chunk.append(creation)
        items += creation.items
    if chunk:
        yield chunk


def _create_together(creations: list[Creation], at: str, batch: str | None) -> None:
    def create() -> None:
        with transactions.write() as transaction:
            for c in creations:
                finding = _new_finding(c, at, batch)
                detected = _entry(c.feed, c.vid, at, "detected", c.reason)
                # The assessment (saved on condition that there is none) and its entry, after `detected`.
                assessed = _first(finding, c.auto) if c.auto else ()
                transaction.save(finding, condition=Finding.vulnerability_id.does_not_exist())
                transaction.save(detected)
                if assessed:
                    assessment, entry = assessed
                    transaction.save(assessment, condition=Assessment.vulnerability_id.does_not_exist())
                    transaction.save(entry)
                for alias in c.alias_items:
                    transaction.save(pointer(c.feed, alias, c.vid), condition=NOT_A_FINDING)

    # Batches of one scan may report the same vulnerability for one feed at once.
    transactions.retrying(create)


NOT_A_FINDING = Finding.vulnerability_id.does_not_exist() | Finding.alias_of.exists()


def pointer(feed: str, alias: str, vid: str) -> FindingAlias:
    """The alias item of `alias`, another id of the finding `vid`."""
    return FindingAlias(feed=feed, vulnerability_id=alias, alias_of=vid)


def _new_finding(creation: Creation, at: str, batch: str | None) -> Finding:
    feed, vulnerability = creation.feed, creation.vulnerability
    return Finding(
        aliases=set(creation.aliases) or None,
        feed=feed,
        vulnerability_id=creation.vid,
        packages=set(creation.purls),
        status="unassessed",
        feed_status=Finding.status_key(feed, "unassessed"),
        score_key=score_key(vulnerability.cvss_score),
        cvss_score=vulnerability.cvss_score,
        title=vulnerability.title,
        display_name=vulnerability.display_name,
        # Keyed by a CVE, it has that CVE (a GHSA's report may carry it only among its aliases).
        cve=creation.vid if alias_rules.CVE.match(creation.vid) else vulnerability.cve,
        severity_band=severity(vulnerability.cvss_score),
        first_seen=at,
        last_seen=at,
        detected_in=batch,
        fixed_versions=Finding.fixed_printed(creation.fixed),
    )


def _add_packages(feed: str, vid: str, purls: Iterable[str], at: str) -> None:
    """Puts a batch's packages on a finding another batch created meanwhile:
    without them a scan that reported a vulnerability for two packages in two
    batches at once listed only one, and kept it so."""
    finding = Finding(feed=feed, vulnerability_id=vid)
    transactions.retrying(
        lambda: finding.update(
            actions=[Finding.packages.add(set(purls)), Finding.last_seen.set(at)],
            condition=Finding.vulnerability_id.exists(),
        )
    )


def _update(change: Change, at: str) -> None:
    feed, vid, vulnerability = change.feed, change.vid, change.vulnerability
    actions: list[Action] = []
    if change.add_packages:
        actions.append(Finding.packages.add(set(change.add_packages)))
    if change.add_aliases:
        _add_aliases(feed, vid, change.add_aliases)
    if change.rescore:
        actions += [
            Finding.cvss_score.set(vulnerability.cvss_score)
            if vulnerability.cvss_score is not None
            else Finding.cvss_score.remove(),
            Finding.score_key.set(score_key(vulnerability.cvss_score)),
            Finding.title.set(vulnerability.title) if vulnerability.title is not None else Finding.title.remove(),
            Finding.severity_band.set(severity(vulnerability.cvss_score)),
        ]
    if change.fixed is not None:
        printed = Finding.fixed_printed(change.fixed)
        actions.append(Finding.fixed_versions.set(printed) if printed else Finding.fixed_versions.remove())
    stored = Finding(feed=feed, vulnerability_id=vid)
    if change.revive:
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


def _add_aliases(feed: str, vid: str, learnt: Iterable[str]) -> None:
    """Aliases learnt of a finding: on it, and an alias item each, in one
    transaction (an alias that became a finding meanwhile: the next scan merges it)."""
    ordered = sorted(learnt)
    for start in range(0, len(ordered), batching.TRANSACTION_ITEMS - 1):
        chunk = ordered[start : start + batching.TRANSACTION_ITEMS - 1]

        def write(chunk: list[str] = chunk) -> None:
            with transactions.write() as transaction:
                transaction.update(
                    Finding(feed=feed, vulnerability_id=vid),
                    actions=[Finding.aliases.add(set(chunk))],
                    condition=Finding.vulnerability_id.exists() & Finding.alias_of.does_not_exist(),
                )
                for alias in chunk:
                    transaction.save(pointer(feed, alias, vid), condition=NOT_A_FINDING)

        try:
            transactions.retrying(write)
        except TransactWriteError:
            logger.warning("aliases not recorded: the next scan merges", extra={"feed": feed, "vulnerability_id": vid})


# ---------------------------------------------------------------- withdrawals


def open_findings(feed: str) -> list[Listed]:
    """The feed's findings that are not withdrawn, with the packages they list."""
    return [
        Listed(finding.vulnerability_id, frozenset(finding.packages or ()), frozenset(finding.aliases or ()))
        for finding in Finding.query(feed, filter_condition=Finding.alias_of.does_not_exist())
        if finding.status != "withdrawn"
    ]


def package_reports(feed: str, purls: list[str]) -> dict[str, frozenset[str]]:
    """The vulnerability ids each of these packages' rows holds, for those that exist."""
    rows = batching.read(Package, [(feed, purl) for purl in purls]) if purls else []
    return {package.purl: frozenset(package.vulnerability_ids or ()) for package in rows}


def withdraw(feed: str, plan: WithdrawalPlan, now: datetime) -> None:
    """Narrows the findings' packages and withdraws the findings, as planned."""
    at = clock.iso(now)
    for vid, purls in plan.narrow.items():
        Finding(feed=feed, vulnerability_id=vid).update(actions=[Finding.packages.set(set(purls))])
    for vid in plan.withdraw:
        transactions.retrying(partial(_withdraw, feed, vid, at))


def _withdraw(feed: str, vid: str, at: str) -> None:
    with transactions.write() as transaction:
        transaction.update(
            Finding(feed=feed, vulnerability_id=vid),
            actions=[*Finding.status_change(feed, "withdrawn"), Finding.withdrawn_at.set(at)],
            condition=Finding.status != "withdrawn",
        )
        transaction.save(_entry(feed, vid, at, "withdrawn", "No package of the feed is reported with it any more."))
