"""A feed's decisions that need a look: GET /feeds/{feed}/decisions?state=stale
lists those that match nothing the feed has any more (an assessment whose
vulnerability no package of the feed reports: its finding withdrawn, or
none; a package exception that matches no package of the feed), and
?state=expiring those of both kinds in force that expire within
`within_days` (1-365, default 7) from now, soonest first. What osv-scanner
warns about as unused ignores, and Sonatype as stale waivers. The feed's
viewers may read.

Stale items come from each kind of decision in turn (feedguard.decisions.KINDS),
expiring ones from both at once; each item in its kind's shape, told apart
by `kind`. `within_days` belongs
to the expiring list: sent with state=stale it is 422, not ignored."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from feedguard import api, clock, decisions
from feedguard.access import Role
from feedguard.domain import (
    AssessmentDecision,
    DecisionReason,
    DecisionState,
    ExceptionDecision,
    ExceptionDecisionReason,
)
from feedguard.errors import InvalidInput
from feedguard.observability import metrics, tracer

logger = Logger()
app = api.create_app()

ASSESSMENT_DECISION_EXAMPLE = {
    "kind": "assessment",
    "reason": "withdrawn",
    "vulnerability_id": "CVE-2021-23337",
    "type": "ignore",
    "effect": "allow",
    "comment": "Build-time only.",
    "assessed_by": "alice",
    "assessed_by_id": "k0192f3a4b5c6d7e8f9",
    "assessed_at": "2026-11-26T09:30:00Z",
    "expires_at": "2027-02-24T09:30:00Z",
    "version": 3,
    "withdrawn_at": "2026-12-01T06:00:00Z",
}


class AssessmentDecisionView(api.ResponseModel):
    """An assessment, as a decision (kind `assessment`)."""

    model_config = api.examples(
        ASSESSMENT_DECISION_EXAMPLE,
        {
            **ASSESSMENT_DECISION_EXAMPLE,
            "reason": "expiring",
            "vulnerability_id": "CVE-2020-8203",
            "type": "caution",
            "effect": "warn",
            "expires_at": "2026-12-09T09:30:00Z",
            "withdrawn_at": None,
        },
    )

    kind: Literal["assessment"] = Field(description="What kind of decision: assessment, a finding's assessment")
    reason: DecisionReason = Field(
        description="Why it is listed. withdrawn: no package of the feed reports the vulnerability any more (its "
        "finding was withdrawn); no_finding: the feed has no finding of it at all; expiring: it expires within "
        "within_days"
    )
    vulnerability_id: str = Field(description="The finding it assesses (GET /feeds/{feed}/vulnerabilities/{id})")
    type: str = Field(description="The assessment type's id")
    effect: str = Field(description="The type's effect: allow, warn or block")
    comment: str | None = Field(description="Why, in the assessor's words")
    assessed_by: str = Field(description="The name the assessing key had when it assessed")
    assessed_by_id: str | None = Field(
        description="The assessing key's id (`auto`, `admin` for the system and the admin key); null for "
        "assessments made before ids were recorded"
    )
    assessed_at: api.Timestamp = Field(description="When it was assessed")
    expires_at: api.Timestamp | None = Field(description="When it expires; null: never")
    version: int = Field(description="The assessment's version (If-Match of PUT and DELETE …/assessment)")
    withdrawn_at: api.Timestamp | None = Field(
        description="When its finding was withdrawn (reason withdrawn); null otherwise"
    )


EXCEPTION_DECISION_EXAMPLE = {
    "kind": "exception",
    "reason": "matches_no_package",
    "id": "ex_01JEXAMPLE0000000000000000",
    "purl": "pkg:npm/%40acme/*",
    "versions": "vers:npm/<2.0.0",
    "vulnerability_ids": ["CVE-2021-23337"],
    "type": "ignore",
    "effect": "allow",
    "comment": "Internal packages, reviewed.",
    "created_by": "alice",
    "created_by_id": "k0192f3a4b5c6d7e8f9",
    "created_at": "2026-11-26T09:30:00Z",
    "expires_at": "2027-02-24T09:30:00Z",
}


class ExceptionDecisionView(api.ResponseModel):
    """A package exception, as a decision (kind `exception`; GET /feeds/{feed}/exceptions/{id})."""

    model_config = api.examples(
        EXCEPTION_DECISION_EXAMPLE,
        {**EXCEPTION_DECISION_EXAMPLE, "reason": "expiring", "expires_at": "2026-12-09T09:30:00Z"},
    )

    kind: Literal["exception"] = Field(description="What kind of decision: exception, a package exception")
    reason: ExceptionDecisionReason = Field(
        description="Why it is listed. matches_no_package: its pattern and range match no package of the feed; "
        "expiring: it expires within within_days"
    )
    id: str = Field(description="The exception's id (GET /feeds/{feed}/exceptions/{id})")
    purl: str = Field(description="The versionless purl pattern it names packages by; the name may end in *")
    versions: str | None = Field(description="The vers range of the versions it applies to; null: every version")
    vulnerability_ids: list[str] | None = Field(description="The vulnerabilities it decides; null: every one")
    type: str = Field(description="The assessment type's id")
    effect: str = Field(description="The type's effect: allow, warn or block")
    comment: str | None = Field(description="Why, in its author's words")
    created_by: str = Field(description="The name the key that made it had then")
    created_by_id: str | None = Field(description="The id of the key that made it")
    created_at: api.Timestamp = Field(description="When it was made")
    expires_at: api.Timestamp | None = Field(description="When it expires; null: never")


# Each kind's shape, told apart by `kind`.
DecisionView = Annotated[AssessmentDecisionView | ExceptionDecisionView, Field(discriminator="kind")]


class DecisionPage(api.ListBody[DecisionView]):
    """A page of a feed's decisions, each in its kind's shape (`kind`)."""


def view(decision: Any) -> AssessmentDecisionView | ExceptionDecisionView:
    if isinstance(decision, ExceptionDecision):
        return ExceptionDecisionView(
            kind=decision.kind,
            reason=decision.reason,
            id=decision.id,
            purl=decision.purl,
            versions=decision.versions,
            vulnerability_ids=list(decision.vulnerability_ids) if decision.vulnerability_ids is not None else None,
            type=decision.type,
            effect=decision.effect,
            comment=decision.comment,
            created_by=decision.created_by,
            created_by_id=decision.created_by_id,
            created_at=decision.created_at,
            expires_at=decision.expires_at,
        )
    if isinstance(decision, AssessmentDecision):
        return AssessmentDecisionView(
            kind=decision.kind,
            reason=decision.reason,
            vulnerability_id=decision.vulnerability_id,
            type=decision.type,
            effect=decision.effect,
            comment=decision.comment,
            assessed_by=decision.assessed_by,
            assessed_by_id=decision.assessed_by_id,
            assessed_at=decision.assessed_at,
            expires_at=decision.expires_at,
            version=decision.version,
            withdrawn_at=decision.withdrawn_at,
        )
    raise TypeError(f"no view of {type(decision).__name__}")


@app.get(
    "/feeds/<feed>/decisions",
    summary="The feed's stale decisions, or those expiring soon",
    description="state=stale: decisions that match nothing the feed has any more — assessments whose "
    "vulnerability no package of the feed reports (their finding was withdrawn, or there is none), then package "
    "exceptions that match no package of the feed; they still apply should it come back. state=expiring: "
    "decisions of both kinds in force that expire within within_days (1-365, default 7) from now, soonest first "
    "(expired assessments are findings with status expired). Each item has the shape of its `kind` (assessment "
    "or exception). A page may hold fewer than limit items and still have a next_cursor (stale reads a bounded "
    "number of assessments and of packages a request): follow next_cursor until it is null.",
    tags=["decisions"],
    responses=api.responses(200, "A page of decisions", 404),
)
def list_decisions(
    feed: api.FeedPath,
    state: Annotated[
        DecisionState,
        Query(description="stale or expiring (required)", examples=["expiring"]),
    ],
    within_days: Annotated[
        int | None,
        Query(
            ge=1,
            le=decisions.MAX_WITHIN_DAYS,
            description=f"state=expiring: the window, in days from now (1-{decisions.MAX_WITHIN_DAYS}, default "
            f"{decisions.DEFAULT_WITHIN_DAYS}); with state=stale it is 422",
            examples=[30],
        ),
    ] = None,
    limit: api.Limit = api.DEFAULT_LIMIT,
    cursor: api.Cursor = None,
) -> DecisionPage:
    if state == "stale" and within_days is not None:
        raise InvalidInput(
            "within_days applies to state=expiring only.",
            [{"loc": ["query", "within_days"], "type": "value_error", "msg": "only with state=expiring"}],
        )
    _, current = api.feed_access(app, feed, Role.viewer)
    page = decisions.page(current.feed_id, state, within_days, limit, cursor, clock.now())
    logger.info("decisions listed", extra={"feed": feed, "state": state, "count": len(page.items)})
    return DecisionPage(items=[view(item) for item in page.items], next_cursor=page.next_cursor)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
