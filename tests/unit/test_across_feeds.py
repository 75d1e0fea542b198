"""Across feeds (issue 28, part 5): GET /vulnerabilities by id or by status
over the feeds a key has a role on (the admin: every feed), and POST
/assessments in several feeds at once, each feed checked for its assessor
role. DynamoDB calls are counted for a key with a role on 200 feeds."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from feedguard import clock
from feedguard.dal import batching
from feedguard.dal.models import FEED_SK, Assessment, Feed, FeedPermission, Finding, FindingAlias, HistoryEntry
from feedguard.ids import new_feed_id
from handlers import findings, vulnerabilities
from tests.support import counted_dynamodb_calls, dynamodb_round_trips, key_caller, request
from tests.unit.builders import a_finding


def a_feed_with_id(name: str, unassessed_effect: str = "block") -> str:
    """A feed as POST /feeds makes it (with an id), written directly; its id."""
    feed_id = new_feed_id()
    Feed(
        feed=name, sk=FEED_SK, id=feed_id, unassessed_effect=unassessed_effect, created_at=clock.iso(clock.now())
    ).save()
    return feed_id


def a_role(feed: str, feed_id: str, key_id: str, role: str) -> None:
    FeedPermission(
        feed=feed,
        sk=f"perm#{key_id}",
        member=f"key#{key_id}",
        key_id=key_id,
        role=role,
        granted_at=clock.iso(clock.now()),
        feed_id=feed_id,
    ).save()


KEY = "k0000000000000000000a"
ALICE = key_caller(KEY, "alice")


@pytest.fixture
def world(aws: Any) -> dict[str, str]:
    """Feeds `a` (alice views), `b` (alice assesses, unassessed findings
    warn), `c` (no role), `d` (alice's role was granted on a deleted feed
    of that name): CVE-X is a finding of all four."""
    ids = {
        "a": a_feed_with_id("a"),
        "b": a_feed_with_id("b", unassessed_effect="warn"),
        "c": a_feed_with_id("c"),
        "d": a_feed_with_id("d"),
    }
    a_role("a", ids["a"], KEY, "viewer")
    a_role("b", ids["b"], KEY, "assessor")
    a_role("d", new_feed_id(), KEY, "manager")  # the id of a feed deleted since
    for name, feed_id in ids.items():
        a_finding(feed_id, "CVE-X", f"pkg:npm/{name}@1.0.0", cvss=9.8)
    return ids


def across(query: dict[str, str], caller: dict[str, str] | None = None) -> dict[str, Any]:
    status, body = request(vulnerabilities, "GET", "/vulnerabilities", query=query, caller=caller)
    assert status == 200, body
    return body  # type: ignore[no-any-return]


def test_by_id_the_key_sees_only_the_feeds_it_has_a_role_on(world: dict[str, str]) -> None:
    items = across({"id": "CVE-X"}, ALICE)["items"]
    assert [(i["feed"], i["feed_id"], i["role"]) for i in items] == [
        ("a", world["a"], "viewer"),
        ("b", world["b"], "assessor"),
    ]
    assert [(i["status"], i["effect"], i["packages"]) for i in items] == [
        ("unassessed", "block", ["pkg:npm/a@1.0.0"]),
        ("unassessed", "warn", ["pkg:npm/b@1.0.0"]),
    ]
    assert (items[0]["id"], items[0]["cvss_score"], items[0]["severity"]) == ("CVE-X", 9.8, "critical")


def test_by_id_the_admin_sees_every_feed(world: dict[str, str]) -> None:
    items = across({"id": "CVE-X"})["items"]
    assert [(i["feed"], i["role"]) for i in items] == [("a", "admin"), ("b", "admin"), ("c", "admin"), ("d", "admin")]


def test_a_key_without_roles_sees_nothing_and_an_unknown_id_is_an_empty_list(world: dict[str, str]) -> None:
    assert across({"id": "CVE-X"}, key_caller("k0000000000000000000z"))["items"] == []
    assert across({"id": "CVE-NONE"}, ALICE) == {"items": [], "next_cursor": None}
    assert across({"status": "unassessed"}, key_caller("k0000000000000000000z"))["items"] == []


def test_withdrawn_findings_are_not_listed(world: dict[str, str]) -> None:
    a_finding(world["a"], "CVE-W", status="withdrawn")
    assert across({"id": "CVE-W"}, ALICE)["items"] == []


def assessed_until(feed_id: str, vulnerability_id: str, expires: int) -> None:
    """The finding assessed (allow) until `expires` (epoch seconds), as the assessment's transaction writes it."""
    Finding(feed=feed_id, vulnerability_id=vulnerability_id).update(
        actions=[
            *Finding.status_change(feed_id, "assessed"),
            Finding.assessment_expires_ttl.set(expires),
        ]
    )
    Assessment(
        feed=feed_id,
        vulnerability_id=vulnerability_id,
        type="ignore",
        effect="allow",
        assessed_by="alice",
        assessed_at=clock.iso(clock.now()),
        expires_at=clock.iso(datetime.fromtimestamp(expires, UTC)),
        expires_ttl=expires,
        version=1,
    ).save()


def test_an_assessment_past_its_expiry_is_expired_at_read_time(world: dict[str, str]) -> None:
    assessed_until(world["a"], "CVE-X", int(time.time()) - 60)  # TTL has not deleted it yet
    assessed_until(world["b"], "CVE-X", int(time.time()) + 3600)
    items = across({"id": "CVE-X"}, ALICE)["items"]
    assert [(i["feed"], i["status"], i["effect"]) for i in items] == [
        ("a", "expired", "block"),
        ("b", "assessed", "allow"),
    ]
    assert items[0]["assessment"] is None
    assert items[1]["assessment"]["type"] == "ignore"
    assert [i["feed"] for i in across({"status": "expired"}, ALICE)["items"]] == ["a"]
    assert [i["feed"] for i in across({"status": "assessed"}, ALICE)["items"]] == ["b"]
    assert across({"status": "unassessed"}, ALICE)["items"] == []


def every_page(query: dict[str, str], caller: dict[str, str] | None = None) -> list[tuple[str, str, float]]:
    listed, cursor = [], None
    for _ in range(100):
        body = across({**query, **({"cursor": cursor} if cursor else {})}, caller)
        listed += [(i["feed"], i["id"], i["cvss_score"]) for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return listed
    raise AssertionError("the pages never end")


@pytest.fixture
def scored(world: dict[str, str]) -> list[tuple[str, str, float]]:
    """Findings of many scores in a and b (alice), c (no role), with groups
    of equal score larger than a page: what alice lists by status, in order."""
    shown = [("a", "CVE-X", 9.8), ("b", "CVE-X", 9.8)]
    for name in ("a", "b", "c"):
        for n, score in enumerate([9.1, 9.1, 9.1, 7.0, 7.0, 4.2, 0.0, 10.0]):
            vid = f"CVE-{name}-{n}"
            a_finding(world[name], vid, cvss=score)
            if name != "c":
                shown.append((name, vid, score))
    return sorted(shown, key=lambda row: (-row[2], row[0], row[1]))


@pytest.mark.parametrize("limit", ["1", "2", "3", "5", "500"])
def test_by_status_every_page_lists_each_finding_once_most_severe_first(
    scored: list[tuple[str, str, float]], limit: str
) -> None:
    assert every_page({"status": "unassessed", "limit": limit}, ALICE) == scored


@pytest.mark.parametrize(
    ("query", "low", "high"),
    [
        ({"min_cvss": "9"}, 9.0, 10.0),
        ({"max_cvss": "7"}, 0.0, 7.0),
        ({"min_cvss": "4", "max_cvss": "9.1"}, 4.0, 9.1),
        ({"severity": "high"}, 7.0, 8.9),
        ({"severity": "critical", "max_cvss": "9.5"}, 9.0, 9.5),
        ({"severity": "low", "min_cvss": "7"}, 1.0, 0.0),
    ],
)
def test_score_filters_all_apply(
    scored: list[tuple[str, str, float]], query: dict[str, str], low: float, high: float
) -> None:
    expected = [row for row in scored if low <= row[2] <= high]
    assert every_page({"status": "unassessed", "limit": "4", **query}, ALICE) == expected


def test_the_admin_lists_every_feeds_findings_by_status(scored: list[tuple[str, str, float]]) -> None:
    listed = every_page({"status": "unassessed", "min_cvss": "9.8", "limit": "2"})
    assert listed == [
        ("a", "CVE-a-7", 10.0),
        ("b", "CVE-b-7", 10.0),
        ("c", "CVE-c-7", 10.0),
        ("a", "CVE-X", 9.8),
        ("b", "CVE-X", 9.8),
        ("c", "CVE-X", 9.8),
        ("d", "CVE-X", 9.8),
    ]


def test_by_id_pages_by_feed_name(world: dict[str, str]) -> None:
    assert [row[0] for row in every_page({"id": "CVE-X", "limit": "1"})] == ["a", "b", "c", "d"]
    assert [row[0] for row in every_page({"id": "CVE-X", "limit": "3"})] == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ({}, "id"),
        ({"id": "CVE-X", "status": "unassessed"}, "id"),
        ({"id": "CVE-X", "min_cvss": "9"}, "min_cvss"),
        ({"id": "CVE-X", "severity": "high"}, "severity"),
        ({"id": "CVE-X", "max_cvss": "9"}, "max_cvss"),
        ({"min_cvss": "9"}, "id"),
        ({"status": "withdrawn"}, "status"),
        ({"status": "unassessed", "max_cvss": "11"}, "max_cvss"),
        ({"status": "unassessed", "feed": "a"}, "feed"),
        ({"id": ""}, "id"),
        ({"id": "x" * 201}, "id"),
        ({"status": "unassessed", "cursor": "bm90IGEgY3Vyc29y"}, "cursor"),
        ({"status": "unassessed", "cursor": "%%%"}, "cursor"),
    ],
)
def test_invalid_parameters_are_422_naming_the_parameter(
    world: dict[str, str], query: dict[str, str], where: str
) -> None:
    status, body = request(vulnerabilities, "GET", "/vulnerabilities", query=query, caller=ALICE)
    assert status == 422, body
    assert [where] == [detail["loc"][-1] for detail in body["details"]][:1]


@pytest.mark.parametrize(
    "other",
    [
        {"status": "unassessed", "min_cvss": "9"},
        {"status": "assessed"},
        {"id": "CVE-X"},
    ],
)
def test_a_cursor_continues_only_the_list_it_came_from(world: dict[str, str], other: dict[str, str]) -> None:
    a_finding(world["a"], "CVE-Y", cvss=9.9)
    cursor = across({"status": "unassessed", "limit": "1"}, ALICE)["next_cursor"]
    assert cursor
    status, body = request(vulnerabilities, "GET", "/vulnerabilities", query={**other, "cursor": cursor}, caller=ALICE)
    assert status == 422, body
    id_cursor = across({"id": "CVE-X", "limit": "1"}, ALICE)["next_cursor"]
    assert id_cursor
    status, body = request(
        vulnerabilities, "GET", "/vulnerabilities", query={"status": "unassessed", "cursor": id_cursor}, caller=ALICE
    )
    assert status == 422, body


# ---------------------------------------------------------------- 200 feeds: calls and round trips


@pytest.fixture
def two_hundred(aws: Any) -> list[str]:
    """A key viewing 200 feeds (and 50 others it has no role on), CVE-X and
    one critical unassessed finding in each."""
    now = clock.iso(clock.now())
    feed_items, roles, rows = [], [], []
    names = [f"feed-{n:03d}" for n in range(250)]
    for n, name in enumerate(names):
        feed_id = new_feed_id()
        feed_items.append(Feed(feed=name, sk=FEED_SK, id=feed_id, unassessed_effect="block", created_at=now))
        if n < 200:
            roles.append(
                FeedPermission(
                    feed=name,
                    sk=f"perm#{KEY}",
                    member=f"key#{KEY}",
                    key_id=KEY,
                    role="viewer",
                    granted_at=now,
                    feed_id=feed_id,
                )
            )
        for vid, score in (("CVE-X", 7.5), (f"CVE-{n:03d}", 9.0 + (n % 10) / 10)):
            rows.append(
                Finding(
                    feed=feed_id,
                    vulnerability_id=vid,
                    packages={"pkg:npm/x@1"},
                    status="unassessed",
                    feed_status=f"{feed_id}#unassessed",
                    score_key=f"{round(score * 10):03d}",
                    cvss_score=score,
                    severity_band="critical" if score >= 9 else "high",
                    first_seen=now,
                    last_seen=now,
                )
            )
    batching.write(Feed, feed_items)
    batching.write(FeedPermission, roles)
    batching.write(Finding, rows)
    return names[:200]


def test_by_id_for_200_feeds_costs_8_calls_in_3_round_trips(two_hundred: list[str]) -> None:
    with counted_dynamodb_calls() as calls, dynamodb_round_trips(latency=0.02) as trips:
        items = across({"id": "CVE-X", "limit": "500"}, ALICE)["items"]
    assert [item["feed"] for item in items] == two_hundred
    # The key's roles (1 Query) and the index (1 Query) at once; the 200
    # feeds' items (2 BatchGets); 200 findings and 200 assessments (4 BatchGets).
    assert calls == {"Query": 2, "BatchGetItem": 6}
    assert trips.sequential == 3


def test_by_status_for_200_feeds_costs_a_query_a_feed_16_at_a_time(two_hundred: list[str]) -> None:
    with counted_dynamodb_calls() as calls, dynamodb_round_trips(latency=0.02) as trips:
        body = across({"status": "unassessed", "min_cvss": "9", "limit": "100"}, ALICE)
    assert len(body["items"]) == 100
    assert body["next_cursor"]
    assert {item["cvss_score"] for item in body["items"]} == {9.9, 9.8, 9.7, 9.6, 9.5}
    # roles; feeds (2 BatchGets); 200 Queries; the page's assessments (1 BatchGet)
    assert calls == {"Query": 201, "BatchGetItem": 3}
    # The Queries go 16 at a time: 1 + 1 + ceil(200 / 16) + 1 = 16 round trips
    # by design (python -m bench across meters them). Threads on a loaded
    # machine start unevenly and chains of calls lengthen, so what is asserted
    # is the bound and that the Queries overlap, far from 203 in a row.
    assert 1 < trips.peak("Query") <= 16
    assert trips.sequential < 100


# ---------------------------------------------------------------- POST /assessments


def assess_across(body: dict[str, Any], caller: dict[str, str] | None = None) -> tuple[int, Any]:
    return request(vulnerabilities, "POST", "/assessments", body=body, caller=caller)


def history_of(feed_id: str, vulnerability_id: str) -> list[tuple[str, str | None, str | None]]:
    return [(entry.action, entry.actor_id, entry.type) for entry in HistoryEntry.query(f"{feed_id}#{vulnerability_id}")]


def test_it_assesses_only_where_the_key_is_an_assessor(world: dict[str, str]) -> None:
    a_finding(world["b"], "CVE-B")
    status, body = assess_across(
        {
            "feeds": ["a", "b", "c", "d", "nope", "b"],
            "vulnerability_ids": ["CVE-X", "CVE-B", "CVE-NONE"],
            "type": "caution",
            "comment": "reviewed across feeds",
        },
        ALICE,
    )
    assert status == 200, body
    assert body == {
        "assessed": [
            {"feed": "b", "vulnerability_id": "CVE-X", "version": 1},
            {"feed": "b", "vulnerability_id": "CVE-B", "version": 1},
        ],
        "refused": [
            {"feed": "a", "reason": "Your role on feed a is viewer; this needs assessor."},
            # no role, a role left from a deleted feed, no feed: the same words
            {"feed": "c", "reason": "There is no feed named c."},
            {"feed": "d", "reason": "There is no feed named d."},
            {"feed": "nope", "reason": "There is no feed named nope."},
        ],
        "not_found": [{"feed": "b", "vulnerability_id": "CVE-NONE"}],
        "failed": [],
    }
    for name in ("a", "c", "d"):
        assert Assessment.count(world[name]) == 0
        assert [entry[0] for entry in history_of(world[name], "CVE-X")] == ["detected"]
    assert history_of(world["b"], "CVE-X") == [("detected", "scanner", None), ("assessed", KEY, "caution")]
    shown = across({"id": "CVE-X"}, ALICE)["items"][1]
    assert (shown["feed"], shown["status"], shown["effect"]) == ("b", "assessed", "warn")
    assert shown["assessment"]["comment"] == "reviewed across feeds"


def test_it_writes_what_put_assessment_writes_and_versions_grow(world: dict[str, str]) -> None:
    """The same finding assessed by PUT …/assessment in one feed and by
    POST /assessments in another: the same assessment, history and version."""
    admin_feed = "c"
    request(findings, "PUT", "/feeds/a/vulnerabilities/CVE-X/assessment", body={"type": "ignore"})
    status, body = assess_across({"feeds": [admin_feed], "vulnerability_ids": ["CVE-X"], "type": "ignore"})
    assert status == 200, body
    put = Assessment.get(world["a"], "CVE-X")
    posted = Assessment.get(world[admin_feed], "CVE-X")
    fields = ("type", "effect", "comment", "assessed_by", "assessed_by_id", "expires_at", "severity_band", "version")
    assert {f: getattr(put, f) for f in fields} == {f: getattr(posted, f) for f in fields}
    assert history_of(world["a"], "CVE-X") == history_of(world[admin_feed], "CVE-X")
    status, body = assess_across({"feeds": [admin_feed], "vulnerability_ids": ["CVE-X"], "type": "blocked"})
    assert body["assessed"] == [{"feed": admin_feed, "vulnerability_id": "CVE-X", "version": 2}]
    assert Finding.get(world[admin_feed], "CVE-X").assessment_version == 2


@pytest.mark.parametrize(
    "body",
    [
        {"feeds": ["b"], "vulnerability_ids": ["CVE-X"], "type": "no-such-type"},
        {"feeds": ["b"], "vulnerability_ids": ["CVE-X"], "type": "unassessed"},
        {"feeds": ["b"], "vulnerability_ids": ["CVE-X"], "type": "ignore", "expires_at": "2001-01-01T00:00:00Z"},
        {"feeds": ["b"], "vulnerability_ids": ["CVE-X"], "type": "ignore", "expires_at": "tomorrow"},
        {"feeds": [], "vulnerability_ids": ["CVE-X"], "type": "ignore"},
        {"feeds": ["b"], "vulnerability_ids": [], "type": "ignore"},
        {"feeds": [f"f{n}" for n in range(51)], "vulnerability_ids": ["CVE-X"], "type": "ignore"},
        {"feeds": ["b"], "vulnerability_ids": [f"CVE-{n}" for n in range(51)], "type": "ignore"},
        {"feeds": "b", "vulnerability_ids": ["CVE-X"], "type": "ignore"},
        {"feeds": ["b"], "vulnerability_ids": ["CVE-X"], "type": "ignore", "feed": "b"},
        {"feeds": ["b"], "vulnerability_ids": ["x" * 201], "type": "ignore"},
        {"vulnerability_ids": ["CVE-X"], "type": "ignore"},
    ],
)
def test_an_invalid_body_is_422_and_changes_nothing(world: dict[str, str], body: dict[str, Any]) -> None:
    status, answer = assess_across(body, ALICE)
    assert status == 422, answer
    assert Assessment.count(world["b"]) == 0
    assert [entry[0] for entry in history_of(world["b"], "CVE-X")] == ["detected"]


def test_at_the_limits_every_finding_is_assessed(aws: Any) -> None:
    ids = {f"feed-{n:02d}": a_feed_with_id(f"feed-{n:02d}") for n in range(50)}
    for feed_id in list(ids.values())[:2]:
        for n in range(50):
            a_finding(feed_id, f"CVE-{n:02d}")
    with counted_dynamodb_calls() as calls:
        status, body = assess_across(
            {"feeds": list(ids), "vulnerability_ids": [f"CVE-{n:02d}" for n in range(50)], "type": "ignore"}
        )
    assert status == 200
    # The type (built-in: no read); the 50 feeds (1 BatchGet); which of the
    # 2,500 pairs are findings (25 BatchGets); then each of the 100 as PUT
    # does it: the finding, its assessment, one transaction.
    assert calls == {"BatchGetItem": 26, "GetItem": 200, "TransactWriteItems": 100}
    assert len(body["assessed"]) == 100
    assert len(body["not_found"]) == 48 * 50
    assert body["refused"] == body["failed"] == []


def test_a_conflict_that_outlasts_the_retries_is_reported_in_failed_not_a_500(
    world: dict[str, str], monkeypatch: pytest.MonkeyPatch, aws: Any
) -> None:
    """Other transactions holding the finding past every retry (a 409 for
    PUT …/assessment): the pair is listed in `failed`, nothing is written for
    it, and the others are assessed."""
    from tests.unit.test_dynamodb_faults import conflict, refused_transactions

    monkeypatch.setattr("feedguard.dal.transactions.time.sleep", lambda seconds: None)
    # 6 attempts of the first write (transactions.CONFLICT_ATTEMPTS); the second finds the way clear
    with refused_transactions(aws.table_names["AssessmentsTable"], conflict, times=6) as cancelled:
        status, body = assess_across({"feeds": ["b"], "vulnerability_ids": ["CVE-X"], "type": "ignore"}, ALICE)
    assert len(cancelled) == 6
    assert status == 200, body
    assert body["failed"] == [
        {"feed": "b", "vulnerability_id": "CVE-X", "reason": "Someone else is changing this right now; try again."}
    ]
    assert body["assessed"] == []
    assert Assessment.count(world["b"]) == 0
    assert [entry[0] for entry in history_of(world["b"], "CVE-X")] == ["detected"]
    status, body = assess_across({"feeds": ["b"], "vulnerability_ids": ["CVE-X"], "type": "ignore"}, ALICE)
    assert body["assessed"] == [{"feed": "b", "vulnerability_id": "CVE-X", "version": 1}]


def a_known_alias(feed_id: str, alias: str, of: str) -> None:
    """The finding `of` learnt `alias`, as a scan that heard both records it."""
    finding = Finding.get(feed_id, of, consistent_read=True)
    finding.update(actions=[Finding.aliases.set({alias})])
    FindingAlias(feed=feed_id, vulnerability_id=alias, alias_of=of).save()


def test_an_alias_answers_for_its_finding_across_feeds_and_is_assessed_once(world: dict[str, str]) -> None:
    a_known_alias(world["a"], "GHSA-xxxx-yyyy-zzzz", "CVE-X")
    a_known_alias(world["b"], "GHSA-xxxx-yyyy-zzzz", "CVE-X")
    # By the alias: the findings of both feeds alice sees, named by their canonical id
    items = across({"id": "GHSA-xxxx-yyyy-zzzz"}, ALICE)["items"]
    assert [(i["feed"], i["id"]) for i in items] == [("a", "CVE-X"), ("b", "CVE-X")]
    # Naming the finding by both its ids assesses it once, by its canonical id
    status, body = assess_across(
        {"feeds": ["b"], "vulnerability_ids": ["GHSA-xxxx-yyyy-zzzz", "CVE-X"], "type": "caution"}, ALICE
    )
    assert status == 200, body
    assert body["assessed"] == [{"feed": "b", "vulnerability_id": "CVE-X", "version": 1}]
    assert body["not_found"] == []
    assert Assessment.get(world["b"], "CVE-X", consistent_read=True).version == 1
