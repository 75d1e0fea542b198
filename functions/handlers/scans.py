"""Scans: POST /scans (the admin; a feed's manager for that feed), GET /scans,
GET /scans/{id}. A scan is recorded here as queued and planned by the
coordinator, which the scan request queue invokes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from feedguard import api, clock, scan_queue
from feedguard.access import Principal, Role
from feedguard.dal import permissions, scans
from feedguard.dal.models import ALL_FEEDS_SCOPE, Scan
from feedguard.errors import Conflict, Forbidden, NotFound
from feedguard.ids import new_id
from feedguard.observability import metrics, tracer
from feedguard.settings import settings

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require("scan_queue_url", "scan_request_queue_url")
app = api.create_app()

Status = Literal["queued", "running", "succeeded", "partial", "failed"]

# A refresh asks the sources again for every package, each a paid
# coordinate: a feed's managers may ask for one an hour; the admin at will.
REFRESH_INTERVAL = timedelta(hours=1)


class ScanRequest(api.RequestModel):
    feed: api.FeedName | None = None
    refresh: bool = False


class Started(api.ResponseModel):
    id: str
    status: Status


class ScanError(api.ResponseModel):
    source: str | None
    message: str


class ScanView(api.ResponseModel):
    id: str
    status: Status
    feed: str | None
    trigger: str
    refresh: bool
    packages_total: int
    packages_scanned: int
    requests_made: int
    cache_hits: int
    findings_new: int
    errors: list[ScanError]
    started_at: str | None
    finished_at: str | None


# Errors recorded before the OSS Index client stopped quoting what a source
# answered (issue 27) may hold the source's body after "answered <status>: ",
# or an id it sent after "for ": a feed's managers see the reason only.
_QUOTED = re.compile(
    r"(OSS Index answered \d{3}): (?!the token was refused\.$|credits exhausted\.$).*"
    r"|(OSS Index answered (?:a CVSS score out of range|malformed references|malformed vulnerabilities)) for .*",
    re.DOTALL,
)


def short_reason(message: str) -> str:
    """What a non-admin may read of a scan's error: never an upstream body."""
    return _QUOTED.sub(lambda m: (m.group(1) or m.group(2)) + ".", message)


def view(scan: Scan, caller: Principal) -> ScanView:
    errors = [ScanError(**error) for error in scans.errors_of(scan)]
    if not caller.is_admin:
        errors = [ScanError(source=error.source, message=short_reason(error.message)) for error in errors]
    return ScanView(
        id=scan.scan_id,
        status=scan.status,  # type: ignore[arg-type]
        feed=None if scan.scope == ALL_FEEDS_SCOPE else scan.scope,
        trigger=scan.trigger,
        refresh=bool(scan.refresh_cache),
        packages_total=int(scan.packages_total),
        packages_scanned=int(scan.packages_scanned),
        requests_made=int(scan.requests_made),
        cache_hits=int(scan.cache_hits),
        findings_new=int(scan.findings_new),
        errors=errors,
        started_at=scan.started_at,
        finished_at=scan.finished_at,
    )


@app.post(
    "/scans",
    status_code=202,
    summary="Scan every feed (admin), or one feed (its manager)",
    tags=["scans"],
    # 409: a scan of the feed is queued or running (details name its scan_id),
    # or a refresh came within the hour (details say when one is allowed).
    responses=api.responses(202, "Queued", 400, 403, 404, 409, 413),
)
def start_scan(body: ScanRequest) -> Started:
    if body.feed is None:
        caller = api.principal(app)
        api.require_admin(caller)
    else:
        caller = api.feed_caller(app, body.feed, Role.manager)
    scope = f"feed {body.feed}" if body.feed else "every feed"
    try:
        scan = scans.start(new_id("s"), body.feed, "api", body.refresh, None if caller.is_admin else REFRESH_INTERVAL)
    except scans.ScanInProgress as busy:
        raise Conflict(
            f"A scan of {scope} is already queued or running; follow it at /scans/{busy.scan_id}.",
            details=[{"scan_id": busy.scan_id}],
        ) from None
    except scans.RefreshTooSoon as soon:
        allowed_at = clock.iso(soon.allowed_at)
        raise Conflict(
            f"A refresh of {scope} is allowed once an hour; the next from {allowed_at}"
            " (a scan without refresh is allowed now).",
            details=[{"refresh_allowed_at": allowed_at}],
        ) from None
    try:
        scan_queue.request_scan(scan.scan_id, body.feed, body.refresh)
    except Exception:
        scans.abandon(scan, "The scan could not be queued; ask again.")
        raise
    logger.info("scan requested", extra={"scan_id": scan.scan_id, "feed": body.feed, "refresh": body.refresh})
    return Started(id=scan.scan_id, status="queued")


@app.get(
    "/scans",
    summary="Scans, newest first: every scan (admin) or one feed's (its manager)",
    tags=["scans"],
    responses=api.responses(200, "A page of scans", 403, 404),
)
def list_scans(
    feed: Annotated[str | None, Query(description="Only this feed's scans", pattern=api.FEED_NAME_PATTERN)] = None,
    limit: api.Limit = api.DEFAULT_LIMIT,
    cursor: api.Cursor = None,
) -> api.ListBody[ScanView]:
    if feed is None:
        caller = api.principal(app)
        if not caller.is_admin:
            raise Forbidden("Only the admin may list every scan; add ?feed= for a feed you manage.")
        page = scans.list_all(limit, cursor)
    else:
        caller = api.feed_caller(app, feed, Role.manager)
        page = scans.list_for_feed(feed, limit, cursor)
    return api.ListBody[ScanView](items=[view(scan, caller) for scan in page.items], next_cursor=page.next_cursor)


@app.get(
    "/scans/<id>", summary="A scan and its counters", tags=["scans"], responses=api.responses(200, "The scan", 403, 404)
)
def get_scan(id: str) -> ScanView:  # noqa: A002 - the contract names it id
    caller = api.principal(app)
    scan = scans.get(id)
    missing = NotFound(f"There is no scan with id {id}.")
    if scan is None:
        raise missing
    if not caller.is_admin:
        # Scans of every feed are the admin's; a feed's scans its managers'.
        role = permissions.role_of(scan.scope, caller.key_id) if scan.scope != ALL_FEEDS_SCOPE else None
        if role is None:
            raise missing
        if Role[role] < Role.manager:
            raise Forbidden(f"Your role on feed {scan.scope} is {role}; scans are for its managers.")
    return view(scan, caller)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
