"""One batch of a scan: ask OSS Index (through the answer cache) about up to
128 purls for one source, record what it says, count the batch once, and
finish the scan when it was the last batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from feedguard import clock, ossindex
from feedguard.dal import answers, detections, scans
from feedguard.dal import feeds as feed_store
from feedguard.dal import sources as source_store
from feedguard.dal.models import Scan
from feedguard.errors import NotFound
from feedguard.scanplan import Batch

logger = Logger(child=True)

# Source tokens are read through powertools parameters, cached this long.
TOKEN_MAX_AGE = 300


def credentials(secret_name: str, auth: str, username: str | None) -> ossindex.Credentials:
    from aws_lambda_powertools.utilities import parameters

    token = parameters.get_secret(secret_name, max_age=TOKEN_MAX_AGE)
    return ossindex.Credentials(token=str(token), auth=auth, username=username)


@dataclass
class Result:
    outcome: scans.BatchOutcome
    finished: Scan | None


def process(batch: Batch, client_options: dict[str, Any] | None = None) -> Result | None:
    """None when the batch was counted already (a redelivered message)."""
    if scans.batch_counted(batch.scan_id, batch.number):
        return None
    scan = scans.get(batch.scan_id)
    if scan is None:
        raise NotFound(f"scan {batch.scan_id} does not exist")
    outcome = _ask_and_record(batch, scan, client_options or {})
    counted = scans.count_batch(batch.scan_id, batch.number, outcome)
    finished = scans.finish_if_complete(batch.scan_id) if counted else None
    if finished is not None:
        _after(finished)
    return Result(outcome, finished)


def _ask_and_record(batch: Batch, scan: Scan, client_options: dict[str, Any]) -> scans.BatchOutcome:
    try:
        source = source_store.get(batch.source_id)
    except NotFound:
        return scans.BatchOutcome(
            failed=True, error_source=batch.source_id, error_message="The source no longer exists."
        )
    if batch.source_id in (scan.stopped_sources or ()):
        # The source refused an earlier batch of this scan; that error is recorded once.
        return scans.BatchOutcome(failed=True)
    now = clock.now()
    cached = {} if batch.refresh else answers.cached(source.id, list(batch.purls), now)
    reports = {purl: ossindex.parse_report(raw) for purl, raw in cached.items()}
    missing = [purl for purl in batch.purls if purl not in reports]
    client = ossindex.Client(
        source.url, credentials(source.secret_name, source.auth, source.username), **client_options
    )
    try:
        fresh = client.reports(missing) if missing else {}
    except ossindex.OssIndexError as error:
        if error.stops_source:
            scans.stop_source(batch.scan_id, source.id)
        logger.warning("OSS Index refused a batch", extra={"source_id": source.id, "reason": error.message})
        return scans.BatchOutcome(
            requests_made=client.usage.requests,
            cache_hits=len(cached),
            failed=True,
            error_source=source.id,
            error_message=f"{source.name}: {error.message}.",
        )
    answers.store(source.id, {purl: report.raw for purl, report in fresh.items()}, now)
    reports.update(fresh)
    detections.record_vulnerabilities(reports.values(), now)
    packages = detections.record_packages(batch.feeds, reports, now, covered=scan.covered_feeds or ())
    findings_new = detections.record_findings(packages, reports, now, batch=f"{batch.scan_id}#{batch.number}")
    unanswered = len(missing) - len(fresh)
    return scans.BatchOutcome(
        packages_scanned=len(reports),
        requests_made=client.usage.requests,
        cache_hits=len(cached),
        findings_new=findings_new,
        error_source=source.id if unanswered else None,
        error_message=f"{source.name}: OSS Index did not answer for {unanswered} of {len(missing)} packages."
        if unanswered
        else None,
    )


def _after(scan: Scan) -> None:
    """A scan that finished: withdraw findings no longer reported, but only
    after a fully successful scan of whole feeds."""
    logger.info("scan finished", extra={"scan_id": scan.scan_id, "status": scan.status})
    if scan.status != "succeeded":
        return
    now = clock.now()
    for feed in sorted(scan.covered_feeds or ()):
        if scan.started_at:
            feed_store.mark_scanned(feed, scan.started_at)
        withdrawn = detections.withdraw_unreported(feed, now)
        if withdrawn:
            logger.info("findings withdrawn", extra={"feed": feed, "count": withdrawn})
