"""Scans of every feed over HTTP, on a local stack of their own without the
demo data, so that all a scan of every feed asks OSS Index is theirs to
count: cross-feed deduplication, the cache, and the schedule firing twice."""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.integration.conftest import RunningStack, start_stack, stop_stack
from tests.integration.test_scans_http import findings, finished, history, start
from tests.support import CLEAN, LODASH, LOG4J

MADE_UP = [f"pkg:npm/every-feed-{n}@1.0.0" for n in range(300)]  # clean
FEEDS = {
    "every-a": [*MADE_UP[:200], LOG4J, CLEAN],
    "every-b": [*MADE_UP[100:], LOG4J, LODASH, CLEAN],
    "every-c": [*MADE_UP[:50], *MADE_UP[250:], LODASH],
}
DISTINCT = len({purl for purls in FEEDS.values() for purl in purls})


@pytest.fixture(scope="module")
def own_stack() -> Iterator[RunningStack]:
    running = start_stack(FEEDGUARD_SEED="0")
    yield running
    assert stop_stack(running) == 0, running.log.read_text()[-3000:]


@pytest.fixture(scope="module")
def feeds(own_stack: RunningStack) -> RunningStack:
    """Three overlapping feeds with their packages, then one source attached
    to all three (so adding the packages scanned nothing)."""
    api, admin = own_stack.api, own_stack.headers()
    ossindex = requests.get(f"{own_stack.control}/status", timeout=10).json()["ossindex"]
    source = requests.post(
        f"{api}/sources",
        json={"name": "shared", "kind": "ossindex", "url": ossindex, "token": "local-fake-token"},
        headers=admin,
        timeout=10,
    ).json()["id"]
    for name, purls in FEEDS.items():
        assert requests.post(f"{api}/feeds", json={"name": name}, headers=admin, timeout=10).status_code == 201
        added = requests.post(f"{api}/feeds/{name}/packages", json={"purls": purls}, headers=admin, timeout=60)
        assert added.status_code == 200, added.text
        assert added.json().get("scan_id") is None  # no source yet
    for name in FEEDS:
        assert requests.put(f"{api}/feeds/{name}/sources/{source}", headers=admin, timeout=10).status_code == 200
    return own_stack


def fake_stats(stack: RunningStack) -> dict[str, Any]:
    return dict(requests.get(f"{stack.control}/ossindex", timeout=10).json())


def test_the_schedule_firing_twice_at_once_creates_each_finding_once(feeds: RunningStack) -> None:
    # Given two firings of the schedule a moment apart (the local scheduler
    # invokes the coordinator once at a time), whose scans overlap: OSS Index
    # answers each request in 300 ms, so both scans are asking at once. (Two
    # batches creating one finding at the same instant, which the stack
    # cannot arrange on demand, is tests/unit/test_detections.py's.)
    assert requests.put(f"{feeds.control}/ossindex/latency", json={"ms": 300}, timeout=10).status_code == 200
    try:
        with ThreadPoolExecutor(max_workers=2) as firing:
            fired = list(
                firing.map(
                    lambda _: requests.post(f"{feeds.control}/schedules/Schedule/fire", timeout=60).json(), [1, 2]
                )
            )
    finally:
        requests.put(f"{feeds.control}/ossindex/latency", json={"ms": 0}, timeout=10)
    assert fired == [{"ok": True}, {"ok": True}]
    listed = requests.get(f"{feeds.api}/scans", headers=feeds.headers(), timeout=10).json()["items"]
    assert len(listed) == 2
    scans = [finished(feeds, scan["id"]) for scan in listed]
    # Then each scan counted each of its batches once
    assert [(scan["status"], scan["feed"], scan["packages_scanned"]) for scan in scans] == [
        ("succeeded", None, DISTINCT)
    ] * 2
    # And each finding was created once, by one scan or the other, listing
    # every package of its feed that reports it
    found = {feed: findings(feeds, feed) for feed in FEEDS}
    assert sum(scan["findings_new"] for scan in scans) == sum(len(open_) for open_ in found.values())
    assert {feed: {tuple(packages) for _, packages in open_.values()} for feed, open_ in found.items()} == {
        "every-a": {(LOG4J,)},
        "every-b": {(LOG4J,), (LODASH,)},
        "every-c": {(LODASH,)},
    }
    for feed, open_ in found.items():
        for vulnerability_id in open_:
            assert history(feeds, feed, vulnerability_id) == ["detected"]


def test_a_scan_of_every_feed_asks_about_each_distinct_purl_once(feeds: RunningStack) -> None:
    before = fake_stats(feeds)
    # A refreshed scan of every feed: 3 feeds, 303 distinct purls among their 716 packages
    scan = finished(feeds, start(feeds, refresh=True))
    expected_requests = math.ceil(DISTINCT / 128)
    assert (scan["status"], scan["packages_total"], scan["packages_scanned"]) == ("succeeded", DISTINCT, DISTINCT)
    assert (scan["requests_made"], scan["cache_hits"], scan["errors"]) == (expected_requests, 0, [])
    after = fake_stats(feeds)
    assert after["requests"] - before["requests"] == expected_requests
    assert after["coordinates_asked"] - before["coordinates_asked"] == DISTINCT
    assert after["max_in_flight"] <= 4
    # Within the day every answer comes from the cache: OSS Index is not asked
    again = finished(feeds, start(feeds))
    assert (again["status"], again["requests_made"], again["cache_hits"]) == ("succeeded", 0, DISTINCT)
    assert fake_stats(feeds)["requests"] == after["requests"]
