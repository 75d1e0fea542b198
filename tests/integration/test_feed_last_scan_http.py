"""GET /feeds/{feed}'s last_scan over HTTP on the local stack: the scan the
console shows beside a feed, from added packages to a requested rescan."""

from __future__ import annotations

from typing import Any

import requests

from tests.integration.conftest import RunningStack
from tests.integration.test_scans_http import add, finished, setup_feed, start
from tests.support import LODASH

FEED = "last-scanned"


def feed(stack: RunningStack, key: str | None = None) -> dict[str, Any]:
    answer = requests.get(f"{stack.api}/feeds/{FEED}", headers=stack.headers(key), timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_last_scan_follows_the_feeds_scans(stack: RunningStack) -> None:
    # Given a feed with a source and no package: never scanned
    setup_feed(stack, FEED)
    assert feed(stack)["last_scan"] is None
    # When packages are added, their scan is its last scan once it ends
    scan = add(stack, FEED, [LODASH])
    assert feed(stack)["last_scan"] == {
        "id": scan["id"],
        "status": "succeeded",
        "started_at": scan["started_at"],
        "finished_at": scan["finished_at"],
        "feed": FEED,
        "trigger": "packages",
    }
    # And a requested rescan is its last scan at once, then with its end
    rescan = start(stack, feed=FEED)
    assert feed(stack)["last_scan"]["id"] == rescan
    ended = finished(stack, rescan)
    viewer = requests.post(
        f"{stack.api}/api-keys", json={"name": "last-scan-viewer"}, headers=stack.headers(), timeout=10
    )
    granted = requests.put(
        f"{stack.api}/feeds/{FEED}/permissions/{viewer.json()['id']}",
        json={"role": "viewer"},
        headers=stack.headers(),
        timeout=10,
    )
    assert granted.status_code == 200
    # As a viewer of the feed sees it too
    seen = feed(stack, viewer.json()["key"])["last_scan"]
    assert (seen["id"], seen["status"], seen["finished_at"], seen["trigger"]) == (
        rescan,
        "succeeded",
        ended["finished_at"],
        "api",
    )
