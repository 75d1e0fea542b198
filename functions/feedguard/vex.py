"""A feed's findings and decisions as VEX: CycloneDX 1.6 (JSON) and OpenVEX
0.2.0, without AWS. docs/vex.md holds the mapping table this module follows.

A finding's VEX status comes from the assessment in force: its type's
`vex_status` (and `vex_justification`). Unassessed and expired findings are
under investigation (CycloneDX `in_triage`). A custom type without a
`vex_status` states `affected`: feedguard never claims a package is not
affected unless a type says so.

A package exception that decides a finding for some of its packages
(feedguard.exceptions) gives those packages a statement of their own, with
the exception's type, next to the finding's for the others: a Decision's
`overrides`, written with it, so a page never splits them."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from packageurl import PackageURL

from feedguard.effects import AssessmentType, severity

VEX_STATUSES = ("not_affected", "affected", "fixed", "under_investigation")
VEX_JUSTIFICATIONS = (
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
)
FORMATS = ("cyclonedx", "openvex")

# OpenVEX status -> CycloneDX analysis state
CYCLONEDX_STATE = {
    "not_affected": "not_affected",
    "affected": "exploitable",
    "fixed": "resolved",
    "under_investigation": "in_triage",
}
# OpenVEX justification -> CycloneDX 1.6 justification (CycloneDX has no
# "component not present": the code of a component that is not there is not
# there either).
CYCLONEDX_JUSTIFICATION = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}
# The gate's effect of an affected finding -> CycloneDX analysis response
# and the OpenVEX action statement's first sentence.
AFFECTED_RESPONSE = {"block": ["update"], "warn": ["will_not_fix"], "allow": ["will_not_fix"]}
AFFECTED_ACTION = {
    "block": "Do not use this package: feedguard's gate blocks it. Update to a version without this vulnerability.",
    "warn": "Use with care: feedguard's gate lets this package through with a warning.",
    "allow": "The risk is accepted: feedguard's gate lets this package through.",
}
# CVSS vector prefix -> CycloneDX rating method (a vector without one is CVSS v2's form)
RATING_METHODS = (("CVSS:4.0/", "CVSSv4"), ("CVSS:3.1/", "CVSSv31"), ("CVSS:3.0/", "CVSSv3"))
CVE_PATTERN = re.compile(r"^CVE-\d{4}-\d{4,}$")
CWE_PATTERN = re.compile(r"CWE-(\d+)")
OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0"
TOOL = "feedguard"


def type_fields_problem(status: str | None, justification: str | None) -> str | None:
    """Why a type's vex_status and vex_justification cannot go together, if they cannot."""
    if justification is not None and status != "not_affected":
        return "vex_justification is only for vex_status not_affected."
    return None


@dataclass(frozen=True)
class Decision:
    """One finding of a feed with what it needs for VEX: the vulnerability's
    details and, while in force, its assessment and that assessment's type."""

    vulnerability_id: str
    packages: list[str]
    status: str  # unassessed, assessed or expired, at the moment of the export
    effect: str
    first_seen: str
    title: str | None = None
    description: str | None = None
    cvss_score: float | None = None
    cvss_vector: str | None = None
    cwe: str | None = None
    cve: str | None = None
    reference: str | None = None
    external_references: list[str] = field(default_factory=list)
    kind: AssessmentType | None = None  # the type of the assessment in force
    aliases: list[str] = field(default_factory=list)  # the finding's other ids
    comment: str | None = None
    assessed_by: str | None = None
    assessed_at: str | None = None
    expires_at: str | None = None  # of the assessment in force, or the one that expired
    exception_id: str | None = None  # the package exception this decision states
    # Packages of the finding a package exception decides, each group with its
    # exception's decision; `packages` above are the others.
    overrides: tuple[Decision, ...] = ()


def vex_status(decision: Decision) -> str:
    if decision.status != "assessed" or decision.kind is None:
        return "under_investigation"
    return decision.kind.vex_status or "affected"


def justification(decision: Decision) -> str | None:
    if vex_status(decision) != "not_affected" or decision.kind is None:
        return None
    return decision.kind.vex_justification


def _type_name(decision: Decision) -> str:
    return decision.kind.name if decision.kind else "Unassessed"


def impact_statement(decision: Decision) -> str:
    """Why a not_affected finding is not a risk: the type's own words."""
    kind = decision.kind
    described = f": {kind.description}" if kind and kind.description else "."
    return f"Assessed {_type_name(decision)}{described}"


def action_statement(decision: Decision) -> str:
    effect = decision.effect if decision.effect in AFFECTED_ACTION else "block"
    return f"{AFFECTED_ACTION[effect]} Assessed {_type_name(decision)}."


def status_notes(decision: Decision) -> str | None:
    if decision.status == "unassessed":
        return "Not assessed yet."
    if decision.status == "expired":
        expired = f" at {decision.expires_at}" if decision.expires_at else ""
        return f"Its assessment expired{expired}; it needs reassessment."
    return decision.comment or None


def rating_method(vector: str | None) -> str:
    for prefix, method in RATING_METHODS:
        if vector and vector.startswith(prefix):
            return method
    return "CVSSv2" if vector else "other"


def cwes(cwe: str | None) -> list[int]:
    return sorted({int(number) for number in CWE_PATTERN.findall(cwe or "")})


def aliases(decision: Decision) -> list[str]:
    """The finding's other ids (its vulnerability_id is the canonical one),
    and the CVE of a vulnerability OSS Index names otherwise (sonatype-…)
    on findings stored before aliases were kept."""
    others = [alias for alias in decision.aliases if alias != decision.vulnerability_id]
    cve = decision.cve
    if cve and cve != decision.vulnerability_id and CVE_PATTERN.match(cve) and cve not in others:
        others.insert(0, cve)
    return others


def alias_source(alias: str) -> dict[str, str]:
    """Where an alias is published: NVD for a CVE, GitHub for a GHSA, else OSV.dev."""
    if CVE_PATTERN.match(alias):
        return {"name": "NVD", "url": f"https://nvd.nist.gov/vuln/detail/{alias}"}
    if alias.startswith("GHSA-"):
        return {"name": "GitHub", "url": f"https://github.com/advisories/{alias}"}
    return {"name": "OSV", "url": f"https://osv.dev/vulnerability/{alias}"}


def _properties(decision: Decision) -> list[dict[str, str]]:
    properties = [
        {"name": "feedguard:status", "value": decision.status},
        {"name": "feedguard:assessment_type", "value": decision.kind.id if decision.kind else "unassessed"},
        {"name": "feedguard:effect", "value": decision.effect},
    ]
    if decision.status == "assessed" and decision.assessed_by:
        properties.append({"name": "feedguard:assessed_by", "value": decision.assessed_by})
    if decision.expires_at:
        properties.append({"name": "feedguard:expires_at", "value": decision.expires_at})
    if decision.exception_id:
        properties.append({"name": "feedguard:exception", "value": decision.exception_id})
    return properties


def _source(decision: Decision) -> dict[str, str]:
    source = {"name": "OSS Index"}
    if decision.reference:
        source["url"] = decision.reference
    return source


def _component(purl: str) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "library", "bom-ref": purl, "name": purl, "purl": purl}
    try:
        parsed = PackageURL.from_string(purl)
    except ValueError:
        return component
    component["name"] = parsed.name
    if parsed.namespace:
        component["group"] = parsed.namespace
    if parsed.version:
        component["version"] = parsed.version
    return component


def _analysis(decision: Decision) -> dict[str, Any]:
    status = vex_status(decision)
    analysis: dict[str, Any] = {"state": CYCLONEDX_STATE[status]}
    reason = justification(decision)
    if reason:
        analysis["justification"] = CYCLONEDX_JUSTIFICATION[reason]
    if status == "affected":
        analysis["response"] = AFFECTED_RESPONSE.get(decision.effect, ["update"])
    detail = status_notes(decision)
    if detail:
        analysis["detail"] = detail
    analysis["firstIssued"] = decision.first_seen
    analysis["lastUpdated"] = last_updated(decision)
    return analysis


def last_updated(decision: Decision) -> str:
    """When the decision the export states was taken: the assessment, the
    expiry that ended one, else the finding's detection."""
    if decision.status == "assessed" and decision.assessed_at:
        return decision.assessed_at
    if decision.status == "expired" and decision.expires_at:
        return decision.expires_at
    return decision.first_seen


def cyclonedx_vulnerability(decision: Decision) -> dict[str, Any]:
    vulnerability: dict[str, Any] = {"id": decision.vulnerability_id, "source": _source(decision)}
    others = aliases(decision)
    if others:
        vulnerability["references"] = [{"id": alias, "source": alias_source(alias)} for alias in others]
    if decision.cvss_score is not None:
        rating: dict[str, Any] = {
            "source": _source(decision),
            "score": decision.cvss_score,
            "severity": severity(decision.cvss_score),
            "method": rating_method(decision.cvss_vector),
        }
        if decision.cvss_vector:
            rating["vector"] = decision.cvss_vector
        vulnerability["ratings"] = [rating]
    numbers = cwes(decision.cwe)
    if numbers:
        vulnerability["cwes"] = numbers
    text = decision.description or decision.title
    if text:
        vulnerability["description"] = text
    advisories = [{"url": url} for url in dict.fromkeys(decision.external_references) if url]
    if advisories:
        vulnerability["advisories"] = advisories
    vulnerability["analysis"] = _analysis(decision)
    vulnerability["affects"] = [{"ref": purl} for purl in decision.packages]
    vulnerability["properties"] = _properties(decision)
    return vulnerability


def openvex_statement(decision: Decision) -> dict[str, Any]:
    status = vex_status(decision)
    vulnerability: dict[str, Any] = {"name": decision.vulnerability_id}
    others = aliases(decision)
    if others:
        vulnerability["aliases"] = others
    statement: dict[str, Any] = {
        "vulnerability": vulnerability,
        "timestamp": last_updated(decision),
        "products": [{"@id": purl} for purl in decision.packages],
        "status": status,
    }
    notes = status_notes(decision)
    if notes:
        statement["status_notes"] = notes
    if status == "not_affected":
        reason = justification(decision)
        if reason:
            statement["justification"] = reason
        statement["impact_statement"] = impact_statement(decision)
    elif status == "affected":
        statement["action_statement"] = action_statement(decision)
    return statement


def _header(format_: str, feed: str, timestamp: str) -> dict[str, Any]:
    """The document without its components, vulnerabilities or statements."""
    if format_ == "cyclonedx":
        return {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "serialNumber": f"urn:uuid:{uuid.uuid4()}",
            "version": 1,
            "metadata": {
                "timestamp": timestamp,
                "tools": {"components": [{"type": "application", "name": TOOL}]},
                "component": {"type": "application", "bom-ref": f"feedguard:feed:{feed}", "name": feed},
            },
        }
    return {
        "@context": OPENVEX_CONTEXT,
        "@id": f"urn:uuid:{uuid.uuid4()}",
        "author": f"{TOOL} (feed {feed})",
        "timestamp": timestamp,
        "version": 1,
        "tooling": TOOL,
    }


def serialize(value: Any) -> str:
    """Compact JSON, ASCII only: its size is its length, and escaping it
    into Lambda's response adds only a backslash per quote and backslash."""
    return json.dumps(value, separators=(",", ":"))


def escaped_bytes(text: str) -> int:
    """The size of ASCII `text` once escaped as a JSON string's content."""
    return len(text) + text.count('"') + text.count("\\")


@dataclass(frozen=True)
class ExportPage:
    body: str  # the document, as JSON
    findings: int  # how many it states
    next_after: str | None  # the last vulnerability id it holds, when more follow
    payload_bytes: int  # at least its size in Lambda's response (the body escaped once more)


def export(
    format_: str, feed: str, decisions: Iterable[Decision], timestamp: str, budget: int | None = None
) -> ExportPage:
    """A CycloneDX 1.6 VEX BOM (a component for each affected package, its
    purl its bom-ref; a vulnerability for each finding) or an OpenVEX 0.2.0
    document (a statement for each finding) of `decisions`, in their order,
    as many as fit in `budget` bytes of Lambda's response (all without one;
    always one at least). When one is left out, `next_after` names the last
    one in, where the next page starts.

    A feed without findings gives an OpenVEX document without statements:
    its schema wants one at least, and OpenVEX has no other way to say that
    nothing is known to affect the feed."""
    header = serialize(_header(format_, feed, timestamp))
    used = escaped_bytes(header) + 64  # the lists' names and brackets, the two quotes around the body
    entries: list[str] = []
    components: dict[str, str] = {}
    last: str | None = None
    for decision in decisions:
        stated = statements(decision)
        if format_ == "cyclonedx":
            entry = ",".join(serialize(cyclonedx_vulnerability(part)) for part in stated)
            new = {
                purl: serialize(_component(purl)) for part in stated for purl in part.packages if purl not in components
            }
        else:
            entry, new = ",".join(serialize(openvex_statement(part)) for part in stated), {}
        size = escaped_bytes(entry) + 1 + sum(escaped_bytes(piece) + 1 for piece in new.values())
        if budget is not None and entries and used + size > budget:
            return ExportPage(_assemble(format_, header, components, entries), len(entries), last, used)
        used += size
        entries.append(entry)
        components.update(new)
        last = decision.vulnerability_id
    return ExportPage(_assemble(format_, header, components, entries), len(entries), None, used)


def statements(decision: Decision) -> list[Decision]:
    """What the export states of a finding: its decision for the packages
    no exception decides (left out when exceptions decide them all), then
    each exception's for its packages."""
    if decision.overrides and not decision.packages:
        return list(decision.overrides)
    return [decision, *decision.overrides]


def _assemble(format_: str, header: str, components: dict[str, str], entries: list[str]) -> str:
    if format_ == "cyclonedx":
        listed = ",".join(components[purl] for purl in sorted(components))
        return f'{header[:-1]},"components":[{listed}],"vulnerabilities":[{",".join(entries)}]}}'
    return f'{header[:-1]},"statements":[{",".join(entries)}]}}'
