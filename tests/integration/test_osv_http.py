"""OSV sources over HTTP on the local stack: creating one (no token),
scanning with it alone and beside OSS Index, fixed versions on findings
and gate results, and the fake OSV's faults."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.integration.conftest import RunningStack
from tests.integration.test_scans_http import add, findings, finished, start
from tests.support import LODASH, LOG4J, OSV_SCAN_FAULTS, ScanFault


def urls(stack: RunningStack) -> dict[str, str]:
    return dict(requests.get(f"{stack.control}/status", timeout=10).json())


def a_feed_on(stack: RunningStack, name: str, *, osv: bool = True, ossindex: bool = False) -> dict[str, str]:
    api, admin, at = stack.api, stack.headers(), urls(stack)
    made: dict[str, str] = {}
    if osv:
        answer = requests.post(
            f"{api}/sources",
            json={"name": f"{name}-source", "kind": "osv", "url": at["osv"]},
            headers=admin,
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
        made["osv"] = answer.json()["id"]
    if ossindex:
        body = {"name": f"{name}-ossindex", "kind": "ossindex", "url": at["ossindex"], "token": "local-fake-token"}
        made["ossindex"] = requests.post(f"{api}/sources", json=body, headers=admin, timeout=10).json()["id"]
    assert requests.post(f"{api}/feeds", json={"name": name}, headers=admin, timeout=10).status_code == 201
    for source in made.values():
        assert requests.put(f"{api}/feeds/{name}/sources/{source}", headers=admin, timeout=10).status_code == 200
    return made


@pytest.fixture
def osv_fake(stack: RunningStack) -> Iterator[str]:
    """The control routes of the stack's fake OSV; reset after the test."""
    yield f"{stack.control}/osv"
    assert requests.post(f"{stack.control}/osv/reset", timeout=10).status_code == 200


def test_the_demo_feed_hears_from_both_sources(stack: RunningStack) -> None:
    listed = requests.get(f"{stack.api}/sources", headers=stack.headers(), timeout=10).json()["items"]
    kinds = {source["name"]: source["kind"] for source in listed}
    assert (kinds["local-ossindex"], kinds["local-osv"]) == ("ossindex", "osv")
    demo = findings(stack, "demo")
    # What both sources name of lodash and log4j is one finding each, under its CVE
    assert {"CVE-2021-44228", "CVE-2021-23337"} <= set(demo)
    assert not {"GHSA-jfh8-c2jp-5v3q", "GHSA-35jh-r3h4-6jhm"} & set(demo)


def test_an_osv_source_is_created_without_a_token_and_scans_a_feed(stack: RunningStack, osv_fake: str) -> None:
    made = a_feed_on(stack, "osv-only")
    source = requests.get(f"{stack.api}/sources/{made['osv']}", headers=stack.headers(), timeout=10).json()
    assert (source["kind"], source["token_set"], source["auth"]) == ("osv", False, None)
    assert source["health"]["last_success_at"] is not None
    scan = add(stack, "osv-only", [LODASH, LOG4J])
    assert scan["status"] == "succeeded"
    # One querybatch and its follow-up page, four records: all OSV's
    assert scan["requests"] == {"ossindex": 0, "osv": 6}
    assert scan["requests_made"] == 6
    # OSV's GHSA records, keyed by the CVEs among their aliases
    assert set(findings(stack, "osv-only")) == {"CVE-2021-23337", "CVE-2020-28500", "CVE-2021-44228"}
    # A second scan is answered by the cache
    again = finished(stack, start(stack, feed="osv-only"))
    assert (again["status"], again["requests"], again["cache_hits"]) == ("succeeded", {"ossindex": 0, "osv": 0}, 2)


def test_a_finding_and_the_gate_show_the_fixed_versions(stack: RunningStack, osv_fake: str) -> None:
    a_feed_on(stack, "osv-fixes")
    add(stack, "osv-fixes", [LODASH])
    finding = requests.get(
        f"{stack.api}/feeds/osv-fixes/vulnerabilities/GHSA-35jh-r3h4-6jhm", headers=stack.headers(), timeout=10
    ).json()
    assert finding["fixed_versions"] == {LODASH: ["4.17.21"]}
    # Asked by its GHSA id, the finding answers under its CVE
    assert (finding["id"], finding["aliases"], finding["cve"], finding["cvss_score"]) == (
        "CVE-2021-23337",
        ["GHSA-35jh-r3h4-6jhm"],
        "CVE-2021-23337",
        7.2,
    )
    checked = requests.post(
        f"{stack.api}/feeds/osv-fixes/check", json={"purls": [LODASH, LOG4J]}, headers=stack.headers(), timeout=30
    ).json()["results"]
    by_purl = {result["purl"]: {v["id"]: v["fixed_versions"] for v in result["vulnerabilities"]} for result in checked}
    assert by_purl[LODASH]["CVE-2021-23337"] == ["4.17.21"]
    # Log4j was never scanned: looked up at once, fixed versions included, named as its finding would be
    assert by_purl[LOG4J] == {"CVE-2021-44228": ["2.15.0", "2.12.2"]}


def test_a_feed_with_both_sources_counts_requests_per_source_kind(stack: RunningStack, osv_fake: str) -> None:
    a_feed_on(stack, "both-sources", ossindex=True)
    scan = add(stack, "both-sources", [LODASH])
    assert scan["status"] == "succeeded"
    assert scan["requests"] == {"ossindex": 1, "osv": 5}
    found = set(findings(stack, "both-sources"))
    assert "CVE-2021-23337" in found
    assert "GHSA-35jh-r3h4-6jhm" not in found  # OSV's name of it is an alias of the one finding
    merged = requests.get(
        f"{stack.api}/feeds/both-sources/vulnerabilities/GHSA-35jh-r3h4-6jhm", headers=stack.headers(), timeout=10
    ).json()
    assert (merged["id"], merged["fixed_versions"]) == ("CVE-2021-23337", {LODASH: ["4.17.21"]})


@pytest.mark.parametrize(
    "case", [case for case in OSV_SCAN_FAULTS if "latency_ms" not in case.fault], ids=lambda case: case.name
)
def test_osv_faults_end_the_scan_with_the_right_status_and_lose_nothing(
    stack: RunningStack, osv_fake: str, case: ScanFault
) -> None:
    # (tests/unit/test_osv_scans.py runs the same cases against the handlers)
    feed = f"osv-{case.name}"
    source = a_feed_on(stack, feed)["osv"]
    assert add(stack, feed, [LOG4J, LODASH])["status"] == "succeeded"
    before = findings(stack, feed)
    assert requests.post(f"{osv_fake}/faults", json=case.fault, timeout=10).status_code == 200
    scan: dict[str, Any] = finished(stack, start(stack, feed=feed, refresh=True))
    assert scan["status"] == case.status
    assert scan["errors"] == ([{"source": source, "message": f"{feed}-source: {case.error}"}] if case.error else [])
    assert findings(stack, feed) == before
