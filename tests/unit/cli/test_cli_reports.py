"""`feedguard check --format sarif|junit|json`: SARIF validated against the
official SARIF 2.1.0 schema (sarif-schema-2.1.0.json beside this file, see
SARIF-SCHEMA.md) and checked for what GitHub code scanning needs; JUnit
parsed as XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import responses

from tests.unit.cli.conftest import URL, Ran, verdicts, vulnerability

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())
LOG4J = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
LODASH = "pkg:npm/lodash@4.17.20"
CLEAN = "pkg:npm/lodash@4.17.21"
MINIMIST = "pkg:npm/minimist@1.2.5"
GATE = {
    LOG4J: [vulnerability("CVE-2021-44228", "block", 10.0), vulnerability("CVE-2021-45046", "block", 9.0)],
    LODASH: [
        vulnerability("CVE-2021-23337", "warn", 7.2, "assessed"),
        vulnerability("sonatype-2020-0001", "allow", None, "assessed"),
    ],
    # the same vulnerability on two packages: one rule, two results
    MINIMIST: [vulnerability("CVE-2021-44228", "warn", 10.0, "assessed")],
}

Feedguard = Callable[..., Ran]


@pytest.fixture(autouse=True)
def gate(api: responses.RequestsMock) -> responses.RequestsMock:
    api.add_callback(responses.POST, f"{URL}/feeds/payments/check", callback=verdicts(GATE))
    return api


@pytest.fixture
def bom_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A BOM in a repository checked out at tmp_path, the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "build").mkdir()
    file = tmp_path / "build" / "bom.json"
    file.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.6",
                "components": [
                    {"name": "log4j-core", "purl": LOG4J},
                    {"name": "app", "components": [{"name": "lodash", "purl": LODASH}, {"name": "no-purl"}]},
                    {"name": "lodash", "purl": CLEAN},
                    {"name": "minimist", "purl": MINIMIST},
                ],
            },
            indent=2,
        )
    )
    return file


def sarif_of(feedguard: Feedguard, *args: str) -> tuple[Ran, dict[str, Any]]:
    ran = feedguard("check", "--feed", "payments", "--format", "sarif", *args)
    document = json.loads(ran.out)
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(document)
    return ran, document


def test_sarif_is_valid_and_has_one_result_per_package_and_vulnerability(feedguard: Feedguard, bom_file: Path) -> None:
    # Given a BOM whose packages have 5 package x vulnerability pairs
    # When it is checked as SARIF (validated against the schema in sarif_of)
    ran, document = sarif_of(feedguard, "--bom", "build/bom.json")
    # Then exit 1 (log4j is blocked) and one result per pair, rule id = vulnerability id
    assert ran.code == 1
    (run,) = document["runs"]
    pairs = [(r["properties"]["purl"], r["ruleId"]) for r in run["results"]]
    assert pairs == [
        (LOG4J, "CVE-2021-44228"),
        (LOG4J, "CVE-2021-45046"),
        (LODASH, "CVE-2021-23337"),
        (LODASH, "sonatype-2020-0001"),
        (MINIMIST, "CVE-2021-44228"),
    ]
    # And the level follows the effect
    assert [r["level"] for r in run["results"]] == ["error", "error", "warning", "note", "warning"]
    # And each rule is described once, as code scanning shows it, and indexed
    rules = run["tool"]["driver"]["rules"]
    assert [rule["id"] for rule in rules] == [
        "CVE-2021-44228",
        "CVE-2021-45046",
        "CVE-2021-23337",
        "sonatype-2020-0001",
    ]
    for result in run["results"]:
        rule = rules[result["ruleIndex"]]
        assert rule["id"] == result["ruleId"]
        assert rule["name"]
        assert rule["shortDescription"]["text"]
        assert rule["helpUri"].startswith("https://")
        assert rule["help"]["text"]
    assert rules[0]["helpUri"] == "https://nvd.nist.gov/vuln/detail/CVE-2021-44228"
    assert rules[0]["properties"]["security-severity"] == "10.0"
    assert rules[0]["defaultConfiguration"]["level"] == "error"  # the strongest of its results
    assert "security-severity" not in rules[3]["properties"]  # no score, no severity


def test_sarif_results_point_at_the_purl_line_of_the_bom_with_fingerprints(
    feedguard: Feedguard, bom_file: Path
) -> None:
    _, document = sarif_of(feedguard, "--bom", str(bom_file))  # an absolute path, under the working directory
    lines = bom_file.read_text().splitlines()
    fingerprints = set()
    for result in document["runs"][0]["results"]:
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        # code scanning requires artifactLocation.uri: the BOM, relative to the repository, and a line
        assert physical["artifactLocation"]["uri"] == "build/bom.json"
        line = lines[physical["region"]["startLine"] - 1]
        assert f'"purl": "{result["properties"]["purl"]}"' in line
        assert location["logicalLocations"][0]["fullyQualifiedName"] == result["properties"]["purl"]
        fingerprints.add(result["partialFingerprints"]["feedguardPackageVulnerability/v1"])
        assert result["message"]["text"].startswith(result["properties"]["purl"])
    assert len(fingerprints) == 5


def test_sarif_is_stable_from_run_to_run(feedguard: Feedguard, bom_file: Path) -> None:
    assert sarif_of(feedguard, "--bom", "build/bom.json")[1] == sarif_of(feedguard, "--bom", "build/bom.json")[1]


def test_sarif_of_purls_from_the_command_line_points_at_feedguard_purls_txt(feedguard: Feedguard) -> None:
    ran, document = sarif_of(feedguard, CLEAN, LODASH)
    assert ran.code == 0  # warn and allow only
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in document["runs"][0]["results"]}
    assert uris == {"feedguard-purls.txt"}
    lines = {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in document["runs"][0]["results"]}
    assert lines == {2}  # the position of lodash among the purls


def test_sarif_notes_skipped_components(feedguard: Feedguard, bom_file: Path) -> None:
    _, document = sarif_of(feedguard, "--bom", "build/bom.json")
    notes = document["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [note["message"]["text"] for note in notes] == [
        "Skipped: components[1] (app) has no purl.",
        "Skipped: components[1].components[1] (no-purl) has no purl.",
    ]


def test_sarif_with_no_vulnerability_is_valid_and_empty(feedguard: Feedguard) -> None:
    ran, document = sarif_of(feedguard, CLEAN)
    assert ran.code == 0
    assert document["runs"][0]["results"] == []


def junit_of(feedguard: Feedguard, *args: str) -> tuple[Ran, ET.Element]:
    ran = feedguard("check", "--feed", "payments", "--format", "junit", *args)
    assert ran.out.startswith("<?xml")
    return ran, ET.fromstring(ran.out)  # noqa: S314 - our own output


def test_junit_has_a_test_case_per_purl_failing_when_blocked(feedguard: Feedguard) -> None:
    ran, root = junit_of(feedguard, LOG4J, LODASH, CLEAN)
    assert ran.code == 1
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [LOG4J, LODASH, CLEAN]
    assert (suite.get("tests"), suite.get("failures"), root.get("failures")) == ("3", "1", "1")
    failure = cases[0].find("failure")
    assert failure is not None
    assert failure.get("type") == "block"
    assert failure.get("message") == "block: CVE-2021-44228, CVE-2021-45046"
    assert "CVE-2021-44228 CVSS 10.0 unassessed block" in (failure.text or "")
    assert cases[1].find("failure") is None
    assert "CVE-2021-23337" in (cases[1].findtext("system-out") or "")
    assert cases[2].find("failure") is None


def test_junit_fails_warn_too_with_fail_on_warn(feedguard: Feedguard) -> None:
    ran, root = junit_of(feedguard, LODASH, CLEAN, "--fail-on", "warn")
    assert ran.code == 1
    cases = root.findall("testsuite/testcase")
    assert [case.find("failure") is not None for case in cases] == [True, False]


def test_json_has_the_results_in_order_and_the_outcome(feedguard: Feedguard, bom_file: Path) -> None:
    ran = feedguard("check", "--feed", "payments", "--bom", "build/bom.json", "--format", "json")
    document = json.loads(ran.out)
    assert document["failed"] is True
    assert document["counts"] == {"allow": 1, "warn": 2, "block": 1}
    assert [result["purl"] for result in document["results"]] == [LOG4J, LODASH, CLEAN, MINIMIST]
    assert document["skipped"] == [
        "components[1] (app) has no purl",
        "components[1].components[1] (no-purl) has no purl",
    ]
    assert "line" not in document["results"][0]


def test_a_purl_that_could_not_be_looked_up_says_so(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.replace(
        responses.POST,
        f"{URL}/feeds/payments/check",
        json={
            "results": [
                {
                    "purl": CLEAN,
                    "verdict": "block",
                    "scanned": False,
                    "lookup": "budget_exhausted",
                    "vulnerabilities": [],
                }
            ]
        },
    )
    ran = feedguard("check", "--feed", "payments", CLEAN)
    assert ran.code == 1
    assert "block (lookup budget exhausted)" in ran.out
