"""Scans over HTTP on the local stack: the coordinator, SQS fan-out, workers,
the answer cache and the fake OSS Index with injected faults."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from feedguard.scanplan import Batch, Known
from tests.integration.conftest import RunningStack, wait_for
from tests.support import CLEAN, LODASH, LOG4J, SCAN_FAULTS, ScanFault

VULNERABLE = [LOG4J, LODASH, CLEAN]


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


def findings(stack: RunningStack, feed: str) -> dict[str, tuple[str, list[str]]]:
    """The feed's open findings: id -> (status, packages)."""
    answer = requests.get(f"{stack.api}/feeds/{feed}/vulnerabilities", headers=stack.headers(), timeout=10)
    return {item["id"]: (item["status"], sorted(item["packages"])) for item in answer.json()["items"]}


def history(stack: RunningStack, feed: str, vulnerability_id: str) -> list[str]:
    answer = requests.get(
        f"{stack.api}/feeds/{feed}/vulnerabilities/{vulnerability_id}/history", headers=stack.headers(), timeout=10
    )
    return [entry["action"] for entry in answer.json()["items"]]


@pytest.fixture
def fake(stack: RunningStack) -> Iterator[str]:
    """The control routes of the stack's fake OSS Index; reset after the
    test, so no fault it queued, nor its vulnerable share, outlives it."""
    yield f"{stack.control}/ossindex"
    assert requests.post(f"{stack.control}/ossindex/reset", timeout=10).status_code == 200


def add(stack: RunningStack, feed: str, purls: list[str]) -> dict[str, Any]:
    """Adds packages; the scan of them, finished."""
    added = requests.post(
        f"{stack.api}/feeds/{feed}/packages", json={"purls": purls}, headers=stack.headers(), timeout=30
    )
    assert added.status_code == 200, added.text
    return finished(stack, added.json()["scan_id"])


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
    first = start(stack, feed="listed")
    finished(stack, first)  # a feed's next scan waits for the one queued or running
    second = start(stack, feed="listed")
    listed = requests.get(f"{stack.api}/scans", params={"feed": "listed"}, headers=stack.headers(), timeout=10).json()
    assert [scan["id"] for scan in listed["items"]][:2] == [second, first]
    assert all(scan["feed"] == "listed" for scan in listed["items"])


# A worker gives up on a request after 10 s: a read timeout five times over
# would take a minute here, so that case runs in the unit tests only.
THROUGH_THE_STACK = [case for case in SCAN_FAULTS if "latency_ms" not in case.fault]


@pytest.mark.parametrize("case", THROUGH_THE_STACK, ids=lambda case: case.name)
def test_faults_end_the_scan_with_the_right_status_and_lose_nothing(
    stack: RunningStack, fake: str, case: ScanFault
) -> None:
    # (tests/unit/test_scanner.py runs the same cases against the handlers)
    feed = f"fault-{case.name}"
    source = setup_feed(stack, feed)
    assert add(stack, feed, [LOG4J, LODASH])["status"] == "succeeded"
    before = findings(stack, feed)
    assert requests.post(f"{fake}/faults", json=case.fault, timeout=10).status_code == 200
    scan = finished(stack, start(stack, feed=feed, refresh=True))
    assert scan["status"] == case.status
    assert scan["errors"] == ([{"source": source, "message": f"{feed}-source: {case.error}"}] if case.error else [])
    assert findings(stack, feed) == before


def test_a_finding_no_longer_reported_is_withdrawn_by_a_successful_scan_only(stack: RunningStack, fake: str) -> None:
    setup_feed(stack, "withdrawing")
    made_up = "pkg:npm/feedguard-withdrawal-test@1.0.0"  # unknown to the fake: vulnerable at a share of 1
    assert requests.put(f"{fake}/vulnerable", json={"share": 1}, timeout=10).status_code == 200
    assert add(stack, "withdrawing", [made_up, CLEAN])["findings_new"] >= 1
    reported = findings(stack, "withdrawing")
    assert {tuple(packages) for _, packages in reported.values()} == {(made_up,)}
    # When OSS Index stops reporting them, a scan that fails closes nothing
    assert requests.put(f"{fake}/vulnerable", json={"share": 0}, timeout=10).status_code == 200
    requests.post(f"{fake}/faults", json={"status": 503, "times": 50}, timeout=10)
    assert finished(stack, start(stack, feed="withdrawing", refresh=True))["status"] == "failed"
    assert findings(stack, "withdrawing") == reported
    # and a scan that succeeds withdraws them all, each with its entry
    assert requests.post(f"{fake}/reset", timeout=10).status_code == 200
    assert finished(stack, start(stack, feed="withdrawing", refresh=True))["status"] == "succeeded"
    assert findings(stack, "withdrawing") == {}
    for vulnerability_id in reported:
        assert history(stack, "withdrawing", vulnerability_id) == ["detected", "withdrawn"]


def test_a_batch_delivered_again_counts_once_and_records_nothing_twice(stack: RunningStack) -> None:
    source = setup_feed(stack, "redelivered")
    scan = add(stack, "redelivered", VULNERABLE)
    reported = findings(stack, "redelivered")
    asked = requests.get(f"{stack.control}/ossindex", timeout=10).json()["requests"]
    # Given the scan's one batch on the scan queue again, as SQS may deliver a message twice
    again = Batch(
        scan["id"], 0, source, refresh=False, packages={purl: {"redelivered": Known()} for purl in VULNERABLE}
    )
    sqs = stack.aws("sqs")
    queue = sqs.get_queue_url(QueueName="feedguard-local-ScanQueue")["QueueUrl"]
    message_id = sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(again.message()))["MessageId"]

    def worked_on() -> list[dict[str, Any]]:
        return [i for i in stack.invocations("ScanWorkerFunction") if message_id in json.dumps(i["event"])]

    (invocation,) = wait_for(worked_on, timeout=30)
    assert invocation["result"] == {"batchItemFailures": []}
    # Then the scan, its findings and their history are as they were, and OSS
    # Index was not asked again (the answers are cached)
    assert requests.get(f"{stack.api}/scans/{scan['id']}", headers=stack.headers(), timeout=10).json() == scan
    assert findings(stack, "redelivered") == reported
    for vulnerability_id in reported:
        assert history(stack, "redelivered", vulnerability_id) == ["detected"]
    assert requests.get(f"{stack.control}/ossindex", timeout=10).json()["requests"] == asked


def test_a_scan_of_a_feed_without_a_source_succeeds_with_nothing_to_do(stack: RunningStack) -> None:
    assert requests.post(f"{stack.api}/feeds", json={"name": "unsourced"}, headers=stack.headers(), timeout=10).ok
    added = requests.post(
        f"{stack.api}/feeds/unsourced/packages", json={"purls": [LOG4J]}, headers=stack.headers(), timeout=30
    ).json()
    assert added.get("scan_id") is None  # nothing to scan them with
    scan = finished(stack, start(stack, feed="unsourced"))
    assert (scan["status"], scan["packages_total"], scan["requests_made"], scan["errors"]) == ("succeeded", 0, 0, [])
    assert findings(stack, "unsourced") == {}


def test_a_feed_s_manager_cannot_stack_scans_or_refresh_more_than_once_an_hour(stack: RunningStack, fake: str) -> None:
    # Given a feed with packages, and a key that manages it
    setup_feed(stack, "metered")
    add(stack, "metered", VULNERABLE)
    key = requests.post(f"{stack.api}/api-keys", json={"name": "metered-bot"}, headers=stack.headers(), timeout=10)
    granted = requests.put(
        f"{stack.api}/feeds/metered/permissions/{key.json()['id']}",
        json={"role": "manager"},
        headers=stack.headers(),
        timeout=10,
    )
    assert granted.status_code == 200
    manager = {"Authorization": f"Bearer {key.json()['key']}"}
    requests.put(f"{fake}/latency", json={"ms": 1500}, timeout=10)  # the source takes its time

    def scan(**body: Any) -> requests.Response:
        return requests.post(f"{stack.api}/scans", json={"feed": "metered", **body}, headers=manager, timeout=10)

    # When the manager refreshes, and asks again while that scan is queued or running
    first = scan(refresh=True)
    assert first.status_code == 202, first.text
    again = scan()
    # Then the second is 409 naming the first
    assert again.status_code == 409, again.text
    assert again.json()["details"] == [{"scan_id": first.json()["id"]}]
    # And once it finished, another refresh within the hour is 409 saying when, a plain scan is 202
    finished(stack, first.json()["id"])
    refresh = scan(refresh=True)
    assert refresh.status_code == 409, refresh.text
    assert set(refresh.json()["details"][0]) == {"refresh_allowed_at"}
    assert scan().status_code == 202
