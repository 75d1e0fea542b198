"""Scans over HTTP on the local stack: the coordinator, SQS fan-out, workers,
the answer cache and the fake OSS Index with injected faults."""

from __future__ import annotations

from typing import Any

import requests

from tests.integration.conftest import RunningStack, wait_for

VULNERABLE = [
    "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
    "pkg:npm/lodash@4.17.20",
    "pkg:npm/lodash@4.17.21",
]


def setup_feed(stack: RunningStack, name: str) -> str:
    api, admin = stack.api, stack.headers()
    ossindex = requests.get(f"{stack.control}/status", timeout=10).json()["ossindex"]
    source = requests.post(
        f"{api}/sources",
        json={"name": f"{name}-source", "kind": "ossindex", "url": ossindex, "token": "local-fake-token"},
        headers=admin,
        timeout=10,
    ).json()["id"]
    assert requests.post(f"{api}/feeds", json={"name": name}, headers=admin, timeout=10).status_code == 201
    assert requests.put(f"{api}/feeds/{name}/sources/{source}", headers=admin, timeout=10).status_code == 200
    return str(source)


def finished(stack: RunningStack, scan_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        scan = requests.get(f"{stack.api}/scans/{scan_id}", headers=stack.headers(), timeout=10).json()
        return scan if scan["status"] in ("succeeded", "partial", "failed") else None

    return dict(wait_for(done, timeout=60, interval=0.3))


def start(stack: RunningStack, **body: Any) -> str:
    answer = requests.post(f"{stack.api}/scans", json=body, headers=stack.headers(), timeout=10)
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "queued"
    return str(answer.json()["id"])


def test_added_packages_are_scanned_within_seconds_and_findings_appear(stack: RunningStack) -> None:
    setup_feed(stack, "scanned")
    added = requests.post(
        f"{stack.api}/feeds/scanned/packages", json={"purls": VULNERABLE}, headers=stack.headers(), timeout=30
    ).json()
    scan = finished(stack, added["scan_id"])
    assert (scan["status"], scan["packages_scanned"], scan["requests_made"], scan["findings_new"]) == (
        "succeeded",
        3,
        1,
        5,
    )
    feed = requests.get(f"{stack.api}/feeds/scanned", headers=stack.headers(), timeout=10).json()
    assert feed["counts"]["unassessed"] == 5
    verdicts = {
        p["purl"]: p["verdict"]
        for p in requests.get(f"{stack.api}/feeds/scanned/packages", headers=stack.headers(), timeout=10).json()[
            "items"
        ]
    }
    assert verdicts == {VULNERABLE[0]: "block", VULNERABLE[1]: "block", VULNERABLE[2]: "allow"}
    # the findings read back, most severe first, each with its `detected` entry
    found = requests.get(f"{stack.api}/feeds/scanned/vulnerabilities", headers=stack.headers(), timeout=10).json()[
        "items"
    ]
    assert [f["id"] for f in found][:1] == ["CVE-2021-44228"]
    assert {(f["status"], f["effect"]) for f in found} == {("unassessed", "block")}
    critical = requests.get(
        f"{stack.api}/feeds/scanned/vulnerabilities", params={"min_cvss": 9}, headers=stack.headers(), timeout=10
    )
    assert [f["severity"] for f in critical.json()["items"]] == ["critical", "critical"]
    history = requests.get(
        f"{stack.api}/feeds/scanned/vulnerabilities/CVE-2021-44228/history", headers=stack.headers(), timeout=10
    )
    assert [entry["action"] for entry in history.json()["items"]] == ["detected"]
    # a rescan within 24 hours is answered by the cache
    again = finished(stack, start(stack, feed="scanned"))
    assert (again["status"], again["requests_made"], again["cache_hits"], again["findings_new"]) == (
        "succeeded",
        0,
        3,
        0,
    )


def test_credits_exhausted_fails_the_scan_with_a_clear_error_and_loses_nothing(stack: RunningStack) -> None:
    setup_feed(stack, "metered")
    added = requests.post(
        f"{stack.api}/feeds/metered/packages", json={"purls": VULNERABLE}, headers=stack.headers(), timeout=30
    ).json()
    finished(stack, added["scan_id"])
    requests.post(f"{stack.control}/ossindex/faults", json={"status": 402}, timeout=10)
    scan = finished(stack, start(stack, feed="metered", refresh=True))
    assert scan["status"] == "failed"
    assert [error["message"] for error in scan["errors"]] == [
        "metered-source: OSS Index answered 402: credits exhausted."
    ]
    feed = requests.get(f"{stack.api}/feeds/metered", headers=stack.headers(), timeout=10).json()
    assert feed["counts"]["unassessed"] == 5


def test_rate_limiting_is_retried_and_the_scan_succeeds(stack: RunningStack) -> None:
    setup_feed(stack, "throttled")
    requests.post(f"{stack.control}/ossindex/faults", json={"status": 429, "retry_after": "1", "times": 2}, timeout=10)
    added = requests.post(
        f"{stack.api}/feeds/throttled/packages", json={"purls": VULNERABLE}, headers=stack.headers(), timeout=30
    ).json()
    scan = finished(stack, added["scan_id"])
    assert (scan["status"], scan["requests_made"], scan["errors"]) == ("succeeded", 3, [])


def test_scans_list_newest_first(stack: RunningStack) -> None:
    setup_feed(stack, "listed")
    first, second = start(stack, feed="listed"), start(stack, feed="listed")
    listed = requests.get(f"{stack.api}/scans", params={"feed": "listed"}, headers=stack.headers(), timeout=10).json()
    assert [scan["id"] for scan in listed["items"]][:2] == [second, first]
    assert all(scan["feed"] == "listed" for scan in listed["items"])
