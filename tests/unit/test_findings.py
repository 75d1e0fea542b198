"""Reading findings: filters, pages, read-time expiry, details, history."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from feedguard import clock
from feedguard.dal import findings as finding_store
from feedguard.dal.models import Assessment, Vulnerability
from feedguard.effects import score_key, severity
from handlers import feeds, findings
from tests.support import counted_dynamodb_calls, dynamodb_hook, key_caller, request
from tests.unit import builders
from tests.unit.builders import a_finding


@pytest.fixture
def feed(aws: Any) -> str:
    builders.a_feed("demo", unassessed_effect="warn")
    return "demo"


def assess(vulnerability_id: str, effect: str, expires_in: int | None) -> None:
    expires = int(time.time()) + expires_in if expires_in is not None else None
    Assessment(
        feed="demo",
        vulnerability_id=vulnerability_id,
        type="ignore" if effect == "allow" else "blocked",
        effect=effect,
        comment="reviewed",
        assessed_by="alice",
        assessed_at=clock.iso(clock.now()),
        expires_at=clock.iso(datetime.fromtimestamp(expires, UTC)) if expires else None,
        expires_ttl=expires,
    ).save()


def listed(query: dict[str, str] | None = None) -> list[tuple[str, str, str]]:
    status, page = request(findings, "GET", "/feeds/demo/vulnerabilities", query=query)
    assert status == 200, page
    return [(item["id"], item["status"], item["effect"]) for item in page["items"]]


def test_findings_list_most_severe_first_with_their_status_and_effect(feed: str) -> None:
    a_finding(feed, "CVE-LOW", cvss=3.1)
    a_finding(feed, "CVE-CRIT", cvss=9.8)
    a_finding(feed, "CVE-ASSESSED", cvss=7.5, status="assessed")
    assess("CVE-ASSESSED", "allow", expires_in=3600)
    a_finding(feed, "CVE-GONE", cvss=5.0, status="withdrawn")
    assert listed() == [
        ("CVE-CRIT", "unassessed", "warn"),
        ("CVE-ASSESSED", "assessed", "allow"),
        ("CVE-LOW", "unassessed", "warn"),
    ]
    _, page = request(findings, "GET", "/feeds/demo/vulnerabilities")
    crit = page["items"][0]
    assert (crit["severity"], crit["cve"], crit["assessment"]) == ("critical", "CVE-CRIT", None)
    assert page["items"][1]["assessment"]["assessed_by"] == "alice"


def test_an_assessment_past_its_expiry_counts_as_expired_at_once(feed: str) -> None:
    # Given an assessment that expired a second ago, not yet deleted by TTL
    a_finding(feed, "CVE-OLD", cvss=8.0, status="assessed", expires_ttl=int(time.time()) - 1)
    assess("CVE-OLD", "allow", expires_in=-1)
    a_finding(feed, "CVE-FRESH", cvss=6.0, status="assessed", expires_ttl=int(time.time()) + 3600)
    assess("CVE-FRESH", "allow", expires_in=3600)
    a_finding(feed, "CVE-TTL-DONE", cvss=4.0, status="expired")
    # Then it is expired, takes the feed's unassessed_effect, and the filters agree
    assert ("CVE-OLD", "expired", "warn") in listed()
    assert sorted(listed({"status": "expired"})) == [
        ("CVE-OLD", "expired", "warn"),
        ("CVE-TTL-DONE", "expired", "warn"),
    ]
    assert listed({"status": "assessed"}) == [("CVE-FRESH", "assessed", "allow")]
    assert listed({"status": "unassessed"}) == []


@pytest.mark.parametrize("limit", ["1", "2", "3"])
def test_expired_pages_cover_both_kinds_exactly_once(feed: str, limit: str) -> None:
    for n in range(2):
        a_finding(feed, f"CVE-STORED-{n}", status="expired")
        a_finding(feed, f"CVE-PASSED-{n}", status="assessed", expires_ttl=int(time.time()) - 10)
    seen, cursor = [], None
    while True:
        query = {"status": "expired", "limit": limit, **({"cursor": cursor} if cursor else {})}
        status, page = request(findings, "GET", "/feeds/demo/vulnerabilities", query=query)
        assert status == 200
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == ["CVE-PASSED-0", "CVE-PASSED-1", "CVE-STORED-0", "CVE-STORED-1"]


def test_min_cvss_filters_by_score(feed: str) -> None:
    for vid, score in (("CVE-A", 9.0), ("CVE-B", 7.0), ("CVE-C", 6.9), ("CVE-D", None)):
        a_finding(feed, vid, cvss=score)
    assert [i for i, _, _ in listed({"min_cvss": "7"})] == ["CVE-A", "CVE-B"]
    assert [i for i, _, _ in listed({"min_cvss": "6.95", "status": "unassessed"})] == ["CVE-A", "CVE-B"]
    assert request(findings, "GET", "/feeds/demo/vulnerabilities", query={"min_cvss": "11"})[0] == 422
    assert request(findings, "GET", "/feeds/demo/vulnerabilities", query={"status": "withdrawn"})[0] == 422


def test_a_page_of_findings_costs_one_query_whatever_the_feed_size(feed: str) -> None:
    for n in range(30):
        a_finding(feed, f"CVE-{n:03d}", cvss=round(n / 3, 1))
    first = request(findings, "GET", "/feeds/demo/vulnerabilities", query={"limit": "20"})[1]
    second = request(
        findings, "GET", "/feeds/demo/vulnerabilities", query={"limit": "20", "cursor": first["next_cursor"]}
    )[1]
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) == 30
    scores = [item["cvss_score"] for item in first["items"] + second["items"]]
    assert scores == sorted(scores, reverse=True)
    assert second["next_cursor"] is None


def test_the_detail_adds_the_vulnerabilitys_fields_and_the_id_may_be_url_encoded(feed: str) -> None:
    a_finding(feed, "sonatype-2021-1694", cvss=7.5)
    Vulnerability(
        id="sonatype-2021-1694",
        description="",
        cvss_vector="CVSS:3.1/AV:N",
        cwe="CWE-400",
        reference="https://guide",
        external_references=[],
        fingerprint="x",
        updated_at="t",
    ).save()
    status, detail = request(findings, "GET", "/feeds/demo/vulnerabilities/sonatype%2D2021%2D1694")
    assert status == 200
    assert (detail["id"], detail["cwe"], detail["cve"], detail["external_references"]) == (
        "sonatype-2021-1694",
        "CWE-400",
        None,
        [],
    )
    assert request(findings, "GET", "/feeds/demo/vulnerabilities/CVE-NOPE")[0] == 404


def test_history_is_oldest_first_and_outlives_the_feed_for_the_admin(feed: str) -> None:
    a_finding(feed, "CVE-H")
    viewer = key_caller("kviewer")
    status, page = request(findings, "GET", "/feeds/demo/vulnerabilities/CVE-H/history")
    assert (status, [e["action"] for e in page["items"]]) == (200, ["detected"])
    assert request(findings, "GET", "/feeds/demo/vulnerabilities/CVE-NONE/history")[0] == 404
    request(feeds, "DELETE", "/feeds/demo")
    assert request(findings, "GET", "/feeds/demo/vulnerabilities/CVE-H/history")[0] == 200
    assert request(findings, "GET", "/feeds/demo/vulnerabilities/CVE-H/history", caller=viewer)[0] == 404


# ---------------------------------------------------------------- severity, package, order

LODASH = "pkg:npm/lodash@4.17.20"
LOG4J = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"


@contextmanager
def evaluated_by_queries() -> Iterator[list[int]]:
    """The findings each Query call read (ScannedCount: before any filter)."""
    scanned: list[int] = []

    def record(parsed: dict[str, Any], **_: Any) -> None:
        scanned.append(int(parsed["ScannedCount"]))

    with dynamodb_hook("after-call.dynamodb.Query", record):
        yield scanned


def every_page(query: dict[str, str]) -> list[str]:
    """The ids of every page of a list, following its cursors."""
    seen: list[str] = []
    cursor = None
    while True:
        status, page = request(
            findings, "GET", "/feeds/demo/vulnerabilities", query={**query, **({"cursor": cursor} if cursor else {})}
        )
        assert status == 200, page
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return seen


def a_finding_of_each_band(feed: str) -> None:
    for vid, score in (("CVE-NONE", None), ("CVE-ZERO", 0.0), ("CVE-LOW", 3.9), ("CVE-MED-LOW", 4.0)):
        a_finding(feed, vid, LODASH, cvss=score)
    for vid, score in (
        ("CVE-MED", 6.9),
        ("CVE-HIGH-LOW", 7.0),
        ("CVE-HIGH", 8.9),
        ("CVE-CRIT", 9.0),
        ("CVE-TEN", 10.0),
    ):
        a_finding(feed, vid, LOG4J, cvss=score)


def test_band_keys_are_the_bands_of_every_score() -> None:
    # Given every CVSS score there is (one decimal) / Then its key lies in its band's key range, and no other
    for tenths in range(101):
        score = tenths / 10
        bands = [band for band, (low, high) in finding_store.BAND_KEYS.items() if low <= score_key(score) <= high]
        assert bands == [severity(score)], score
    assert severity(None) == "none"
    assert score_key(None) == finding_store.BAND_KEYS["none"][0]


@pytest.mark.parametrize(
    ("band", "expected"),
    [
        ("none", {"CVE-NONE", "CVE-ZERO"}),
        ("low", {"CVE-LOW"}),
        ("medium", {"CVE-MED-LOW", "CVE-MED"}),
        ("high", {"CVE-HIGH-LOW", "CVE-HIGH"}),
        ("critical", {"CVE-CRIT", "CVE-TEN"}),
    ],
)
def test_severity_lists_one_band_reading_only_its_findings(feed: str, band: str, expected: set[str]) -> None:
    # Given findings in every band
    a_finding_of_each_band(feed)
    # When one band is asked for
    with evaluated_by_queries() as scanned:
        status, page = request(findings, "GET", "/feeds/demo/vulnerabilities", query={"severity": band})
    # Then exactly its findings come, each labelled with it, and the Query read no others
    assert status == 200
    assert {item["id"] for item in page["items"]} == expected
    assert {item["severity"] for item in page["items"]} == {band}
    assert scanned == [len(expected)]


def test_severity_min_cvss_and_status_apply_together(feed: str) -> None:
    # Given findings in every band, two of the high ones assessed, one of them past its expiry
    a_finding_of_each_band(feed)
    a_finding(feed, "CVE-HIGH-OK", cvss=7.5, status="assessed", expires_ttl=int(time.time()) + 3600)
    assess("CVE-HIGH-OK", "allow", expires_in=3600)
    a_finding(feed, "CVE-HIGH-PASSED", cvss=8.0, status="assessed", expires_ttl=int(time.time()) - 5)
    assess("CVE-HIGH-PASSED", "allow", expires_in=-5)
    a_finding(feed, "CVE-CRIT-EXPIRED", cvss=9.5, status="expired")
    # Then each filter narrows the others' answer
    assert every_page({"severity": "high", "min_cvss": "8"}) == ["CVE-HIGH", "CVE-HIGH-PASSED"]
    assert every_page({"severity": "high", "status": "assessed"}) == ["CVE-HIGH-OK"]
    assert every_page({"severity": "high", "status": "expired"}) == ["CVE-HIGH-PASSED"]
    assert every_page({"severity": "critical", "status": "expired", "limit": "1"}) == ["CVE-CRIT-EXPIRED"]
    assert every_page({"severity": "medium", "status": "unassessed", "order": "asc"}) == ["CVE-MED-LOW", "CVE-MED"]


def test_a_band_below_min_cvss_is_an_empty_list_without_a_query(feed: str) -> None:
    a_finding_of_each_band(feed)
    with counted_dynamodb_calls() as calls:
        status, page = request(
            findings, "GET", "/feeds/demo/vulnerabilities", query={"severity": "low", "min_cvss": "7"}
        )
    assert (status, page) == (200, {"items": [], "next_cursor": None})
    assert calls["Query"] == 0


def test_order_asc_lists_least_severe_first_and_pages_like_desc(feed: str) -> None:
    # Given findings in every band
    a_finding_of_each_band(feed)
    # When they are listed both ways, two a page
    descending = every_page({"limit": "2"})
    ascending = every_page({"order": "asc", "limit": "2"})
    # Then asc is desc reversed in score, each finding once
    scores = {
        item["id"]: item["cvss_score"] or 0.0
        for item in request(findings, "GET", "/feeds/demo/vulnerabilities")[1]["items"]
    }
    assert sorted(ascending) == sorted(descending)
    assert len(set(ascending)) == 9
    assert [scores[i] for i in ascending] == sorted(scores[i] for i in ascending)
    assert [scores[i] for i in descending] == sorted((scores[i] for i in descending), reverse=True)
    assert every_page({"order": "desc"}) == descending


def test_expired_in_asc_order_covers_both_kinds_exactly_once(feed: str) -> None:
    for n, score in enumerate((2.0, 8.0)):
        a_finding(feed, f"CVE-STORED-{n}", cvss=score, status="expired")
        a_finding(feed, f"CVE-PASSED-{n}", cvss=score + 1, status="assessed", expires_ttl=int(time.time()) - 10)
    for limit in ("1", "2", "3"):
        # Stored-expired first, then passed assessments; each least severe first
        assert every_page({"status": "expired", "order": "asc", "limit": limit}) == [
            "CVE-STORED-0",
            "CVE-STORED-1",
            "CVE-PASSED-0",
            "CVE-PASSED-1",
        ]


def test_package_lists_the_findings_reported_for_it_in_its_canonical_form(feed: str) -> None:
    # Given findings of two packages, one finding reported for both
    a_finding_of_each_band(feed)
    a_finding(feed, "CVE-BOTH", LODASH, LOG4J, cvss=5.5)
    # When the list is asked for one package, written the way a BOM may write it
    written = "pkg:NPM/lodash@4.17.20?arch=any#sub/path"
    lodash = every_page({"package": written})
    # Then its findings come, most severe first, the one of both packages among them
    assert lodash[:3] == ["CVE-BOTH", "CVE-MED-LOW", "CVE-LOW"]
    assert sorted(lodash[3:]) == ["CVE-NONE", "CVE-ZERO"]  # both score 0: either first
    # And it narrows the other filters' answers, in either order, across pages
    assert every_page({"package": LOG4J, "severity": "critical", "order": "asc", "limit": "1"}) == [
        "CVE-CRIT",
        "CVE-TEN",
    ]
    assert every_page({"package": LOG4J, "status": "unassessed", "min_cvss": "5", "limit": "2"}) == [
        "CVE-TEN",
        "CVE-CRIT",
        "CVE-HIGH",
        "CVE-HIGH-LOW",
        "CVE-MED",
        "CVE-BOTH",
    ]
    assert every_page({"package": "pkg:npm/lodash@9.9.9"}) == []


def test_a_rare_package_costs_one_query_call_whatever_the_limit(feed: str) -> None:
    # Given 60 findings, one of them of a rare package
    for n in range(59):
        a_finding(feed, f"CVE-{n:03d}", LODASH, cvss=round(n / 6, 1))
    a_finding(feed, "CVE-RARE", "pkg:npm/rare@1.0.0", cvss=0.5)
    # When a page of two is asked for that package
    with evaluated_by_queries() as scanned:
        status, page = request(
            findings, "GET", "/feeds/demo/vulnerabilities", query={"package": "pkg:npm/rare@1.0.0", "limit": "2"}
        )
    # Then one Query read the feed's findings and found it, with no cursor to an empty page
    assert (status, [i["id"] for i in page["items"]], page["next_cursor"]) == (200, ["CVE-RARE"], None)
    assert scanned == [60]


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ({"severity": "severe"}, ["query", "severity"]),
        ({"severity": "HIGH"}, ["query", "severity"]),
        ({"order": "up"}, ["query", "order"]),
        ({"package": "lodash"}, ["query", "package"]),
        ({"package": "pkg:npm/lodash"}, ["query", "package"]),
        ({"package": "pkg:deb/debian/curl@7.0"}, ["query", "package"]),
        ({"package": "pkg:npm/" + "a" * 2100 + "@1"}, ["query", "package"]),
        ({"cursor": "bm90IGEgY3Vyc29y"}, ["query", "cursor"]),
    ],
)
def test_invalid_list_parameters_are_422_naming_the_parameter(
    feed: str, query: dict[str, str], where: list[str]
) -> None:
    a_finding(feed, "CVE-1")
    status, answer = request(findings, "GET", "/feeds/demo/vulnerabilities", query=query)
    assert status == 422, answer
    assert isinstance(answer["message"], str)
    assert [problem["loc"] for problem in answer["details"]] == [where]


@pytest.mark.parametrize(
    "other",
    [
        {"order": "asc"},
        {"severity": "critical"},
        {"min_cvss": "8"},
        {"status": "unassessed"},
        {"package": LODASH},
    ],
)
def test_a_cursor_continues_only_the_list_it_came_from(feed: str, other: dict[str, str]) -> None:
    # Given a cursor of the default list (desc, no filter)
    for n in range(4):
        a_finding(feed, f"CVE-{n}", LODASH, cvss=9.0 + n / 10)
    first = request(findings, "GET", "/feeds/demo/vulnerabilities", query={"limit": "2"})[1]
    # When it is sent with another order or filter
    status, answer = request(
        findings, "GET", "/feeds/demo/vulnerabilities", query={"limit": "2", "cursor": first["next_cursor"], **other}
    )
    # Then it is refused, saying why; with the same parameters (and another limit) it continues
    assert status == 422, answer
    assert "other parameters" in answer["message"]
    assert answer["details"][0]["loc"] == ["query", "cursor"]
    assert (
        request(findings, "GET", "/feeds/demo/vulnerabilities", query={"limit": "3", "cursor": first["next_cursor"]})[0]
        == 200
    )


def test_a_cursor_of_another_feed_is_422(feed: str) -> None:
    builders.a_feed("other")
    for n in range(3):
        a_finding("other", f"CVE-{n}")
        a_finding(feed, f"CVE-{n}")
    cursor = request(findings, "GET", "/feeds/other/vulnerabilities", query={"limit": "1"})[1]["next_cursor"]
    status, answer = request(findings, "GET", "/feeds/demo/vulnerabilities", query={"limit": "1", "cursor": cursor})
    assert (status, answer["details"][0]["loc"]) == (422, ["query", "cursor"])


def test_the_openapi_document_describes_the_list_parameters() -> None:
    # Given the served document / When the findings list's parameters are read
    from handlers import meta

    document = json.loads(meta.openapi_json())
    parameters = {p["name"]: p for p in document["paths"]["/feeds/{feed}/vulnerabilities"]["get"]["parameters"]}
    # Then severity, package and order are there, described, with their values
    assert parameters["severity"]["schema"]["anyOf"][0]["enum"] == ["none", "low", "medium", "high", "critical"]
    assert parameters["order"]["schema"]["enum"] == ["desc", "asc"]
    assert parameters["order"]["schema"]["default"] == "desc"
    assert all(parameters[name].get("description") for name in ("severity", "package", "order"))
