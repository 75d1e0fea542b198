"""The gate: may these packages be used? For up to 128 purls, a bounded
number of sequential DynamoDB round trips, whatever their vulnerabilities:

1. the feed and the caller's role (api.feed_access);
2. BatchGet the feed's packages (the vulnerabilities each last scan reported),
   and, at the same time, Query the feed's package exceptions (one Query
   whatever the purls: dal.exceptions.of_feed);
3. purls the feed has never scanned: BatchGet the answer cache of each source,
   then ask the sources through the scanner's client (one request per 128)
   and cache what they say; if that fails, `scanned: false` and the verdict
   is the feed's unassessed_effect; either way the source's health is
   recorded (source_health.recorder: at most one UpdateItem a source);
4. BatchGet the findings and assessments of every reported vulnerability,
   both tables in the same calls (dal.findings.with_effects).

Each vulnerability carries the versions of the package that fix it, where
a source knows them: from the finding (what scans recorded per package), or
from the lookup's answer for a purl never scanned.

Inline lookups cost paid coordinates: with a key's `Budget`, each source's
request takes its coordinates from the key's daily budget first; purls past
it are not asked for and answer `scanned: false`, the feed's
unassessed_effect and `lookup: "budget_exhausted"`.

A finding is listed once, by its canonical id with its aliases, whichever
of its ids the package's row or the source named (feedguard.aliases).
Each vulnerability takes its finding's effect (assessed: the type's effect;
unassessed or expired: the feed's unassessed_effect; a vulnerability that is
not a finding of the feed yet counts as unassessed), unless a package
exception in force decides it for the purl: then the exception's effect,
which wins over the feed-wide one (feedguard.exceptions; docs/exceptions.md);
the verdict is the highest effect, `allow` with none."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from aws_lambda_powertools import Logger

from feedguard import aliases
from feedguard import exceptions as package_exceptions
from feedguard.dal import batching, findings
from feedguard.dal import exceptions as exception_store
from feedguard.dal import feeds as feed_store
from feedguard.dal import packages as package_store
from feedguard.dal import sources as source_store
from feedguard.domain import Feed, Report
from feedguard.effects import strongest
from feedguard.errors import NotFound

logger = Logger(child=True)


@dataclass(frozen=True)
class Reported:
    id: str
    title: str | None
    cvss_score: float | None
    aliases: tuple[str, ...] = ()
    fixed_versions: tuple[str, ...] = ()


@dataclass
class Result:
    purl: str
    verdict: str
    scanned: bool
    vulnerabilities: list[dict[str, object]] = field(default_factory=list)
    lookup: str | None = None  # "budget_exhausted" when the key's budget stopped its lookup


@dataclass
class Budget:
    """A key's daily budget of coordinates looked up inline; `remaining`
    once a lookup took from it, and the purls it left unasked."""

    key_id: str
    per_day: int
    now: datetime
    remaining: int | None = None
    exhausted: set[str] = field(default_factory=set)

    def take(self, missing: list[str]) -> list[str]:
        """The purls of `missing` (one coordinate each) the budget pays for."""
        from feedguard.dal import budgets

        granted, self.remaining = budgets.reserve(self.key_id, len(missing), self.per_day, self.now)
        self.exhausted.update(missing[granted:])
        return missing[:granted]


def _lookup(feed: Feed, purls: list[str], now: datetime, budget: Budget | None) -> dict[str, list[Reported]] | None:
    """What the feed's sources say of purls it never scanned, merged per
    purl as a scan merges them; None when no source could answer for all of
    them. Only OSS Index's coordinates take from the budget: OSV is free."""
    # Here, not at cold start: most checks find every purl scanned already.
    from feedguard import lookups, ossindex, source_health

    source_ids = feed_store.attached_source_ids(feed.feed_id)
    if not source_ids:
        return None
    said: dict[str, list[Report]] = {purl: [] for purl in purls}
    for source_id in source_ids:
        try:
            source = source_store.get(source_id)
        except NotFound:
            return None
        lookup = lookups.Lookup(source, options={"max_attempts": 2, "max_total_seconds": 8})
        take = budget.take if budget is not None and lookup.kind == "ossindex" else None
        try:
            lookup.run(purls, now, take=take)
        except ossindex.OssIndexError as error:
            logger.warning("inline lookup failed", extra={"source_id": source_id, "reason": error.message})
            source_health.recorder.failed(source_id, error)
            return None
        if lookup.asked:
            source_health.recorder.succeeded(source_id)
            if len(lookup.fresh) < len(lookup.asked):
                return None
        for purl, report in {**lookup.cached, **lookup.fresh}.items():
            said[purl].append(report)
    exhausted = budget.exhausted if budget else set()
    answer: dict[str, list[Reported]] = {}
    for purl, reports in said.items():
        if purl in exhausted:
            continue
        merged = lookups.merged(reports)
        answer[purl] = [
            Reported(
                v.id,
                v.title,
                v.cvss_score,
                aliases=aliases.others(v),
                fixed_versions=tuple(merged.fixed_versions.get(v.id, ())),
            )
            for v in merged.vulnerabilities
        ]
    return answer


def check(feed: Feed, purls: list[str], now: datetime, budget: Budget | None = None) -> list[Result]:
    distinct = list(dict.fromkeys(purls))
    live_exceptions = batching.alongside(exception_store.of_feed, feed.feed_id)
    scanned = package_store.scanned(feed, distinct)
    unscanned = [purl for purl in distinct if purl not in scanned]
    looked_up = _lookup(feed, unscanned, now, budget) if unscanned else {}

    ids_by_purl: dict[str, list[str]] = {purl: sorted(ids) for purl, ids in scanned.items()}
    titles: dict[str, Reported] = {}
    fixed: dict[tuple[str, str], tuple[str, ...]] = {}
    for purl, found in (looked_up or {}).items():
        ids_by_purl[purl] = [r.id for r in found]
        titles.update({r.id: r for r in found})
        fixed.update({(purl, r.id): r.fixed_versions for r in found})
    all_ids = {vid for ids in ids_by_purl.values() for vid in ids}
    all_ids |= {alias for r in titles.values() for alias in r.aliases}
    known_findings = findings.with_effects(feed.feed_id, all_ids, feed.unassessed_effect, now)
    feed_exceptions = live_exceptions.result()

    results = []
    for purl in purls:
        if purl not in ids_by_purl:  # never scanned, and the lookup failed or was not paid for
            stopped = "budget_exhausted" if budget is not None and purl in budget.exhausted else None
            results.append(Result(purl, feed.unassessed_effect, scanned=False, lookup=stopped))
            continue
        vulnerabilities: dict[str, dict[str, object]] = {}
        candidates = package_exceptions.for_package(feed_exceptions, purl, now)
        for vid in ids_by_purl[purl]:
            reported = titles.get(vid)
            ids = [vid, *(reported.aliases if reported else ())]
            known_as = next((i for i in ids if i in known_findings), None)
            title: str | None
            score: float | None
            if known_as is not None:
                known, status, effect = known_findings[known_as]
                name, others = known.vulnerability_id, sorted(known.aliases or (), key=aliases.rank)
                title = known.title
                versions = fixed.get((purl, vid)) or known.fixed_versions_of(purl)
                score = known.cvss_score
            else:
                # Not a finding of the feed yet: named as the finding would be, by its canonical id.
                status, effect = "unassessed", feed.unassessed_effect
                name = aliases.canonical(ids)
                others = sorted(set(ids) - {name})
                title = reported.title if reported else None
                score = reported.cvss_score if reported else None
                versions = fixed.get((purl, vid)) or ()
            effect, exception = package_exceptions.effect_of(candidates, purl, [name, *others], effect, now)
            # One entry a finding, whichever of its ids the package row or the source named.
            vulnerabilities.setdefault(
                name,
                {
                    "id": name,
                    "aliases": others,
                    "title": title,
                    "cvss_score": float(score) if score is not None else None,
                    "status": status,
                    "effect": effect,
                    "exception_id": exception.id if exception else None,
                    "fixed_versions": list(versions),
                },
            )
        listed = list(vulnerabilities.values())
        verdict = strongest([str(v["effect"]) for v in listed])
        results.append(Result(purl, verdict, scanned=True, vulnerabilities=listed))
    return results
