"""Vulnerability sources: POST/GET /sources, GET/PATCH/DELETE /sources/{id}.

Any valid key may read them; only the admin may change them. The token goes
to Secrets Manager and never comes back: responses say only `token_set`.

Two kinds: `ossindex` (Sonatype OSS Index / Guide, with a token; the
default, so requests that name no kind keep working) and `osv` (osv.dev:
no token, no secret stored; its url defaults to https://api.osv.dev).

Saving a source (POST, or a PATCH of url, auth, username or token) first
tests it: OSS Index with one component report of one coordinate
(ossindex.Client.probe), OSV with one querybatch of one query
(osv.Client.probe, free). A source that refuses the credentials
(401/403), answers another 4xx, redirects, is at a refused address or does
not answer as its kind does is 422 and nothing is stored, the token
included. Credits exhausted (402), or a source that cannot be reached or
answers 5xx now, is saved with a `warnings` entry: the settings may be
right, and the source's health shows what the next scans meet. The outcome
is the source's first health. An osv source takes no token, auth or
username (422)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AfterValidator, ConfigDict, Field, SecretStr, StringConstraints
from pydantic.config import JsonDict

from feedguard import api, clock, source_health, sources
from feedguard.access import require_admin
from feedguard.dal import sources as source_store
from feedguard.dal import tokens
from feedguard.domain import Source
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

# Surrounding spaces are dropped: the document asks for a character that is not one.
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    Field(json_schema_extra={"pattern": r"\S"}),
]
# Basic authentication joins username and token with a colon (RFC 7617), so a
# username cannot hold one; it goes out UTF-8 encoded, whatever its script.
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320, pattern=r"^[^:\x00-\x1f\x7f]+$")
]
MAX_URL = 2048
# What sources.checked_url takes everywhere: https, a host, a valid port, a
# path, nothing else. A deployment that allows them also takes http:// and
# private hosts, which the document cannot know.
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
URL_PATTERN = rf"^https://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(:{_PORT})?(/[A-Za-z0-9._~-]*)*$"
Url = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_URL),
    Field(json_schema_extra={"pattern": URL_PATTERN}),
]


def _token_characters(token: SecretStr) -> SecretStr:
    # A token travels in an HTTP header: visible ASCII only (RFC 6750's b64token and
    # Sonatype's tokens are). The message never repeats the token.
    if not all("\x21" <= character <= "\x7e" for character in token.get_secret_value()):
        raise ValueError("A token is visible ASCII characters, without spaces")
    return token


Token = Annotated[
    SecretStr,
    StringConstraints(min_length=1, max_length=4096),
    AfterValidator(_token_characters),
    Field(json_schema_extra={"pattern": r"^[\x21-\x7e]+$"}),
]
NAME_FIELD = "What people call it"
URL_FIELD = (
    f"Where OSS Index answers; default {sources.DEFAULT_URL} (https://ossindex.sonatype.org also works). "
    "https only, no credentials, query or fragment; a deployment may also allow http:// and private hosts"
)
AUTH_FIELD = "bearer (default): the token is a Sonatype personal access token; basic: username:token"
USERNAME_FIELD = "For basic authentication (required with it): the account's e-mail; no colon"
TOKEN_FIELD = "The credential, visible ASCII; stored in Secrets Manager and never returned"  # noqa: S105
SourceId = Annotated[str, Path(description="The source's id", examples=["src0192f3a4b5c6d7e8f9"])]
# Basic authentication needs a username.
BASIC_NEEDS_USERNAME: JsonDict = {
    "if": {"properties": {"auth": {"const": "basic"}}, "required": ["auth"]},
    "then": {"properties": {"username": {"type": "string"}}, "required": ["username"]},
}


# OSS Index needs a token; an osv source takes none, nor auth or username.
KIND_RULES: JsonDict = {
    "allOf": [
        BASIC_NEEDS_USERNAME,
        {
            "if": {"properties": {"kind": {"const": "osv"}}, "required": ["kind"]},
            "then": {"not": {"anyOf": [{"required": ["token"]}, {"required": ["auth"]}, {"required": ["username"]}]}},
            "else": {"required": ["token"]},
        },
    ]
}
KIND_FIELD = (
    "The kind of source: ossindex (Sonatype OSS Index / Guide, with a token; the default) or osv "
    "(osv.dev: free, no token; url defaults to https://api.osv.dev)"
)


class NewSource(api.RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "sonatype",
                    "kind": "ossindex",
                    "url": sources.DEFAULT_URL,
                    "token": "sonatype-pat-0123456789",
                },
                {"name": "osv", "kind": "osv"},
            ],
            **KIND_RULES,
        }
    )

    name: Name = Field(description=NAME_FIELD)
    kind: Literal["ossindex", "osv"] = Field(default="ossindex", description=KIND_FIELD)
    url: Url | None = Field(default=None, description=URL_FIELD)
    auth: Literal["bearer", "basic"] | None = Field(default=None, description=AUTH_FIELD + "; ossindex only")
    username: Username | None = Field(default=None, description=USERNAME_FIELD)
    token: Token | None = Field(default=None, description=TOKEN_FIELD + "; required for ossindex, refused for osv")


class SourceChanges(api.RequestModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"token": "sonatype-pat-9876543210"}], **BASIC_NEEDS_USERNAME}
    )

    name: Name | None = Field(default=None, description=NAME_FIELD)
    url: Url | None = Field(default=None, description=URL_FIELD + "; null: the default")
    auth: Literal["bearer", "basic"] | None = Field(default=None, description=AUTH_FIELD)
    username: Username | None = Field(default=None, description=USERNAME_FIELD)
    token: Token | None = Field(default=None, description=TOKEN_FIELD + "; a new one replaces the old")


class SourceError(api.ResponseModel):
    at: api.Timestamp = Field(description="When the source last failed")
    status: int | None = Field(description="The HTTP status it answered; null when it could not be reached")
    message: str = Field(description="feedguard's short reason, never what the source answered")


class SourceHealth(api.ResponseModel):
    last_success_at: api.Timestamp | None = Field(
        description="When the source last answered a credential test, a scan or the gate; null if never"
    )
    last_error: SourceError | None = Field(description="Its most recent failure; null if none")
    credits_exhausted: bool = Field(description="It answered 402 (credits exhausted) and has not answered since")


SOURCE_EXAMPLE = {
    "id": "src0192f3a4b5c6d7e8f9",
    "name": "sonatype",
    "kind": "ossindex",
    "url": sources.DEFAULT_URL,
    "auth": "bearer",
    "username": None,
    "token_set": True,
    "created_at": "2026-11-25T21:50:00Z",
    "updated_at": None,
    "health": {
        "last_success_at": "2026-11-26T04:00:05Z",
        "last_error": {"at": "2026-11-25T23:10:00Z", "status": 429, "message": "OSS Index answered 429."},
        "credits_exhausted": False,
    },
}


class SourceView(api.ResponseModel):
    model_config = api.examples(SOURCE_EXAMPLE)

    id: str = Field(description="The source's id")
    name: str = Field(description=NAME_FIELD)
    kind: Literal["ossindex", "osv"] = Field(description="ossindex or osv")
    url: str = Field(description="Where it is asked")
    auth: str | None = Field(description="bearer or basic; null for osv, which takes no credentials")
    username: str | None = Field(description="The basic authentication username; null with bearer and for osv")
    token_set: bool = Field(description="Whether it has a token (the token itself is never returned; osv has none)")
    created_at: api.Timestamp = Field(description="When it was created")
    updated_at: api.Timestamp | None = Field(default=None, description="When it was last changed; null if never")
    health: SourceHealth = Field(description="How its last requests went")


class SavedSource(SourceView):
    model_config = api.examples({**SOURCE_EXAMPLE, "warnings": []})

    warnings: list[str] = Field(
        description="Why the source, saved, may not work yet (credits exhausted, source unreachable); empty if none"
    )


def view(source: Source) -> SourceView:
    osv = source.source_kind == "osv"
    return SourceView(
        id=source.id,
        name=source.name,
        kind="osv" if osv else "ossindex",
        url=source.url,
        auth=None if osv else source.auth,
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


def check_credentials(
    url: str, auth: str, username: str | None, token: str | None, kind: str = "ossindex", at: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The health fields to store with the source and its warnings; 422
    when the source refused the credentials or is not usable as set."""
    from feedguard import ossindex, osv

    client: ossindex.Client | osv.Client
    limits: dict[str, Any] = {
        "session": probe_session(),
        "timeout": PROBE_TIMEOUT,
        "max_attempts": 2,
        "max_total_seconds": PROBE_TOTAL_SECONDS,
    }
    if kind == "osv":
        client = osv.Client(url, **limits)
    else:
        client = ossindex.Client(url, ossindex.Credentials(token=token or "", auth=auth, username=username), **limits)
    now = at or clock.iso(clock.now())
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


def _no_credentials(sent: set[str]) -> None:
    """An osv source takes no token, auth or username: OSV has no accounts."""
    given = sorted(sent & {"token", "auth", "username"})
    if given:
        raise InvalidInput(
            f"An osv source takes no {', '.join(given)}: OSV needs no credentials.",
            details=[{"field": name, "reason": "not accepted for kind osv"} for name in given],
        )


@app.post(
    "/sources",
    status_code=201,
    summary="Connect a vulnerability source (admin)",
    description="kind ossindex (the default) needs a token; kind osv takes none (url defaults to "
    "https://api.osv.dev). The source is tested first with one request of one coordinate (OSV: one querybatch of "
    "one query, free): refused (401/403), another 4xx, a redirect, or an answer that is not the kind's is 422 and "
    "nothing is stored; credits exhausted (402) or an unreachable source is stored, with a warning.",
    tags=["sources"],
    responses=api.responses(
        201, "The source (its token is never returned), its credentials tested", 400, 403, 413, 422
    ),
)
def create_source(body: NewSource) -> SavedSource:
    require_admin(api.principal(app))
    osv = body.kind == "osv"
    if osv:
        _no_credentials(body.model_fields_set)
    elif body.token is None:
        raise InvalidInput("An ossindex source needs a token.", details=[{"field": "token", "reason": "required"}])
    auth = "bearer" if osv else body.auth or "bearer"
    default_url = sources.OSV_URL if osv else None
    url = sources.checked_url(body.url or default_url, settings().allow_http_sources, settings().allow_private_sources)
    sources.check_auth(auth, body.username)
    token = body.token.get_secret_value() if body.token is not None else None
    # One moment for the request: the source was created when its test said what its health says.
    now = clock.iso(clock.now())
    health, warnings = check_credentials(url, auth, body.username, token, body.kind, at=now)
    fields = {
        "name": body.name,
        "source_kind": body.kind,
        "url": url,
        "auth": auth,
        "username": body.username,
        "created_at": now,
    }
    source = source_store.create(new_id("src"), {**fields, **health}, token)
    logger.info("source created", extra={"source_id": source.id, "warnings": len(warnings)})
    return saved(source, warnings)


@app.get(
    "/sources",
    summary="List vulnerability sources",
    description="Any valid key may read them; tokens are never returned.",
    tags=["sources"],
    responses=api.responses(200, "A page of sources"),
)
def list_sources(limit: api.Limit = api.DEFAULT_LIMIT, cursor: api.Cursor = None) -> api.ListBody[SourceView]:
    api.principal(app)
    page = source_store.list_page(limit, cursor)
    return api.ListBody[SourceView](items=[view(source) for source in page.items], next_cursor=page.next_cursor)


@app.get(
    "/sources/<id>",
    summary="A vulnerability source",
    description="With its health: last success, last error and whether its credits are exhausted.",
    tags=["sources"],
    responses=api.responses(200, "The source", 404),
)
def get_source(id: SourceId) -> SourceView:  # noqa: A002 - the contract names it id
    api.principal(app)
    return view(source_store.get(id))


@app.patch(
    "/sources/<id>",
    summary="Change a source, its token included (admin)",
    description="Only the fields sent change. A change of url, auth, username or token is tested as POST /sources "
    "tests, and nothing changes when it fails.",
    tags=["sources"],
    responses=api.responses(200, "The source; a change of how it is reached tested first", 400, 403, 404, 413, 422),
)
def update_source(id: SourceId, body: SourceChanges) -> SavedSource:  # noqa: A002
    require_admin(api.principal(app))
    source = source_store.get(id)
    sent = body.model_fields_set
    osv = source.source_kind == "osv"
    if osv:
        _no_credentials(sent)
    changes: dict[str, Any] = {}
    if "name" in sent and body.name is not None:
        changes["name"] = body.name
    if "url" in sent:
        url = body.url if body.url is not None or not osv else sources.OSV_URL
        changes["url"] = sources.checked_url(url, settings().allow_http_sources, settings().allow_private_sources)
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
        tested_token = token if token is not None or osv else tokens.read(str(source.secret_name))
        health, warnings = check_credentials(
            changes.get("url", source.url), auth, username, tested_token, source.source_kind
        )
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
    description="409 while a feed uses it: detach it first.",
    tags=["sources"],
    responses=api.responses(204, "Deleted", 403, 404, 409),
)
def delete_source(id: SourceId) -> Response[None]:  # noqa: A002
    require_admin(api.principal(app))
    source_store.delete(id)
    logger.info("source deleted", extra={"source_id": id})
    return Response(status_code=204)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
