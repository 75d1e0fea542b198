"""Reading findings: filters, pages, read-time expiry, details, history."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from feedguard import clock
from feedguard.dal.models import Assessment, Vulnerability
from handlers import feeds, findings
from tests.support import key_caller, request
from tests.unit.builders import a_finding


@pytest.fixture
def feed(aws: Any) -> str:
    request(feeds, "POST", "/feeds", body={"name": "demo", "unassessed_effect": "warn"})
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
