"""The gate: verdicts, inline lookups of never-scanned purls, bounded cost."""

from __future__ import annotations

from typing import Any

import pytest

from feedguard import clock
from feedguard.dal import feeds as feed_store
from feedguard.dal import permissions
from feedguard.dal import sources as source_store
from feedguard.dal.models import Assessment, CachedAnswer, FeedAttachment, Finding, Package
from handlers import gate
from infra.fake_ossindex import FakeOssIndex, Fault
from tests.support import counted_dynamodb_calls, key_caller, request
from tests.unit import builders
from tests.unit.builders import a_finding

VIEWER = key_caller("kviewer")
LODASH, CLEAN, NEW = "pkg:npm/lodash@4.17.20", "pkg:npm/lodash@4.17.21", "pkg:npm/minimist@1.2.5"


@pytest.fixture(autouse=True)
def _no_backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("feedguard.ossindex.time.sleep", lambda seconds: None)


@pytest.fixture
def feed(aws: Any, oss: tuple[FakeOssIndex, str]) -> FakeOssIndex:
    builders.a_feed("demo", unassessed_effect="warn")
    permissions.grant(feed_store.require("demo"), "kviewer", "viewer")
    source = source_store.create("src-guide", {"name": "guide", "url": oss[1], "auth": "bearer"}, "local-fake-token")
    now = clock.iso(clock.now())
    FeedAttachment(
        feed="demo", sk=f"source#{source.id}", member=f"source#{source.id}", source_id=source.id, attached_at=now
    ).save()
    Package(
        feed="demo",
        purl=LODASH,
        added_at=now,
        last_scanned_at=now,
        vulnerability_ids={"CVE-2021-23337", "CVE-2020-28500"},
    ).save()
    Package(feed="demo", purl=CLEAN, added_at=now, last_scanned_at=now).save()
    a_finding("demo", "CVE-2021-23337", LODASH, cvss=7.2)
    a_finding("demo", "CVE-2020-28500", LODASH, cvss=5.3, status="assessed")
    Assessment(
        feed="demo", vulnerability_id="CVE-2020-28500", type="ignore", effect="allow", assessed_by="a", assessed_at=now
    ).save()
    return oss[0]


def check(*purls: str) -> dict[str, Any]:
    status, answer = request(gate, "POST", "/feeds/demo/check", body={"purls": list(purls)}, caller=VIEWER)
    assert status == 200, answer
    return {result["purl"]: result for result in answer["results"]}


def test_the_verdict_is_the_strongest_effect_of_the_purls_findings(feed: FakeOssIndex) -> None:
    results = check(LODASH, CLEAN)
    assert (results[LODASH]["verdict"], results[LODASH]["scanned"]) == ("warn", True)
    assert sorted((v["id"], v["status"], v["effect"]) for v in results[LODASH]["vulnerabilities"]) == [
        ("CVE-2020-28500", "assessed", "allow"),
        ("CVE-2021-23337", "unassessed", "warn"),
    ]
    assert (results[CLEAN]["verdict"], results[CLEAN]["vulnerabilities"]) == ("allow", [])
    assert feed.stats()["requests"] == 0


def test_blocked_assessments_block_and_expired_ones_take_the_unassessed_effect(feed: FakeOssIndex) -> None:
    now = clock.iso(clock.now())
    Assessment(
        feed="demo", vulnerability_id="CVE-2021-23337", type="blocked", effect="block", assessed_by="a", assessed_at=now
    ).save()
    Finding(feed="demo", vulnerability_id="CVE-2021-23337").update(actions=[Finding.status.set("assessed")])
    assert check(LODASH)[LODASH]["verdict"] == "block"
    Assessment.get("demo", "CVE-2021-23337").update(actions=[Assessment.expires_at.set("2020-01-01T00:00:00Z")])
    verdicts = {v["id"]: (v["status"], v["effect"]) for v in check(LODASH)[LODASH]["vulnerabilities"]}
    assert verdicts["CVE-2021-23337"] == ("expired", "warn")


def test_a_purl_never_scanned_is_looked_up_once_and_cached(feed: FakeOssIndex) -> None:
    first = check(NEW)[NEW]
    assert (first["scanned"], first["verdict"]) == (True, "warn")
    assert [(v["id"], v["status"], v["cvss_score"]) for v in first["vulnerabilities"]] == [
        ("CVE-2021-44906", "unassessed", 9.8)
    ]
    assert feed.stats()["requests"] == 1
    assert CachedAnswer.get("src-guide", NEW).purl == NEW
    check(NEW)
    assert feed.stats()["requests"] == 1  # answered by the cache


def test_a_failed_lookup_answers_unscanned_with_the_unassessed_effect(feed: FakeOssIndex) -> None:
    feed.add_fault(Fault(status=503, times=10))
    result = check(NEW, LODASH)
    assert (result[NEW]["scanned"], result[NEW]["verdict"], result[NEW]["vulnerabilities"]) == (False, "warn", [])
    assert result[LODASH]["scanned"] is True


def test_many_never_scanned_purls_cost_one_request_per_128(feed: FakeOssIndex) -> None:
    purls = [f"pkg:npm/unknown-{n}@1.0.0" for n in range(128)]
    results = check(*purls)
    assert all(r["verdict"] == "allow" and r["scanned"] for r in results.values())
    assert feed.stats()["requests"] == 1


def test_the_single_purl_form_answers_one_result(feed: FakeOssIndex) -> None:
    status, result = request(
        gate, "GET", "/feeds/demo/check", query={"purl": "pkg:NPM/lodash@4.17.20?x=y"}, caller=VIEWER
    )
    assert (status, result["purl"], result["verdict"]) == (200, LODASH, "warn")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"purls": []}, 422),
        ({"purls": ["pkg:npm/a@1"] * 129}, 422),
        ({"purls": ["lodash"]}, 422),
        ({"purls": "x"}, 422),
    ],
)
def test_bad_checks_are_422(feed: FakeOssIndex, body: dict[str, Any], status: int) -> None:
    code, answer = request(gate, "POST", "/feeds/demo/check", body=body, caller=VIEWER)
    assert code == status
    assert "message" in answer


@pytest.mark.parametrize("vulnerabilities_per_purl", [1, 20])
def test_128_known_purls_cost_a_bounded_number_of_round_trips(
    feed: FakeOssIndex, vulnerabilities_per_purl: int
) -> None:
    now = clock.iso(clock.now())
    purls = [f"pkg:npm/known-{n}@1.0.0" for n in range(128)]
    for n, purl in enumerate(purls):
        ids = {f"CVE-{n}-{m}" for m in range(vulnerabilities_per_purl)}
        Package(feed="demo", purl=purl, added_at=now, last_scanned_at=now, vulnerability_ids=ids).save()
    with counted_dynamodb_calls() as calls:
        check(*purls)
    # One GetItem for the role, one for the feed, a BatchGet per 100 packages, one
    # Query of the feed's exceptions, and a BatchGet per 100 distinct vulnerabilities
    # for findings and for assessments: never a read per finding or per purl.
    distinct = 128 * vulnerabilities_per_purl
    assert sum(calls.values()) <= 2 + 2 + 1 + 2 * ((distinct + 99) // 100) + 2, calls
    assert calls["BatchGetItem"] >= 1
    assert calls.get("Query", 0) == 1
    assert calls.get("Scan", 0) == 0


def test_a_check_of_scanned_purls_costs_a_fixed_number_of_sequential_round_trips(feed: FakeOssIndex) -> None:
    """The feed and the caller's role; the packages, with the Query of the
    feed's exceptions beside them; their findings with their assessments,
    both tables in the same calls: each waits for the one before, nothing
    else does. 128 purls and 150 vulnerabilities need several BatchGets at
    the last two steps, made at once."""
    from feedguard.dal import feeds as feed_store
    from tests.support import dynamodb_round_trips

    now = clock.iso(clock.now())
    purls = [f"pkg:npm/known-{n}@1.0.0" for n in range(128)]
    for n, purl in enumerate(purls):
        ids = {f"CVE-2026-{n}", f"CVE-2026-{n % 22}-b"}
        Package(feed="demo", purl=purl, added_at=now, last_scanned_at=now, vulnerability_ids=ids).save()
    for n in range(100):
        a_finding("demo", f"CVE-2026-{n}", purls[n], status="assessed" if n % 2 else "unassessed")
    an_exception("pkg:npm/known-1*", type="blocked", effect="block")
    check(*purls)  # the clients made, as in a warm sandbox
    with dynamodb_round_trips() as trips:
        answer = check(*purls)
    assert len(answer) == 128
    assert sum(1 for verdict in answer.values() if verdict["vulnerabilities"]) == 128
    # known-1, known-10 to 19 and known-100 to 127
    assert sum(1 for verdict in answer.values() if verdict["verdict"] == "block") == 1 + 10 + 28
    assert [operation for _, _, operation in trips.calls].count("Query") == 1
    # The feed and the role are one read where dal.feeds reads them together (feeds.access), two before
    access = 1 if hasattr(feed_store, "access") else 2
    assert trips.sequential == access + 2, sorted(trips.calls)


# ---------------------------------------------------------------- package exceptions


def an_exception(purl: str, **fields: Any) -> None:
    from feedguard.dal.models import ExceptionItem

    exception_id = fields.pop("id", f"ex_{len(list(ExceptionItem.query('demo'))):04d}")
    ExceptionItem(
        feed="demo",
        key=ExceptionItem.key_of(exception_id),
        id=exception_id,
        purl=purl,
        type=fields.pop("type", "ignore"),
        effect=fields.pop("effect", "allow"),
        created_by="alice",
        created_by_id="kalice",
        created_at=clock.iso(clock.now()),
        **fields,
    ).save()


def verdicts(purl: str) -> dict[str, tuple[str, str, str | None]]:
    return {v["id"]: (v["status"], v["effect"], v["exception_id"]) for v in check(purl)[purl]["vulnerabilities"]}


def test_a_matching_exception_decides_its_vulnerability_for_its_packages_only(feed: FakeOssIndex) -> None:
    # CVE-2021-23337 is unassessed (warn), CVE-2020-28500 assessed ignore (allow)
    an_exception("pkg:npm/lodash", id="ex_1", versions="vers:npm/<4.17.21", vulnerability_ids=["CVE-2021-23337"])
    an_exception("pkg:npm/lodash", id="ex_2", type="blocked", effect="block", vulnerability_ids=["CVE-2020-28500"])
    assert verdicts(LODASH) == {
        "CVE-2021-23337": ("unassessed", "allow", "ex_1"),  # looser than the feed-wide effect: it still wins
        "CVE-2020-28500": ("assessed", "block", "ex_2"),  # stricter than the assessment: it wins too
    }
    assert check(LODASH)[LODASH]["verdict"] == "block"


def test_an_exception_that_does_not_match_or_has_expired_changes_nothing(feed: FakeOssIndex) -> None:
    an_exception("pkg:npm/lodash", id="ex_1", versions="vers:npm/>=4.17.21", type="blocked", effect="block")
    an_exception("pkg:npm/lodash-es", id="ex_2", type="blocked", effect="block")
    an_exception("pkg:npm/lodash", id="ex_3", type="blocked", effect="block", expires_at="2020-01-01T00:00:00Z")
    assert verdicts(LODASH) == {
        "CVE-2021-23337": ("unassessed", "warn", None),
        "CVE-2020-28500": ("assessed", "allow", None),
    }


def test_an_exception_applies_to_a_purl_looked_up_inline(feed: FakeOssIndex) -> None:
    an_exception("pkg:npm/minimist", vulnerability_ids=["CVE-2021-44906"])
    assert check(NEW)[NEW]["verdict"] == "allow"
