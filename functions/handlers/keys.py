"""API keys: POST, GET /api-keys and DELETE /api-keys/{id} (admin only), and
GET /me: which key is calling (any valid key)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AfterValidator, Field, JsonValue, StringConstraints

from feedguard import actors, api, keys, usage_keys
from feedguard.access import require_admin
from feedguard.dal import keys as key_store
from feedguard.observability import metrics, tracer

logger = Logger()
app = api.create_app()


def _not_reserved(name: str) -> str:
    # The history names keys by name too: a key called `scanner` would pass for the system.
    if actors.is_reserved(name):
        reserved = ", ".join(sorted(actors.RESERVED_NAMES))
        raise ValueError(f"{name!r} is the system's name; a key may not be called {reserved}")
    return name


KEY_ID_EXAMPLE = "k0192f3a4b5c6d7e8f9"
KeyId = Annotated[str, Path(description="The key's id (from POST or GET /api-keys)", examples=[KEY_ID_EXAMPLE])]


RESERVED_NAMES: list[JsonValue] = [*sorted(actors.RESERVED_NAMES)]


class NewKey(api.RequestModel):
    model_config = api.examples({"name": "ci-bot"})

    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
        AfterValidator(_not_reserved),
    ] = Field(
        description="What the key is for, with a visible character; not one of the system's names (admin, auto, "
        "scanner, system, feedguard), whatever its case",
        # Surrounding spaces are dropped; the reserved names in any case are 422.
        json_schema_extra={"pattern": r"\S", "not": {"enum": RESERVED_NAMES}},
    )


KEY_EXAMPLE = {"id": KEY_ID_EXAMPLE, "name": "ci-bot", "created_at": "2026-11-25T22:00:00Z"}


class KeyView(api.ResponseModel):
    model_config = api.examples(KEY_EXAMPLE)

    id: str = Field(description="The key's id: what permissions and the audit trail name it by")
    name: str = Field(description="What the key is for; not unique")
    created_at: api.Timestamp = Field(description="When it was created")


class IssuedKeyView(KeyView):
    model_config = api.examples({**KEY_EXAMPLE, "key": "fgk_3xAmPlE0nLy7hE4k3yIsSh0wNoNc3"})

    key: str = Field(description="The key itself, for Authorization: Bearer; shown only in this answer")


class MeView(api.ResponseModel):
    model_config = api.examples({"id": KEY_ID_EXAMPLE, "name": "ci-bot", "admin": False})

    id: str = Field(description="The key's id; `admin` for the admin key")
    name: str = Field(description="The key's name; `admin` for the admin key")
    admin: bool = Field(description="Whether this is the admin key, which may do everything")


@app.post(
    "/api-keys",
    status_code=201,
    summary="Create an API key (admin); the key is shown only in this answer",
    description="Issues a new key with no role on any feed (grant one with PUT /feeds/{feed}/permissions/{key_id}). "
    "The key is in this answer only: feedguard stores its hash.",
    tags=["keys"],
    responses=api.responses(201, "The new key", 400, 403, 413),
)
def create_key(body: NewKey) -> IssuedKeyView:
    require_admin(api.principal(app))
    issued = keys.issue()
    # Its usage plan key first: API Gateway refuses a key without one.
    usage_keys.create(issued.id)
    try:
        stored = key_store.create(issued.id, body.name, issued.key_hash)
    except Exception:
        usage_keys.delete(issued.id)
        raise
    logger.info("key created", extra={"key_id": stored.id})
    return IssuedKeyView(id=stored.id, name=stored.name, key=issued.key, created_at=stored.created_at)


@app.get(
    "/api-keys",
    summary="List API keys (admin)",
    description="Every key's id, name and creation time, oldest first; never the keys themselves.",
    tags=["keys"],
    responses=api.responses(200, "A page of keys", 403),
)
def list_keys(limit: api.Limit = api.DEFAULT_LIMIT, cursor: api.Cursor = None) -> api.ListBody[KeyView]:
    require_admin(api.principal(app))
    page = key_store.list_page(limit, cursor)
    items = [KeyView(id=item.id, name=item.name, created_at=item.created_at) for item in page.items]
    return api.ListBody[KeyView](items=items, next_cursor=page.next_cursor)


@app.delete(
    "/api-keys/<id>",
    status_code=204,
    summary="Delete an API key (admin); it stops working at once",
    description="The key is refused from the next request on; its roles go with it. The audit trail keeps its id.",
    tags=["keys"],
    responses=api.responses(204, "Deleted", 403, 404),
)
def delete_key(id: KeyId) -> Response[None]:  # noqa: A002 - the contract names it id
    require_admin(api.principal(app))
    key_store.delete(id)
    usage_keys.delete(id)
    logger.info("key deleted", extra={"key_id": id})
    return Response(status_code=204)


@app.get(
    "/me",
    summary="The calling key: its id, its name, and whether it is the admin key",
    description="Any valid key may ask. A key's roles on feeds are the `role` of each feed in GET /feeds.",
    tags=["keys"],
    responses=api.responses(200, "The calling key"),
)
def who_am_i() -> MeView:
    # The authorizer has just read the key: no table read here. A key's roles
    # on feeds are the `role` of each feed in GET /feeds.
    caller = api.principal(app)
    return MeView(id=caller.key_id, name=caller.name, admin=caller.is_admin)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
