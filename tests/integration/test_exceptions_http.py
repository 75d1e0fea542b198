"""Package exceptions over HTTP on the local stack: made, listed, read and
deleted; refused with the reason; deciding at the gate, in the packages'
verdicts and in VEX for the packages they match only; and, with no mocked
clock, expiring at once on read, then recorded by the emulated TTL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from tests.integration.conftest import RunningStack, wait_for
from tests.integration.test_scans_http import finished, setup_feed

OLD_LOG4J = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
NEWER_LOG4J = "pkg:maven/org.apache.logging.log4j/log4j-core@2.16.0"
LODASH = "pkg:npm/lodash@4.17.20"
RECURSION = "CVE-2021-45105"  # reported for both log4j versions


def a_scanned_feed(stack: RunningStack, name: str, purls: list[str]) -> str:
    api, admin = stack.api, stack.headers()
    setup_feed(stack, name)
    added = requests.post(f"{api}/feeds/{name}/packages", json={"purls": purls}, headers=admin, timeout=30).json()
    finished(stack, added["scan_id"])
    return f"{api}/feeds/{name}"


def gate(feed: str, stack: RunningStack, *purls: str) -> dict[str, Any]:
    answer = requests.post(f"{feed}/check", json={"purls": list(purls)}, headers=stack.headers(), timeout=30)
    assert answer.status_code == 200, answer.text
    return {result["purl"]: result for result in answer.json()["results"]}


def effects(result: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {v["id"]: (v["effect"], v["exception_id"]) for v in result["vulnerabilities"]}


def test_an_exception_decides_for_its_packages_only_until_it_is_deleted(stack: RunningStack) -> None:
    admin = stack.headers()
    feed = a_scanned_feed(stack, "excepted", [OLD_LOG4J, NEWER_LOG4J, LODASH])
    assert gate(feed, stack, OLD_LOG4J)[OLD_LOG4J]["verdict"] == "block"  # unassessed: the feed's block

    # Given an Ignore exception for log4j versions before 2.15.0, for one vulnerability
    body = {
        "purl": "pkg:maven/org.apache.logging.log4j/log4j-*",
        "versions": "vers:maven/<2.15.0",
        "vulnerability_ids": [RECURSION],
        "type": "ignore",
        "comment": "Recursion needs a crafted lookup we never log.",
        "expires_at": None,
    }
    made = requests.post(f"{feed}/exceptions", json=body, headers=admin, timeout=10)
    assert made.status_code == 201, made.text
    exception = made.json()
    assert (exception["created_by"], exception["created_by_id"], exception["effect"]) == ("admin", "admin", "allow")
    assert requests.get(f"{feed}/exceptions/{exception['id']}", headers=admin, timeout=10).json() == exception
    assert requests.get(f"{feed}/exceptions", headers=admin, timeout=10).json()["items"] == [exception]

    # Then the gate gives that vulnerability the exception's effect for the old version only
    results = gate(feed, stack, OLD_LOG4J, NEWER_LOG4J, LODASH)
    assert effects(results[OLD_LOG4J])[RECURSION] == ("allow", exception["id"])
    assert results[OLD_LOG4J]["verdict"] == "block"  # Log4Shell is still unassessed
    assert effects(results[NEWER_LOG4J]) == {RECURSION: ("block", None)}
    assert all(exception_id is None for _, exception_id in effects(results[LODASH]).values())
    # And VEX states the old version apart
    openvex = requests.get(f"{feed}/vex?format=openvex", headers=admin, timeout=30).json()
    recursion = [s for s in openvex["statements"] if s["vulnerability"]["name"] == RECURSION]
    assert [(s["products"], s["status"]) for s in recursion] == [
        ([{"@id": NEWER_LOG4J}], "under_investigation"),
        ([{"@id": OLD_LOG4J}], "not_affected"),
    ]
    # And an exception for every vulnerability of the newer version changes its package verdict
    every = {"purl": "pkg:maven/org.apache.logging.log4j/log4j-core", "versions": "vers:maven/>=2.16.0"}
    second = requests.post(f"{feed}/exceptions", json={**every, "type": "caution"}, headers=admin, timeout=10)
    assert second.status_code == 201, second.text
    verdicts = {
        p["purl"]: p["verdict"] for p in requests.get(f"{feed}/packages", headers=admin, timeout=10).json()["items"]
    }
    assert verdicts == {OLD_LOG4J: "block", NEWER_LOG4J: "warn", LODASH: "block"}

    # When the first is deleted, the feed-wide decision is back, and the history says both
    deleted = requests.delete(f"{feed}/exceptions/{exception['id']}", headers=admin, timeout=10)
    assert deleted.status_code == 204, deleted.text
    assert effects(gate(feed, stack, OLD_LOG4J)[OLD_LOG4J])[RECURSION] == ("block", None)
    history = requests.get(f"{feed}/vulnerabilities/{RECURSION}/history", headers=admin, timeout=10).json()["items"]
    assert [e["action"] for e in history] == ["detected", "exception_created", "exception_deleted"]
    stream = requests.get(f"{feed}/vulnerabilities/*/history", headers=admin, timeout=10).json()["items"]
    assert [e["action"] for e in stream] == ["exception_created", "exception_created", "exception_deleted"]


def test_invalid_exceptions_are_422_with_the_reason(stack: RunningStack) -> None:
    admin = stack.headers()
    feed = a_scanned_feed(stack, "refusing", [LODASH])
    for body, field, reason in [
        ({"purl": "pkg:npm/lodash@4.17.20", "type": "ignore"}, "purl", "no version"),
        ({"purl": "pkg:npm/lo*dash", "type": "ignore"}, "purl", "trailing"),
        ({"purl": "pkg:npm/lodash", "versions": "vers:pypi/<1.0", "type": "ignore"}, "versions", "scheme"),
        ({"purl": "pkg:npm/lodash", "versions": "vers:npm/<<1", "type": "ignore"}, "versions", "comparator"),
        ({"purl": "pkg:npm/lodash", "type": "no-such-type"}, "type", "no assessment type"),
        ({"purl": "pkg:npm/lodash", "type": "ignore", "owner": "me"}, "owner", "Extra inputs"),
    ]:
        answer = requests.post(f"{feed}/exceptions", json=body, headers=admin, timeout=10)
        assert answer.status_code == 422, (body, answer.text)
        (detail,) = answer.json()["details"]
        assert detail["loc"][-1] == field, (body, detail)
        assert reason in detail["msg"], (body, detail)
    assert requests.get(f"{feed}/exceptions", headers=admin, timeout=10).json()["items"] == []
    assert requests.get(f"{feed}/exceptions/ex_nothing", headers=admin, timeout=10).status_code == 404


def test_an_expiring_exception_stops_at_once_then_ttl_records_its_expiry(stack: RunningStack) -> None:
    admin = stack.headers()
    feed = a_scanned_feed(stack, "lapsing", [LODASH])
    expires = (datetime.now(UTC) + timedelta(seconds=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"purl": "pkg:npm/lodash", "type": "ignore", "expires_at": expires}
    made = requests.post(f"{feed}/exceptions", json=body, headers=admin, timeout=10)
    assert made.status_code == 201, made.text
    assert gate(feed, stack, LODASH)[LODASH]["verdict"] == "allow" or datetime.now(UTC) >= datetime.fromisoformat(
        expires
    )

    # When its expiry passes, the gate blocks again at once (TTL has not run yet)
    wait_for(lambda: gate(feed, stack, LODASH)[LODASH]["verdict"] == "block", timeout=45, interval=0.3)

    # Then the emulated TTL deletes it and its expiry is recorded once in the feed's stream
    def stream() -> list[str]:
        items = requests.get(f"{feed}/vulnerabilities/*/history", headers=admin, timeout=10).json()["items"]
        return [entry["action"] for entry in items]

    wait_for(lambda: "exception_expired" in stream(), timeout=60, interval=0.5)
    assert stream() == ["exception_created", "exception_expired"]
    assert requests.get(f"{feed}/exceptions/{made.json()['id']}", headers=admin, timeout=10).status_code == 404
