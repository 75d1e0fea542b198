"""Vulnerability sources: POST/GET /sources, GET/PATCH/DELETE /sources/{id}.

Any valid key may read them; only the admin may change them. The token goes
to Secrets Manager and never comes back: responses say only `token_set`.

Saving a source (POST, or a PATCH of url, auth, username or token) first
tests its credentials with one component report of one coordinate
(ossindex.Client.probe): a source that refuses them (401/403), redirects,
is at a refused address or does not answer as OSS Index does is 422 and
nothing is stored, the token included. Credits exhausted (402), or a
source that cannot be reached or answers 5xx now, is saved with a
`warnings` entry: the settings may be right, and the source's health
shows what the next scans meet. The outcome is the source's first health."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AfterValidator, Field, SecretStr, StringConstraints

from feedguard import api, clock, source_health, sources
from feedguard.access import require_admin
from feedguard.dal import sources as source_store
from feedguard.dal import tokens
from feedguard.dal.models import Source
from feedguard.errors import InvalidInput
from feedguard.ids import new_id
from feedguard.observability import metrics, tracer
from feedguard.settings import settings

if TYPE_CHECKING:
    import requests

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require("allow_http_sources", "allow_private_sources", "source_secret_prefix")
app = api.create_app()

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Basic authentication joins username and token with a colon (RFC 7617), so a
# username cannot hold one; it goes out UTF-8 encoded, whatever its script.
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320, pattern=r"^[^:\x00-\x1f\x7f]+$")
]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]


def _token_characters(token: SecretStr) -> SecretStr:
    # A token travels in an HTTP header: visible ASCII only (RFC 6750's b64token and
    # Sonatype's tokens are). The message never repeats the token.
    if not all("\x21" <= character <= "\x7e" for character in token.get_secret_value()):
        raise ValueError("A token is visible ASCII characters, without spaces")
    return token


Token = Annotated[SecretStr, StringConstraints(min_length=1, max_length=4096), AfterValidator(_token_characters)]


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


class SourceError(api.ResponseModel):
    at: str = Field(description="When the source last failed")
    status: int | None = Field(description="The HTTP status it answered; null when it could not be reached")
    message: str = Field(description="feedguard's short reason, never what the source answered")


class SourceHealth(api.ResponseModel):
    last_success_at: str | None = Field(
        description="When the source last answered a credential test, a scan or the gate; null if never"
    )
    last_error: SourceError | None = Field(description="Its most recent failure; null if none")
    credits_exhausted: bool = Field(description="It answered 402 (credits exhausted) and has not answered since")


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
    health: SourceHealth


class SavedSource(SourceView):
    warnings: list[str] = Field(
        description="Why the source, saved, may not work yet (credits exhausted, source unreachable); empty if none"
    )


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
        health=SourceHealth.model_validate(source_health.view(source)),
    )


def saved(source: Source, warnings: list[str]) -> SavedSource:
    return SavedSource(**view(source).model_dump(), warnings=warnings)


# Per attempt, and in all: the test answers within API Gateway's 29 s.
PROBE_TIMEOUT = 5.0
PROBE_TOTAL_SECONDS = 8.0


@lru_cache(maxsize=1)
def probe_session() -> requests.Session:
    """Connections to the sources, kept between invocations."""
    import requests

    return requests.Session()


def check_credentials(url: str, auth: str, username: str | None, token: str) -> tuple[dict[str, Any], list[str]]:
    """The health fields to store with the source and its warnings; 422
    when the source refused the credentials or is not usable as set."""
    from feedguard import ossindex

    client = ossindex.Client(
        url,
        ossindex.Credentials(token=token, auth=auth, username=username),
        session=probe_session(),
        timeout=PROBE_TIMEOUT,
        max_attempts=2,
        max_total_seconds=PROBE_TOTAL_SECONDS,
    )
    now = clock.iso(clock.now())
    try:
        client.probe()
    except ossindex.CreditsExhausted as error:
        warning = "The source answered 402: its credits are exhausted, so scans of it fail until they are topped up."
        return source_health.error_fields(now, error), [warning]
    except ossindex.OssIndexError as error:
        reason = error.message.rstrip(".")
        unavailable = isinstance(error, ossindex.Unavailable) or (error.status or 0) >= 500
        logger.info(
            "source credential test failed",
            extra={"reason": error.message, "detail": error.detail, "saved": unavailable},
        )
        if unavailable:
            warning = f"The credentials could not be tested ({reason}); the source is saved and scans will try it."
            return source_health.error_fields(now, error), [warning]
        if isinstance(error, ossindex.AuthenticationFailed):
            message = f"The source refused the credentials ({reason}); nothing was saved."
        else:
            message = f"The source cannot be used as set ({reason}); check its URL. Nothing was saved."
        raise InvalidInput(message, details=[{"status": error.status, "reason": f"{reason}."}]) from None
    return source_health.success_fields(now), []


@app.post(
    "/sources",
    status_code=201,
    summary="Connect a vulnerability source (admin)",
    tags=["sources"],
    responses=api.responses(
        201, "The source (its token is never returned), its credentials tested", 400, 403, 413, 422
    ),
)
def create_source(body: NewSource) -> SavedSource:
    require_admin(api.principal(app))
    url = sources.checked_url(body.url, settings().allow_http_sources, settings().allow_private_sources)
    sources.check_auth(body.auth, body.username)
    token = body.token.get_secret_value()
    health, warnings = check_credentials(url, body.auth, body.username, token)
    fields = {"name": body.name, "source_kind": body.kind, "url": url, "auth": body.auth, "username": body.username}
    source = source_store.create(new_id("src"), {**fields, **health}, token)
    logger.info("source created", extra={"source_id": source.id, "warnings": len(warnings)})
    return saved(source, warnings)


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
    responses=api.responses(200, "The source; a change of how it is reached tested first", 400, 403, 404, 413, 422),
)
def update_source(id: str, body: SourceChanges) -> SavedSource:  # noqa: A002
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
    auth, username = changes.get("auth", source.auth), changes.get("username", source.username)
    sources.check_auth(auth, username)
    token = body.token.get_secret_value() if "token" in sent and body.token is not None else None
    warnings: list[str] = []
    remove: tuple[str, ...] = ()
    if sent & {"url", "auth", "username", "token"}:
        tested_token = token if token is not None else tokens.read(source.secret_name)
        health, warnings = check_credentials(changes.get("url", source.url), auth, username, tested_token)
        changes.update(health)
        # An error of the settings replaced is not this source's any more.
        remove = source_health.ERROR_FIELDS if not warnings else ()
    updated = source_store.update(source, changes, token, remove)
    logger.info("source updated", extra={"source_id": id, "fields": sorted(sent), "token_replaced": token is not None})
    return saved(updated, warnings)


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
