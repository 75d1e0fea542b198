"""One finding whatever its name, over HTTP on the local stack: the fake OSS
Index names handlebars' flaw `sonatype-2021-4930` with its CVE; the finding
is keyed by the CVE, and every route that takes an id answers for it by
either. The gate and the VEX export name the CVE and list the alias."""

from __future__ import annotations

import pytest
import requests

from tests.integration.conftest import RunningStack
from tests.integration.test_scans_http import add, setup_feed

FEED = "aliased"
HANDLEBARS = "pkg:npm/handlebars@4.7.6"
CVE, SONATYPE = "CVE-2021-23369", "sonatype-2021-4930"


@pytest.fixture(scope="module")
def scanned(stack: RunningStack) -> str:
    setup_feed(stack, FEED)
    assert add(stack, FEED, [HANDLEBARS])["findings_new"] == 1
    return FEED


def url(stack: RunningStack, path: str) -> str:
    return f"{stack.api}/feeds/{FEED}{path}"


def test_the_finding_is_keyed_by_its_cve_and_read_by_either_id(stack: RunningStack, scanned: str) -> None:
    listed = requests.get(url(stack, "/vulnerabilities"), headers=stack.headers(), timeout=10).json()
    assert [(item["id"], item["aliases"]) for item in listed["items"]] == [(CVE, [SONATYPE])]
    by_cve = requests.get(url(stack, f"/vulnerabilities/{CVE}"), headers=stack.headers(), timeout=10)
    by_alias = requests.get(url(stack, f"/vulnerabilities/{SONATYPE}"), headers=stack.headers(), timeout=10)
    assert by_cve.status_code == by_alias.status_code == 200
    assert by_alias.json() == by_cve.json()
    # The details the source gave under its own id
    assert by_alias.json()["cwe"] == "CWE-94"
    history = requests.get(url(stack, f"/vulnerabilities/{SONATYPE}/history"), headers=stack.headers(), timeout=10)
    assert [entry["action"] for entry in history.json()["items"]] == ["detected"]
    assert (
        requests.get(url(stack, "/vulnerabilities/sonatype-0"), headers=stack.headers(), timeout=10).status_code == 404
    )


def test_an_assessment_by_the_alias_is_the_findings_and_if_match_holds(stack: RunningStack, scanned: str) -> None:
    admin = stack.headers()
    first = requests.put(
        url(stack, f"/vulnerabilities/{SONATYPE}/assessment"), json={"type": "caution"}, headers=admin, timeout=10
    )
    assert first.status_code == 200, first.text
    version = first.json()["version"]
    stale = requests.put(
        url(stack, f"/vulnerabilities/{CVE}/assessment"),
        json={"type": "blocked"},
        headers={**admin, "If-Match": str(version - 1)},
        timeout=10,
    )
    assert stale.status_code == 412
    fresh = requests.put(
        url(stack, f"/vulnerabilities/{CVE}/assessment"),
        json={"type": "blocked"},
        headers={**admin, "If-Match": str(version)},
        timeout=10,
    )
    assert (fresh.status_code, fresh.json()["version"]) == (200, version + 1)
    finding = requests.get(url(stack, f"/vulnerabilities/{SONATYPE}"), headers=admin, timeout=10).json()
    assert (finding["id"], finding["status"], finding["effect"]) == (CVE, "assessed", "block")
    # The gate names the CVE once, with its alias, and blocks
    checked = requests.post(url(stack, "/check"), json={"purls": [HANDLEBARS]}, headers=admin, timeout=10).json()
    ((result,),) = (checked["results"],)
    assert result["verdict"] == "block"
    assert [(v["id"], v["aliases"]) for v in result["vulnerabilities"]] == [(CVE, [SONATYPE])]
    # VEX names the CVE and lists the alias, in both formats
    cyclonedx = requests.get(url(stack, "/vex"), headers=admin, timeout=10).json()
    ((vulnerability,),) = (cyclonedx["vulnerabilities"],)
    assert vulnerability["id"] == CVE
    assert [reference["id"] for reference in vulnerability["references"]] == [SONATYPE]
    openvex = requests.get(url(stack, "/vex"), params={"format": "openvex"}, headers=admin, timeout=10).json()
    assert openvex["statements"][0]["vulnerability"] == {"name": CVE, "aliases": [SONATYPE]}
    # DELETE by the alias ends it
    removed = requests.delete(url(stack, f"/vulnerabilities/{SONATYPE}/assessment"), headers=admin, timeout=10)
    assert removed.status_code == 204
