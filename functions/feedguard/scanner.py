"""One batch of a scan: ask each of its sources (OSS Index, OSV; through
the answer cache, feedguard.lookups) about its purls (up to 128, or 1000
for OSV alone), record what they say merged per purl, count the batch once,
and finish the scan when it was the last batch. A batch that sent a source a
request records its health (source_health.recorder): at most one UpdateItem
of the source's item, none for a source the cache answered."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import requests
from aws_lambda_powertools import Logger

from feedguard import clock, lookups, observability, ossindex, recording, source_health
from feedguard.dal import feeds as feed_store
from feedguard.dal import scans
from feedguard.dal import sources as source_store
from feedguard.domain import ALL_FEEDS_SCOPE, Report, Scan, Source
from feedguard.errors import NotFound
from feedguard.scanplan import Batch

logger = Logger(child=True)

# A worker reads a source's settings and its token (through powertools
# parameters) at most this often: a change to a source reaches scans within it.
TOKEN_MAX_AGE = 300


class RecentSources:
    """Sources as read at most TOKEN_MAX_AGE seconds ago, by id."""

    def __init__(self) -> None:
        self.read: dict[str, tuple[float, Source]] = {}

    def get(self, source_id: str) -> Source:
        read_at, found = self.read.get(source_id, (0.0, None))
        if found is None or time.monotonic() - read_at > TOKEN_MAX_AGE:
            found = source_store.get(source_id)
            self.read[source_id] = (time.monotonic(), found)
        return found

    def clear(self) -> None:
        self.read.clear()


sources = RecentSources()

# The worker's connections to OSS Index, kept between batches and
# invocations: on AWS a new connection is a TLS handshake with Sonatype.
session = requests.Session()


class ScanReads:
    """The scan records one invocation reads, each once: its batches are
    mostly of one scan. A source that refused a batch of this invocation is
    stopped for its later batches at once; one that another invocation
    stopped meanwhile is seen by the next invocation's read."""

    def __init__(self) -> None:
        self.read: dict[str, Scan | None] = {}
        self.stopped: set[tuple[str, str]] = set()

    def get(self, scan_id: str) -> Scan | None:
        if scan_id not in self.read:
            self.read[scan_id] = scans.get(scan_id)
        return self.read[scan_id]

    def is_stopped(self, scan: Scan, source_id: str) -> bool:
        return source_id in (scan.stopped_sources or ()) or (scan.scan_id, source_id) in self.stopped

    def stop(self, scan_id: str, source_id: str) -> None:
        self.stopped.add((scan_id, source_id))
        scans.stop_source(scan_id, source_id)


def credentials(secret_name: str, auth: str, username: str | None) -> ossindex.Credentials:
    return lookups.credentials(secret_name, auth, username, TOKEN_MAX_AGE)


@dataclass
class Result:
    outcome: scans.BatchOutcome
    finished: Scan | None


@dataclass
class Answered:
    """A batch asked: what each of its sources said, through the cache,
    merged per purl (`reports`: the purls every source answered), or why
    nothing is recorded (`refused`), ready to be recorded."""

    batch: Batch
    scan: Scan
    now: datetime
    reports: dict[str, Report] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)  # answers the cache gave, by source kind
    requests: dict[str, int] = field(default_factory=dict)  # by source kind
    unanswered_error: tuple[str, str] | None = None  # (source id, message)
    refused: scans.BatchOutcome | None = None
    # The sources asked that answered (their health is recorded), and the one that failed.
    answered_by: list[str] = field(default_factory=list)
    failure: tuple[str, ossindex.OssIndexError] | None = None

    @property
    def requests_made(self) -> int:
        return sum(self.requests.values())

    @property
    def cache_hits(self) -> int:
        return sum(self.hits.values())


def process(batch: Batch, redelivered: bool = True, reads: ScanReads | None = None) -> Result | None:
    """None when the batch was counted already (a redelivered message).
    `reads`: the scan records read by the batches before it in the same
    invocation."""
    answered = ask(batch, redelivered, reads or ScanReads())
    return record(answered) if answered is not None else None


def ask(batch: Batch, redelivered: bool, reads: ScanReads) -> Answered | None:
    """The first half of a batch: each of its sources asked through the
    cache (lookups.Lookup), the answers cached, and merged per purl. It
    writes nothing else but a source's refusal. None when the batch was
    counted already: a message delivered the first time cannot have been,
    and the count itself is conditional, so only a redelivery is checked
    first (to spare the sources the question). A source that fails fails
    the whole batch: a merged answer without it would drop what it said."""
    if redelivered and scans.batch_counted(batch.scan_id, batch.number):
        return None
    scan = reads.get(batch.scan_id)
    if scan is None:
        raise NotFound(f"scan {batch.scan_id} does not exist")
    now = clock.now()
    answered = Answered(batch, scan, now)
    chosen: list[Source] = []
    for source_id in batch.source_ids:
        try:
            chosen.append(sources.get(source_id))
        except NotFound:
            answered.refused = scans.BatchOutcome(
                failed=True, error_source=source_id, error_message="The source no longer exists."
            )
            return answered
        if reads.is_stopped(scan, source_id):
            # The source refused an earlier batch of this scan; that error is recorded once.
            answered.refused = scans.BatchOutcome(failed=True)
            return answered
    purls = list(batch.purls)
    done: list[lookups.Lookup] = []
    for source in chosen:
        lookup = lookups.Lookup(source, session=session, token_max_age=TOKEN_MAX_AGE, refreshed_since=scan.started_at)
        try:
            lookup.run(purls, now, refresh=batch.refresh)
        except ossindex.OssIndexError as error:
            if error.stops_source:
                reads.stop(batch.scan_id, source.id)
            _count(answered, lookup)
            answered.refused = _refused(error, source, answered)
            answered.failure = (source.id, error)
            return answered
        _count(answered, lookup)
        if lookup.asked:
            answered.answered_by.append(source.id)
        done.append(lookup)
        if answered.unanswered_error is None and len(lookup.fresh) < len(lookup.asked):
            missing = len(lookup.asked) - len(lookup.fresh)
            answered.unanswered_error = (
                source.id,
                f"{source.name}: {_KIND_NAMES.get(lookup.kind, lookup.kind)} did not answer for {missing} of "
                f"{len(lookup.asked)} packages.",
            )
    for purl in purls:
        said = [lookup.cached.get(purl) or lookup.fresh.get(purl) for lookup in done]
        if all(report is not None for report in said):
            answered.reports[purl] = lookups.merged([report for report in said if report is not None])
    return answered


_KIND_NAMES = {"ossindex": "OSS Index", "osv": "OSV"}


def _count(answered: Answered, lookup: lookups.Lookup) -> None:
    answered.requests[lookup.kind] = answered.requests.get(lookup.kind, 0) + lookup.requests
    answered.hits[lookup.kind] = answered.hits.get(lookup.kind, 0) + len(lookup.cached)


def _refused(error: ossindex.OssIndexError, source: Source, answered: Answered) -> scans.BatchOutcome:
    # The detail (an excerpt of what the source answered) is for the log; the scan records the reason only.
    kind = _KIND_NAMES.get(source.source_kind or "ossindex", "A source")
    logger.warning(
        f"{kind} refused a batch", extra={"source_id": source.id, "reason": error.message, "detail": error.detail}
    )
    return scans.BatchOutcome(
        requests_made=answered.requests_made,
        osv_requests=answered.requests.get("osv", 0),
        cache_hits=answered.cache_hits,
        failed=True,
        error_source=source.id,
        error_message=f"{source.name}: {error.message.rstrip('.')}.",  # one sentence, one full stop
    )


def record(answered: Answered) -> Result:
    """The second half of a batch: the answers recorded, and the batch
    counted once; the scan finished when this was its last batch."""
    batch = answered.batch
    for source_id in answered.answered_by:
        source_health.recorder.succeeded(source_id)
    if answered.failure is not None:
        source_health.recorder.failed(*answered.failure)
    outcome = answered.refused or _record(answered)
    counted = scans.count_batch(batch.scan_id, batch.number, outcome)
    if counted is not scans.Counted.ALREADY:
        observability.batch_counted(
            requests=answered.requests,
            cache_hits=answered.hits,
            packages_scanned=outcome.packages_scanned,
            findings_new=outcome.findings_new,
            failed=outcome.failed,
        )
    finished = finish(batch.scan_id) if counted is scans.Counted.PERHAPS_LAST else None
    return Result(outcome, finished)


def _record(answered: Answered) -> scans.BatchOutcome:
    batch, now, reports = answered.batch, answered.now, answered.reports
    findings_new = recording.record_batch(
        batch.packages, reports, now, covered=answered.scan.covered_feeds or (), batch=f"{batch.scan_id}#{batch.number}"
    )
    error_source, error_message = answered.unanswered_error or (None, None)
    return scans.BatchOutcome(
        packages_scanned=len(reports),
        requests_made=answered.requests_made,
        osv_requests=answered.requests.get("osv", 0),
        cache_hits=answered.cache_hits,
        findings_new=findings_new,
        error_source=error_source,
        error_message=error_message,
    )


def finish(scan_id: str) -> Scan | None:
    """Gives the scan its final status once every batch is counted; returns
    it to the one caller that did. After a fully successful scan of whole
    feeds, they are stamped scanned and the findings their packages no longer
    report are withdrawn."""
    finished = scans.finish_if_complete(scan_id)
    if finished is None:
        return None
    logger.info("scan finished", extra={"scan_id": scan_id, "status": finished.status})
    observability.scan_finished(
        finished.status,
        clock.parse_iso(finished.started_at) if finished.started_at else None,
        clock.parse_iso(finished.finished_at) if finished.finished_at else None,
    )
    if finished.status != "succeeded":
        # A batch that failed may have written package rows it did not count.
        touched = set(finished.covered_feeds or ()) | ({finished.scope} if finished.scope != ALL_FEEDS_SCOPE else set())
        for feed in sorted(touched):
            feed_store.note_package_changes(feed, 1)
        return finished
    now = clock.now()
    for feed in sorted(finished.covered_feeds or ()):
        if finished.started_at:
            feed_store.mark_scanned(feed, finished.started_at)
        withdrawn = recording.withdraw_unreported(feed, now)
        if withdrawn:
            logger.info("findings withdrawn", extra={"feed": feed, "count": withdrawn})
    return finished
