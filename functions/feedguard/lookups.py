"""Asking one source about purls, through the answer cache: what a scan
batch (feedguard.scanner) and the gate's inline lookup (feedguard.gate)
share, whatever the source's kind.

- ossindex: the cache keeps each purl's component report (24 hours); the
  purls without a fresh one are asked in one request per 128.
- osv: the cache keeps each purl's list of vulnerability ids under the
  purl, and each record, trimmed (osv.trimmed), under `osv-vuln:<id>`, both
  with the same 24 hours. The purls without a fresh list are asked by
  querybatch (1000 a request, every page followed); then each id listed
  whose record is not cached is fetched by GET /v1/vulns/{id} and cached,
  RECORD_CHUNK at a time: the batches of a scan that list the same id, and
  the next scans, read it from the cache. Two batches running at the same
  moment may still both fetch one id (there is no lock): the bench counts
  how often.

What was asked is cached at once, before it is recorded: an answer is an
answer, whatever happens to the batch after. A `refresh` scan reads no
cached list, and of the records only those fetched since it started (by
its own batches: still once per id a scan), and caches what it is told."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from feedguard import ossindex, osv
from feedguard.dal import answers
from feedguard.domain import Report, Source

RECORD_KEY = "osv-vuln:"
# Records are fetched and cached this many at a time, the cache read again
# before each chunk: batches of one scan running at once share most records
# (packages of one name in different versions), and each fetches fewer twice.
RECORD_CHUNK = 25
KINDS = ("ossindex", "osv")


def credentials(secret_name: str, auth: str, username: str | None, max_age: int) -> ossindex.Credentials:
    from aws_lambda_powertools.utilities import parameters

    token = parameters.get_secret(secret_name, max_age=max_age)
    return ossindex.Credentials(token=str(token), auth=auth, username=username)


@dataclass
class Lookup:
    """One source asked about some purls. `requests` counts what was sent,
    also when asking failed (the error is raised: ossindex.OssIndexError,
    which OSV's errors are too)."""

    source: Source
    session: requests.Session | None = None
    options: dict[str, Any] = field(default_factory=dict)
    token_max_age: int = 300
    # A refresh scan's start: the records its own batches fetched since are read from the cache.
    refreshed_since: str | None = None
    # What was answered: from the cache, and asked now.
    cached: dict[str, Report] = field(default_factory=dict)
    fresh: dict[str, Report] = field(default_factory=dict)
    requests: int = 0
    batch_requests: int = 0  # OSV: querybatch pages
    record_requests: int = 0  # OSV: records fetched
    # The purls sent to the source, to tell them from those the cache answered.
    asked: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.source.source_kind or "ossindex"

    def run(
        self,
        purls: list[str],
        now: datetime,
        refresh: bool = False,
        take: Callable[[list[str]], list[str]] | None = None,
    ) -> None:
        """Fills `cached` and `fresh`. `take`: what the budget lets be asked
        of the purls the cache lacks (the gate's paid lookups; OSV is free)."""
        if self.kind == "osv":
            self._osv(purls, now, refresh)
        else:
            self._ossindex(purls, now, refresh, take)

    def _ossindex(
        self, purls: list[str], now: datetime, refresh: bool, take: Callable[[list[str]], list[str]] | None
    ) -> None:
        raw = {} if refresh else answers.cached(self.source.id, purls, now)
        self.cached = {purl: ossindex.parse_report(report) for purl, report in raw.items()}
        missing = [purl for purl in dict.fromkeys(purls) if purl not in self.cached]
        if missing and take is not None:
            missing = take(missing)
        if not missing:
            return
        self.asked = missing
        source = self.source
        client = ossindex.Client(
            source.url,
            credentials(str(source.secret_name), source.auth, source.username, self.token_max_age),
            session=self.session,
            **self.options,
        )
        try:
            fresh = client.reports(missing)
        finally:
            self.requests = self.batch_requests = client.usage.requests
        answers.store(source.id, {purl: report.raw for purl, report in fresh.items()}, now)
        self.fresh = dict(fresh)

    def _osv(self, purls: list[str], now: datetime, refresh: bool) -> None:
        source = self.source
        listed: dict[str, tuple[str, ...]] = {}
        if not refresh:
            listed = {purl: tuple(raw.get("ids", ())) for purl, raw in answers.cached(source.id, purls, now).items()}
        cached_purls = set(listed)
        missing = [purl for purl in dict.fromkeys(purls) if purl not in listed]
        client = osv.Client(source.url, session=self.session, **self.options)
        try:
            if missing:
                self.asked = missing
                fresh_lists = client.query(missing)
                answers.store(source.id, {purl: {"ids": list(ids)} for purl, ids in fresh_lists.items()}, now)
                listed.update(fresh_lists)
            wanted = sorted({vid for ids in listed.values() for vid in ids})
            # A refresh scan reads only the records its own batches fetched.
            since = self.refreshed_since if refresh else None
            reads_cache = not refresh or since is not None
            records = answers.cached(source.id, [RECORD_KEY + v for v in wanted], now, since) if reads_cache else {}
            unread = _rotated([vid for vid in wanted if RECORD_KEY + vid not in records], purls)
            for start in range(0, len(unread), RECORD_CHUNK):
                chunk = unread[start : start + RECORD_CHUNK]
                if start and reads_cache:
                    # Another batch of the scan may have fetched these meanwhile.
                    records.update(answers.cached(source.id, [RECORD_KEY + vid for vid in chunk], now, since))
                fetched: dict[str, dict[str, Any]] = {}
                try:
                    for vid in chunk:
                        if RECORD_KEY + vid not in records:
                            fetched[RECORD_KEY + vid] = osv.trimmed(client.record(vid))
                finally:
                    # Cached at once, a chunk at a time: the scan's other batches, and this
                    # batch's retry after a failure, need not fetch them again.
                    answers.store(source.id, fetched, now)
                records.update(fetched)
        finally:
            self.requests = client.usage.requests
            self.batch_requests, self.record_requests = client.usage.batches, client.usage.records
        for purl, ids in listed.items():
            report = osv.report(purl, (records[RECORD_KEY + vid] for vid in ids))
            (self.cached if purl in cached_purls else self.fresh)[purl] = report


def _rotated(ids: list[str], purls: list[str]) -> list[str]:
    """`ids` begun at a place drawn from the batch's purls: batches of one
    scan fetching at the same moment start on different chunks, and each
    finds in the cache what the others fetched."""
    if not ids or not purls:
        return ids
    start = int.from_bytes(hashlib.sha256(purls[0].encode()).digest()[:4], "big") % len(ids)
    return ids[start:] + ids[:start]


def merged(reports: list[Report]) -> Report:
    """What several sources say of one purl, as one Report: the union of
    their vulnerabilities by id; where two report the same id, the one with
    a score (the first otherwise); fixed versions from every source."""
    chosen: dict[str, Any] = {}
    fixed: dict[str, tuple[str, ...]] = {}
    for report in reports:
        for vulnerability in report.vulnerabilities:
            known = chosen.get(vulnerability.id)
            if known is None or (known.cvss_score is None and vulnerability.cvss_score is not None):
                chosen[vulnerability.id] = vulnerability
        for vid, versions in report.fixed_versions.items():
            fixed[vid] = tuple(dict.fromkeys((*fixed.get(vid, ()), *versions)))
    return Report(tuple(chosen.values()), fixed_versions=fixed)
