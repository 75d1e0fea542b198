"""Starts a scan: on the schedule ({"trigger": "schedule"}) for every feed, or
on request ({"trigger": "api", "scan_id", "feed", "refresh"}). Creates the
scan record, deduplicates purls across feeds per source, and puts batches of
at most 128 purls on the scan queue for the workers."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from feedguard import scanning
from feedguard.dal import feeds, scans
from feedguard.ids import new_id

logger = Logger()


def purls_by_source(feed: str | None) -> dict[str, set[str]]:
    """Every purl of the scanned feeds, keyed by each source attached to them.
    A feed with no source attached is never scanned."""
    names = [feed] if feed else [item.feed for item in feeds.all_feeds()]
    grouped: dict[str, set[str]] = defaultdict(set)
    for name in names:
        sources = feeds.attached_source_ids(name)
        if not sources:
            continue
        purls = set(feeds.package_purls(name))
        for source_id in sources:
            grouped[source_id] |= purls
    return grouped


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    feed = event.get("feed")
    refresh = bool(event.get("refresh", False))
    scan_id = event.get("scan_id") or new_id("s")
    scan = scans.get(scan_id) or scans.create(scan_id, feed, str(event.get("trigger", "schedule")), refresh)
    if scan.status != "queued":
        # A retried invocation of a scan already planned must not plan it twice.
        logger.info("scan already planned", extra={"scan_id": scan_id, "status": scan.status})
        return {"scan_id": scan_id, "status": scan.status}
    batches = scanning.plan_and_enqueue(scan, purls_by_source(feed))
    logger.info("scan planned", extra={"scan_id": scan_id, "batches": batches, "packages": scan.packages_total})
    return {"scan_id": scan_id, "status": "running" if batches else "succeeded"}
