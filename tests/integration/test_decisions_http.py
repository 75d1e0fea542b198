"""A feed's decisions over HTTP on the local stack: GET /feeds/{feed}/decisions
lists the assessment a successful scan left stale and the one expiring soon,
refuses bad parameters with 422, and the hourly ExpiringWarnings schedule
(fired through the control server) publishes Assessment Expiring once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.integration.conftest import RunningStack, wait_for
from tests.integration.test_scans_http import add, finished, history, setup_feed, start
from tests.support import LODASH, LOG4J

FEED = "deciding"


def call(stack: RunningStack, method: str, path: str, key: str | None = None, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{stack.api}{path}", headers=stack.headers(key), timeout=30, **kwargs)


def decisions(stack: RunningStack, key: str | None = None, **params: str) -> tuple[int, Any]:
    answer = call(stack, "GET", f"/feeds/{FEED}/decisions", key, params=params)
    return answer.status_code, answer.json()


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def decided(stack: RunningStack) -> dict[str, str]:
    """The feed: log4j's CVE-2021-44228 assessed until 3 days from now, and
    lodash's CVE-2020-28500 assessed for ever, then lodash removed and the
    feed scanned again, which withdraws lodash's findings; a viewer key."""
    setup_feed(stack, FEED)
    assert add(stack, FEED, [LOG4J, LODASH])["status"] == "succeeded"
    expiring_at = in_days(3)
    for vulnerability_id, body in (
        ("CVE-2021-44228", {"type": "caution", "expires_at": expiring_at}),
        ("CVE-2020-28500", {"type": "ignore", "expires_at": None}),
    ):
        answer = call(stack, "PUT", f"/feeds/{FEED}/vulnerabilities/{vulnerability_id}/assessment", json=body)
        assert answer.status_code == 200, answer.text
    assert call(stack, "DELETE", f"/feeds/{FEED}/packages", params={"purl": LODASH}).status_code == 204
    assert finished(stack, start(stack, feed=FEED))["status"] == "succeeded"
    viewer = call(stack, "POST", "/api-keys", json={"name": "decisions-viewer"}).json()
    granted = call(stack, "PUT", f"/feeds/{FEED}/permissions/{viewer['id']}", json={"role": "viewer"})
    assert granted.status_code == 200
    return {"viewer": viewer["key"], "expires_at": expiring_at}


def test_stale_lists_the_assessment_whose_finding_was_withdrawn(stack: RunningStack, decided: dict[str, str]) -> None:
    status, answer = decisions(stack, decided["viewer"], state="stale")
    assert status == 200, answer
    assert [(i["kind"], i["vulnerability_id"], i["reason"], i["type"]) for i in answer["items"]] == [
        ("assessment", "CVE-2020-28500", "withdrawn", "ignore")
    ]
    assert answer["items"][0]["withdrawn_at"] is not None
    assert answer["next_cursor"] is None


def test_expiring_lists_the_assessment_that_expires_within_the_window(
    stack: RunningStack, decided: dict[str, str]
) -> None:
    status, answer = decisions(stack, decided["viewer"], state="expiring")
    assert status == 200, answer
    assert [(i["vulnerability_id"], i["reason"], i["expires_at"]) for i in answer["items"]] == [
        ("CVE-2021-44228", "expiring", decided["expires_at"])
    ]
    assert decisions(stack, decided["viewer"], state="expiring", within_days="2")[1]["items"] == []
    assert len(decisions(stack, decided["viewer"], state="expiring", within_days="365")[1]["items"]) == 1


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"state": "unused"},
        {"state": "expiring", "within_days": "0"},
        {"state": "expiring", "within_days": "366"},
        {"state": "expiring", "within_days": "1.5"},
        {"state": "stale", "within_days": "7"},
        {"state": "stale", "cursor": "eyJub3QiOiJvdXJzIn0"},
        {"state": "stale", "limit": "0"},
    ],
)
def test_bad_parameters_are_422(stack: RunningStack, decided: dict[str, str], params: dict[str, str]) -> None:
    status, answer = decisions(stack, decided["viewer"], **params)
    assert status == 422, answer
    assert answer["message"].startswith(("The request is not valid", "within_days", "The cursor"))


def test_a_feed_the_key_has_no_role_on_is_404(stack: RunningStack, decided: dict[str, str]) -> None:
    stranger = call(stack, "POST", "/api-keys", json={"name": "decisions-stranger"}).json()["key"]
    answer = call(stack, "GET", f"/feeds/{FEED}/decisions", stranger, params={"state": "stale"})
    assert answer.status_code == 404
    assert call(stack, "GET", "/feeds/no-such-feed/decisions", params={"state": "stale"}).status_code == 404


def expiring_events(stack: RunningStack) -> list[dict[str, Any]]:
    published = requests.get(f"{stack.control}/events", timeout=10).json()["items"]
    return [e for e in published if e["detail-type"] == "Assessment Expiring" and e["detail"]["feed"] == FEED]


def test_the_schedule_publishes_assessment_expiring_once(stack: RunningStack, decided: dict[str, str]) -> None:
    fire = f"{stack.control}/schedules/ExpiringWarnings/fire"
    assert requests.post(fire, timeout=60).json() == {"ok": True}
    (event,) = wait_for(lambda: expiring_events(stack), timeout=30)
    detail = event["detail"]
    assert (detail["vulnerability_id"], detail["type"], detail["expires_at"]) == (
        "CVE-2021-44228",
        "caution",
        decided["expires_at"],
    )
    assert detail["days_left"] == 3
    assert detail["packages"] == [LOG4J]
    assert history(stack, FEED, "CVE-2021-44228")[-1] == "expiring"
    # Fired again (a retried or overlapping run; the invocation is over when fire answers): nothing new is due
    assert requests.post(fire, timeout=60).json() == {"ok": True}
    assert history(stack, FEED, "CVE-2021-44228").count("expiring") == 1
    assert len(expiring_events(stack)) == 1


# ---------------------------------------------------------------- package exceptions among the decisions


@pytest.fixture(scope="module")
def excepted(stack: RunningStack, decided: dict[str, str]) -> dict[str, str]:
    """After the assessments' tests: an exception for log4j that matches the
    feed's package and never expires, and one for left-pad (no package of
    the feed) that expires in 2 days."""
    made = {}
    for name, body in (
        ("matching", {"purl": "pkg:maven/org.apache.logging.log4j/log4j-core", "expires_at": None}),
        ("unused", {"purl": "pkg:npm/left-pad", "vulnerability_ids": ["CVE-2016-0001"], "expires_at": in_days(2)}),
    ):
        answer = call(stack, "POST", f"/feeds/{FEED}/exceptions", json={"type": "ignore", "comment": "c", **body})
        assert answer.status_code == 201, answer.text
        made[name] = answer.json()["id"]
        made[f"{name}_expires_at"] = answer.json()["expires_at"]
    return made


def test_stale_lists_the_exception_that_matches_no_package_after_the_assessments(
    stack: RunningStack, decided: dict[str, str], excepted: dict[str, str]
) -> None:
    status, answer = decisions(stack, decided["viewer"], state="stale")
    assert status == 200, answer
    assert [(i["kind"], i.get("vulnerability_id") or i["id"], i["reason"]) for i in answer["items"]] == [
        ("assessment", "CVE-2020-28500", "withdrawn"),
        ("exception", excepted["unused"], "matches_no_package"),
    ]
    unused = answer["items"][1]
    assert (unused["purl"], unused["vulnerability_ids"], unused["type"]) == (
        "pkg:npm/left-pad",
        ["CVE-2016-0001"],
        "ignore",
    )
    # Paged one at a time, the same two
    first = decisions(stack, decided["viewer"], state="stale", limit="1")[1]
    second = decisions(stack, decided["viewer"], state="stale", limit="1", cursor=first["next_cursor"])[1]
    assert [i["kind"] for i in first["items"] + second["items"]] == ["assessment", "exception"]


def test_expiring_lists_both_kinds_soonest_first(
    stack: RunningStack, decided: dict[str, str], excepted: dict[str, str]
) -> None:
    status, answer = decisions(stack, decided["viewer"], state="expiring")
    assert status == 200, answer
    assert [(i["kind"], i.get("vulnerability_id") or i["id"], i["expires_at"]) for i in answer["items"]] == [
        ("exception", excepted["unused"], excepted["unused_expires_at"]),
        ("assessment", "CVE-2021-44228", decided["expires_at"]),
    ]


def exception_events(stack: RunningStack) -> list[dict[str, Any]]:
    published = requests.get(f"{stack.control}/events", timeout=10).json()["items"]
    return [e for e in published if e["detail-type"] == "Exception Expiring" and e["detail"]["feed"] == FEED]


def test_the_schedule_publishes_exception_expiring_once(
    stack: RunningStack, decided: dict[str, str], excepted: dict[str, str]
) -> None:
    fire = f"{stack.control}/schedules/ExpiringWarnings/fire"
    assert requests.post(fire, timeout=60).json() == {"ok": True}
    (event,) = wait_for(lambda: exception_events(stack), timeout=30)
    detail = event["detail"]
    assert (detail["vulnerability_id"], detail["type"], detail["expires_at"], detail["days_left"]) == (
        "*",
        "ignore",
        excepted["unused_expires_at"],
        2,
    )
    assert excepted["unused"] in detail["reason"]
    for stream in ("*", "CVE-2016-0001"):
        assert history(stack, FEED, stream)[-1] == "exception_expiring"
    assert requests.post(fire, timeout=60).json() == {"ok": True}
    assert history(stack, FEED, "*").count("exception_expiring") == 1
    assert len(exception_events(stack)) == 1
    # The assessment's warning was not repeated, nor one given to an exception as an assessment
    assert len(expiring_events(stack)) == 1
