"""Assessing over HTTP on the local stack, with no mocked clock: an
assessment expiring a few seconds after it was made counts as expired at
once on read, then the emulated TTL deletes it and the expiry function
records exactly one `expired` entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from tests.integration.conftest import RunningStack, wait_for
from tests.integration.test_scans_http import finished, setup_feed

LODASH = "pkg:npm/lodash@4.17.20"


def test_an_expiring_assessment_flips_at_once_then_ttl_records_one_expiry(stack: RunningStack) -> None:
    api, admin = stack.api, stack.headers()
    setup_feed(stack, "expiring")
    added = requests.post(f"{api}/feeds/expiring/packages", json={"purls": [LODASH]}, headers=admin, timeout=30).json()
    finished(stack, added["scan_id"])
    finding = f"{api}/feeds/expiring/vulnerabilities/CVE-2021-23337"

    # Given an assessment that expires a few seconds from now: the lead must
    # cover the PUT and GET below on a loaded CI machine (seconds are truncated)
    expires = (datetime.now(UTC) + timedelta(seconds=12)).strftime("%Y-%m-%dT%H:%M:%SZ")
    put = requests.put(
        f"{finding}/assessment", json={"type": "ignore", "expires_at": expires}, headers=admin, timeout=10
    )
    assert put.status_code == 200, put.text
    assert put.json()["expires_at"] == expires
    assert requests.get(finding, headers=admin, timeout=10).json()["status"] == "assessed" or (
        datetime.now(UTC) >= datetime.fromisoformat(expires)
    ), "read as expired before its expiry"

    # When its expiry passes, it reads as expired at once (TTL has not run yet)
    def expired_on_read() -> bool:
        return bool(requests.get(finding, headers=admin, timeout=10).json()["status"] == "expired")

    wait_for(expired_on_read, timeout=45, interval=0.2)
    assert requests.get(finding, headers=admin, timeout=10).json()["effect"] == "block"

    # Then the emulated TTL deletes it and exactly one `expired` entry appears
    def history_actions() -> list[str]:
        items = requests.get(f"{finding}/history", headers=admin, timeout=10).json()["items"]
        return [entry["action"] for entry in items]

    try:
        wait_for(lambda: "expired" in history_actions(), timeout=60, interval=0.5)
    except AssertionError:
        expiry_calls = stack.invocations("ExpiryFunction")
        raise AssertionError(
            f"no expiry: history {history_actions()}, expiry calls {expiry_calls[-3:]}, "
            f"log: {stack.log.read_text()[-2000:]}"
        ) from None
    assert history_actions() == ["detected", "assessed", "expired"]
    assert requests.get(finding, headers=admin, timeout=10).json()["status"] == "expired"


def test_a_stale_if_match_is_412_over_http(stack: RunningStack) -> None:
    api, admin = stack.api, stack.headers()
    setup_feed(stack, "locked")
    added = requests.post(f"{api}/feeds/locked/packages", json={"purls": [LODASH]}, headers=admin, timeout=30).json()
    finished(stack, added["scan_id"])
    url = f"{api}/feeds/locked/vulnerabilities/CVE-2021-23337/assessment"
    first = requests.put(url, json={"type": "caution"}, headers=admin, timeout=10).json()
    assert (
        requests.put(
            url, json={"type": "blocked"}, headers={**admin, "If-Match": str(first["version"])}, timeout=10
        ).status_code
        == 200
    )
    stale = requests.put(url, json={"type": "ignore"}, headers={**admin, "If-Match": str(first["version"])}, timeout=10)
    assert stale.status_code == 412
    assert (
        requests.get(f"{api}/feeds/locked/vulnerabilities/CVE-2021-23337", headers=admin, timeout=10).json()[
            "assessment"
        ]["type"]
        == "blocked"
    )
