"""One batch of a scan: ask OSS Index (through the answer cache) about up to
128 purls for one source, record what it says, count the batch once, and
finish the scan when it was the last batch. A batch that sent the source a
request records its health (source_health.recorder): at most one UpdateItem
of the source's item, none for a batch the cache answered."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import requests
from aws_lambda_powertools import Logger

from feedguard import clock, observability, ossindex, recording, source_health
from feedguard.dal import answers, scans
from feedguard.dal import feeds as feed_store
from feedguard.dal import sources as source_store
from feedguard.domain import ALL_FEEDS_SCOPE, Scan, Source
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
    from aws_lambda_powertools.utilities import parameters

    token = parameters.get_secret(secret_name, max_age=TOKEN_MAX_AGE)
    return ossindex.Credentials(token=str(token), auth=auth, username=username)


@dataclass
class Result:
    outcome: scans.BatchOutcome
    finished: Scan | None


@dataclass
class Answered:
    """A batch asked: what the cache and OSS Index said, or why nothing was
    recorded (`refused`), ready to be recorded."""

    batch: Batch
    scan: Scan
    now: datetime
    cached: dict[str, ossindex.ComponentReport] = field(default_factory=dict)
    fresh: dict[str, ossindex.ComponentReport] = field(default_factory=dict)
    missing: int = 0
    requests: int = 0
    source_name: str = ""
    source_kind: str = ""  # none: the source is gone
    refused: scans.BatchOutcome | None = None
    # The source was asked (its health is then recorded): it answered, or `failure`.
    asked: bool = False
    failure: ossindex.OssIndexError | None = None


def process(batch: Batch, redelivered: bool = True, reads: ScanReads | None = None) -> Result | None:
    """None when the batch was counted already (a redelivered message).
    `reads`: the scan records read by the batches before it in the same
    invocation."""
    answered = ask(batch, redelivered, reads or ScanReads())
    return record(answered) if answered is not None else None


def ask(batch: Batch, redelivered: bool, reads: ScanReads) -> Answered | None:
    """The first half of a batch: the cache, then OSS Index for the rest.
    It writes nothing but a source's refusal. None when the batch was
    counted already: a message delivered the first time cannot have been,
    and the count itself is conditional, so only a redelivery is checked
    first (to spare OSS Index the question)."""
    if redelivered and scans.batch_counted(batch.scan_id, batch.number):
        return None
    scan = reads.get(batch.scan_id)
    if scan is None:
        raise NotFound(f"scan {batch.scan_id} does not exist")
    now = clock.now()
    try:
        source = sources.get(batch.source_id)
    except NotFound:
        gone = scans.BatchOutcome(
            failed=True, error_source=batch.source_id, error_message="The source no longer exists."
        )
        return Answered(batch, scan, now, refused=gone)
    if reads.is_stopped(scan, batch.source_id):
        # The source refused an earlier batch of this scan; that error is recorded once.
        return Answered(batch, scan, now, source_kind=source.source_kind, refused=scans.BatchOutcome(failed=True))
    raw = {} if batch.refresh else answers.cached(source.id, list(batch.purls), now)
    cached = {purl: ossindex.parse_report(report) for purl, report in raw.items()}
    missing = [purl for purl in batch.purls if purl not in cached]
    client = ossindex.Client(source.url, credentials(source.secret_name, source.auth, source.username), session=session)
    answered = Answered(
        batch, scan, now, cached, missing=len(missing), source_name=source.name, source_kind=source.source_kind
    )
    answered.asked = bool(missing)
    try:
        entries = client.ask(missing) if missing else []
    except ossindex.OssIndexError as error:
        if error.stops_source:
            reads.stop(batch.scan_id, source.id)
        answered.refused = _refused(error, source, client, len(cached))
        answered.failure = error
        return answered
    try:
        answered.fresh = client.match(missing, entries)
    except ossindex.OssIndexError as error:
        answered.refused = _refused(error, source, client, len(cached))
        answered.failure = error
        return answered
    answered.requests = client.usage.requests
    return answered


def _refused(error: ossindex.OssIndexError, source: Source, client: ossindex.Client, hits: int) -> scans.BatchOutcome:
    # The detail (an excerpt of what the source answered) is for the log; the scan records the reason only.
    logger.warning(
        "OSS Index refused a batch", extra={"source_id": source.id, "reason": error.message, "detail": error.detail}
    )
    return scans.BatchOutcome(
        requests_made=client.usage.requests,
        cache_hits=hits,
        failed=True,
        error_source=source.id,
        error_message=f"{source.name}: {error.message.rstrip('.')}.",  # one sentence, one full stop
    )


def record(answered: Answered) -> Result:
    """The second half of a batch: the answers stored and recorded, and the
    batch counted once; the scan finished when this was its last batch."""
    batch = answered.batch
    if answered.failure is not None:
        source_health.recorder.failed(batch.source_id, answered.failure)
    elif answered.asked:
        source_health.recorder.succeeded(batch.source_id)
    outcome = answered.refused or _record(answered)
    counted = scans.count_batch(batch.scan_id, batch.number, outcome)
    if counted is not scans.Counted.ALREADY:
        observability.batch_counted(
            source_kind=answered.source_kind or None,
            requests_made=outcome.requests_made,
            cache_hits=outcome.cache_hits,
            packages_scanned=outcome.packages_scanned,
            findings_new=outcome.findings_new,
            failed=outcome.failed,
        )
    finished = finish(batch.scan_id) if counted is scans.Counted.PERHAPS_LAST else None
    return Result(outcome, finished)


def _record(answered: Answered) -> scans.BatchOutcome:
    batch, now, fresh = answered.batch, answered.now, answered.fresh
    answers.store(batch.source_id, {purl: report.raw for purl, report in fresh.items()}, now)
    reports = {**answered.cached, **fresh}
    findings_new = recording.record_batch(
        batch.packages, reports, now, covered=answered.scan.covered_feeds or (), batch=f"{batch.scan_id}#{batch.number}"
    )
    unanswered = answered.missing - len(fresh)
    unanswered_error = (
        f"{answered.source_name}: OSS Index did not answer for {unanswered} of {answered.missing} packages."
    )
    return scans.BatchOutcome(
        packages_scanned=len(reports),
        requests_made=answered.requests,
        cache_hits=len(answered.cached),
        findings_new=findings_new,
        error_source=batch.source_id if unanswered else None,
        error_message=unanswered_error if unanswered else None,
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
