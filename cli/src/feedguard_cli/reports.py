"""The gate's answer for a set of packages as a person or a CI system reads
it: a table, JSON, SARIF 2.1.0 for code scanning, or JUnit XML."""

from __future__ import annotations

import hashlib
import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from feedguard_cli import __version__

EFFECTS = ("allow", "warn", "block")  # in order: allow < warn < block
SARIF_LEVEL = {"block": "error", "warn": "warning", "allow": "note"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# Where a result points when the purls came from the command line, not a file.
ARGUMENTS_URI = "feedguard-purls.txt"


@dataclass
class Checked:
    """The gate's results, in the order asked, with where each purl came from."""

    feed: str
    results: list[dict[str, Any]]  # the contract's CheckResult, plus "line"
    source: str | None  # the BOM or purl file; None: the command line
    skipped: list[str]
    fail_on: str

    def failing(self, result: dict[str, Any]) -> bool:
        return EFFECTS.index(result["verdict"]) >= EFFECTS.index(self.fail_on)

    @property
    def failed(self) -> bool:
        return any(self.failing(result) for result in self.results)

    def counts(self) -> dict[str, int]:
        return {effect: sum(result["verdict"] == effect for result in self.results) for effect in EFFECTS}

    def summary(self) -> str:
        counts = self.counts()
        tally = ", ".join(f"{counts[effect]} {effect}" for effect in reversed(EFFECTS))
        noun = "package" if len(self.results) == 1 else "packages"
        outcome = "Policy failed" if self.failed else "Policy passed"
        return (
            f"{len(self.results)} {noun} checked against feed {self.feed}: {tally}. "
            f"{outcome} (--fail-on {self.fail_on})."
        )


def _score(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f}"


def _verdict_label(result: dict[str, Any]) -> str:
    label = str(result["verdict"])
    if not result.get("scanned", True):
        reason = "lookup budget exhausted" if result.get("lookup") == "budget_exhausted" else "not scanned"
        label += f" ({reason})"
    return label


def table(checked: Checked) -> str:
    """A row per purl; its vulnerabilities one a line beside it (id, CVSS,
    status, effect), so a long list stays readable in a CI log."""
    rows: list[tuple[str, str, list[list[str]]]] = []
    for result in checked.results:
        cells = [
            [str(v["id"]), _score(v.get("cvss_score")), str(v.get("status")), str(v["effect"])]
            for v in result["vulnerabilities"]
        ]
        rows.append((str(result["purl"]), _verdict_label(result), cells))
    every = [cell for _, _, cells in rows for cell in cells]
    widths = [max([len(cell[column]) for cell in every], default=0) for column in range(3)]
    purl_width = max([len("PURL")] + [len(purl) for purl, _, _ in rows])
    verdict_width = max([len("VERDICT")] + [len(verdict) for _, verdict, _ in rows])
    lines = [f"{'PURL':<{purl_width}}  {'VERDICT':<{verdict_width}}  VULNERABILITIES"]
    for purl, verdict, cells in rows:
        described = [
            f"{cell[0]:<{widths[0]}}  {cell[1]:>{widths[1]}}  {cell[2]:<{widths[2]}}  {cell[3]}" for cell in cells
        ] or ["-"]
        lines.append(f"{purl:<{purl_width}}  {verdict:<{verdict_width}}  {described[0]}".rstrip())
        lines += [f"{'':<{purl_width}}  {'':<{verdict_width}}  {line}" for line in described[1:]]
    return "\n".join([*lines, "", checked.summary()]) + "\n"


def as_json(checked: Checked) -> str:
    document = {
        "feed": checked.feed,
        "failed": checked.failed,
        "fail_on": checked.fail_on,
        "counts": checked.counts(),
        "results": [{key: value for key, value in result.items() if key != "line"} for result in checked.results],
        "skipped": checked.skipped,
    }
    return json.dumps(document, indent=2) + "\n"


def help_uri(vulnerability_id: str) -> str:
    """A public page about a vulnerability, from the form of its id."""
    if vulnerability_id.startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{vulnerability_id}"
    if vulnerability_id.startswith("sonatype-"):
        return f"https://ossindex.sonatype.org/vulnerability/{vulnerability_id}"
    return f"https://osv.dev/vulnerability/{vulnerability_id}"


def artifact_uri(source: str | None) -> str:
    """The file a result points at, relative to the working directory (the
    repository's root in CI), with forward slashes, as code scanning wants."""
    if source is None:
        return ARGUMENTS_URI
    path = Path(source)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(Path.cwd().resolve())
        except ValueError:
            return path.as_uri()
    return PurePath(os.path.normpath(path)).as_posix()


def _rule(vulnerability: dict[str, Any]) -> dict[str, Any]:
    vulnerability_id = str(vulnerability["id"])
    title = vulnerability.get("title") or vulnerability_id
    score = vulnerability.get("cvss_score")
    properties: dict[str, Any] = {"tags": ["security", "vulnerability", "dependency"]}
    if score is not None:
        properties["security-severity"] = f"{float(score):.1f}"
    uri = help_uri(vulnerability_id)
    return {
        "id": vulnerability_id,
        "name": vulnerability_id,
        "shortDescription": {"text": title},
        "fullDescription": {"text": f"{title} (CVSS {_score(score)})"},
        "helpUri": uri,
        "help": {
            "text": f"{title}. Details: {uri}. Upgrade the package, or assess the finding in feedguard.",
            "markdown": f"**{title}**\n\n[{vulnerability_id}]({uri}). "
            "Upgrade the package, or assess the finding in feedguard.",
        },
        "properties": properties,
    }


def sarif(checked: Checked) -> str:
    """One result per package and vulnerability: ruleId the vulnerability's
    id, level from the effect (block: error, warn: warning, allow: note),
    located at the purl's line in the BOM (or feedguard-purls.txt)."""
    rules: dict[str, dict[str, Any]] = {}
    strongest: dict[str, str] = {}  # rule id -> the strongest effect of its results
    results: list[dict[str, Any]] = []
    uri = artifact_uri(checked.source)
    for result in checked.results:
        purl = result["purl"]
        for vulnerability in result["vulnerabilities"]:
            level = SARIF_LEVEL[vulnerability["effect"]]
            rules.setdefault(vulnerability["id"], _rule(vulnerability))
            strongest[vulnerability["id"]] = max(
                strongest.get(vulnerability["id"], "allow"), vulnerability["effect"], key=EFFECTS.index
            )
            fingerprint = hashlib.sha256(f"{purl}\n{vulnerability['id']}".encode()).hexdigest()
            results.append(
                {
                    "ruleId": vulnerability["id"],
                    "ruleIndex": list(rules).index(vulnerability["id"]),
                    "level": level,
                    "message": {
                        "text": f"{purl} is affected by {vulnerability['id']} "
                        f"(CVSS {_score(vulnerability.get('cvss_score'))}): "
                        f"{vulnerability.get('title') or vulnerability['id']}. In feed {checked.feed} "
                        f"it is {vulnerability.get('status')}, effect {vulnerability['effect']}."
                    },
                    "locations": [
                        {
                            "physicalLocation": {
                                "artifactLocation": {"uri": uri},
                                "region": {"startLine": int(result.get("line") or 1)},
                            },
                            "logicalLocations": [{"name": purl, "fullyQualifiedName": purl, "kind": "module"}],
                        }
                    ],
                    "partialFingerprints": {"feedguardPackageVulnerability/v1": fingerprint},
                    "properties": {
                        "purl": purl,
                        "status": vulnerability.get("status"),
                        "effect": vulnerability["effect"],
                        "verdict": result["verdict"],
                    },
                }
            )
    for rule_id, effect in strongest.items():
        rules[rule_id]["defaultConfiguration"] = {"level": SARIF_LEVEL[effect]}
    notifications = [{"level": "warning", "message": {"text": f"Skipped: {entry}."}} for entry in checked.skipped] + [
        {"level": "warning", "message": {"text": f"{r['purl']}: not scanned; verdict {r['verdict']} by feed policy."}}
        for r in checked.results
        if not r.get("scanned", True)
    ]
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "feedguard",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": list(rules.values()),
                    }
                },
                "automationDetails": {"id": f"feedguard/{checked.feed}/"},
                "invocations": [
                    {"executionSuccessful": True, "toolExecutionNotifications": notifications},
                ],
                "results": results,
            }
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def junit(checked: Checked) -> str:
    """One test case per purl; a failure when its verdict fails the policy."""
    suite = ET.Element(
        "testsuite",
        {
            "name": f"feedguard check: feed {checked.feed}",
            "tests": str(len(checked.results)),
            "failures": str(sum(checked.failing(result) for result in checked.results)),
            "errors": "0",
            "skipped": "0",
        },
    )
    for result in checked.results:
        case = ET.SubElement(suite, "testcase", {"classname": f"feedguard.{checked.feed}", "name": result["purl"]})
        lines = [
            f"{v['id']} CVSS {_score(v.get('cvss_score'))} {v.get('status')} {v['effect']}: {v.get('title') or ''}"
            for v in result["vulnerabilities"]
        ]
        if not result.get("scanned", True):
            lines.append(f"not scanned: verdict {result['verdict']} by the feed's policy")
        if checked.failing(result):
            ids = ", ".join(v["id"] for v in result["vulnerabilities"] if v["effect"] == result["verdict"])
            failure = ET.SubElement(
                case,
                "failure",
                {"type": result["verdict"], "message": f"{result['verdict']}: {ids or 'not scanned'}"},
            )
            failure.text = "\n".join(lines)
        elif lines:
            ET.SubElement(case, "system-out").text = "\n".join(lines)
    root = ET.Element("testsuites", {"name": "feedguard", "tests": suite.get("tests", "0")})
    root.set("failures", suite.get("failures", "0"))
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


FORMATS = {"table": table, "json": as_json, "sarif": sarif, "junit": junit}
