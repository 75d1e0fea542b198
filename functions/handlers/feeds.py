"""Feeds and what belongs to them: the feed itself (admin changes it), its
attached sources, its permissions (its managers), and its packages.

Every feed-scoped route checks the caller's role through api.feed_caller: a
feed the key has no role on is a 404, a role too small a 403."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, StringConstraints

from feedguard import api, clock, imports, scanning
from feedguard.access import ROLE_NAMES, Role, require_admin
from feedguard.dal import feeds as feed_store
from feedguard.dal import findings, packages, permissions, scans
from feedguard.dal import keys as key_store
from feedguard.dal import sources as source_store
from feedguard.dal.models import ALL_FEEDS_SCOPE, Feed, FeedPermission, Scan
from feedguard.effects import strongest
from feedguard.errors import InvalidInput, NotFound
from feedguard.ids import new_id
from feedguard.observability import metrics, tracer
from feedguard.purls import InvalidPurl, canonical
from feedguard.settings import settings

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require("scan_queue_url", "scan_request_queue_url", "source_secret_prefix")
app = api.create_app()

Description = Annotated[str, StringConstraints(max_length=1000)]
Effect = Literal["allow", "warn", "block"]
RoleName = Literal["viewer", "assessor", "manager"]


class NewFeed(api.RequestModel):
    name: api.FeedName
    description: Description | None = None
    unassessed_effect: Effect = "block"


class FeedChanges(api.RequestModel):
    description: Description | None = None
    unassessed_effect: Effect | None = None


class Counts(api.ResponseModel):
    unassessed: int
    assessed: int
    expired: int


class FeedView(api.ResponseModel):
    name: str
    description: str | None
    unassessed_effect: Effect
    created_at: str
    updated_at: str | None = None
    role: str | None = None


ScanStatus = Literal["queued", "running", "succeeded", "partial", "failed"]


class LastScan(api.ResponseModel):
    id: str = Field(description="The scan's id (GET /scans/{id} for its managers and the admin)")
    status: ScanStatus = Field(description="queued and running: not ended; succeeded, partial or failed: ended")
    started_at: str | None = Field(description="When it was requested")
    finished_at: str | None = Field(description="When it ended; null while queued or running")
    feed: str | None = Field(description="The feed it scanned; null for a scan of every feed that included this one")
    trigger: str = Field(description="api (POST /scans), packages (added packages only) or schedule")


class FeedDetail(FeedView):
    sources: list[str]
    counts: Counts
    last_scan: LastScan | None = Field(
        description="The most recent scan that included the feed: its own, or one of every feed; null when none has"
    )


class Attachment(api.ResponseModel):
    feed: str
    source_id: str
    attached_at: str


class NewRole(api.RequestModel):
    role: RoleName


class PermissionView(api.ResponseModel):
    key_id: str
    role: str
    granted_at: str


class Rejected(api.ResponseModel):
    purl: str | None
    message: str


class ImportResult(api.ResponseModel):
    added: int
    existing: int
    rejected: list[Rejected]
    scan_id: str | None = None


class PackageView(api.ResponseModel):
    purl: str
    added_at: str
    last_scanned_at: str | None
    verdict: Effect | None


def feed_view(feed: Feed, role: str | None = None) -> FeedView:
    return FeedView(
        name=feed.feed,
        description=feed.description,
        unassessed_effect=feed.unassessed_effect,  # type: ignore[arg-type]
        created_at=feed.created_at,
        updated_at=feed.updated_at,
        role=role,
    )


def last_scan_view(scan: Scan | None) -> LastScan | None:
    if scan is None:
        return None
    return LastScan(
        id=scan.scan_id,
        status=scan.status,  # type: ignore[arg-type]
        started_at=scan.started_at,
        finished_at=scan.finished_at,
        feed=None if scan.scope == ALL_FEEDS_SCOPE else scan.scope,
        trigger=scan.trigger,
    )


def detail(feed: Feed, role: str | None, new: bool = False) -> FeedDetail:
    """The feed with its sources, counts and last scan (a feed just created has none)."""
    sources = feed_store.attached_source_ids(feed.feed)
    scan = None if new else scans.latest_of_feed(feed.feed, feed.created_at, has_sources=bool(sources))
    return FeedDetail(
        **feed_view(feed, role).model_dump(),
        sources=sources,
        counts=Counts(**feed_store.counts_by_status(feed.feed)),
        last_scan=last_scan_view(scan),
    )


def role_label(feed: str, caller_is_admin: bool, key_id: str) -> str | None:
    return "admin" if caller_is_admin else permissions.role_of(feed, key_id)


# ---------------------------------------------------------------- feeds


@app.post(
    "/feeds",
    status_code=201,
    summary="Create a feed (admin)",
    tags=["feeds"],
    responses=api.responses(201, "The feed", 400, 403, 409, 413),
)
def create_feed(body: NewFeed) -> FeedDetail:
    require_admin(api.principal(app))
    feed = feed_store.create(body.name, body.description, body.unassessed_effect)
    logger.info("feed created", extra={"feed": feed.feed})
    return detail(feed, "admin", new=True)


@app.get(
    "/feeds",
    summary="The feeds this key has a role on (every feed for the admin)",
    tags=["feeds"],
    responses=api.responses(200, "A page of feeds"),
)
def list_feeds(limit: api.Limit = api.DEFAULT_LIMIT, cursor: api.Cursor = None) -> api.ListBody[FeedView]:
    caller = api.principal(app)
    if caller.is_admin:
        page = feed_store.list_all(limit, cursor)
        items = [feed_view(feed, "admin") for feed in page.items]
    else:
        page, roles = feed_store.list_for_key(caller.key_id, limit, cursor)
        items = [feed_view(feed, roles.get(feed.feed)) for feed in page.items]
    return api.ListBody[FeedView](items=items, next_cursor=page.next_cursor)


@app.get(
    "/feeds/<feed>",
    summary="A feed, its attached sources, its findings by status and its last scan",
    tags=["feeds"],
    responses=api.responses(200, "The feed", 404),
)
def get_feed(feed: str) -> FeedDetail:
    caller, current = api.feed_access(app, feed, Role.viewer)
    return detail(current, role_label(feed, caller.is_admin, caller.key_id))


@app.patch(
    "/feeds/<feed>",
    summary="Change a feed (admin)",
    tags=["feeds"],
    responses=api.responses(200, "The feed", 400, 403, 404, 413),
)
def update_feed(feed: str, body: FeedChanges) -> FeedDetail:
    current = api.feed_admin(app, feed)
    sent = body.model_fields_set
    if "unassessed_effect" in sent and body.unassessed_effect is None:
        raise InvalidInput("unassessed_effect cannot be null.")
    changes: dict[str, Any] = {
        name: getattr(body, name) for name in ("description", "unassessed_effect") if name in sent
    }
    updated = feed_store.update(current, changes)
    logger.info("feed updated", extra={"feed": feed, "fields": sorted(sent)})
    return detail(updated, "admin")


@app.delete(
    "/feeds/<feed>",
    status_code=204,
    summary="Delete a feed and its packages, findings and permissions (admin)",
    tags=["feeds"],
    responses=api.responses(204, "Deleted; its history stays", 403, 404),
)
def delete_feed(feed: str) -> Response[None]:
    api.feed_admin(app, feed)
    feed_store.delete(feed)
    logger.info("feed deleted", extra={"feed": feed})
    return Response(status_code=204)


# ---------------------------------------------------------------- sources of a feed


@app.put(
    "/feeds/<feed>/sources/<source_id>",
    summary="Attach a source to the feed (its manager; idempotent)",
    tags=["feeds"],
    responses=api.responses(200, "Attached", 403, 404),
)
def attach_source(feed: str, source_id: str) -> Attachment:
    api.feed_caller(app, feed, Role.manager)
    if not source_store.exists(source_id):
        raise NotFound(f"There is no source with id {source_id}.")
    attachment = feed_store.attach(feed, source_id)
    logger.info("source attached", extra={"feed": feed, "source_id": source_id})
    return Attachment(feed=feed, source_id=source_id, attached_at=attachment.attached_at)


@app.delete(
    "/feeds/<feed>/sources/<source_id>",
    status_code=204,
    summary="Detach a source (its manager)",
    tags=["feeds"],
    responses=api.responses(204, "Detached", 403, 404),
)
def detach_source(feed: str, source_id: str) -> Response[None]:
    api.feed_caller(app, feed, Role.manager)
    feed_store.detach(feed, source_id)
    logger.info("source detached", extra={"feed": feed, "source_id": source_id})
    return Response(status_code=204)


# ---------------------------------------------------------------- permissions


def permission_view(permission: FeedPermission) -> PermissionView:
    return PermissionView(key_id=permission.key_id, role=permission.role, granted_at=permission.granted_at)


@app.get(
    "/feeds/<feed>/permissions",
    summary="Who may do what on the feed (its manager)",
    tags=["permissions"],
    responses=api.responses(200, "A page of roles", 403, 404),
)
def list_permissions(
    feed: str, limit: api.Limit = api.DEFAULT_LIMIT, cursor: api.Cursor = None
) -> api.ListBody[PermissionView]:
    api.feed_caller(app, feed, Role.manager)
    page = permissions.list_page(feed, limit, cursor)
    return api.ListBody[PermissionView](items=[permission_view(p) for p in page.items], next_cursor=page.next_cursor)


@app.put(
    "/feeds/<feed>/permissions/<key_id>",
    summary=f"Give a key a role on the feed ({', '.join(ROLE_NAMES)})",
    tags=["permissions"],
    responses=api.responses(200, "The role", 400, 403, 404, 413),
)
def grant_permission(feed: str, key_id: str, body: NewRole) -> PermissionView:
    api.feed_caller(app, feed, Role.manager)
    if key_store.find(key_id) is None:
        raise NotFound(f"There is no API key with id {key_id}.")
    permission = permissions.grant(feed, key_id, body.role)
    logger.info("role granted", extra={"feed": feed, "key_id": key_id, "role": body.role})
    return permission_view(permission)


@app.delete(
    "/feeds/<feed>/permissions/<key_id>",
    status_code=204,
    summary="Take a key's role on the feed away",
    tags=["permissions"],
    responses=api.responses(204, "Revoked", 403, 404),
)
def revoke_permission(feed: str, key_id: str) -> Response[None]:
    api.feed_caller(app, feed, Role.manager)
    if not permissions.revoke(feed, key_id):
        raise NotFound(f"Key {key_id} has no role on feed {feed}.")
    logger.info("role revoked", extra={"feed": feed, "key_id": key_id})
    return Response(status_code=204)


# ---------------------------------------------------------------- packages

PackagesBody = Annotated[
    dict[str, Any],
    Body(description='{"purls": ["pkg:npm/lodash@4.17.20", ...]} (at most 10,000) or a CycloneDX JSON BOM'),
]


@app.post(
    "/feeds/<feed>/packages",
    summary="Add packages: a purl list or a CycloneDX BOM (its manager)",
    tags=["packages"],
    responses=api.responses(200, "What was added, what was there, what was refused", 400, 403, 404, 413),
)
def add_packages(feed: str, body: PackagesBody) -> ImportResult:
    api.feed_caller(app, feed, Role.manager)
    parsed = imports.parse(body)
    added = packages.add(feed, parsed.purls)
    scan_id = scanning.scan_new_packages(new_id("s"), feed, feed_store.attached_source_ids(feed), added.new)
    logger.info(
        "packages added",
        extra={"feed": feed, "added": len(added.new), "existing": added.existing, "rejected": len(parsed.rejected)},
    )
    return ImportResult(
        added=len(added.new),
        existing=added.existing,
        rejected=[Rejected(purl=entry["purl"], message=entry["message"] or "") for entry in parsed.rejected],
        scan_id=scan_id,
    )


@app.get(
    "/feeds/<feed>/packages",
    summary="The feed's packages and their verdicts",
    tags=["packages"],
    responses=api.responses(200, "A page of packages", 404),
)
def list_packages(
    feed: str, limit: api.Limit = api.DEFAULT_LIMIT, cursor: api.Cursor = None
) -> api.ListBody[PackageView]:
    _, current = api.feed_access(app, feed, Role.viewer)
    page = packages.list_page(feed, limit, cursor)
    reported = {vid for package in page.items for vid in (package.vulnerability_ids or ())}
    effects = findings.effects_for(feed, reported, current.unassessed_effect, clock.now())
    items = []
    for package in page.items:
        verdict: Any = None
        scanned_at = packages.last_scanned(package, current)
        if scanned_at:
            verdict = strongest([effects[vid][1] for vid in package.vulnerability_ids or () if vid in effects])
        items.append(
            PackageView(purl=package.purl, added_at=package.added_at, last_scanned_at=scanned_at, verdict=verdict)
        )
    return api.ListBody[PackageView](items=items, next_cursor=page.next_cursor)


@app.delete(
    "/feeds/<feed>/packages",
    status_code=204,
    summary="Remove one package (its manager)",
    tags=["packages"],
    responses=api.responses(204, "Removed", 403, 404),
)
def delete_package(feed: str, purl: Annotated[str, Query(description="The package's purl")]) -> Response[None]:
    api.feed_caller(app, feed, Role.manager)
    try:
        canonical_purl = canonical(purl)
    except InvalidPurl as error:
        raise InvalidInput(str(error)) from None
    packages.remove(feed, canonical_purl)
    logger.info("package removed", extra={"feed": feed, "purl": canonical_purl})
    return Response(status_code=204)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
