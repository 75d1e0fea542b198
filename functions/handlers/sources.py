"""Vulnerability sources: POST/GET /sources, GET/PATCH/DELETE /sources/{id}.

Any valid key may read them; only the admin may change them. The token goes
to Secrets Manager and never comes back: responses say only `token_set`."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import SecretStr, StringConstraints

from feedguard import api, sources
from feedguard.access import require_admin
from feedguard.dal import sources as source_store
from feedguard.dal.models import Source
from feedguard.ids import new_id
from feedguard.observability import metrics, tracer
from feedguard.settings import settings

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require("allow_http_sources", "allow_private_sources", "source_secret_prefix")
app = api.create_app()

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Token = Annotated[SecretStr, StringConstraints(min_length=1, max_length=4096)]


class NewSource(api.RequestModel):
    name: Name
    kind: Literal["ossindex"]
    url: Url | None = None
    auth: Literal["bearer", "basic"] = "bearer"
    username: Username | None = None
    token: Token


class SourceChanges(api.RequestModel):
    name: Name | None = None
    url: Url | None = None
    auth: Literal["bearer", "basic"] | None = None
    username: Username | None = None
    token: Token | None = None


class SourceView(api.ResponseModel):
    id: str
    name: str
    kind: str
    url: str
    auth: str
    username: str | None
    token_set: bool
    created_at: str
    updated_at: str | None = None


def view(source: Source) -> SourceView:
    return SourceView(
        id=source.id,
        name=source.name,
        kind=source.source_kind,
        url=source.url,
        auth=source.auth,
        username=source.username,
        token_set=bool(source.secret_name),
        created_at=source.created_at,
        updated_at=source.updated_at,
    )


@app.post(
    "/sources",
    status_code=201,
    summary="Connect a vulnerability source (admin)",
    tags=["sources"],
    responses=api.responses(201, "The source (its token is never returned)", 400, 403, 413),
)
def create_source(body: NewSource) -> SourceView:
    require_admin(api.principal(app))
    url = sources.checked_url(body.url, settings().allow_http_sources, settings().allow_private_sources)
    sources.check_auth(body.auth, body.username)
    fields = {"name": body.name, "source_kind": body.kind, "url": url, "auth": body.auth, "username": body.username}
    source = source_store.create(new_id("src"), fields, body.token.get_secret_value())
    logger.info("source created", extra={"source_id": source.id})
    return view(source)


@app.get(
    "/sources",
    summary="List vulnerability sources",
    tags=["sources"],
    responses=api.responses(200, "A page of sources"),
)
def list_sources(limit: api.Limit = api.DEFAULT_LIMIT, cursor: api.Cursor = None) -> api.ListBody[SourceView]:
    api.principal(app)
    page = source_store.list_page(limit, cursor)
    return api.ListBody[SourceView](items=[view(source) for source in page.items], next_cursor=page.next_cursor)


@app.get(
    "/sources/<id>", summary="A vulnerability source", tags=["sources"], responses=api.responses(200, "The source", 404)
)
def get_source(id: str) -> SourceView:  # noqa: A002 - the contract names it id
    api.principal(app)
    return view(source_store.get(id))


@app.patch(
    "/sources/<id>",
    summary="Change a source, its token included (admin)",
    tags=["sources"],
    responses=api.responses(200, "The source", 400, 403, 404, 413),
)
def update_source(id: str, body: SourceChanges) -> SourceView:  # noqa: A002
    require_admin(api.principal(app))
    source = source_store.get(id)
    sent = body.model_fields_set
    changes: dict[str, Any] = {}
    if "name" in sent and body.name is not None:
        changes["name"] = body.name
    if "url" in sent:
        changes["url"] = sources.checked_url(body.url, settings().allow_http_sources, settings().allow_private_sources)
    if "auth" in sent and body.auth is not None:
        changes["auth"] = body.auth
    if "username" in sent:
        changes["username"] = body.username
    sources.check_auth(changes.get("auth", source.auth), changes.get("username", source.username))
    token = body.token.get_secret_value() if "token" in sent and body.token is not None else None
    updated = source_store.update(source, changes, token)
    logger.info("source updated", extra={"source_id": id, "fields": sorted(sent), "token_replaced": token is not None})
    return view(updated)


@app.delete(
    "/sources/<id>",
    status_code=204,
    summary="Delete a source and its token (admin)",
    tags=["sources"],
    responses=api.responses(204, "Deleted", 403, 404, 409),
)
def delete_source(id: str) -> Response[None]:  # noqa: A002
    require_admin(api.principal(app))
    source_store.delete(id)
    logger.info("source deleted", extra={"source_id": id})
    return Response(status_code=204)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
