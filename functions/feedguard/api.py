"""What every API function shares: the resolver, the mapping of errors to the
contract's body, the caller's identity, and list parameters."""

from __future__ import annotations

import base64
import json
from functools import partial
from http import HTTPStatus
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar, Union, cast, get_args, get_origin

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from feedguard import purls
from feedguard.access import Principal, Role, require_admin, require_role
from feedguard.dal.pages import DEFAULT_LIMIT, MAX_LIMIT
from feedguard.errors import FeedguardError, InvalidInput

if TYPE_CHECKING:
    from feedguard.domain import Feed

logger = Logger()

__all__ = [
    "DEFAULT_LIMIT",
    "Cursor",
    "Limit",
    "ListBody",
    "RequestModel",
    "create_app",
    "feed_admin",
    "feed_caller",
    "principal",
    "require_admin",
    "resolve",
]

# Lambda refuses synchronous payloads over 6 MB; the contract answers 413.
MAX_BODY_BYTES = 6 * 1024 * 1024

Limit = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (1-{MAX_LIMIT})", examples=[DEFAULT_LIMIT])
]
Cursor = Annotated[
    str | None,
    Query(
        description="The next_cursor of the previous page, as the API gave it: opaque, and tied to the route and "
        "filters it came from (any other value is 422)"
    ),
]

ItemT = TypeVar("ItemT")


# A feed's name: what POST /feeds accepts, and what ?feed= filters take.
FEED_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
FeedName = Annotated[
    str,
    StringConstraints(pattern=FEED_NAME_PATTERN),
    Field(description="The feed's name: lowercase letters, digits, '.', '_' and '-'", examples=["web-shop"]),
]
FeedPath = Annotated[
    str,
    Path(description="The feed's name (an unknown one is 404, whatever its shape)", examples=["web-shop"]),
]

# Timestamps are ISO 8601 in UTC (2026-11-25T22:00:00Z).
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]

# A Package URL as the document describes it: the pattern and length are a
# subset of what purls.canonical accepts (which the API applies, and whose
# refusal is a 422 or a `rejected` entry), so documentation only here.
PURL_DESCRIPTION = (
    "A Package URL with a version, of a type OSS Index knows (the pattern); other purls the Package URL spec "
    "allows (percent-encoded characters, '+' in a version) are accepted too, up to 1,024 bytes once canonical"
)
PURL_SCHEMA = {"pattern": purls.PATTERN, "maxLength": purls.DOCUMENTED_MAX_LENGTH}
PURL_EXAMPLE = "pkg:npm/lodash@4.17.20"
Purl = Annotated[str, Field(description=PURL_DESCRIPTION, examples=[PURL_EXAMPLE], json_schema_extra=PURL_SCHEMA)]


class ResponseModel(BaseModel):
    """Response bodies. A model's validator is built when a route first uses
    it, not at import: a function serves several routes, and a cold start
    pays only for the ones it runs."""

    model_config = ConfigDict(defer_build=True)


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A model's config with the examples its JSON schema shows."""
    return ConfigDict(json_schema_extra={"examples": list(values)})


class ErrorBody(ResponseModel):
    model_config = examples(
        {
            "message": "The request is not valid: body.name: String should match pattern "
            "'^[a-z0-9][a-z0-9._-]{0,63}$'.",
            "details": [
                {
                    "loc": ["body", "name"],
                    "type": "string_pattern_mismatch",
                    "msg": "String should match pattern '^[a-z0-9][a-z0-9._-]{0,63}$'",
                }
            ],
        }
    )

    message: str = Field(description="What went wrong, in one sentence a person can act on")
    details: list[Any] | None = Field(
        default=None,
        description="The particulars, where there are several (each invalid field, each refused purl); absent if none",
    )


def _item_models(item: Any) -> list[Any]:
    """The models a list's item may be: itself, or each of a union's
    (annotated with its discriminator, as GET …/decisions' items are)."""
    if get_origin(item) is Annotated:
        return _item_models(get_args(item)[0])
    if get_origin(item) in (Union, UnionType):
        return [model for member in get_args(item) for model in _item_models(member)]
    return [item]


def _list_example(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """A page's example: the item model's example (one of each, for a
    union of models), and a next cursor."""
    # A named page (class DecisionPage(ListBody[…])) has its arguments on its base.
    generic = next((c for c in model.__mro__ if getattr(c, "__pydantic_generic_metadata__", {}).get("args")), model)
    arguments = cast(Any, generic).__pydantic_generic_metadata__["args"]
    items = []
    for item in _item_models(arguments[0]) if arguments else []:
        extra = getattr(item, "model_config", {}).get("json_schema_extra")
        if isinstance(extra, dict) and extra.get("examples"):
            items.append(extra["examples"][0])
    if items:
        schema["examples"] = [{"items": items, "next_cursor": "eyJmZWVkIjoid2ViLXNob3AifQ"}]


class ListBody(ResponseModel, Generic[ItemT]):
    model_config = ConfigDict(json_schema_extra=_list_example)

    items: list[ItemT] = Field(description="This page's items")
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page, with the same filters; null on the last page"
    )


class RequestModel(BaseModel):
    """Request bodies refuse fields they do not know, so typos are 422, not
    ignored, and take JSON types as they are ("5" is not a number)."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


def responses(status: int, description: str, *errors: int) -> dict[int, Any]:
    """The OpenAPI responses of a route: its success, the errors it names,
    and the ones every authenticated route can give (401, 422)."""
    documented: dict[int, Any] = {status: {"description": description}}
    if status == 204:
        documented[status]["content"] = {}
    for error in sorted({401, 422, *errors}):
        documented[error] = {
            "description": HTTPStatus(error).phrase,
            "content": {"application/json": {"model": ErrorBody}},
        }
    return documented


def error_response(status: int, message: str, details: list[Any] | None = None) -> Response[Any]:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _domain_error(error: FeedguardError) -> Response[Any]:
    logger.info("request refused", extra={"status": error.status, "reason": error.message})
    return error_response(error.status, error.message, error.details)


def _json_body(text: str) -> Any:
    """The body as JSON, for the resolver. JSON that Python's parser cannot
    hold (nested deeper than its recursion limit; an integer of more than
    4,300 digits) is refused as the parser's own errors are: a 400."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("it nests too deeply", text, 0) from None
    except ValueError:  # int(): "Exceeds the limit (4300 digits) for integer string conversion"
        raise json.JSONDecodeError("it holds an integer of too many digits", text, 0) from None


def _unknown_query_parameters(app: APIGatewayRestResolver) -> list[dict[str, Any]]:
    """A detail for each query parameter the route being called does not
    declare (its handler's Query parameters), as an unknown body field gets:
    `?package=` on a route without one must not answer as if it were absent."""
    route = app.context.get("_route")
    if route is None:
        return []
    declared = {param.alias for param in route.dependant.query_params}
    event = app.current_event
    sent = set(event.query_string_parameters or {}) | set(event.multi_value_query_string_parameters or {})
    return [
        {"loc": ["query", name], "type": "extra_forbidden", "msg": "Unknown query parameter"}
        for name in sorted(sent - declared)
    ]


def _refuse_unknown_query_parameters(app: APIGatewayRestResolver, next_middleware: NextMiddleware) -> Response[Any]:
    """Runs for every route once its declared parameters are valid (an
    invalid one is reported with the unknown ones by _validation_error)."""
    unknown = _unknown_query_parameters(app)
    if unknown:
        return _invalid(unknown)
    return next_middleware(app)


def _invalid(details: list[dict[str, Any]]) -> Response[Any]:
    first = details[0] if details else {"loc": [], "msg": "invalid"}
    where = ".".join(first["loc"]) or "request"
    return error_response(422, f"The request is not valid: {where}: {first['msg']}.", details)


def _validation_error(app: APIGatewayRestResolver, error: RequestValidationError) -> Response[Any]:
    problems = error.errors()
    invalid_json = [problem for problem in problems if problem.get("type") == "json_invalid"]
    if invalid_json:
        reason = (invalid_json[0].get("ctx") or {}).get("error")
        if reason in ("it nests too deeply", "it holds an integer of too many digits"):
            return error_response(400, f"The request body is not valid JSON here: {reason}.")
        return error_response(400, "The request body is not valid JSON.")
    details = [
        {
            "loc": [str(part) for part in problem.get("loc", ())],
            "type": problem.get("type"),
            "msg": problem.get("msg"),
        }
        for problem in problems
    ]
    return _invalid(_unknown_query_parameters(app) + details)


def _not_found(_: NotFoundError) -> Response[Any]:
    return error_response(404, "No such route.")


def _unexpected(error: Exception) -> Response[Any]:
    from feedguard.dal import conditions

    if conditions.conflicted(error):
        # Writes retry DynamoDB's transaction conflicts a few times
        # (dal.transactions.retrying); one that outlasts them is a busy item.
        logger.warning("a write kept conflicting with other transactions")
        return error_response(409, "Someone else is changing this right now; try again.")
    logger.exception("unexpected error")
    return error_response(500, "Internal error; try again.")


SECURITY_SCHEME = "apiKey"


def create_app() -> APIGatewayRestResolver:
    # No configure_openapi here: the document's title, security scheme and
    # security come from the merge in handlers.meta, and importing the
    # OpenAPI models (about 130 ms) would slow every function's cold start.
    app = APIGatewayRestResolver(enable_validation=True, json_body_deserializer=_json_body)
    app.exception_handler(FeedguardError)(_domain_error)
    app.exception_handler(RequestValidationError)(partial(_validation_error, app))
    app.use(middlewares=[_refuse_unknown_query_parameters])
    app.not_found(_not_found)
    app.exception_handler(Exception)(_unexpected)
    return app


def principal(app: APIGatewayRestResolver) -> Principal:
    context = (app.current_event.raw_event.get("requestContext") or {}).get("authorizer")
    return Principal.from_authorizer(context)


def feed_role(app: APIGatewayRestResolver, feed: str, needed: Role) -> tuple[Principal, Feed, str]:
    """The caller, the feed named `feed` and the caller's role on it
    (`admin` for the admin), once that role allows `needed` (else 404 or
    403): the feed's item and the role in one round trip (dal.feeds.access).
    What the feed owns is keyed by the feed's `feed_id`, never by the name."""
    from feedguard.dal import feeds

    caller = principal(app)
    current, role = feeds.access(feed, None if caller.is_admin else caller.key_id)
    require_role(caller, feed, needed, current is not None, role)
    return caller, cast("Feed", current), role or "admin"


def feed_access(app: APIGatewayRestResolver, feed: str, needed: Role) -> tuple[Principal, Feed]:
    """The caller and the feed, once the caller's role allows `needed`."""
    caller, current, _ = feed_role(app, feed, needed)
    return caller, current


def feed_caller(app: APIGatewayRestResolver, feed: str, needed: Role) -> Principal:
    """The caller, once their role on `feed` allows `needed` (else 404 or 403)."""
    return feed_access(app, feed, needed)[0]


def feed_admin(app: APIGatewayRestResolver, feed: str) -> Feed:
    """Admin-only changes to a feed, which it returns: 404 for a key that
    cannot see the feed (its existence must not leak), 403 for one that can."""
    caller, current = feed_access(app, feed, Role.viewer)
    require_admin(caller)
    return current


def _body_bytes(event: dict[str, Any]) -> bytes:
    """The body as the client sent it (API Gateway base64-encodes a body that
    is not UTF-8)."""
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def _as_json(event: dict[str, Any]) -> dict[str, Any]:
    """The API speaks only JSON: a body sent with another content type
    (curl -d sends a form type) is read as JSON all the same."""
    headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    headers["Content-Type"] = "application/json"
    multi = {k: v for k, v in (event.get("multiValueHeaders") or {}).items() if k.lower() != "content-type"}
    multi["Content-Type"] = ["application/json"]
    return {**event, "headers": headers, "multiValueHeaders": multi}


def _early_answer(status: int, message: str) -> dict[str, Any]:
    """An error answered before routing, in the contract's shape."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"message": message}),
        "isBase64Encoded": False,
    }


# If-Match carries an assessment's version: a whole number DynamoDB can store.
MAX_VERSION_DIGITS = 38


def if_match_version(value: str) -> int:
    """The assessment version an If-Match header names (`3`, `"3"`, `W/"3"`).
    No int() of thousands of digits, or of digits that are not ASCII, is ever
    attempted."""
    text = str(value).strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_VERSION_DIGITS):
        raise InvalidInput("If-Match takes the assessment's version, a whole number.")
    return int(text)


def _if_match_problem(event: dict[str, Any]) -> str | None:
    """Why the request's If-Match cannot be a version, if it cannot. Checked
    before routing, for every route."""
    values = [v for k, v in (event.get("headers") or {}).items() if k.lower() == "if-match"]
    for value in values:
        try:
            if_match_version(value)
        except InvalidInput as refused:
            return refused.message
    return None


def resolve(app: APIGatewayRestResolver, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    problem = _if_match_problem(event)
    if problem:
        return _early_answer(422, problem)
    body = _body_bytes(event)
    if len(body) > MAX_BODY_BYTES:
        return _early_answer(413, "The request body is over 6 MB.")
    if event.get("isBase64Encoded") and body:
        # JSON is UTF-8 text: a body that is not is not JSON; any other goes on as text.
        try:
            event = {**event, "body": body.decode("utf-8"), "isBase64Encoded": False}
        except UnicodeDecodeError:
            return _early_answer(400, "The request body is not valid JSON: it is not UTF-8 text.")
    return app.resolve(_as_json(event), context)
