"""Assessing findings. Each change moves the assessment, the finding's status
and the history entry that records it in one transaction, so a crash can never
leave an assessment without its entry.

Optimistic locking: every write is conditional on the version read. With
If-Match, a stale version is a 412 and nothing changes; without it, a lost
race is retried on a fresh read, so two assessors both succeed, in order,
and both appear in the history.

Versions only ever grow per finding: the finding keeps the highest one
(`assessment_version`, moved in the same transaction), so an assessment
made after one was removed or expired takes the next version, not 1 again,
and an If-Match held from before is stale whatever happened in between. No
assessment in force is version 0 for If-Match."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from feedguard import clock, domain
from feedguard.actors import Actor
from feedguard.dal import conditions, findings, history, transactions
from feedguard.dal.models import Assessment, Finding, HistoryEntry
from feedguard.errors import NotFound, PreconditionFailed

RACE_RETRIES = 5


def _finding(feed: str, vulnerability_id: str) -> Finding:
    """The finding `vulnerability_id` names, by any of its ids (an alias
    costs one more GetItem): its `vulnerability_id` is the canonical one,
    which keys its assessment."""
    finding = findings.resolve(feed, vulnerability_id)
    if finding is None or finding.status == "withdrawn":
        raise NotFound(f"The feed has no finding {vulnerability_id}.")
    return finding


def current(feed: str, vulnerability_id: str) -> Assessment | None:
    try:
        return Assessment.get(feed, vulnerability_id, consistent_read=True)
    except DoesNotExist:
        return None


def _check_version(existing: Assessment | None, if_match: int | None) -> None:
    if if_match is None:
        return
    version = int(existing.version or 0) if existing else 0
    if version != if_match:
        raise PreconditionFailed(f"The assessment is at version {version}, not {if_match}; read it again.")


def assess(
    feed: str,
    vulnerability_id: str,
    *,
    type_id: str,
    effect: str,
    comment: str | None,
    expires_at: datetime | None,
    actor: Actor,
    if_match: int | None = None,
) -> domain.Assessment:
    """The finding assessed: the assessment in force, as written.
    `vulnerability_id`: any of the finding's ids."""
    for _ in range(RACE_RETRIES):
        finding = _finding(feed, vulnerability_id)
        vulnerability_id = finding.vulnerability_id
        existing = current(feed, vulnerability_id)
        _check_version(existing, if_match)
        assessment = existing or Assessment(feed=feed, vulnerability_id=vulnerability_id)
        read_version = int(existing.version) if existing else None
        assessment.version = _highest(finding, existing) + 1
        entry = _fill(
            assessment,
            finding.severity_band,
            clock.iso(clock.now()),
            type_id=type_id,
            effect=effect,
            comment=comment,
            expires_at=expires_at,
            actor=actor,
        )
        finding_actions: list[Action] = [
            *Finding.status_change(feed, "assessed"),
            Finding.assessment_expires_ttl.set(assessment.expires_ttl)
            if assessment.expires_ttl is not None
            else Finding.assessment_expires_ttl.remove(),
            Finding.assessment_band.set(assessment.severity_band),
            Finding.assessment_version.set(assessment.version),
        ]
        write = partial(_write, assessment, read_version, finding, finding_actions, entry)
        try:
            # A transaction holding the finding (a scan's, another assessor's) cancels ours: it is sent again.
            transactions.retrying(write)
        except TransactWriteError as error:
            # The assessment (first), or the finding (last: puts go before updates), changed since read.
            if conditions.failed_in_transaction(error, 0) or conditions.failed_in_transaction(error, 2):
                if if_match is not None:
                    raise PreconditionFailed(
                        "The assessment changed while you were writing it; read it again."
                    ) from None
                continue  # someone else wrote first: apply ours on top, in order
            raise
        return findings.as_assessment(assessment)
    raise PreconditionFailed("The assessment kept changing; try again.")


def _highest(finding: Finding, existing: Assessment | None) -> int:
    """The highest version the finding's assessments have had (a finding
    assessed before it kept one has only its assessment's)."""
    return max(int(finding.assessment_version or 0), int(existing.version) if existing else 0)


def unchanged(assessment: Assessment, read_version: int | None) -> Condition:
    """The assessment is still the one read (none, or that version)."""
    if read_version is None:
        return Assessment.vulnerability_id.does_not_exist()
    return Assessment.version == read_version


def _write(
    assessment: Assessment,
    read_version: int | None,
    finding: Finding,
    finding_actions: list[Action],
    entry: HistoryEntry,
) -> None:
    # The finding's highest version as read: two writers that both found no
    # assessment, or one that read before another assessed and removed it,
    # cannot both take the next version.
    read_highest = finding.assessment_version
    highest_unchanged = (
        Finding.assessment_version.does_not_exist()
        if read_highest is None
        else Finding.assessment_version == read_highest
    )
    with transactions.write() as transaction:
        transaction.save(assessment, condition=unchanged(assessment, read_version))
        transaction.update(
            finding,
            actions=finding_actions,
            # Not merged into another meanwhile (an alias item has no version).
            condition=(Finding.status != "withdrawn") & Finding.alias_of.does_not_exist() & highest_unchanged,
        )
        transaction.save(entry)


def first(
    finding: Finding, *, type_id: str, effect: str, comment: str | None, expires_at: datetime | None, actor: Actor
) -> tuple[Assessment, HistoryEntry]:
    """A new finding's first assessment and its entry, to write in the
    transaction that creates the finding (not yet saved), which is given the
    status and copies an assessment gives it. Made at the finding's first
    sighting (`first_seen`)."""
    assessment = Assessment(feed=finding.feed, vulnerability_id=finding.vulnerability_id, version=1)
    entry = _fill(
        assessment,
        finding.severity_band,
        finding.first_seen,
        type_id=type_id,
        effect=effect,
        comment=comment,
        expires_at=expires_at,
        actor=actor,
    )
    finding.status, finding.feed_status = "assessed", Finding.status_key(finding.feed, "assessed")
    finding.assessment_expires_ttl, finding.assessment_band = assessment.expires_ttl, assessment.severity_band
    finding.assessment_version = assessment.version
    return assessment, entry


def _fill(
    assessment: Assessment,
    band: str,
    now: str,
    *,
    type_id: str,
    effect: str,
    comment: str | None,
    expires_at: datetime | None,
    actor: Actor,
) -> HistoryEntry:
    """Gives `assessment` what it says, made now at the finding's `band`;
    returns the `assessed` entry that records it."""
    assessment.type = type_id
    assessment.effect = effect
    assessment.comment = comment
    assessment.assessed_by = actor.name
    assessment.assessed_by_id = actor.id
    assessment.assessed_at = now
    assessment.expires_at = clock.iso(expires_at) if expires_at else None
    assessment.expires_ttl = int(expires_at.timestamp()) if expires_at else None
    assessment.severity_band = band
    # A new version is a new decision: its expiry is warned of anew (feedguard.decisions).
    assessment.warned_at = None
    return history.new_entry(
        assessment.feed,
        assessment.vulnerability_id,
        now,
        "assessed",
        actor,
        type=type_id,
        comment=comment,
        reason=f"Expires at {assessment.expires_at}." if assessment.expires_at else "Does not expire.",
        expires_at=assessment.expires_at,
    )


def unassess(feed: str, vulnerability_id: str, *, actor: Actor, if_match: int | None = None) -> None:
    """`vulnerability_id`: any of the finding's ids."""
    for _ in range(RACE_RETRIES):
        finding = _finding(feed, vulnerability_id)
        vulnerability_id = finding.vulnerability_id
        existing = current(feed, vulnerability_id)
        if existing is None:
            raise NotFound(f"Finding {vulnerability_id} of the feed has no assessment.")
        _check_version(existing, if_match)
        now = clock.iso(clock.now())
        entry = history.new_entry(
            feed,
            vulnerability_id,
            now,
            "unassessed",
            actor,
            type=existing.type,
            reason="The assessment was removed.",
        )
        if end(existing, finding, "unassessed", entry):
            return
        if if_match is not None:
            raise PreconditionFailed("The assessment changed while you were removing it; read it again.")
    raise PreconditionFailed("The assessment kept changing; try again.")


def end(assessment: Assessment, finding: Finding, status: str, entry: HistoryEntry) -> bool:
    """Ends an assessment: deletes it (conditional on the version read), sets
    the finding's status and writes the entry that says why, in one
    transaction. The finding keeps the version, so the next assessment's is
    higher. False when the assessment changed since it was read."""

    def write() -> None:
        with transactions.write() as transaction:
            transaction.delete(assessment, condition=unchanged(assessment, int(assessment.version)))
            transaction.update(
                finding,
                actions=[
                    *Finding.status_change(finding.feed, status),
                    Finding.assessment_expires_ttl.remove(),
                    Finding.assessment_band.remove(),
                    # The version in force is the highest (it is, while the delete's condition holds).
                    Finding.assessment_version.set(int(assessment.version)),
                ],
            )
            transaction.save(entry)

    try:
        transactions.retrying(write)
    except TransactWriteError as error:
        if conditions.failed_in_transaction(error, 0):
            return False
        raise
    return True
