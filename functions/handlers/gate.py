"""The gate: POST /feeds/{feed}/check (up to 128 purls) and GET
/feeds/{feed}/check?purl=, for the feed's viewers: CI pipelines and package
proxies ask whether packages may be used."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

from feedguard import api, clock, gate, observability
from feedguard.access import Role
from feedguard.domain import Effect, FindingStatus
from feedguard.errors import InvalidInput
from feedguard.observability import metrics, tracer
from feedguard.purls import InvalidPurl, canonical
from feedguard.scanplan import MAX_COORDINATES
from feedguard.settings import settings

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require("allow_private_sources", "source_secret_prefix")
app = api.create_app()

# One OSS Index request holds this many coordinates: a check never needs two.
MAX_PURLS = MAX_COORDINATES


class CheckRequest(api.RequestModel):
    model_config = api.examples(
        {"purls": ["pkg:npm/lodash@4.17.20", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"]}
    )

    purls: Annotated[list[api.Purl], Field(min_length=1, max_length=MAX_PURLS)] = Field(
        description=f"The packages to check, 1 to {MAX_PURLS}; one the API cannot read makes the request a 422 "
        "naming it in details"
    )


class VulnerabilityVerdict(api.ResponseModel):
    id: str = Field(description="The finding's canonical id: the CVE when it has one (docs/data-model.md, Aliases)")
    aliases: list[str] = Field(
        default_factory=list, description="Its other ids, as its sources name it (GHSA-…, sonatype-…, PYSEC-…)"
    )
    title: str | None = Field(description="Its title, as the source gave it")
    cvss_score: float | None = Field(description="Its CVSS score, 0-10; null when the source gave none")
    status: FindingStatus = Field(description="The finding's status in this feed")
    effect: Effect = Field(
        description="What it does to the verdict: the effect of the package exception that decides it for this "
        "purl, if one does; else its assessment's effect, or the feed's unassessed_effect"
    )
    exception_id: str | None = Field(
        default=None,
        description="The package exception in force that decides it for this purl (its effect wins over the "
        "finding's; docs/exceptions.md); null when none does",
    )
    fixed_versions: list[str] = Field(
        default_factory=list,
        description="The versions of this package that fix it, where a source knows them (OSV does, from the "
        "record's ranges; OSS Index does not); empty when none is known",
    )


CHECK_RESULT_EXAMPLE = {
    "purl": "pkg:npm/lodash@4.17.20",
    "verdict": "warn",
    "scanned": True,
    "vulnerabilities": [
        {
            "id": "CVE-2021-23337",
            "aliases": ["GHSA-35jh-r3h4-6jhm"],
            "title": "[CVE-2021-23337] Improper Neutralization of Special Elements used in a Command",
            "cvss_score": 7.2,
            "status": "assessed",
            "effect": "warn",
            "exception_id": None,
            "fixed_versions": ["4.17.21"],
        }
    ],
}


class CheckResult(api.ResponseModel):
    model_config = api.examples(CHECK_RESULT_EXAMPLE)

    purl: str = Field(description="The purl, canonical")
    verdict: Effect = Field(
        description="The strongest effect of its findings (allow with none); the feed's unassessed_effect when it "
        "could not be looked up"
    )
    scanned: bool = Field(description="Whether a source has answered for it (now or at a scan)")
    vulnerabilities: list[VulnerabilityVerdict] = Field(description="Its findings in this feed")
    lookup: Literal["budget_exhausted"] | None = Field(
        default=None,
        description="Why a purl never scanned was not looked up: `budget_exhausted`, the key's daily budget"
        " of inline lookups is spent (the verdict is then the feed's unassessed_effect)",
    )


class CheckAnswer(api.ResponseModel):
    model_config = api.examples({"results": [CHECK_RESULT_EXAMPLE]})

    results: list[CheckResult] = Field(description="A result per purl, in the order asked")


def _canonical(purls: list[str]) -> list[str]:
    refused = []
    canonical_purls = []
    for purl in purls:
        try:
            canonical_purls.append(canonical(purl))
        except InvalidPurl as error:
            refused.append({"purl": purl, "message": str(error)})
    if refused:
        raise InvalidInput(f"{len(refused)} of the purls cannot be checked.", details=refused)
    return canonical_purls


# What a key's answers left of its daily budget of inline lookups; on
# answers that needed one.
BUDGET_HEADER = "X-Feedguard-Lookup-Budget-Remaining"


def _lookup_budget(key_id: str) -> gate.Budget:
    """The key's budget: GATE_LOOKUP_BUDGET_PER_KEY coordinates a UTC day
    (template.yaml's GateLookupBudgetPerKey)."""
    return gate.Budget(key_id, int(os.environ["GATE_LOOKUP_BUDGET_PER_KEY"]), clock.now())


def _answer(body: CheckAnswer | CheckResult, budget: gate.Budget | None) -> Response[Any]:
    headers = {} if budget is None or budget.remaining is None else {BUDGET_HEADER: str(budget.remaining)}
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body, headers=headers)


def _check(feed: str, purls: list[str]) -> tuple[list[CheckResult], gate.Budget | None]:
    caller, current = api.feed_access(app, feed, Role.viewer)
    # The admin key is the operator's, and is not counted.
    budget = None if caller.is_admin else _lookup_budget(caller.key_id)
    results = gate.check(current, _canonical(purls), clock.now(), budget)
    observability.gate_verdicts(result.verdict for result in results)
    logger.info(
        "checked", extra={"feed": feed, "purls": len(purls), "blocked": sum(r.verdict == "block" for r in results)}
    )
    return [CheckResult.model_validate(result.__dict__) for result in results], budget


@app.post(
    "/feeds/<feed>/check",
    summary="May these packages be used? (up to 128)",
    description="For the feed's viewers: CI pipelines and package proxies. Purls never scanned are looked up at "
    "once (cache first, then the feed's sources, one request), within the key's daily budget of such lookups; "
    f"past it they answer scanned: false and lookup: budget_exhausted. The {BUDGET_HEADER} header says what "
    "is left of the budget when a lookup counted.",
    tags=["gate"],
    responses=api.responses(200, "A verdict per purl, in the order asked", 400, 403, 404, 413),
)
def check_many(feed: api.FeedPath, body: CheckRequest) -> Response[CheckAnswer]:
    results, budget = _check(feed, body.purls)
    return _answer(CheckAnswer(results=results), budget)


@app.get(
    "/feeds/<feed>/check",
    summary="May this package be used?",
    description="POST /feeds/{feed}/check for one purl, answered as its single result.",
    tags=["gate"],
    responses=api.responses(200, "The verdict", 404),
)
def check_one(
    feed: api.FeedPath,
    purl: Annotated[
        str, Query(description="The package's purl", examples=[api.PURL_EXAMPLE], json_schema_extra=api.PURL_SCHEMA)
    ],
) -> Response[CheckResult]:
    results, budget = _check(feed, [purl])
    return _answer(results[0], budget)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
