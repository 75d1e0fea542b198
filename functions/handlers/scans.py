"""Scans: POST /scans (the admin; a feed's manager for that feed), GET /scans,
GET /scans/{id}. A scan is recorded here as queued and planned by the
coordinator, which the scan request queue invokes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from feedguard import api, clock, scan_queue
from feedguard.access import Principal, Role
from feedguard.dal import feeds, scans
from feedguard.domain import ALL_FEEDS_SCOPE, Scan, ScanStatus
from feedguard.errors import Conflict, Forbidden, NotFound
from feedguard.ids import new_id
from feedguard.observability import metrics, tracer
from feedguard.settings import settings

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require("scan_queue_url", "scan_request_queue_url")
app = api.create_app()


# A refresh asks the sources again for every package, each a paid
# coordinate: a feed's managers may ask for one an hour; the admin at will.
REFRESH_INTERVAL = timedelta(hours=1)


SCAN_ID_EXAMPLE = "s0192f3a4b5c6d7e8f9"
STATUS_FIELD = "queued, running, succeeded, partial (some sources or packages failed) or failed"


class ScanRequest(api.RequestModel):
    model_config = api.examples({"feed": "web-shop", "refresh": False})

    feed: api.FeedName | None = Field(
        default=None, description="The feed to scan (its manager may); absent: every feed (admin)"
    )
    refresh: bool = Field(
        default=False,
        description="Ask the sources again even for answers younger than 24 hours; once an hour per feed, "
        "except for the admin",
    )


class Started(api.ResponseModel):
    model_config = api.examples({"id": SCAN_ID_EXAMPLE, "status": "queued"})

    id: str = Field(description="The scan's id: follow it at GET /scans/{id}")
    status: ScanStatus = Field(description="queued")


class ScanError(api.ResponseModel):
    source: str | None = Field(description="The source's id; null for an error of no one source")
    message: str = Field(description="What failed; for non-admins a short reason, never what the source answered")


class ScanView(api.ResponseModel):
    model_config = api.examples(
        {
            "id": SCAN_ID_EXAMPLE,
            "status": "partial",
            "feed": "web-shop",
            "trigger": "api",
            "refresh": False,
            "packages_total": 240,
            "packages_scanned": 238,
            "requests_made": 3,
            "requests": {"ossindex": 2, "osv": 1},
            "cache_hits": 120,
            "findings_new": 3,
            "errors": [{"source": "src0192f3a4b5c6d7e8f9", "message": "OSS Index answered 503."}],
            "started_at": "2026-11-26T04:00:00Z",
            "finished_at": "2026-11-26T04:00:07Z",
        }
    )

    id: str = Field(description="The scan's id")
    status: ScanStatus = Field(description=STATUS_FIELD)
    feed: str | None = Field(description="The feed scanned; null for a scan of every feed")
    trigger: str = Field(description="api (POST /scans), packages (added packages only) or schedule")
    refresh: bool = Field(description="Whether cached answers were ignored")
    packages_total: int = Field(description="Distinct packages to ask about")
    packages_scanned: int = Field(description="Packages answered so far")
    requests_made: int = Field(
        description="Requests sent to the sources, every kind together (OSS Index: 128 coordinates at most each)"
    )
    requests: dict[str, int] = Field(
        description="The same requests by source kind: ossindex (component reports), osv (querybatch pages of up "
        "to 1000 purls, and vulnerability records fetched)"
    )
    cache_hits: int = Field(description="Packages answered from answers younger than 24 hours")
    findings_new: int = Field(description="Findings detected for the first time")
    errors: list[ScanError] = Field(description="What failed; a failed source never closes findings")
    started_at: api.Timestamp | None = Field(description="When it was requested")
    finished_at: api.Timestamp | None = Field(description="When it ended; null while queued or running")


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
        feed=None if scan.scope == ALL_FEEDS_SCOPE else scan.feed_name or scan.scope,
        trigger=scan.trigger,
        refresh=bool(scan.refresh_cache),
        packages_total=int(scan.packages_total),
        packages_scanned=int(scan.packages_scanned),
        requests_made=int(scan.requests_made),
        requests={
            "ossindex": int(scan.requests_made) - int(scan.osv_requests or 0),
            "osv": int(scan.osv_requests or 0),
        },
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
    description="Queues a scan; the schedule scans every feed the same way. 409 while a scan of the feed is "
    "queued or running (details name its scan_id), or for a refresh within the hour (details say when).",
    tags=["scans"],
    # 409: a scan of the feed is queued or running (details name its scan_id),
    # or a refresh came within the hour (details say when one is allowed).
    responses=api.responses(202, "Queued", 400, 403, 404, 409, 413),
)
def start_scan(body: ScanRequest) -> Started:
    feed_id = None
    if body.feed is None:
        caller = api.principal(app)
        api.require_admin(caller)
    else:
        caller, current = api.feed_access(app, body.feed, Role.manager)
        feed_id = current.feed_id
    scope = f"feed {body.feed}" if body.feed else "every feed"
    interval = None if caller.is_admin else REFRESH_INTERVAL
    try:
        scan = scans.start(new_id("s"), feed_id, "api", body.refresh, interval, feed_name=body.feed)
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
        scan_queue.request_scan(scan.scan_id, feed_id, body.refresh)
    except Exception:
        scans.abandon(scan, "The scan could not be queued; ask again.")
        raise
    logger.info("scan requested", extra={"scan_id": scan.scan_id, "feed": body.feed, "refresh": body.refresh})
    return Started(id=scan.scan_id, status="queued")


@app.get(
    "/scans",
    summary="Scans, newest first: every scan (admin) or one feed's (its manager)",
    description="Without ?feed= only the admin may list; a feed's manager lists the scans of that feed, scans of "
    "every feed included.",
    tags=["scans"],
    responses=api.responses(200, "A page of scans", 403, 404),
)
def list_scans(
    feed: Annotated[
        str | None, Query(description="Only this feed's scans", pattern=api.FEED_NAME_PATTERN, examples=["web-shop"])
    ] = None,
    limit: api.Limit = api.DEFAULT_LIMIT,
    cursor: api.Cursor = None,
) -> api.ListBody[ScanView]:
    if feed is None:
        caller = api.principal(app)
        if not caller.is_admin:
            raise Forbidden("Only the admin may list every scan; add ?feed= for a feed you manage.")
        page = scans.list_all(limit, cursor)
    else:
        caller, current = api.feed_access(app, feed, Role.manager)
        page = scans.list_for_feed(current.feed_id, limit, cursor)
    return api.ListBody[ScanView](items=[view(scan, caller) for scan in page.items], next_cursor=page.next_cursor)


@app.get(
    "/scans/<id>",
    summary="A scan and its counters",
    description="For the admin, and for the managers of the scanned feed.",
    tags=["scans"],
    responses=api.responses(200, "The scan", 403, 404),
)
def get_scan(id: Annotated[str, Path(description="The scan's id", examples=[SCAN_ID_EXAMPLE])]) -> ScanView:  # noqa: A002 - the contract names it id
    caller = api.principal(app)
    scan = scans.get(id)
    missing = NotFound(f"There is no scan with id {id}.")
    if scan is None:
        raise missing
    if not caller.is_admin:
        # Scans of every feed are the admin's; a feed's scans its managers'.
        # The scan's feed is its id's: its name now may be another feed's.
        name = scan.feed_name or scan.scope
        current, role = feeds.access(name, caller.key_id) if scan.scope != ALL_FEEDS_SCOPE else (None, None)
        if current is None or current.feed_id != scan.scope or role is None:
            raise missing
        if Role[role] < Role.manager:
            raise Forbidden(f"Your role on feed {name} is {role}; scans are for its managers.")
    return view(scan, caller)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
