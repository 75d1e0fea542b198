"""The gate's inline lookups spend paid coordinates (issue 27, finding 1):
each key has a daily budget of them (GateLookupBudgetPerKey); past it,
purls never scanned are not looked up and say why."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from feedguard import clock
from feedguard.dal import budgets, permissions
from feedguard.dal import feeds as feed_store
from feedguard.dal.models import LookupBudget
from handlers import gate
from infra.fake_ossindex import FakeOssIndex
from tests.support import ADMIN, LambdaContext, key_caller, load_event
from tests.unit import test_gate
from tests.unit.test_gate import CLEAN, LODASH, VIEWER

# The gate tests' feed: demo, unassessed_effect warn, lodash scanned, the fake OSS Index its source.
feed = test_gate.feed
_no_backoff_sleeps = test_gate._no_backoff_sleeps

OTHER_VIEWER = key_caller("kother")
NEVER_SEEN = [f"pkg:npm/never-seen-{n}@1.0.0" for n in range(8)]


@pytest.fixture
def budget_of_5(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_LOOKUP_BUDGET_PER_KEY", "5")


def check(purls: list[str], caller: dict[str, str] = VIEWER) -> tuple[int, dict[str, str], dict[str, Any]]:
    """POST /feeds/demo/check as API Gateway sends it: (status, headers, results by purl)."""
    event = load_event("api-keys-list.json")
    event.update(httpMethod="POST", path="/feeds/demo/check", resource="/feeds/demo/check")
    event["requestContext"]["httpMethod"] = "POST"
    event["body"] = json.dumps({"purls": purls})
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None
    event["requestContext"]["authorizer"] = {"principalId": caller["key_id"], **caller}
    response = gate.handler(event, LambdaContext())
    body = json.loads(response["body"])
    results = {result["purl"]: result for result in body.get("results", [])}
    headers = {**(response.get("headers") or {})}
    headers.update({name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()})
    return response["statusCode"], headers, results


def test_past_the_budget_never_scanned_purls_are_not_looked_up_and_say_why(
    feed: FakeOssIndex, budget_of_5: None
) -> None:
    # Given a viewer's budget of 5 coordinates a day
    # When it checks 8 purls the feed never scanned
    status, headers, results = check(NEVER_SEEN)
    # Then the first 5 are looked up, and the other 3 are not: the feed's
    # unassessed_effect, scanned false, lookup budget_exhausted
    assert status == 200
    assert feed.stats()["coordinates_asked"] == 5
    looked_up = [results[purl] for purl in NEVER_SEEN[:5]]
    assert {(r["scanned"], r["lookup"]) for r in looked_up} == {(True, None)}
    for purl in NEVER_SEEN[5:]:
        assert (results[purl]["scanned"], results[purl]["verdict"]) == (False, "warn")
        assert (results[purl]["lookup"], results[purl]["vulnerabilities"]) == ("budget_exhausted", [])
    assert headers["X-Feedguard-Lookup-Budget-Remaining"] == "0"
    # And a later check asks nothing more, while what was looked up (cached)
    # and what the feed scanned answer as before, at no cost
    status, headers, again = check([*NEVER_SEEN, LODASH, CLEAN])
    assert feed.stats()["coordinates_asked"] == 5
    assert [again[purl]["lookup"] for purl in NEVER_SEEN] == [None] * 5 + ["budget_exhausted"] * 3
    assert (again[LODASH]["scanned"], again[CLEAN]["scanned"]) == (True, True)
    assert headers["X-Feedguard-Lookup-Budget-Remaining"] == "0"


def test_each_key_has_its_own_budget_and_the_admin_is_not_counted(feed: FakeOssIndex, budget_of_5: None) -> None:
    permissions.grant(feed_store.require("demo"), "kother", "viewer")
    check(NEVER_SEEN[:5])
    # Another viewer still has its 5
    fresh = [f"pkg:npm/other-{n}@1.0.0" for n in range(3)]
    _, headers, results = check(fresh, OTHER_VIEWER)
    assert {r["lookup"] for r in results.values()} == {None}
    assert headers["X-Feedguard-Lookup-Budget-Remaining"] == "2"
    # The admin key looks up whatever it asks, and carries no budget header
    _, headers, results = check(NEVER_SEEN[5:], ADMIN)
    assert {(r["scanned"], r["lookup"]) for r in results.values()} == {(True, None)}
    _, headers, results = check([f"pkg:npm/admin-{n}@1.0.0" for n in range(8)], ADMIN)
    assert {(r["scanned"], r["lookup"]) for r in results.values()} == {(True, None)}
    assert "X-Feedguard-Lookup-Budget-Remaining" not in headers


def test_a_check_of_scanned_purls_spends_nothing_and_has_no_budget_header(
    feed: FakeOssIndex, budget_of_5: None
) -> None:
    _, headers, results = check([LODASH, CLEAN])
    assert {r["lookup"] for r in results.values()} == {None}
    assert "X-Feedguard-Lookup-Budget-Remaining" not in headers
    assert budgets.spent("kviewer", clock.now()) == 0


def test_checks_at_once_never_spend_more_than_the_budget(aws: Any) -> None:
    # Given ten reservations of one coordinate at once against a budget of 5
    now = clock.now()
    granted: list[int] = []
    start = threading.Barrier(10, timeout=10)

    def reserve() -> None:
        start.wait()
        granted.append(budgets.reserve("kbusy", 1, 5, now)[0])

    threads = [threading.Thread(target=reserve) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then exactly 5 are granted, and the count says 5
    assert sorted(granted) == [0] * 5 + [1] * 5
    assert budgets.spent("kbusy", now) == 5
    # And a reservation larger than what is left gets what is left
    assert budgets.reserve("kpartial", 4, 5, now) == (4, 1)
    assert budgets.reserve("kpartial", 4, 5, now) == (1, 0)
    assert budgets.reserve("kpartial", 4, 5, now) == (0, 0)


def test_a_days_count_starts_at_zero_and_expires_after_the_next_day(aws: Any) -> None:
    late = datetime(2026, 12, 7, 23, 59, 59, tzinfo=UTC)
    assert budgets.reserve("kday", 5, 5, late) == (5, 0)
    next_day = datetime(2026, 12, 8, 0, 0, 1, tzinfo=UTC)
    assert budgets.reserve("kday", 5, 5, next_day) == (5, 0)
    item = LookupBudget.get("kday#2026-12-07")
    assert item.expires_ttl == int(datetime(2026, 12, 9, tzinfo=UTC).timestamp())
