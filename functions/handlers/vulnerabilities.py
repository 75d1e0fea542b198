"""Across feeds (issue 28, part 5): GET /vulnerabilities, one vulnerability
in every feed the key may see, or the findings of a status across them;
and POST /assessments, one assessment in several feeds at once, each feed
checked for its assessor role.

Any key may call both: what it reaches is what its roles reach (the admin:
every feed). A feed the key has no role on never appears in an answer; one
it names in POST /assessments is refused with the words an unknown feed
gets, so its existence does not leak. Each finding is assessed exactly as
PUT /feeds/{feed}/vulnerabilities/{id}/assessment does it (the same
dal.assessments.assess: history entry, events, version), and read as GET
/feeds/{feed}/vulnerabilities shows it (handlers.findings.view: status
and effect as of now)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, StringConstraints

from feedguard import actors, api, assessing, clock
from feedguard.access import Principal, Role, require_role
from feedguard.actors import Actor
from feedguard.dal import across, conditions
from feedguard.dal import assessments as assessment_store
from feedguard.dal import findings as finding_store
from feedguard.domain import FindingStatus, Severity
from feedguard.effects import AssessmentType
from feedguard.errors import FeedguardError, InvalidInput, NotFound, PreconditionFailed
from feedguard.observability import metrics, tracer
from handlers.findings import (
    COMMENT_FIELD,
    EXPIRES_FIELD,
    FINDING_EXAMPLE,
    MAX_VULNERABILITY_ID,
    TYPE_FIELD,
    Comment,
    FindingView,
    TypeId,
    view,
)

logger = Logger()
app = api.create_app()

# POST /assessments: at most this many feeds and ids, so at most 2,500
# findings (each one assessment transaction, ASSESSMENTS_AT_ONCE at a time).
MAX_FEEDS = 50
MAX_IDS = 50
ASSESSMENTS_AT_ONCE = 8
_assessing = ThreadPoolExecutor(max_workers=ASSESSMENTS_AT_ONCE, thread_name_prefix="assess-across")

ROLE_DESCRIPTION = "The caller's role on the feed: viewer, assessor or manager (admin for the admin key)"


class FeedFindingView(FindingView):
    model_config = api.examples(
        {"feed": "web-shop", "feed_id": "f_0192f3a4b5c6d7e8f9a0b1c2", "role": "assessor", **FINDING_EXAMPLE}
    )

    feed: str = Field(description="The feed's name")
    feed_id: str = Field(description="The feed's id (immutable; names a deleted feed's history for the admin)")
    role: str = Field(description=ROLE_DESCRIPTION)


def _row_view(row: across.Row) -> FeedFindingView:
    finding = finding_store.as_finding(row.finding)
    assessment = finding_store.as_assessment(row.assessment) if row.assessment else None
    shown = view(finding, assessment, row.visible.feed.unassessed_effect)
    return FeedFindingView(
        feed=row.visible.name, feed_id=row.visible.feed.feed_id, role=row.visible.role, **shown.model_dump()
    )


def _invalid(name: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"The request is not valid: query.{name}: {message}.",
        [{"loc": ["query", name], "type": "value_error", "msg": message}],
    )


@app.get(
    "/vulnerabilities",
    summary="Findings across the feeds the key may see: one vulnerability's, or those of a status",
    description="Exactly one of `id` or `status`. With `id`: the feeds (those the key has a role on; every feed "
    "for the admin) where that vulnerability is a finding, by feed name, each with its status and effect as of "
    "now, its assessment and the feed's packages it is reported for. With `status`: the findings of that status "
    "in those feeds, most severe first, then by feed name and id, narrowed by severity, min_cvss and max_cvss "
    "(which only go with status). A feed the key has no role on never appears. Paged: a cursor continues only "
    "the list it came from (any other is 422).",
    tags=["findings"],
    responses=api.responses(200, "A page of findings, each with its feed and the caller's role on it"),
)
def list_across(
    id: Annotated[  # noqa: A002 - the contract names it id
        str | None,
        Query(
            min_length=1,
            max_length=MAX_VULNERABILITY_ID,
            description="A vulnerability id as the source gives it (CVE-… or sonatype-…)",
            examples=["CVE-2021-23337"],
        ),
    ] = None,
    status: Annotated[
        FindingStatus | None, Query(description="unassessed, assessed or expired", examples=["unassessed"])
    ] = None,
    min_cvss: Annotated[
        float | None, Query(ge=0, le=10, description="Only findings scored at least this (0-10)", examples=[9.0])
    ] = None,
    max_cvss: Annotated[
        float | None, Query(ge=0, le=10, description="Only findings scored at most this (0-10)", examples=[10.0])
    ] = None,
    severity: Annotated[
        Severity | None,
        Query(
            description="Only findings in this CVSS v3 band (none, low, medium, high, critical); with min_cvss "
            "and max_cvss, all apply",
            examples=["critical"],
        ),
    ] = None,
    limit: api.Limit = api.DEFAULT_LIMIT,
    cursor: api.Cursor = None,
) -> api.ListBody[FeedFindingView]:
    caller = api.principal(app)
    key_id = None if caller.is_admin else caller.key_id
    if (id is None) == (status is None):
        raise _invalid("id", "send exactly one of id or status")
    if id is not None:
        for name, value in (("min_cvss", min_cvss), ("max_cvss", max_cvss), ("severity", severity)):
            if value is not None:
                raise _invalid(name, "goes with status, not with id")
        page = across.with_vulnerability(key_id, id, limit, cursor)
    else:
        filters = across.StatusFilter(str(status), severity, min_cvss, max_cvss)
        page = across.with_status(key_id, filters, limit, cursor, clock.now())
    items = [_row_view(row) for row in page.items]
    return api.ListBody[FeedFindingView](items=items, next_cursor=page.next_cursor)


# ---------------------------------------------------------------- assessing across feeds

VulnerabilityIdText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_VULNERABILITY_ID)]
FeedNameText = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class CrossFeedAssessment(api.RequestModel):
    model_config = api.examples(
        {
            "feeds": ["web-shop", "billing", "intranet"],
            "vulnerability_ids": ["CVE-2021-44228"],
            "type": "blocked",
            "comment": "Log4Shell: blocked everywhere until upgraded.",
        }
    )

    feeds: Annotated[list[FeedNameText], Field(min_length=1, max_length=MAX_FEEDS)] = Field(
        description=f"The feeds to assess in, by name, 1 to {MAX_FEEDS}"
    )
    vulnerability_ids: Annotated[list[VulnerabilityIdText], Field(min_length=1, max_length=MAX_IDS)] = Field(
        description=f"The findings to assess in each feed, 1 to {MAX_IDS}, by vulnerability id"
    )
    type: TypeId = TYPE_FIELD
    comment: Comment | None = COMMENT_FIELD
    expires_at: api.Timestamp | None = EXPIRES_FIELD


class Assessed(api.ResponseModel):
    feed: str = Field(description="The feed's name")
    vulnerability_id: str = Field(description="The finding's vulnerability id")
    version: int = Field(description="The assessment's version now (If-Match for the next change)")


class Refused(api.ResponseModel):
    feed: str = Field(description="The feed's name, as sent")
    reason: str = Field(
        description="Why nothing was written there: no such feed (also when the key has no role on it), "
        "or a role below assessor"
    )


class NotAFinding(api.ResponseModel):
    feed: str = Field(description="The feed's name")
    vulnerability_id: str = Field(description="The id, which is not a finding of that feed")


class Failed(api.ResponseModel):
    feed: str = Field(description="The feed's name")
    vulnerability_id: str = Field(description="The finding's vulnerability id")
    reason: str = Field(description="Why it was not assessed: other writes kept changing it; send it again")


class CrossFeedResult(api.ResponseModel):
    model_config = api.examples(
        {
            "assessed": [
                {"feed": "web-shop", "vulnerability_id": "CVE-2021-44228", "version": 2},
                {"feed": "billing", "vulnerability_id": "CVE-2021-44228", "version": 1},
            ],
            "refused": [{"feed": "intranet", "reason": "Your role on feed intranet is viewer; this needs assessor."}],
            "not_found": [],
            "failed": [],
        }
    )

    assessed: list[Assessed] = Field(description="The findings assessed, with their new versions")
    refused: list[Refused] = Field(description="The feeds where nothing was written, and why")
    not_found: list[NotAFinding] = Field(description="The ids that are not findings of a feed assessed in")
    failed: list[Failed] = Field(
        description="Findings not assessed because other writes kept changing them (a 412 or 409 of PUT "
        "…/assessment); nothing was written for them: send them again"
    )


def _refusal(caller: Principal, name: str, found: bool, role: str | None) -> str | None:
    """Why the caller may not assess in the feed (access.require_role's words), or None."""
    try:
        require_role(caller, name, Role.assessor, found, role)
    except FeedguardError as refused:
        return refused.message
    return None


@app.post(
    "/assessments",
    summary=f"Assess findings in several feeds at once (up to {MAX_FEEDS} feeds by {MAX_IDS} ids)",
    description="For each feed the key may assess in (an assessor or manager role; every feed for the admin), "
    "each id that is a finding of the feed is assessed as PUT /feeds/{feed}/vulnerabilities/{id}/assessment does "
    "it, without If-Match: the same history entry, event and version. A feed the key may not assess in, or that "
    "does not exist, is listed in refused and nothing is written there; an id that is not a finding of a feed, in "
    "not_found. The answer is 200 whatever the mix. An invalid body (an unknown type, a past expires_at, too many "
    "feeds or ids) is 422 and changes nothing.",
    tags=["assessments"],
    responses=api.responses(200, "What was assessed, refused and not found", 400, 413),
)
def assess_across(body: CrossFeedAssessment) -> CrossFeedResult:
    caller = api.principal(app)
    kind, expires = assessing.type_and_expiry(body.type, "expires_at" in body.model_fields_set, body.expires_at)
    names = list(dict.fromkeys(body.feeds))
    ids = list(dict.fromkeys(across.finding_id(vid) for vid in body.vulnerability_ids))
    access = across.access_many(names, None if caller.is_admin else caller.key_id)
    refused, allowed = [], []
    for name in names:
        feed, role = access[name]
        reason = _refusal(caller, name, feed is not None, role)
        if reason is None and feed is not None:
            allowed.append((name, feed.feed_id))
        else:
            refused.append(Refused(feed=name, reason=reason or f"There is no feed named {name}."))
    actor = actors.of(caller)
    asked = [(name, feed_id, vid) for name, feed_id in allowed for vid in ids]
    # Only findings are assessed: the pairs that are none cost a BatchGet's share, not a GetItem each.
    present = across.findings_among([(feed_id, vid) for _, feed_id, vid in asked])
    # A finding once, by its canonical id, however many of its ids were named.
    pairs = list(
        {
            (feed_id, present[feed_id, vid]): (name, feed_id, present[feed_id, vid])
            for name, feed_id, vid in asked
            if (feed_id, vid) in present
        }.values()
    )
    outcomes = list(_assessing.map(lambda pair: _assess(pair[1], pair[2], kind, expires, body.comment, actor), pairs))
    result = CrossFeedResult(
        assessed=[],
        refused=refused,
        not_found=[
            NotAFinding(feed=name, vulnerability_id=vid)
            for name, feed_id, vid in asked
            if (feed_id, vid) not in present
        ],
        failed=[],
    )
    for (name, _, vid), (version, problem) in zip(pairs, outcomes, strict=True):
        if version is not None:
            result.assessed.append(Assessed(feed=name, vulnerability_id=vid, version=version))
        elif problem is None:
            result.not_found.append(NotAFinding(feed=name, vulnerability_id=vid))
        else:
            result.failed.append(Failed(feed=name, vulnerability_id=vid, reason=problem))
    logger.info(
        "findings assessed across feeds",
        extra={
            "type": kind.id,
            "feeds": len(names),
            "refused": len(refused),
            "assessed": len(result.assessed),
            "not_found": len(result.not_found),
            "failed": len(result.failed),
        },
    )
    return result


def _assess(
    feed_id: str,
    vulnerability_id: str,
    kind: AssessmentType,
    expires: datetime | None,
    comment: str | None,
    actor: Actor,
) -> tuple[int | None, str | None]:
    """(the new version, None) once assessed; (None, None) when the id is no
    finding of the feed; (None, why) when its assessment kept changing."""
    try:
        saved = assessment_store.assess(
            feed_id,
            vulnerability_id,
            type_id=kind.id,
            effect=str(kind.effect),
            comment=comment,
            expires_at=expires,
            actor=actor,
        )
    except NotFound:
        return None, None
    except PreconditionFailed as error:
        return None, error.message
    except Exception as error:
        if conditions.conflicted(error):  # other transactions held it after every retry (api: a 409)
            return None, "Someone else is changing this right now; try again."
        raise
    return saved.version, None


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
