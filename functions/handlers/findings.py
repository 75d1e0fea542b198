"""Findings of a feed: GET /feeds/{feed}/vulnerabilities (status, severity,
min_cvss and package filters, either order), GET …/{id} with the
vulnerability's details, GET …/{id}/history, and GET /feeds/{feed}/vex, the
findings and their decisions as CycloneDX or OpenVEX (docs/vex.md).

Status and effect are computed at read time: an assessment whose expires_at
has passed counts as expired at once, whether or not DynamoDB's TTL has
deleted it yet. The feed's viewers may read; the history stays readable to
the admin after the feed is deleted, by the feed's id."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import unquote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field, JsonValue, StringConstraints

from feedguard import actors, api, assessing, clock, vex
from feedguard import aliases as alias_rules
from feedguard.access import Role
from feedguard.dal import assessments as assessment_store
from feedguard.dal import exports, history
from feedguard.dal import feeds as feed_store
from feedguard.dal import findings as finding_store
from feedguard.domain import Assessment, Effect, Finding, FindingStatus, Severity
from feedguard.effects import BUILTIN_TYPES, UNASSESSED, AssessmentType, finding_effect, severity
from feedguard.errors import InvalidInput, NotFound
from feedguard.ids import FEED_ID_PREFIX
from feedguard.observability import metrics, tracer
from feedguard.purls import InvalidPurl, canonical

logger = Logger()
app = api.create_app()


VulnerabilityId = Annotated[
    str,
    Path(
        description="Any of the finding's ids, URL-encoded: its canonical id (CVE-2021-23337) or an alias "
        "(GHSA-35jh-r3h4-6jhm, sonatype-…); the answer names the finding by its canonical id",
        examples=["CVE-2021-23337", "GHSA-35jh-r3h4-6jhm"],
    ),
]
ASSESSMENT_EXAMPLE = {
    "type": "caution",
    "effect": "warn",
    "comment": "Only reachable through the admin tool's template feature; fix planned for 2027-01.",
    "assessed_by": "alice",
    "assessed_by_id": "k0192f3a4b5c6d7e8f9",
    "assessed_at": "2026-11-26T09:30:00Z",
    "expires_at": "2027-02-24T09:30:00Z",
    "version": 3,
}


class AssessmentView(api.ResponseModel):
    model_config = api.examples(ASSESSMENT_EXAMPLE)

    type: str = Field(description="The assessment type's id")
    effect: str = Field(description="The type's effect: allow, warn or block")
    comment: str | None = Field(description="Why, in the assessor's words")
    assessed_by: str = Field(description="The name the assessing key had when it assessed")
    assessed_by_id: str | None = Field(
        description="The assessing key's id (`auto` for a type's auto-assess range, `admin` for the admin key); "
        "null for assessments made before ids were recorded"
    )
    assessed_at: api.Timestamp = Field(description="When it was assessed")
    expires_at: api.Timestamp | None = Field(description="When it expires and needs reassessment; null: never")
    version: int = Field(description="Grows with every change of the finding's assessment: send it as If-Match")


FINDING_EXAMPLE = {
    "id": "CVE-2021-23337",
    "display_name": "CVE-2021-23337",
    "title": "[CVE-2021-23337] Improper Neutralization of Special Elements used in a Command",
    "cvss_score": 7.2,
    "severity": "high",
    "cve": "CVE-2021-23337",
    "aliases": ["GHSA-35jh-r3h4-6jhm"],
    "packages": ["pkg:npm/lodash@4.17.20"],
    "status": "assessed",
    "effect": "warn",
    "assessment": ASSESSMENT_EXAMPLE,
    "first_seen": "2026-11-25T22:16:00Z",
}


class FindingView(api.ResponseModel):
    model_config = api.examples(FINDING_EXAMPLE)

    id: str = Field(
        description="The finding's canonical id: the CVE when it has one (the lowest of several), else the GHSA, "
        "else the lowest id (docs/data-model.md, Aliases)"
    )
    display_name: str | None = Field(description="The id people know it by, as the source gives it")
    title: str | None = Field(description="Its title, as the source gives it")
    cvss_score: float | None = Field(description="Its CVSS score, 0-10; null when the source gave none")
    severity: Severity = Field(description="The CVSS v3 band of the score: none (0 or no score) to critical (9-10)")
    cve: str | None = Field(description="Its CVE id, if it has one")
    aliases: list[str] = Field(
        description="Its other ids, as its sources name it (GHSA-…, sonatype-…, PYSEC-…); every one of them "
        "reaches this finding in the routes that take an id"
    )
    packages: list[str] = Field(description="The feed's packages it is reported for, by canonical purl")
    status: FindingStatus = Field(
        description="unassessed: never assessed or the assessment was removed; assessed: an assessment is in force; "
        "expired: its assessment expired or was reopened, it needs reassessment"
    )
    effect: Effect = Field(description="Its assessment's effect when assessed, else the feed's unassessed_effect")
    assessment: AssessmentView | None = Field(description="The assessment in force; null unless status is assessed")
    first_seen: api.Timestamp = Field(description="When a scan first reported it for the feed")


class FindingDetail(FindingView):
    model_config = api.examples(
        {
            **FINDING_EXAMPLE,
            "description": "Lodash versions prior to 4.17.21 are vulnerable to Command Injection via the template "
            "function.",
            "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H",
            "cwe": "CWE-77",
            "reference": "https://ossindex.sonatype.org/vulnerability/CVE-2021-23337",
            "external_references": ["https://nvd.nist.gov/vuln/detail/CVE-2021-23337"],
            "fixed_versions": {"pkg:npm/lodash@4.17.20": ["4.17.21"]},
        }
    )

    description: str | None = Field(description="What the vulnerability is, as the source describes it")
    cvss_vector: str | None = Field(description="Its CVSS vector")
    cwe: str | None = Field(description="Its weakness class (CWE-…)")
    reference: str | None = Field(description="The source's page about it")
    external_references: list[str] = Field(description="Other pages about it: advisories, fixes")
    fixed_versions: dict[str, list[str]] = Field(
        description="By package (of `packages`), the versions that fix it, where a source knows them (OSV does, "
        "from the record's ranges; OSS Index does not); a package no source named a fix for is absent"
    )


class HistoryView(api.ResponseModel):
    model_config = api.examples(
        {
            "at": "2026-11-26T09:30:00Z",
            "actor": "alice",
            "actor_id": "k0192f3a4b5c6d7e8f9",
            "action": "assessed",
            "type": "caution",
            "comment": "Only reachable through the admin tool's template feature.",
            "reason": None,
        }
    )

    at: api.Timestamp = Field(description="When it happened")
    actor: str = Field(
        description="The name the key had at the time, or the system's actor: `scanner`, `auto`, `admin`"
    )
    actor_id: str | None = Field(
        description="The key's id (`scanner`, `auto` or `admin` for the system and the admin key); "
        "null for entries written before ids were recorded"
    )
    action: str = Field(
        description="detected, assessed, unassessed, expired, reopened or withdrawn; merged (findings an alias "
        "linked became this one: the reason names them, the assessment that stands and those that ended); "
        "expiring (the warning that the assessment expires within ExpiringWarningDays); exception_created, "
        "exception_deleted, exception_expiring (its warning) or exception_expired for a package exception "
        "(docs/exceptions.md), in the history of "
        "each vulnerability it lists and in the feed's own, read as the history of vulnerability `*`"
    )
    type: str | None = Field(default=None, description="The assessment type, for assessed")
    comment: str | None = Field(default=None, description="The assessor's comment, for assessed")
    reason: str | None = Field(
        default=None,
        description="Why, for reopened (both severity bands), withdrawn and expiring (when, in how many days)",
    )


def view(finding: Finding, assessment: Assessment | None, unassessed_effect: str) -> FindingView:
    expires = clock.parse_iso(assessment.expires_at) if assessment and assessment.expires_at else None
    status, effect = finding_effect(
        finding.status, assessment.effect if assessment else None, expires, clock.now(), unassessed_effect
    )
    in_force = assessment if status == "assessed" else None
    return FindingView(
        id=finding.vulnerability_id,
        display_name=finding.display_name,
        title=finding.title,
        cvss_score=float(finding.cvss_score) if finding.cvss_score is not None else None,
        severity=severity(finding.cvss_score),
        cve=finding.cve,
        aliases=sorted(finding.aliases, key=alias_rules.rank),
        packages=sorted(finding.packages),
        status=status,  # type: ignore[arg-type]
        effect=effect,  # type: ignore[arg-type]
        assessment=AssessmentView(
            type=in_force.type,
            effect=in_force.effect,
            comment=in_force.comment,
            assessed_by=in_force.assessed_by,
            assessed_by_id=in_force.assessed_by_id,
            assessed_at=in_force.assessed_at,
            expires_at=in_force.expires_at,
            version=in_force.version,
        )
        if in_force
        else None,
        first_seen=finding.first_seen,
    )


Order = Literal["desc", "asc"]


def _package_filter(package: str | None) -> str | None:
    """The purl as findings store it (canonical, as imports store it)."""
    if package is None:
        return None
    try:
        return canonical(package)
    except InvalidPurl as error:
        problem = str(error).rstrip(".")
        raise InvalidInput(
            f"The request is not valid: query.package: {problem}.",
            [{"loc": ["query", "package"], "type": "value_error", "msg": problem}],
        ) from None


@app.get(
    "/feeds/<feed>/vulnerabilities",
    summary="The feed's findings, most severe first (order=asc: least severe first)",
    description="Status and effect are as of now: an assessment whose expires_at has passed counts as expired "
    "at once. The filters combine.",
    tags=["findings"],
    responses=api.responses(200, "A page of findings", 404),
)
def list_findings(
    feed: api.FeedPath,
    status: Annotated[
        FindingStatus | None, Query(description="unassessed, assessed or expired", examples=["unassessed"])
    ] = None,
    min_cvss: Annotated[
        float | None, Query(ge=0, le=10, description="Only findings scored at least this (0-10)", examples=[7.0])
    ] = None,
    severity: Annotated[
        Severity | None,
        Query(
            description="Only findings in this CVSS v3 band: none (0 or no score), low (0.1-3.9), "
            "medium (4.0-6.9), high (7.0-8.9), critical (9.0-10.0). With min_cvss, both apply.",
            examples=["critical"],
        ),
    ] = None,
    package: Annotated[
        str | None,
        Query(
            description="Only findings reported for this package: a purl with a version, compared in its "
            "canonical form (qualifiers and subpath dropped, type lowercased), as the feed's packages are stored",
            examples=[api.PURL_EXAMPLE],
            json_schema_extra=api.PURL_SCHEMA,
        ),
    ] = None,
    order: Annotated[
        Order,
        Query(
            description="desc: most severe first (the default); asc: least severe first. "
            "A cursor continues only the order (and filters) it was given with; another is 422.",
            examples=["desc"],
        ),
    ] = "desc",
    limit: api.Limit = api.DEFAULT_LIMIT,
    cursor: api.Cursor = None,
) -> api.ListBody[FindingView]:
    _, current = api.feed_access(app, feed, Role.viewer)
    filters = finding_store.Filters(
        status=status,
        severity=severity,
        min_cvss=min_cvss,
        package=_package_filter(package),
        ascending=order == "asc",
    )
    page = finding_store.list_page(current.feed_id, filters, limit, cursor, clock.now())
    assessments = finding_store.assessments_of(current.feed_id, [f.vulnerability_id for f in page.items])
    items = [view(f, assessments.get(f.vulnerability_id), current.unassessed_effect) for f in page.items]
    return api.ListBody[FindingView](items=items, next_cursor=page.next_cursor)


@app.get(
    "/feeds/<feed>/vulnerabilities/<id>",
    summary="One finding, with the vulnerability's details",
    description="The finding as GET /feeds/{feed}/vulnerabilities lists it, with the source's description, "
    "CVSS vector, weakness and references.",
    tags=["findings"],
    responses=api.responses(200, "The finding", 404),
)
def get_finding(feed: api.FeedPath, id: VulnerabilityId) -> FindingDetail:  # noqa: A002 - the contract names it id
    _, current = api.feed_access(app, feed, Role.viewer)
    finding = finding_store.get(current.feed_id, unquote(id))
    if finding is None:
        raise NotFound(f"Feed {feed} has no finding {unquote(id)}.")
    vulnerability_id = finding.vulnerability_id  # the canonical id, whichever id was asked
    assessment = finding_store.assessments_of(current.feed_id, [vulnerability_id]).get(vulnerability_id)
    details = finding_store.vulnerability(vulnerability_id, finding.aliases)
    return FindingDetail(
        **view(finding, assessment, current.unassessed_effect).model_dump(),
        description=details.description if details else None,
        cvss_vector=details.cvss_vector if details else None,
        cwe=details.cwe if details else None,
        reference=details.reference if details else None,
        external_references=list(details.external_references) if details else [],
        fixed_versions={
            purl: list(versions)
            for purl, versions in sorted(finding.fixed_versions.items())
            if purl in finding.packages
        },
    )


def _history_of(feed: str) -> str:
    """The id whose history the admin reads: a feed's id names it directly
    (so the admin reads the history of a deleted feed by its id); a name,
    the feed of that name, or, when none has it now, the feed of that name
    made before feeds had ids (its name is its id)."""
    if feed.startswith(FEED_ID_PREFIX):
        return feed
    current = feed_store.get(feed)
    return current.feed_id if current is not None else feed


@app.get(
    "/feeds/<feed>/vulnerabilities/<id>/history",
    summary="What happened to a finding, oldest first",
    description="Any of the finding's ids reaches it; its history includes that of the findings merged into it "
    "(oldest first across them). "
    "Append-only: detections, assessments, removals, expiries, reopenings, withdrawals and merges, each with "
    "who (key name and id, or the system) and when. It survives the assessment's expiry and deletion, and the "
    "feed's: the admin reads a deleted feed's by naming the feed by its id (the `id` its answers carried) instead "
    "of its name; a feed created later under the name has its own.",
    tags=["findings"],
    responses=api.responses(200, "A page of history entries", 404),
)
def finding_history(
    feed: api.FeedPath,
    id: VulnerabilityId,  # noqa: A002
    limit: api.Limit = api.DEFAULT_LIMIT,
    cursor: api.Cursor = None,
) -> api.ListBody[HistoryView]:
    caller = api.principal(app)
    feed_id = _history_of(feed) if caller.is_admin else api.feed_access(app, feed, Role.viewer)[1].feed_id
    vulnerability_id = unquote(id)
    # By any of its ids: the finding's own history and that of the findings merged into it.
    finding = finding_store.resolved(feed_id, vulnerability_id)
    keys = [finding.vulnerability_id, *sorted(finding.merged_from)] if finding else [vulnerability_id]
    page = history.page(feed_id, keys, limit, cursor)
    if not page.items and cursor is None:
        raise NotFound(f"Feed {feed} has no history for {vulnerability_id}.")
    items = [HistoryView(**dataclasses.asdict(e)) for e in page.items]
    return api.ListBody[HistoryView](items=items, next_cursor=page.next_cursor)


VexFormat = Literal["cyclonedx", "openvex"]
VEX_MEDIA_TYPES = {"cyclonedx": "application/vnd.cyclonedx+json; version=1.6", "openvex": "application/json"}
VEX_EXAMPLES = {
    "cyclonedx": {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {"timestamp": "2026-11-26T10:00:00Z"},
        "vulnerabilities": [
            {
                "id": "CVE-2021-23337",
                "references": [
                    {
                        "id": "GHSA-35jh-r3h4-6jhm",
                        "source": {"name": "GitHub", "url": "https://github.com/advisories/GHSA-35jh-r3h4-6jhm"},
                    }
                ],
                "affects": [{"ref": "pkg:npm/lodash@4.17.20"}],
                "analysis": {"state": "exploitable", "response": ["will_not_fix"], "detail": "Only reachable ..."},
            }
        ],
    },
    "openvex": {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://feedguard.example/vex/web-shop",
        "author": "feedguard",
        "timestamp": "2026-11-26T10:00:00Z",
        "version": 1,
        "statements": [
            {
                "vulnerability": {"name": "CVE-2021-23337", "aliases": ["GHSA-35jh-r3h4-6jhm"]},
                "products": [{"@id": "pkg:npm/lodash@4.17.20"}],
                "status": "affected",
                "action_statement": "Only reachable ...",
            }
        ],
    },
}
VEX_FILE_NAMES = {"cyclonedx": "vex.cdx.json", "openvex": "vex.openvex.json"}
# Lambda answers at most 6 MB (6,291,556 bytes) of JSON, which holds the
# body escaped once more and the headers; 64 KiB is left for the headers.
MAX_VEX_PAYLOAD_BYTES = 6_291_556 - 64 * 1024


@app.get(
    "/feeds/<feed>/vex",
    summary="The feed's findings and decisions as VEX: CycloneDX 1.6 (JSON) or OpenVEX 0.2.0",
    description="Every finding of the feed (withdrawn ones aside), by vulnerability id, with the decision in "
    "force, mapped as docs/vex.md tables it: an assessment's type gives the VEX status; unassessed and expired "
    "findings are under_investigation (CycloneDX in_triage). An export larger than one response can carry "
    '(6 MB) comes in pages, each a whole document: a response with more to follow has a Link header, rel="next", '
    "whose URL (relative to the request's) carries the cursor of the next page. Nothing is left out.",
    tags=["findings"],
    responses={
        **api.responses(200, "The VEX document", 404),
        200: {
            "description": "The VEX document (a page of it when the response has a Link header, rel=next)",
            "content": {
                media: {"schema": {"type": "object"}, "examples": {kind: {"value": VEX_EXAMPLES[kind]}}}
                for kind, media in VEX_MEDIA_TYPES.items()
            },
        },
    },
)
def export_vex(
    feed: api.FeedPath,
    format: Annotated[  # noqa: A002 - the contract names it format
        VexFormat,
        Query(description="cyclonedx (the default): CycloneDX 1.6 JSON; openvex: OpenVEX 0.2.0", examples=["openvex"]),
    ] = "cyclonedx",
    cursor: Annotated[
        str | None, Query(description="The next page's cursor, from the Link header (rel=next) of the previous one")
    ] = None,
) -> Response[str]:
    _, current = api.feed_access(app, feed, Role.viewer)
    after = exports.resume_after(cursor, format)
    now = clock.now()
    decisions = exports.decisions(current.feed_id, current.unassessed_effect, now, after)
    page = vex.export(format, feed, decisions, clock.iso(now), MAX_VEX_PAYLOAD_BYTES)
    headers = {"Content-Disposition": f'attachment; filename="{feed}.{VEX_FILE_NAMES[format]}"'}
    following = exports.cursor(page.next_after, format)
    if following:
        headers["Link"] = f'<vex?format={format}&cursor={following}>; rel="next"'
    logger.info(
        "VEX exported",
        extra={
            "feed": feed,
            "format": format,
            "findings": page.findings,
            "bytes": page.payload_bytes,
            "more": bool(following),
        },
    )
    return Response(status_code=200, content_type=VEX_MEDIA_TYPES[format], body=page.body, headers=headers)


# ---------------------------------------------------------------- assessing

MAX_TYPE_ID = 64
MAX_COMMENT = 2000
MAX_BULK = 100
MAX_VULNERABILITY_ID = 200
TypeId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TYPE_ID)]
Comment = Annotated[str, StringConstraints(max_length=MAX_COMMENT)]
# The built-ins' ids, or a custom type's (which the document cannot know).
ASSIGNABLE_BUILTINS: list[JsonValue] = [type_id for type_id in sorted(BUILTIN_TYPES) if type_id != UNASSESSED]
TYPE_FIELD = Field(
    description="The id of an assessment type (GET /assessment-types): a built-in's or a custom type's; "
    "unassessed or an unknown id is 422",
    examples=ASSIGNABLE_BUILTINS,
    json_schema_extra={"anyOf": [{"enum": ASSIGNABLE_BUILTINS}, {"type": "string"}]},
)
COMMENT_FIELD = Field(default=None, description="Why, for the history and the next assessor")
EXPIRES_FIELD = Field(
    default=None,
    description="When the assessment lapses, in the future (past: 422); null: never; absent: now plus the type's "
    "expiration_days",
)


class AssessmentRequest(api.RequestModel):
    model_config = api.examples(
        {
            "type": "caution",
            "comment": "Only reachable through the admin tool's template feature.",
            "expires_at": "2027-02-24T09:30:00Z",
        }
    )

    type: TypeId = TYPE_FIELD
    comment: Comment | None = COMMENT_FIELD
    expires_at: api.Timestamp | None = EXPIRES_FIELD


class BulkAssessment(AssessmentRequest):
    model_config = api.examples(
        {"vulnerability_ids": ["CVE-2021-23337", "CVE-2020-8203"], "type": "ignore", "comment": "Build-time only."}
    )

    vulnerability_ids: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_VULNERABILITY_ID)]],
        Field(min_length=1, max_length=MAX_BULK),
    ] = Field(description=f"The findings to assess, 1 to {MAX_BULK}, by vulnerability id")


class BulkResult(api.ResponseModel):
    model_config = api.examples({"assessed": 1, "missing": ["CVE-2020-8203"]})

    assessed: int = Field(description="How many findings were assessed")
    missing: list[str] = Field(description="The ids that are not findings of the feed (nothing was done for them)")


def _type_and_expiry(body: AssessmentRequest) -> tuple[AssessmentType, datetime | None]:
    """The type to assess with (never `unassessed`) and the expiry to set."""
    return assessing.type_and_expiry(body.type, "expires_at" in body.model_fields_set, body.expires_at)


def _if_match() -> int | None:
    value = app.current_event.headers.get("if-match")
    return None if value is None else api.if_match_version(value)


def assessment_view(assessment: Assessment) -> AssessmentView:
    return AssessmentView(
        type=assessment.type,
        effect=assessment.effect,
        comment=assessment.comment,
        assessed_by=assessment.assessed_by,
        assessed_by_id=assessment.assessed_by_id,
        assessed_at=assessment.assessed_at,
        expires_at=assessment.expires_at,
        version=assessment.version,
    )


@app.put(
    "/feeds/<feed>/vulnerabilities/<id>/assessment",
    summary="Assess a finding (its assessors); If-Match: <version> guards against overwriting",
    description="Replaces the assessment in force, if any, and records it in the history. With If-Match, a version "
    "that is not the finding's current one is 412 and nothing changes; versions only grow, across removals and "
    "expiries.",
    tags=["assessments"],
    responses=api.responses(200, "The assessment in force", 400, 403, 404, 412, 413),
)
def put_assessment(feed: api.FeedPath, id: VulnerabilityId, body: AssessmentRequest) -> AssessmentView:  # noqa: A002
    caller, current = api.feed_access(app, feed, Role.assessor)
    kind, expires = _type_and_expiry(body)
    vulnerability_id = unquote(id)
    saved = assessment_store.assess(
        current.feed_id,
        vulnerability_id,
        type_id=kind.id,
        effect=str(kind.effect),
        comment=body.comment,
        expires_at=expires,
        actor=actors.of(caller),
        if_match=_if_match(),
    )
    logger.info("finding assessed", extra={"feed": feed, "vulnerability_id": vulnerability_id, "type": kind.id})
    return assessment_view(saved)


@app.delete(
    "/feeds/<feed>/vulnerabilities/<id>/assessment",
    status_code=204,
    summary="Remove an assessment: the finding is unassessed again",
    description="The finding takes the feed's unassessed_effect again; the history records it. If-Match as for PUT.",
    tags=["assessments"],
    responses=api.responses(204, "Removed", 403, 404, 412),
)
def delete_assessment(feed: api.FeedPath, id: VulnerabilityId) -> Response[None]:  # noqa: A002
    caller, current = api.feed_access(app, feed, Role.assessor)
    vulnerability_id = unquote(id)
    assessment_store.unassess(current.feed_id, vulnerability_id, actor=actors.of(caller), if_match=_if_match())
    logger.info("assessment removed", extra={"feed": feed, "vulnerability_id": vulnerability_id})
    return Response(status_code=204)


@app.post(
    "/feeds/<feed>/assessments",
    summary="Assess up to 100 findings with one type",
    description="As PUT …/assessment for each id, without If-Match; ids that are not findings of the feed are "
    "listed in missing.",
    tags=["assessments"],
    responses=api.responses(200, "How many were assessed, which were not findings of the feed", 400, 403, 404, 413),
)
def bulk_assess(feed: api.FeedPath, body: BulkAssessment) -> BulkResult:
    caller, current = api.feed_access(app, feed, Role.assessor)
    kind, expires = _type_and_expiry(body)
    assessed, missing = 0, []
    for vulnerability_id in dict.fromkeys(body.vulnerability_ids):
        try:
            assessment_store.assess(
                current.feed_id,
                vulnerability_id,
                type_id=kind.id,
                effect=str(kind.effect),
                comment=body.comment,
                expires_at=expires,
                actor=actors.of(caller),
            )
        except NotFound:
            missing.append(vulnerability_id)
            continue
        assessed += 1
    logger.info("findings assessed in bulk", extra={"feed": feed, "assessed": assessed, "missing": len(missing)})
    return BulkResult(assessed=assessed, missing=missing)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
