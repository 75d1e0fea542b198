"""Merging findings an alias links (findings_plan.Merge): the findings and
their assessments read (two consistent BatchGets), what stands decided by
findings_plan (stricter, merged_status), and written in one transaction:

- the finding under the canonical id, with every id, package and merged id
  of those it joins (`merged_from`: their history stays theirs, and the
  history read covers it, dal.history.page);
- an alias item in place of each finding merged into it, and one for each
  new alias;
- the stricter assessment standing under the canonical id, at a version
  above every version any of them had (If-Match held on any is stale); the
  others deleted;
- a `merged` history entry under the canonical id naming the ids merged, the
  assessment that stands and those that ended.

Every write is conditional on what was read (the findings' highest
versions, the assessments' versions): a race reads and plans again."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from aws_lambda_powertools import Logger
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition

from feedguard import aliases, clock
from feedguard.actors import SCANNER
from feedguard.dal import batching, history, transactions
from feedguard.dal.models import Assessment, Finding, FindingAlias
from feedguard.effects import score_key, severity
from feedguard.findings_plan import Held, Merge, merged_status, stricter

logger = Logger(child=True)

RACE_RETRIES = 5


def carry_out(merge: Merge, now: datetime) -> bool:
    """Merges as planned; False when what it read kept changing (the next scan merges)."""
    for _ in range(RACE_RETRIES):
        try:
            _merge_once(merge, now)
        except TransactWriteError as error:
            reasons = getattr(error, "cancellation_reasons", None) or []
            if not any(reason is not None and reason.code == "ConditionalCheckFailed" for reason in reasons):
                raise
            continue
        return True
    logger.warning("findings kept changing while merging", extra={"feed": merge.feed, "vulnerability_id": merge.vid})
    return False


def _read(merge: Merge) -> tuple[dict[str, Finding], dict[str, Assessment]]:
    keys = [(merge.feed, vid) for vid in (merge.vid, *merge.merged)]
    found = {
        item.vulnerability_id: item
        for item in Finding.batch_get(keys, consistent_read=True)
        if item.alias_of is None and item.vulnerability_id in (merge.vid, *merge.merged)
    }
    assessments = {item.vulnerability_id: item for item in Assessment.batch_get(keys, consistent_read=True)}
    return found, assessments


def _version_unchanged(finding: Finding) -> Condition:
    read = finding.assessment_version
    same: Condition = (
        Finding.assessment_version.does_not_exist() if read is None else Finding.assessment_version == read
    )
    return cast(Condition, Finding.vulnerability_id.exists() & Finding.alias_of.does_not_exist() & same)


def _assessment_unchanged(assessment: Assessment | None) -> Condition:
    if assessment is None:
        return Assessment.vulnerability_id.does_not_exist()
    return Assessment.version == int(assessment.version)


def _describe(assessment: Assessment) -> str:
    expiry = f"expiring {assessment.expires_at}" if assessment.expires_at else "not expiring"
    return f"{assessment.vulnerability_id}'s {assessment.type} ({assessment.effect}, {expiry}, v{assessment.version})"


def _merge_once(merge: Merge, now: datetime) -> None:
    feed, vid, at = merge.feed, merge.vid, clock.iso(now)
    found, assessments = _read(merge)
    merged = [key for key in merge.merged if key in found]
    if not merged:
        return  # merged by another batch meanwhile
    existing = found.get(vid)
    joined = [found[key] for key in (vid, *merged) if key in found]
    held = [
        Held(
            a.vulnerability_id,
            a.effect,
            clock.parse_iso(a.expires_at) if a.expires_at else None,
            int(a.version or 0),
        )
        for a in assessments.values()
        if a.vulnerability_id in found
    ]
    winner_held = stricter(held, vid, now)
    winner = assessments[winner_held.vid] if winner_held else None
    highest = max(
        [int(f.assessment_version or 0) for f in joined] + [int(a.version or 0) for a in assessments.values()] + [0]
    )
    ids = set(merge.ids)
    for finding in joined:
        ids |= {finding.vulnerability_id, *(finding.aliases or ())}
    others = ids - {vid}
    merged_from = set(merged)
    for finding in joined:
        merged_from |= set(finding.merged_from or ())
    vulnerability = merge.vulnerability
    status = merged_status([f.status for f in joined], winner is not None)
    version = highest + 1 if winner is not None else highest
    earliest = min(joined, key=lambda f: f.first_seen)
    target = Finding(
        feed=feed,
        vulnerability_id=vid,
        packages=set(merge.purls).union(*(set(f.packages or ()) for f in joined)),
        status=status,
        feed_status=Finding.status_key(feed, status),
        score_key=score_key(vulnerability.cvss_score),
        cvss_score=vulnerability.cvss_score,
        title=vulnerability.title,
        display_name=vulnerability.display_name,
        cve=vid if aliases.CVE.match(vid) else vulnerability.cve,
        severity_band=severity(vulnerability.cvss_score),
        first_seen=earliest.first_seen,
        last_seen=at,
        detected_in=(existing or earliest).detected_in,
        assessment_expires_ttl=winner.expires_ttl if winner else None,
        assessment_band=winner.severity_band if winner else None,
        assessment_version=version or None,
        aliases=others or None,
        merged_from=merged_from or None,
        # Each joined finding's fixed versions, then what this batch says of its purls.
        fixed_versions=Finding.fixed_printed(
            {
                **{purl: versions for f in joined for purl, versions in f.fixed_by_package().items()},
                **merge.fixed,
            }
        ),
    )
    ended = [a for a in assessments.values() if a is not winner and a.vulnerability_id in found]
    reason = merge.reason
    if winner is not None:
        reason += f" Stands: {_describe(winner)}, now v{version}."
    if ended:
        reason += f" Ended: {'; '.join(_describe(a) for a in sorted(ended, key=lambda a: a.vulnerability_id))}."
    entry = history.new_entry(
        feed,
        vid,
        at,
        "merged",
        SCANNER,
        type=winner.type if winner else None,
        reason=reason,
        expires_at=winner.expires_at if winner else None,
    )
    new_pointers = sorted(others - set(merged) - {f.vulnerability_id for f in joined}, key=aliases.rank)
    room = batching.TRANSACTION_ITEMS - (1 + len(merged) + len(assessments) + 2)
    in_transaction, after = new_pointers[:room], new_pointers[room:]

    def write() -> None:
        with transactions.write() as transaction:
            condition = (
                _version_unchanged(existing)
                if existing
                else (Finding.vulnerability_id.does_not_exist() | Finding.alias_of.exists())
            )
            transaction.save(target, condition=condition)
            for key in merged:
                replaced = FindingAlias(feed=feed, vulnerability_id=key, alias_of=vid)
                transaction.save(replaced, condition=_version_unchanged(found[key]))
            # One operation per assessment key: the canonical's replaced (or put), the others deleted.
            if winner is not None:
                standing = Assessment(
                    feed=feed,
                    vulnerability_id=vid,
                    type=winner.type,
                    effect=winner.effect,
                    comment=winner.comment,
                    assessed_by=winner.assessed_by,
                    assessed_by_id=winner.assessed_by_id,
                    assessed_at=winner.assessed_at,
                    expires_at=winner.expires_at,
                    expires_ttl=winner.expires_ttl,
                    severity_band=winner.severity_band,
                    version=version,
                )
                transaction.save(standing, condition=_assessment_unchanged(assessments.get(vid)))
            for assessment in assessments.values():
                if assessment.vulnerability_id == vid and winner is not None:
                    continue  # replaced above
                if assessment.vulnerability_id in found:
                    transaction.delete(assessment, condition=_assessment_unchanged(assessment))
            transaction.save(entry)
            for alias in in_transaction:
                transaction.save(
                    FindingAlias(feed=feed, vulnerability_id=alias, alias_of=vid),
                    condition=Finding.vulnerability_id.does_not_exist() | Finding.alias_of.exists(),
                )

    # A transaction holding one of its items (a scan's, an assessor's) cancels it: sent again.
    transactions.retrying(write)
    if after:
        batching.write(FindingAlias, puts=[FindingAlias(feed=feed, vulnerability_id=a, alias_of=vid) for a in after])
