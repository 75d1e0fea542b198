"""Package exceptions among a feed's decisions (feedguard.decisions): they
are items of the assessments table, so every reader of assessments skips
them (a key condition where one can, else a filter on `entity`), and they
are a decision kind of their own: stale when they match no package of the
feed, expiring, and warned of once by the hourly sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from feedguard import clock, decisions
from feedguard.actors import Actor
from feedguard.dal import assessments as assessment_store
from feedguard.dal import exceptions as exception_store
from feedguard.dal import feeds as feed_store
from feedguard.dal import history, permissions
from feedguard.dal.models import Assessment, ExceptionItem
from feedguard.exceptions import PackageException
from handlers import decisions as decisions_handler
from tests.support import counted_dynamodb_calls, key_caller, request
from tests.unit import builders
from tests.unit.builders import a_finding

ALICE = Actor("kalice", "alice")
PATH = "/feeds/demo/decisions"
VIEWER = key_caller("kviewer", "viewer")


@pytest.fixture
def feed(aws: Any) -> str:
    builders.a_feed("demo", ["pkg:npm/lodash@4.17.20", "pkg:npm/%40acme/widgets@1.0.0"])
    permissions.grant(feed_store.require("demo"), "kviewer", "viewer")
    return "demo"


def an_exception(
    purl: str,
    expires_in: timedelta | None = None,
    versions: str | None = None,
    vulnerability_ids: list[str] | None = None,
    feed: str = "demo",
) -> PackageException:
    return exception_store.create(
        feed,
        purl=purl,
        versions=versions,
        vulnerability_ids=vulnerability_ids,
        type_id="ignore",
        effect="allow",
        comment="c",
        expires_at=clock.now() + expires_in if expires_in is not None else None,
        actor=ALICE,
    )


def assess(vulnerability_id: str, expires_in: timedelta | None = None) -> None:
    expires = clock.now() + expires_in if expires_in is not None else None
    assessment_store.assess(
        "demo", vulnerability_id, type_id="ignore", effect="allow", comment="c", expires_at=expires, actor=ALICE
    )


def listed(state: str, **query: str) -> tuple[int, Any]:
    return request(decisions_handler, "GET", PATH, query={"state": state, **query}, caller=VIEWER)


def assessments_listed(answer: Any) -> list[str]:
    return [item["vulnerability_id"] for item in answer["items"] if item["kind"] == "assessment"]


# ---------------------------------------------------------------- the bug: exceptions read as assessments


def test_an_exception_is_never_listed_or_warned_as_an_assessment(feed: str) -> None:
    a_finding(feed, "CVE-A", "pkg:npm/lodash@4.17.20")
    assess("CVE-A", timedelta(days=3))
    an_exception("pkg:npm/left-pad", timedelta(days=2))  # matches no package, expires soon
    an_exception("pkg:npm/lodash")  # matches, never expires
    status, answer = listed("stale")
    assert status == 200, answer
    assert assessments_listed(answer) == []
    status, answer = listed("expiring")
    assert status == 200, answer
    assert assessments_listed(answer) == ["CVE-A"]
    result = decisions.warn_expiring(clock.now(), 7)
    assert result.failed == []
    assert Assessment.get(feed, "CVE-A").warned_at is not None
    # No assessment's warning was attempted on an exception's key, nor written to its history
    assert [e for e in history.entries(feed, "#exception#") if e.action == "expiring"] == []
    for item in ExceptionItem.query(feed, ExceptionItem.key.startswith("#exception#")):
        assert "version" not in item.attribute_values


def test_a_stale_page_of_assessments_reads_no_exception(feed: str) -> None:
    for n in range(3):
        an_exception(f"pkg:npm/gone-{n}")
    with counted_dynamodb_calls() as counted:
        status, answer = listed("stale")
    assert status == 200
    assert assessments_listed(answer) == []
    # The assessments' Query starts after the exceptions' keys: it reads none, and no BatchGet of findings follows
    assert Assessment.query(feed, Assessment.vulnerability_id >= "$").total_count == 0
    assert counted["Query"] >= 1


# ---------------------------------------------------------------- stale exceptions


def test_stale_lists_exceptions_in_force_that_match_no_package_after_the_assessments(feed: str) -> None:
    a_finding(feed, "CVE-A", "pkg:npm/lodash@4.17.20")
    assess("CVE-A")
    builders.a_finding(feed, "CVE-W")
    assess("CVE-W")
    from feedguard.dal import detections
    from feedguard.findings_plan import WithdrawalPlan

    detections.withdraw(feed, WithdrawalPlan({}, ("CVE-W",)), clock.now())
    matching = [
        an_exception("pkg:npm/lodash"),
        an_exception("pkg:npm/%40acme/*"),
        an_exception("pkg:npm/lodash", versions="vers:npm/<5.0.0"),
    ]
    unmatched = [
        an_exception("pkg:npm/left-pad", vulnerability_ids=["CVE-2021-1"]),
        an_exception("pkg:npm/lodash", versions="vers:npm/>=5.0.0"),  # no lodash of the feed is in the range
        an_exception("pkg:pypi/django"),
    ]
    expired = an_exception("pkg:npm/gone", timedelta(days=1))
    ExceptionItem(feed=feed, key=ExceptionItem.key_of(expired.id)).update(
        actions=[ExceptionItem.expires_at.set(clock.iso(clock.now() - timedelta(minutes=1)))]
    )
    with counted_dynamodb_calls() as counted:
        status, answer = listed("stale")
    assert status == 200, answer
    assert [(i["kind"], i.get("vulnerability_id") or i["id"], i["reason"]) for i in answer["items"]] == [
        ("assessment", "CVE-W", "withdrawn"),
        *[("exception", e.id, "matches_no_package") for e in unmatched],
    ]
    assert matching  # listed nowhere
    first = answer["items"][1]
    assert first == {
        "kind": "exception",
        "reason": "matches_no_package",
        "id": unmatched[0].id,
        "purl": "pkg:npm/left-pad",
        "versions": None,
        "vulnerability_ids": ["CVE-2021-1"],
        "type": "ignore",
        "effect": "allow",
        "comment": "c",
        "created_by": "alice",
        "created_by_id": "kalice",
        "created_at": unmatched[0].created_at,
        "expires_at": None,
    }
    assert answer["next_cursor"] is None
    # The access check's BatchGet; the assessments' Query and their findings' BatchGet;
    # the exceptions' Query and one Query of the feed's purls for all of them
    assert dict(counted) == {"BatchGetItem": 2, "Query": 3}


def test_stale_exceptions_page_with_the_cursor(feed: str) -> None:
    made = [an_exception(f"pkg:npm/gone-{n}") for n in range(5)]
    seen, cursor = [], None
    while True:
        status, answer = listed("stale", limit="2", **({"cursor": cursor} if cursor else {}))
        assert status == 200, answer
        assert len(answer["items"]) <= 2
        seen += [item["id"] for item in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == [e.id for e in made]


def test_a_stale_exceptions_page_reads_a_bounded_number_of_purls(feed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from feedguard.dal import batching
    from feedguard.dal.models import Package

    monkeypatch.setattr(decisions, "PACKAGE_CHUNK", 10)
    monkeypatch.setattr(decisions, "MAX_PACKAGE_QUERIES", 2)
    now = clock.iso(clock.now())
    batching.write(Package, puts=[Package(feed=feed, purl=f"pkg:npm/p{n:03d}@1.0.0", added_at=now) for n in range(45)])
    last = an_exception("pkg:npm/p044")  # the feed's last purl (after @acme and lodash)
    never = an_exception("pkg:npm/nothing")
    pages, seen, cursor = [], [], None
    while True:
        with counted_dynamodb_calls() as counted:
            status, answer = listed("stale", **({"cursor": cursor} if cursor else {}))
        assert status == 200, answer
        pages.append(dict(counted))
        seen += [item["id"] for item in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == [never.id]
    assert last.id not in seen
    # 47 purls, 10 a Query, at most 2 Queries of them a request: 3 requests, each with the access check's
    # BatchGet and the exceptions' Query; the first also Queries the assessments (none, so no BatchGet)
    assert pages == [
        {"BatchGetItem": 1, "Query": 1 + 1 + 2},
        {"BatchGetItem": 1, "Query": 1 + 2},
        {"BatchGetItem": 1, "Query": 1 + 1},  # p038-p044, the last
    ]


def test_a_forged_exceptions_cursor_is_422(feed: str) -> None:
    from feedguard.dal.pages import encode_cursor

    signature = decisions._signature(feed, "stale", None)
    forged = [
        ("1", "not json"),
        ("1", '{"s": 1}'),
        ("1", '{"s":"","p":null,"l":[1],"d":false}'),
        ("1", '{"s":"","p":"' + "x" * 1100 + '","l":null,"d":false}'),
        ("0", "#exception#ex_1"),  # an assessments' resume point below their keys
    ]
    for kind, after in forged:
        cursor = encode_cursor({"query": {"S": signature}, "kind": {"N": kind}, "after": {"S": after}})
        status, answer = listed("stale", cursor=str(cursor))
        assert status == 422, (after, answer)


# ---------------------------------------------------------------- expiring exceptions


def test_expiring_lists_both_kinds_soonest_first_from_one_query(feed: str) -> None:
    a_finding(feed, "CVE-A", "pkg:npm/lodash@4.17.20")
    assess("CVE-A", timedelta(days=3))
    soon = an_exception("pkg:npm/lodash", timedelta(days=1))
    later = an_exception("pkg:npm/left-pad", timedelta(days=5))
    an_exception("pkg:npm/never")
    an_exception("pkg:npm/far", timedelta(days=30))
    with counted_dynamodb_calls() as counted:
        status, answer = listed("expiring")
    assert status == 200, answer
    assert [(i["kind"], i.get("vulnerability_id") or i["id"], i["reason"]) for i in answer["items"]] == [
        ("exception", soon.id, "expiring"),
        ("assessment", "CVE-A", "expiring"),
        ("exception", later.id, "expiring"),
    ]
    assert answer["items"][0]["expires_at"] == soon.expires_at
    assert answer["items"][0]["purl"] == "pkg:npm/lodash"
    assert dict(counted) == {"BatchGetItem": 1, "Query": 1}
    # Paged, one Query a page
    seen, cursor = [], None
    while True:
        with counted_dynamodb_calls() as counted:
            answer = listed("expiring", limit="1", **({"cursor": cursor} if cursor else {}))[1]
        assert dict(counted) == {"BatchGetItem": 1, "Query": 1}
        seen += [i["kind"] for i in answer["items"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == ["exception", "assessment", "exception"]


# ---------------------------------------------------------------- warnings


def test_an_exception_is_warned_once_in_its_histories(feed: str) -> None:
    made = an_exception("pkg:npm/lodash", timedelta(days=2, hours=1), vulnerability_ids=["CVE-X", "CVE-Y"])
    an_exception("pkg:npm/far", timedelta(days=30))
    with counted_dynamodb_calls() as counted:
        result = decisions.warn_expiring(clock.now(), 7)
    assert (result.warned, result.skipped, result.failed) == (1, 0, [])
    # The feeds, one Query of by_expiry for both kinds, one transaction
    assert dict(counted) == {"Query": 2, "TransactWriteItems": 1}
    stored = ExceptionItem.get(feed, ExceptionItem.key_of(made.id))
    assert stored.warned_at is not None
    for stream in (exception_store.FEED_STREAM, "CVE-X", "CVE-Y"):
        (entry,) = [e for e in history.entries(feed, stream) if e.action == "exception_expiring"]
        assert (entry.actor, entry.type, entry.expires_at) == ("auto", "ignore", made.expires_at)
        assert made.id in str(entry.reason)
        assert "in 3 days" in str(entry.reason)
    again = decisions.warn_expiring(clock.now(), 7)
    assert (again.warned, again.skipped) == (0, 0)  # no longer due: by_expiry's filter leaves it out


def test_an_exception_warned_by_another_sweep_meanwhile_is_skipped(feed: str) -> None:
    an_exception("pkg:npm/lodash", timedelta(days=2))
    from feedguard.dal import decisions as decision_store

    (due,) = list(decision_store.due(feed, clock.now(), clock.now() + timedelta(days=7)))
    assert isinstance(due, decision_store.ExceptionDue)
    assert exception_store.record_warning(due.exception, clock.now())
    assert not exception_store.record_warning(due.exception, clock.now())
    exception_store.delete(feed, due.exception.id, actor=ALICE)
    assert not exception_store.record_warning(due.exception, clock.now())  # deleted meanwhile: nothing written
    entries = [e for e in history.entries(feed, exception_store.FEED_STREAM) if e.action == "exception_expiring"]
    assert len(entries) == 1
