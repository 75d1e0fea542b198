"""A feed's findings with everything a VEX export states of them: the
assessment in force, its type, the vulnerability's details.

Read lazily, in vulnerability id order, a chunk at a time: a Query of the
findings table by the feed's key (a call for each CHUNK findings), then
BatchGets of 100 keys of the assessments and of the vulnerabilities (eight
calls in flight at once) and one of the custom types in use; first, one
Query of the feed's package exceptions, which state the packages they
decide apart (vex.Decision.overrides). An export that stops early (its
response is full) reads no further than the chunk it stopped in.
docs/vex.md has the calls, time and size measured for 5,000."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from itertools import islice

from feedguard import clock
from feedguard import exceptions as package_exceptions
from feedguard.aliases import rank
from feedguard.dal import assessment_types, batching
from feedguard.dal import exceptions as exception_store
from feedguard.dal.models import Assessment, Finding, Vulnerability
from feedguard.dal.pages import decode_cursor, encode_cursor
from feedguard.effects import AssessmentType, finding_effect
from feedguard.errors import InvalidInput
from feedguard.exceptions import PackageException
from feedguard.vex import Decision

CHUNK = 500
MAX_SORT_KEY_BYTES = 1024


def cursor(after: str | None, format_: str) -> str | None:
    """The cursor of the export's next page: after this vulnerability id, in this format."""
    return encode_cursor({"vex_after": {"S": after}, "vex_format": {"S": format_}}) if after else None


def resume_after(text: str | None, format_: str) -> str | None:
    """The vulnerability id a cursor of the export resumes after."""
    if not text:
        return None
    key = decode_cursor(text) or {}
    after, kind = key.get("vex_after", {}).get("S"), key.get("vex_format", {}).get("S")
    # A sort key of over 1,024 bytes is one DynamoDB refuses as a start key.
    readable = isinstance(after, str) and 0 < len(after.encode()) <= MAX_SORT_KEY_BYTES
    if set(key) != {"vex_after", "vex_format"} or not readable:
        raise InvalidInput("The cursor is not one this API gave out.", [_cursor_problem("not a cursor of this export")])
    if kind != format_:
        raise InvalidInput(
            f"The cursor continues an export in {kind}; send format={kind} with it.",
            [_cursor_problem("the format differs from the one the cursor was given out with")],
        )
    return after


def _cursor_problem(message: str) -> dict[str, object]:
    return {"loc": ["query", "cursor"], "type": "value_error", "msg": message}


def decisions(feed: str, unassessed_effect: str, now: datetime, after: str | None = None) -> Iterator[Decision]:
    """The feed's findings not withdrawn, by vulnerability id (those after
    `after` only), each with its status and effect at `now` (an assessment
    past its expiry is expired)."""
    excepting = [e for e in exception_store.of_feed(feed) if e.live(now)]
    start = {"feed": {"S": feed}, "vulnerability_id": {"S": after}} if after else None
    # Alias items share the findings' key space (models.FindingAlias): left out.
    found = Finding.query(
        feed,
        filter_condition=(Finding.status != "withdrawn") & Finding.alias_of.does_not_exist(),
        last_evaluated_key=start,
        page_size=CHUNK,
    )
    while chunk := list(islice(found, CHUNK)):
        yield from _decided(feed, chunk, unassessed_effect, now, excepting)


def _decided(
    feed: str, findings: list[Finding], unassessed_effect: str, now: datetime, excepting: list[PackageException]
) -> list[Decision]:
    keys = [(feed, finding.vulnerability_id) for finding in findings]
    assessments = {item.vulnerability_id: item for item in batching.read(Assessment, keys)}
    # Details under the canonical id, else the first alias a source reported them by.
    named = {f.vulnerability_id: [f.vulnerability_id, *sorted(f.aliases or (), key=rank)] for f in findings}
    read = {item.id: item for item in batching.read(Vulnerability, sorted({v for ids in named.values() for v in ids}))}
    details = {vid: next((read[i] for i in ids if i in read), None) for vid, ids in named.items()}
    kinds = assessment_types.get_many(
        {assessment.type for assessment in assessments.values()} | {e.type for e in excepting}
    )
    answer = []
    for finding in findings:
        assessment = assessments.get(finding.vulnerability_id)
        expires = clock.parse_iso(assessment.expires_at) if assessment and assessment.expires_at else None
        status, effect = finding_effect(
            finding.status, assessment.effect if assessment else None, expires, now, unassessed_effect
        )
        in_force = assessment if status == "assessed" else None
        vulnerability = details.get(finding.vulnerability_id)
        answer.append(
            Decision(
                vulnerability_id=finding.vulnerability_id,
                aliases=sorted(finding.aliases or (), key=rank),
                packages=sorted(finding.packages or ()),
                status=status,
                effect=effect,
                first_seen=finding.first_seen,
                title=finding.title,
                description=vulnerability.description if vulnerability else None,
                cvss_score=float(finding.cvss_score) if finding.cvss_score is not None else None,
                cvss_vector=vulnerability.cvss_vector if vulnerability else None,
                cwe=vulnerability.cwe if vulnerability else None,
                cve=finding.cve,
                reference=vulnerability.reference if vulnerability else None,
                external_references=[str(url) for url in (vulnerability.external_references or ())]
                if vulnerability
                else [],
                kind=_type(kinds, in_force) if in_force else None,
                comment=in_force.comment if in_force else None,
                assessed_by=in_force.assessed_by if in_force else None,
                assessed_at=in_force.assessed_at if in_force else None,
                expires_at=assessment.expires_at if assessment and status != "unassessed" else None,
            )
        )
        if excepting:
            answer[-1] = _with_exceptions(answer[-1], excepting, kinds, now)
    return answer


def _with_exceptions(
    decision: Decision, excepting: list[PackageException], kinds: dict[str, AssessmentType], now: datetime
) -> Decision:
    """The decision with the packages an exception decides stated apart, one
    override for each exception, in the order of their ids."""
    decided: dict[str, tuple[PackageException, list[str]]] = {}
    left = []
    for purl in decision.packages:
        exception = package_exceptions.deciding(excepting, purl, [decision.vulnerability_id, *decision.aliases], now)
        if exception is None:
            left.append(purl)
        else:
            decided.setdefault(exception.id, (exception, []))[1].append(purl)
    if not decided:
        return decision
    overrides = tuple(
        replace(
            decision,
            packages=purls,
            status="assessed",
            effect=exception.effect,
            kind=kinds.get(exception.type) or AssessmentType(exception.type, exception.type, exception.effect, None),
            comment=exception.comment,
            assessed_by=exception.created_by,
            assessed_at=exception.created_at,
            expires_at=exception.expires_at,
            exception_id=exception.id,
        )
        for _, (exception, purls) in sorted(decided.items())
    )
    return replace(decision, packages=left, overrides=overrides)


def _type(kinds: dict[str, AssessmentType], assessment: Assessment) -> AssessmentType:
    """The assessment's type; one deleted between the reads by its id
    alone, with no VEX fields."""
    return kinds.get(assessment.type) or AssessmentType(assessment.type, assessment.type, assessment.effect, None)
