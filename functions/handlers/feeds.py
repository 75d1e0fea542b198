"""Feeds and what belongs to them: the feed itself (admin changes it), its
attached sources, its permissions (its managers), and its packages.

Every feed-scoped route checks the caller's role through api.feed_access: a
feed the key has no role on is a 404, a role too small a 403. Routes name a
feed by its name; what it owns is keyed by its immutable id (feed_id)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, StringConstraints, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from feedguard import api, clock, feed_purge, imports, scanning
from feedguard import exceptions as package_exceptions
from feedguard.access import ROLE_NAMES, Role, require_admin
from feedguard.dal import batching, findings, packages, permissions, scans
from feedguard.dal import exceptions as exception_store
from feedguard.dal import feeds as feed_store
from feedguard.dal import keys as key_store
from feedguard.dal import sources as source_store
from feedguard.domain import ALL_FEEDS_SCOPE, Effect, Feed, FeedRole, Scan, ScanStatus
from feedguard.effects import strongest
from feedguard.errors import InvalidInput, NotFound
from feedguard.ids import new_id
from feedguard.observability import metrics, tracer
from feedguard.purls import InvalidPurl, canonical
from feedguard.settings import settings

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require("scan_queue_url", "scan_request_queue_url", "source_secret_prefix", "feed_purge_queue_url")
app = api.create_app()

MAX_DESCRIPTION = 1000
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION)]
RoleName = Literal["viewer", "assessor", "manager"]

DESCRIPTION_FIELD = "What the feed holds, for people"
EFFECT_FIELD = (
    "The effect of its unassessed and expired findings: allow < warn < block (block: new findings block until "
    "someone assesses them)"
)
SOURCE_ID_EXAMPLE = "src0192f3a4b5c6d7e8f9"
SourceId = Annotated[str, Path(description="The source's id (GET /sources)", examples=[SOURCE_ID_EXAMPLE])]
KeyId = Annotated[str, Path(description="The key's id (GET /api-keys)", examples=["k0192f3a4b5c6d7e8f9"])]


class NewFeed(api.RequestModel):
    model_config = api.examples(
        {"name": "web-shop", "description": "The shop's storefront", "unassessed_effect": "block"}
    )

    name: api.FeedName
    description: Description | None = Field(default=None, description=DESCRIPTION_FIELD)
    unassessed_effect: Effect = Field(default="block", description=EFFECT_FIELD)


class FeedChanges(api.RequestModel):
    model_config = api.examples({"unassessed_effect": "warn"})

    description: Description | None = Field(default=None, description=DESCRIPTION_FIELD + "; null clears it")
    # Null is refused (422), so the document does not offer it.
    unassessed_effect: Effect | SkipJsonSchema[None] = Field(default=None, description=EFFECT_FIELD)


class Counts(api.ResponseModel):
    unassessed: int = Field(description="Findings never assessed, or whose assessment was removed")
    assessed: int = Field(description="Findings with an assessment in force")
    expired: int = Field(description="Findings whose assessment expired or was reopened: they need reassessment")


FEED_EXAMPLE = {
    "id": "f_019ac4f1e2a07c3b9d1e",
    "name": "web-shop",
    "description": "The shop's storefront",
    "unassessed_effect": "block",
    "created_at": "2026-11-25T22:00:00Z",
    "updated_at": None,
    "role": "manager",
}


class FeedView(api.ResponseModel):
    model_config = api.examples(FEED_EXAMPLE)

    id: str = Field(
        description="The feed's immutable id: what the feed owns belongs to it, so a feed created later under a "
        "deleted feed's name starts empty (paths name feeds by name)"
    )
    name: str = Field(description="The feed's name, its handle in every path")
    description: str | None = Field(description=DESCRIPTION_FIELD)
    unassessed_effect: Effect = Field(description=EFFECT_FIELD)
    created_at: api.Timestamp = Field(description="When it was created")
    updated_at: api.Timestamp | None = Field(default=None, description="When it was last changed; null if never")
    role: str | None = Field(
        default=None, description="The calling key's role on it: viewer, assessor, manager, or admin for the admin key"
    )


class LastScan(api.ResponseModel):
    id: str = Field(description="The scan's id (GET /scans/{id} for its managers and the admin)")
    status: ScanStatus = Field(description="queued and running: not ended; succeeded, partial or failed: ended")
    started_at: api.Timestamp | None = Field(description="When it was requested")
    finished_at: api.Timestamp | None = Field(description="When it ended; null while queued or running")
    feed: str | None = Field(description="The feed it scanned; null for a scan of every feed that included this one")
    trigger: str = Field(description="api (POST /scans), packages (added packages only) or schedule")


class FeedDetail(FeedView):
    model_config = api.examples(
        {
            **FEED_EXAMPLE,
            "sources": [SOURCE_ID_EXAMPLE],
            "counts": {"unassessed": 2, "assessed": 5, "expired": 1},
            "last_scan": {
                "id": "s0192f3a4b5c6d7e8f9",
                "status": "succeeded",
                "started_at": "2026-11-26T04:00:00Z",
                "finished_at": "2026-11-26T04:00:07Z",
                "feed": None,
                "trigger": "schedule",
            },
        }
    )

    sources: list[str] = Field(description="The ids of the sources attached to it; none: it is never scanned")
    counts: Counts = Field(description="Its findings by status")
    last_scan: LastScan | None = Field(
        description="The most recent scan that included the feed: its own, or one of every feed; null when none has"
    )


class Attachment(api.ResponseModel):
    model_config = api.examples(
        {"feed": "web-shop", "source_id": SOURCE_ID_EXAMPLE, "attached_at": "2026-11-25T22:05:00Z"}
    )

    feed: str = Field(description="The feed's name")
    source_id: str = Field(description="The attached source's id")
    attached_at: api.Timestamp = Field(description="When it was first attached")


class NewRole(api.RequestModel):
    model_config = api.examples({"role": "assessor"})

    role: RoleName = Field(
        description="viewer: read the feed, its findings, the gate; assessor: viewer and assess; "
        "manager: assessor and packages, sources, permissions, scans of the feed"
    )


class PermissionView(api.ResponseModel):
    model_config = api.examples(
        {"key_id": "k0192f3a4b5c6d7e8f9", "role": "assessor", "granted_at": "2026-11-25T22:10:00Z"}
    )

    key_id: str = Field(description="The key's id")
    role: str = Field(description="viewer, assessor or manager")
    granted_at: api.Timestamp = Field(description="When the role was given (or last changed)")


class Rejected(api.ResponseModel):
    purl: str | None = Field(description="The entry as sent; null when it was not a string or a component had none")
    message: str = Field(description="Why it was not added")


class ImportResult(api.ResponseModel):
    model_config = api.examples(
        {
            "added": 2,
            "existing": 1,
            "rejected": [
                {"purl": "pkg:npm/left-pad", "message": "A purl needs a version (pkg:type/name@version): ..."}
            ],
            "scan_id": "s0192f3a4b5c6d7e8f9",
        }
    )

    added: int = Field(description="Packages new to the feed")
    existing: int = Field(description="Packages the feed already had")
    rejected: list[Rejected] = Field(description="Entries not added, each with the reason; the others were added")
    scan_id: str | None = Field(
        default=None, description="The scan of the new packages, started at once; null when none was needed"
    )


class PackageView(api.ResponseModel):
    model_config = api.examples(
        {
            "purl": "pkg:npm/lodash@4.17.20",
            "added_at": "2026-11-25T22:15:00Z",
            "last_scanned_at": "2026-11-26T04:00:07Z",
            "verdict": "block",
        }
    )

    purl: str = Field(description="The package, canonical: qualifiers and subpath dropped, type lowercased")
    added_at: api.Timestamp = Field(description="When it was added to the feed")
    last_scanned_at: api.Timestamp | None = Field(description="When a scan last asked the sources; null if never")
    verdict: Effect | None = Field(
        description="The strongest effect of its findings (allow with none); null until it is scanned"
    )


def feed_view(feed: Feed, role: str | None = None) -> FeedView:
    return FeedView(
        id=feed.feed_id,
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
        feed=None if scan.scope == ALL_FEEDS_SCOPE else scan.feed_name or scan.scope,
        trigger=scan.trigger,
    )


def detail(feed: Feed, role: str | None, new: bool = False) -> FeedDetail:
    """The feed with its sources, counts and last scan (a feed just created has none)."""
    sources = feed_store.attached_source_ids(feed.feed_id)
    scan = None if new else scans.latest_of_feed(feed.feed_id, has_sources=bool(sources))
    return FeedDetail(
        **feed_view(feed, role).model_dump(),
        sources=sources,
        counts=Counts(**feed_store.counts_by_status(feed.feed_id)),
        last_scan=last_scan_view(scan),
    )


# ---------------------------------------------------------------- feeds


@app.post(
    "/feeds",
    status_code=201,
    summary="Create a feed (admin)",
    description="A feed is a set of packages watched together, with its own findings, assessments and roles. "
    "409 when a feed of that name exists. Attach a source and add packages to have it scanned.",
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
    description="By name, each with the calling key's role on it.",
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
    description="For any key with a role on the feed; 404 for one without (the feed's existence is not revealed).",
    tags=["feeds"],
    responses=api.responses(200, "The feed", 404),
)
def get_feed(feed: api.FeedPath) -> FeedDetail:
    _, current, role = api.feed_role(app, feed, Role.viewer)
    return detail(current, role)


@app.patch(
    "/feeds/<feed>",
    summary="Change a feed (admin)",
    description="Only the fields sent change. A new unassessed_effect applies at once to every unassessed and "
    "expired finding, in answers and at the gate.",
    tags=["feeds"],
    responses=api.responses(200, "The feed", 400, 403, 404, 413),
)
def update_feed(feed: api.FeedPath, body: FeedChanges) -> FeedDetail:
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
    description="The name is free at once: a feed created under it later starts empty. What the feed owned is "
    "purged in the background; its history stays, readable to the admin by the deleted feed's id.",
    tags=["feeds"],
    responses=api.responses(204, "Deleted; its history stays", 403, 404),
)
def delete_feed(feed: api.FeedPath) -> Response[None]:
    current = api.feed_admin(app, feed)
    # The purge's message first: once the feed is gone, its purge is queued.
    feed_purge.request(current.feed_id, current.feed)
    feed_store.delete(current)
    logger.info("feed deleted", extra={"feed": feed, "feed_id": current.feed_id})
    return Response(status_code=204)


# ---------------------------------------------------------------- sources of a feed


@app.put(
    "/feeds/<feed>/sources/<source_id>",
    summary="Attach a source to the feed (its manager; idempotent)",
    description="The feed's packages are asked of every attached source at its next scan. Attaching again "
    "changes nothing.",
    tags=["feeds"],
    responses=api.responses(200, "Attached", 403, 404),
)
def attach_source(feed: api.FeedPath, source_id: SourceId) -> Attachment:
    _, current = api.feed_access(app, feed, Role.manager)
    if not source_store.exists(source_id):
        raise NotFound(f"There is no source with id {source_id}.")
    attachment = feed_store.attach(current.feed_id, source_id)
    logger.info("source attached", extra={"feed": feed, "source_id": source_id})
    return Attachment(feed=feed, source_id=source_id, attached_at=attachment.attached_at)


@app.delete(
    "/feeds/<feed>/sources/<source_id>",
    status_code=204,
    summary="Detach a source (its manager)",
    description="Scans stop asking it; findings it reported stay until a successful scan no longer reports them.",
    tags=["feeds"],
    responses=api.responses(204, "Detached", 403, 404),
)
def detach_source(feed: api.FeedPath, source_id: SourceId) -> Response[None]:
    _, current = api.feed_access(app, feed, Role.manager)
    feed_store.detach(current.feed_id, source_id, feed)
    logger.info("source detached", extra={"feed": feed, "source_id": source_id})
    return Response(status_code=204)


# ---------------------------------------------------------------- permissions


def permission_view(permission: FeedRole) -> PermissionView:
    return PermissionView(key_id=permission.key_id, role=permission.role, granted_at=permission.granted_at)


@app.get(
    "/feeds/<feed>/permissions",
    summary="Who may do what on the feed (its manager)",
    description="Each key with a role on the feed. The admin key has every role on every feed and is not listed.",
    tags=["permissions"],
    responses=api.responses(200, "A page of roles", 403, 404),
)
def list_permissions(
    feed: api.FeedPath, limit: api.Limit = api.DEFAULT_LIMIT, cursor: api.Cursor = None
) -> api.ListBody[PermissionView]:
    _, current = api.feed_access(app, feed, Role.manager)
    page = permissions.list_page(current, limit, cursor)
    return api.ListBody[PermissionView](items=[permission_view(p) for p in page.items], next_cursor=page.next_cursor)


@app.put(
    "/feeds/<feed>/permissions/<key_id>",
    summary=f"Give a key a role on the feed ({', '.join(ROLE_NAMES)})",
    description="Its manager may; the key's previous role on the feed, if any, is replaced.",
    tags=["permissions"],
    responses=api.responses(200, "The role", 400, 403, 404, 413),
)
def grant_permission(feed: api.FeedPath, key_id: KeyId, body: NewRole) -> PermissionView:
    _, current = api.feed_access(app, feed, Role.manager)
    if key_store.find(key_id) is None:
        raise NotFound(f"There is no API key with id {key_id}.")
    permission = permissions.grant(current, key_id, body.role)
    logger.info("role granted", extra={"feed": feed, "key_id": key_id, "role": body.role})
    return permission_view(permission)


@app.delete(
    "/feeds/<feed>/permissions/<key_id>",
    status_code=204,
    summary="Take a key's role on the feed away",
    description="Its manager may; the key no longer sees the feed (404). 404 when it had no role.",
    tags=["permissions"],
    responses=api.responses(204, "Revoked", 403, 404),
)
def revoke_permission(feed: api.FeedPath, key_id: KeyId) -> Response[None]:
    _, current = api.feed_access(app, feed, Role.manager)
    if not permissions.revoke(current, key_id):
        raise NotFound(f"Key {key_id} has no role on feed {feed}.")
    logger.info("role revoked", extra={"feed": feed, "key_id": key_id})
    return Response(status_code=204)


# ---------------------------------------------------------------- packages

# imports.parse reads the body (a purl it refuses is a `rejected` entry, not
# a 422): the schema below documents what it takes.
PURL_LIST_SCHEMA = {
    "type": "object",
    "title": "PurlList",
    "description": "Packages by Package URL",
    "properties": {
        "purls": {
            "type": "array",
            "description": f"At most {imports.MAX_PURLS:,}; an invalid one is reported in `rejected`, the others added",
            "items": {"type": "string", "description": api.PURL_DESCRIPTION, **api.PURL_SCHEMA},
            "maxItems": imports.MAX_PURLS,
        }
    },
    "required": ["purls"],
    "additionalProperties": False,
}
BOM_SCHEMA = {
    "type": "object",
    "title": "CycloneDXBom",
    "description": "A CycloneDX JSON BOM of any spec version: only components[].purl (nested components "
    "included) is read; a component without a purl is reported in `rejected`, the others added",
    "properties": {
        "bomFormat": {"const": "CycloneDX", "description": "Always CycloneDX"},
        "components": {
            "type": "array",
            "description": f"The packages, at most {imports.MAX_PURLS:,} components in all",
            "maxItems": imports.MAX_PURLS,
            "items": {
                "type": "object",
                "properties": {
                    "purl": {"type": "string", "description": api.PURL_DESCRIPTION, **api.PURL_SCHEMA},
                    "name": {"description": "The component's name, to name it in `rejected`"},
                    "version": {"description": "Its version, to name it in `rejected`"},
                },
            },
        },
    },
    "required": ["bomFormat"],
}
PackagesBody = Annotated[
    dict[str, Any],
    WithJsonSchema({"oneOf": [PURL_LIST_SCHEMA, BOM_SCHEMA]}),
    Body(
        description=f'{{"purls": [...]}} (at most {imports.MAX_PURLS:,}) or a CycloneDX JSON BOM',
        openapi_examples={
            "purls": {
                "summary": "A list of purls",
                "value": {"purls": ["pkg:npm/lodash@4.17.20", "pkg:pypi/django@4.2.1"]},
            },
            "bom": {
                "summary": "A CycloneDX BOM",
                "value": {
                    "bomFormat": "CycloneDX",
                    "specVersion": "1.6",
                    "components": [
                        {
                            "name": "log4j-core",
                            "version": "2.14.1",
                            "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
                        }
                    ],
                },
            },
        },
    ),
]
PurlQuery = Annotated[
    str, Query(description="The package's purl", examples=[api.PURL_EXAMPLE], json_schema_extra=api.PURL_SCHEMA)
]


@app.post(
    "/feeds/<feed>/packages",
    summary="Add packages: a purl list or a CycloneDX BOM (its manager)",
    description="Each purl is stored canonical (qualifiers and subpath dropped, type lowercased). Valid purls are "
    "added even when others are rejected; new ones are scanned at once, without waiting for the schedule.",
    tags=["packages"],
    responses=api.responses(200, "What was added, what was there, what was refused", 400, 403, 404, 413),
)
def add_packages(feed: api.FeedPath, body: PackagesBody) -> ImportResult:
    _, current = api.feed_access(app, feed, Role.manager)
    parsed = imports.parse(body)
    added = packages.add(current.feed_id, parsed.purls)
    scan_id = scanning.scan_new_packages(
        new_id("s"), current, feed_store.attached_source_ids(current.feed_id), added.new
    )
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
    description="By purl. A package's verdict is the strongest effect of its findings now (assessments in force, "
    "expiries past, the feed's unassessed_effect), each decided for this package by a package exception in force "
    "when one matches it (docs/exceptions.md).",
    tags=["packages"],
    responses=api.responses(200, "A page of packages", 404),
)
def list_packages(
    feed: api.FeedPath, limit: api.Limit = api.DEFAULT_LIMIT, cursor: api.Cursor = None
) -> api.ListBody[PackageView]:
    _, current = api.feed_access(app, feed, Role.viewer)
    feed_exceptions = batching.alongside(exception_store.of_feed, current.feed_id)
    page = packages.list_page(current.feed_id, limit, cursor)
    reported = {vid for package in page.items for vid in (package.vulnerability_ids or ())}
    now = clock.now()
    known = findings.with_effects(current.feed_id, reported, current.unassessed_effect, now)
    in_force = [e for e in feed_exceptions.result() if e.live(now)]
    items = []
    for package in page.items:
        verdict: Any = None
        scanned_at = packages.last_scanned(package, current)
        if scanned_at:
            candidates = package_exceptions.for_package(in_force, package.purl, now)
            # Each finding once, whichever of its ids the package row holds; an exception may name any of them.
            reporting = {
                known[vid][0].vulnerability_id: known[vid] for vid in package.vulnerability_ids or () if vid in known
            }
            verdict = strongest(
                [
                    package_exceptions.effect_of(
                        candidates, package.purl, [finding.vulnerability_id, *(finding.aliases or ())], effect, now
                    )[0]
                    for finding, _, effect in reporting.values()
                ]
            )
        items.append(
            PackageView(purl=package.purl, added_at=package.added_at, last_scanned_at=scanned_at, verdict=verdict)
        )
    return api.ListBody[PackageView](items=items, next_cursor=page.next_cursor)


@app.delete(
    "/feeds/<feed>/packages",
    status_code=204,
    summary="Remove one package (its manager)",
    description="The purl is compared in its canonical form. Its findings stay until the next successful scan "
    "withdraws those no other package reports.",
    tags=["packages"],
    responses=api.responses(204, "Removed", 403, 404),
)
def delete_package(feed: api.FeedPath, purl: PurlQuery) -> Response[None]:
    _, current = api.feed_access(app, feed, Role.manager)
    try:
        canonical_purl = canonical(purl)
    except InvalidPurl as error:
        raise InvalidInput(str(error)) from None
    packages.remove(current.feed_id, canonical_purl, feed)
    logger.info("package removed", extra={"feed": feed, "purl": canonical_purl})
    return Response(status_code=204)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
