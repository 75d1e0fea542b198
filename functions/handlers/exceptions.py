"""Package exceptions of a feed: POST/GET /feeds/{feed}/exceptions and
GET/DELETE …/{id}. An exception decides some vulnerabilities for the
packages its purl pattern and version range match, winning over the
feed-wide assessment there (docs/exceptions.md). Its viewers read them,
its assessors make and delete them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, JsonValue, StringConstraints

from feedguard import actors, api, clock
from feedguard import exceptions as rules
from feedguard.access import Role
from feedguard.dal import assessment_types as type_store
from feedguard.dal import exceptions as exception_store
from feedguard.domain import Effect
from feedguard.effects import BUILTIN_TYPES, UNASSESSED, AssessmentType
from feedguard.errors import InvalidInput, NotFound
from feedguard.exceptions import PackageException
from feedguard.observability import metrics, tracer

logger = Logger()
app = api.create_app()

MAX_TYPE_ID = 64
MAX_COMMENT = 2000
MAX_VULNERABILITY_ID = 200
ASSIGNABLE_BUILTINS: list[JsonValue] = [type_id for type_id in sorted(BUILTIN_TYPES) if type_id != UNASSESSED]

ExceptionId = Annotated[
    str, Path(description="The exception's id, as its creation answered it", examples=["ex_0192f3a4b5c6d7e8f9a0"])
]

EXCEPTION_REQUEST_EXAMPLE = {
    "purl": "pkg:npm/lodash",
    "versions": "vers:npm/<4.17.21",
    "vulnerability_ids": ["CVE-2021-23337"],
    "type": "ignore",
    "comment": "The template function is never given user input here.",
    "expires_at": "2027-03-01T00:00:00Z",
}
EXCEPTION_EXAMPLE = {
    "id": "ex_0192f3a4b5c6d7e8f9a0",
    **EXCEPTION_REQUEST_EXAMPLE,
    "effect": "allow",
    "created_by": "alice",
    "created_by_id": "k0192f3a4b5c6d7e8f9",
    "created_at": "2026-12-01T09:30:00Z",
    "expired": False,
}


class ExceptionRequest(api.RequestModel):
    model_config = api.examples(
        EXCEPTION_REQUEST_EXAMPLE,
        {"purl": "pkg:npm/%40acme/*", "versions": None, "vulnerability_ids": None, "type": "caution"},
    )

    purl: Annotated[str, StringConstraints(min_length=1, max_length=rules.MAX_PATTERN_LENGTH)] = Field(
        description="The packages, as a purl without a version: pkg:npm/lodash, or a name ending in * "
        "(pkg:npm/%40acme/*: every package of the @acme scope). The type and namespace match exactly; only a "
        "trailing * in the name is a wildcard; no qualifiers or subpath. Another is 422 saying why",
        examples=["pkg:npm/lodash", "pkg:npm/%40acme/*", "pkg:maven/org.apache.logging.log4j/log4j-*"],
    )
    versions: Annotated[str, StringConstraints(min_length=1, max_length=rules.MAX_VERSIONS_LENGTH)] | None = Field(
        default=None,
        description="The versions, as a purl vers range of the purl's type (vers:npm/<4.17.21, "
        "vers:maven/>=2.0.0|<2.15.0); null or absent: every version. A range that does not parse, or of another "
        "type, is 422 saying why",
        examples=["vers:npm/<4.17.21"],
    )
    vulnerability_ids: (
        Annotated[
            list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_VULNERABILITY_ID)]],
            Field(min_length=1, max_length=exception_store.MAX_VULNERABILITY_IDS),
        ]
        | None
    ) = Field(
        default=None,
        description=f"The vulnerabilities it decides, 1 to {exception_store.MAX_VULNERABILITY_IDS} ids; null or "
        "absent: every vulnerability of the packages it matches",
        examples=[["CVE-2021-23337"]],
    )
    type: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TYPE_ID)] = Field(
        description="The id of an assessment type (GET /assessment-types), whose effect the exception gives; "
        "unassessed or an unknown id is 422",
        examples=ASSIGNABLE_BUILTINS,
        json_schema_extra={"anyOf": [{"enum": ASSIGNABLE_BUILTINS}, {"type": "string"}]},
    )
    comment: Annotated[str, StringConstraints(max_length=MAX_COMMENT)] | None = Field(
        default=None, description="Why, for the history and the next assessor"
    )
    expires_at: api.Timestamp | None = Field(
        default=None,
        description="When it lapses, in the future (past: 422); null: never; absent: now plus the type's "
        "expiration_days, as for assessments",
    )


class ExceptionView(api.ResponseModel):
    model_config = api.examples(EXCEPTION_EXAMPLE)

    id: str = Field(description="The exception's id")
    purl: str = Field(description="The purl pattern, canonical (npm scopes as %40, lowercased)")
    versions: str | None = Field(description="The vers range, as univers writes it; null: every version")
    vulnerability_ids: list[str] | None = Field(description="The vulnerabilities it decides; null: every one")
    type: str = Field(description="The assessment type's id")
    effect: Effect = Field(description="The type's effect when it was made: allow, warn or block")
    comment: str | None = Field(description="Why, in its author's words")
    created_by: str = Field(description="The name its author's key had when it made it")
    created_by_id: str = Field(description="Its author's key id (`admin` for the admin key)")
    created_at: api.Timestamp = Field(description="When it was made")
    expires_at: api.Timestamp | None = Field(description="When it lapses; null: never")
    expired: bool = Field(
        description="Its expires_at has passed: it applies no more (DynamoDB's TTL deletes it within days)"
    )


def view(exception: PackageException) -> ExceptionView:
    return ExceptionView(
        id=exception.id,
        purl=exception.purl,
        versions=exception.versions,
        vulnerability_ids=list(exception.vulnerability_ids) if exception.vulnerability_ids is not None else None,
        type=exception.type,
        effect=exception.effect,  # type: ignore[arg-type]
        comment=exception.comment,
        created_by=exception.created_by,
        created_by_id=str(exception.created_by_id),
        created_at=exception.created_at,
        expires_at=exception.expires_at,
        expired=not exception.live(clock.now()),
    )


def _invalid(field: str, reason: str) -> InvalidInput:
    problem = reason.rstrip(".")
    return InvalidInput(
        f"The request is not valid: body.{field}: {problem}.",
        [{"loc": ["body", field], "type": "value_error", "msg": problem}],
    )


def _type_and_expiry(body: ExceptionRequest) -> tuple[AssessmentType, datetime | None]:
    """The type and the expiry, as an assessment takes them
    (handlers.findings): absent expires_at is the type's expiration_days."""
    if body.type == UNASSESSED:
        raise _invalid("type", "unassessed is not a decision; an exception needs a type with an effect")
    try:
        kind = type_store.get(body.type)
    except NotFound:
        raise _invalid("type", f"There is no assessment type {body.type}") from None
    now = clock.now()
    if "expires_at" not in body.model_fields_set:
        days = kind.expiration_days
        return kind, now + timedelta(days=days) if days else None
    if body.expires_at is None:
        return kind, None
    try:
        expires = clock.parse_iso(body.expires_at)
    except ValueError:
        raise _invalid("expires_at", "expires_at must be an ISO 8601 timestamp with a time zone") from None
    if expires <= now:
        raise _invalid("expires_at", "expires_at must be in the future")
    return kind, expires


@app.post(
    "/feeds/<feed>/exceptions",
    status_code=201,
    summary="Make a package exception (the feed's assessors)",
    description="A decision for the packages a purl pattern and version range match, for some or every "
    "vulnerability: at the gate, in the packages' verdicts and in VEX it wins over the feed-wide assessment of "
    "the same vulnerability for those packages only (docs/exceptions.md has the table of cases). It expires as "
    "assessments do, exactly at expires_at; the history records its making, deletion and expiry.",
    tags=["exceptions"],
    responses=api.responses(201, "The exception made", 400, 403, 404, 413),
)
def create_exception(feed: api.FeedPath, body: ExceptionRequest) -> ExceptionView:
    caller, current = api.feed_access(app, feed, Role.assessor)
    try:
        pattern = rules.parse_pattern(body.purl)
    except rules.InvalidException as error:
        raise _invalid("purl", str(error)) from None
    versions = None
    if body.versions is not None:
        try:
            versions = rules.parse_versions(body.versions, pattern)
        except rules.InvalidException as error:
            raise _invalid("versions", str(error)) from None
    kind, expires = _type_and_expiry(body)
    made = exception_store.create(
        current.feed_id,
        purl=pattern.text,
        versions=versions,
        vulnerability_ids=body.vulnerability_ids,
        type_id=kind.id,
        effect=str(kind.effect),
        comment=body.comment,
        expires_at=expires,
        actor=actors.of(caller),
    )
    logger.info("exception made", extra={"feed": feed, "exception_id": made.id, "type": kind.id})
    return view(made)


@app.get(
    "/feeds/<feed>/exceptions",
    summary="The feed's package exceptions, oldest first",
    description="Expired ones too, until DynamoDB's TTL deletes them (`expired: true`; they apply no more).",
    tags=["exceptions"],
    responses=api.responses(200, "A page of exceptions", 404),
)
def list_exceptions(
    feed: api.FeedPath, limit: api.Limit = api.DEFAULT_LIMIT, cursor: api.Cursor = None
) -> api.ListBody[ExceptionView]:
    _, current = api.feed_access(app, feed, Role.viewer)
    page = exception_store.page(current.feed_id, limit, cursor)
    return api.ListBody[ExceptionView](items=[view(e) for e in page.items], next_cursor=page.next_cursor)


@app.get(
    "/feeds/<feed>/exceptions/<id>",
    summary="One package exception",
    description="For the feed's viewers: the exception as its creation answered it, with `expired` as of now.",
    tags=["exceptions"],
    responses=api.responses(200, "The exception", 404),
)
def get_exception(feed: api.FeedPath, id: ExceptionId) -> ExceptionView:  # noqa: A002 - the contract names it id
    _, current = api.feed_access(app, feed, Role.viewer)
    found = exception_store.get(current.feed_id, id)
    if found is None:
        raise NotFound(f"Feed {feed} has no exception {id}.")
    return view(found)


@app.delete(
    "/feeds/<feed>/exceptions/<id>",
    status_code=204,
    summary="Delete a package exception (the feed's assessors)",
    description="The packages it matched take the feed-wide decision again; the history records it.",
    tags=["exceptions"],
    responses=api.responses(204, "Deleted", 403, 404),
)
def delete_exception(feed: api.FeedPath, id: ExceptionId) -> Response[None]:  # noqa: A002
    caller, current = api.feed_access(app, feed, Role.assessor)
    exception_store.delete(current.feed_id, id, actor=actors.of(caller))
    logger.info("exception deleted", extra={"feed": feed, "exception_id": id})
    return Response(status_code=204)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
