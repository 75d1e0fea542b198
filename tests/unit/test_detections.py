"""Recording what a batch found: how findings are created, together, what
happens when two batches of one scan report one vulnerability at once, and
what a rescan rewrites when OSS Index changes what it says."""

from __future__ import annotations

import math
from typing import Any

import pytest

from feedguard import clock, ossindex, recording
from feedguard.dal import assessment_types as type_store
from feedguard.dal import detections, history
from feedguard.dal.models import Assessment, Finding, Vulnerability
from feedguard.effects import AssessmentType
from infra.ossindex_data import made_up_vulnerabilities
from tests.support import counted_dynamodb_calls, dynamodb_hook

FEEDS = ("feed-a", "feed-b")


def without_cves(vulnerabilities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in entry.items() if k != "cve"} for entry in vulnerabilities]


def reports_for(purls: list[str], vulnerabilities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Reports of vulnerabilities without aliases (the made-up ones' CVEs
    left out): these tests count a finding's own items; test_aliases.py
    covers findings with aliases."""
    return {
        purl: ossindex.parse_report(
            {
                "coordinates": purl,
                "vulnerabilities": vulnerabilities or without_cves(made_up_vulnerabilities(purl)),
            }
        )
        for purl in purls
    }


def test_a_batch_creates_its_new_findings_fifty_a_transaction_each_with_its_detected_entry(aws: Any) -> None:
    purls = [f"pkg:npm/made-up-{n}@1.0.0" for n in range(40)]
    reports = reports_for(purls)
    wanted = {(feed, v.id): purl for purl in purls for v in reports[purl].vulnerabilities for feed in FEEDS}
    assert len(wanted) > 100
    with counted_dynamodb_calls() as calls:
        new = recording.record_findings(
            [(feed, purl) for purl in purls for feed in FEEDS], reports, clock.now(), batch="s1#0"
        )
    assert new == len(wanted)
    assert calls["TransactWriteItems"] == math.ceil(len(wanted) / 50)
    for (feed, vid), purl in wanted.items():
        finding = Finding.get(feed, vid, consistent_read=True)
        assert (finding.status, finding.packages, finding.detected_in) == ("unassessed", {purl}, "s1#0")
        assert [entry.action for entry in history.entries(feed, vid)] == ["detected"]


def test_new_findings_a_range_holds_are_created_assessed_by_auto_in_the_same_transactions(aws: Any) -> None:
    # Given a type that auto-assesses scores up to 6.9, and a batch of findings scored 1.0 to 10.0
    type_store.create(AssessmentType("triage", "Triage", "warn", 30, auto_assess_min=0.0, auto_assess_max=6.9))
    purls = [f"pkg:npm/made-up-{n}@1.0.0" for n in range(40)]
    reports = reports_for(purls)
    scores = {(feed, v.id): v.cvss_score for purl in purls for v in reports[purl].vulnerabilities for feed in FEEDS}
    auto = {key for key, score in scores.items() if score is not None and score <= 6.9}
    assert 0 < len(auto) < len(scores)
    sizes: list[int] = []

    def transaction_size(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["TransactItems"]))

    # When they are recorded
    now = clock.now()
    with (
        counted_dynamodb_calls() as calls,
        dynamodb_hook("provide-client-params.dynamodb.TransactWriteItems", transaction_size),
    ):
        new = recording.record_findings([(feed, purl) for purl in purls for feed in FEEDS], reports, now, "s1#0")
    # Then every one is new, in full transactions (4 items an auto-assessed finding, 2 another), nothing read one by one
    assert new == len(scores)
    assert sum(sizes) == 4 * len(auto) + 2 * (len(scores) - len(auto))
    assert all(size > 96 for size in sizes[:-1])
    assert max(sizes) <= 100
    assert set(calls) == {"BatchGetItem", "Query", "TransactWriteItems"}  # the findings, the types, the writes
    for feed, vid in auto:
        finding = Finding.get(feed, vid, consistent_read=True)
        assessment = Assessment.get(feed, vid, consistent_read=True)
        assert (finding.status, finding.feed_status) == ("assessed", f"{feed}#assessed")
        assert (assessment.type, assessment.effect, assessment.assessed_by, assessment.version) == (
            "triage",
            "warn",
            "auto",
            1,
        )
        assert assessment.comment == f"CVSS {scores[(feed, vid)]} is in the Triage range 0.0-6.9."
        assert assessment.expires_ttl == int(now.timestamp()) + 30 * 86400
        assert (finding.assessment_expires_ttl, finding.assessment_band) == (
            assessment.expires_ttl,
            assessment.severity_band,
        )
        assert assessment.severity_band == finding.severity_band
        assert [(e.action, e.actor, e.type) for e in history.entries(feed, vid)] == [
            ("detected", "scanner", None),
            ("assessed", "auto", "triage"),
        ]
    for feed, vid in set(scores) - auto:
        assert Finding.get(feed, vid, consistent_read=True).status == "unassessed"
        assert [e.action for e in history.entries(feed, vid)] == ["detected"]


def test_a_new_finding_whose_assessment_was_left_behind_is_still_auto_assessed(aws: Any) -> None:
    # Given an assessment left behind by a feed deleted part way, whose name is used again
    type_store.create(AssessmentType("triage", "Triage", "warn", None, auto_assess_min=7.0, auto_assess_max=7.5))
    Assessment(
        feed="feed-a",
        vulnerability_id="CVE-2021-23337",
        type="ignore",
        effect="allow",
        assessed_by="alice",
        assessed_at="2026-01-01T00:00:00Z",
    ).save()
    # When a batch creates the finding (and another, with the same range)
    reports = reports_for([LODASH], [TEMPLATE_INJECTION])
    assert recording.record_findings([("feed-a", LODASH), ("feed-b", LODASH)], reports, clock.now(), "s1#0") == 2
    # Then both are created and assessed by auto; the one left behind is replaced
    for feed in FEEDS:
        assessment = Assessment.get(feed, "CVE-2021-23337", consistent_read=True)
        assert (assessment.type, assessment.assessed_by) == ("triage", "auto")
        assert Finding.get(feed, "CVE-2021-23337", consistent_read=True).status == "assessed"
        assert [e.action for e in history.entries(feed, "CVE-2021-23337")] == ["detected", "assessed"]
    assert Assessment.get("feed-a", "CVE-2021-23337").version == 2


def test_a_redelivered_batch_auto_assesses_what_its_first_delivery_created_unassessed(aws: Any) -> None:
    # Given a finding a batch created unassessed (by a version that auto-assessed after creating, and stopped between)
    reports = reports_for([LODASH], [TEMPLATE_INJECTION])
    assert recording.record_findings([("feed-a", LODASH)], reports, clock.now(), "s1#0") == 1
    type_store.create(AssessmentType("triage", "Triage", "warn", None, auto_assess_min=7.0, auto_assess_max=7.5))
    # When the batch is delivered again, it counts the finding as new again and assesses it
    assert recording.record_findings([("feed-a", LODASH)], reports, clock.now(), "s1#0") == 1
    assert Finding.get("feed-a", "CVE-2021-23337", consistent_read=True).status == "assessed"
    assert [e.action for e in history.entries("feed-a", "CVE-2021-23337")] == ["detected", "assessed"]
    # And another batch that reports it neither counts nor assesses it again
    assert recording.record_findings([("feed-a", LODASH)], reports, clock.now(), "s1#1") == 0
    assert [e.action for e in history.entries("feed-a", "CVE-2021-23337")] == ["detected", "assessed"]


@pytest.mark.parametrize("auto_assessed", [False, True])
def test_a_finding_another_batch_created_meanwhile_gets_this_batchs_packages_too(
    aws: Any, monkeypatch: pytest.MonkeyPatch, auto_assessed: bool
) -> None:
    if auto_assessed:  # each creation is then four items of a transaction
        type_store.create(AssessmentType("triage", "Triage", "warn", None, auto_assess_min=0.0, auto_assess_max=10.0))
    after_detected = ["assessed"] if auto_assessed else []
    shared = without_cves(made_up_vulnerabilities("pkg:npm/shared@1.0.0")[:1])
    own = without_cves(made_up_vulnerabilities("pkg:npm/own@1.0.0"))
    first, second, third = "pkg:npm/shared@1.0.0", "pkg:npm/shared@1.0.1", "pkg:npm/own@1.0.0"
    # Batch 0 reports the shared vulnerability for one version, and creates its finding
    assert recording.record_findings([("feed-a", first)], reports_for([first], shared), clock.now(), "s1#0") == 1
    # Batch 1 read the findings before that finding was there (the race), and
    # reports it for another version, with a vulnerability of its own
    monkeypatch.setattr(detections, "stored_findings", lambda keys: ({}, {}))
    reports = {**reports_for([second], shared), **reports_for([third], own)}
    new = recording.record_findings([("feed-a", second), ("feed-a", third)], reports, clock.now(), "s1#1")
    # Then the shared finding lists both versions, detected once, and the other is created
    assert new == len(own)
    shared_finding = Finding.get("feed-a", shared[0]["id"], consistent_read=True)
    assert (shared_finding.packages, shared_finding.detected_in) == ({first, second}, "s1#0")
    assert [entry.action for entry in history.entries("feed-a", shared[0]["id"])] == ["detected", *after_detected]
    for vulnerability in own:
        assert Finding.get("feed-a", vulnerability["id"], consistent_read=True).packages == {third}
        assert [entry.action for entry in history.entries("feed-a", vulnerability["id"])] == [
            "detected",
            *after_detected,
        ]


LODASH = "pkg:npm/lodash@4.17.20"
TEMPLATE_INJECTION = {
    "id": "CVE-2021-23337",
    "displayName": "CVE-2021-23337",
    "title": "[CVE-2021-23337] Improper Control of Generation of Code",
    "description": "Lodash versions prior to 4.17.21 are vulnerable to Command Injection via the template function.",
    "cvssScore": 7.2,
    "cvssVector": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H",
    "cwe": "CWE-94",
    "cve": "CVE-2021-23337",
    "reference": "https://ossindex.sonatype.org/vulnerability/CVE-2021-23337",
    "externalReferences": [
        "https://nvd.nist.gov/vuln/detail/CVE-2021-23337",
        "https://github.com/lodash/lodash/commit/3469357",
    ],
}


def record(reports: dict[str, Any]) -> int:
    recording.record_vulnerabilities(reports.values(), clock.now())
    return recording.record_findings([(feed, purl) for purl in reports for feed in FEEDS], reports, clock.now())


def test_a_rescan_rewrites_a_finding_and_its_vulnerability_only_when_oss_index_changed_them(aws: Any) -> None:
    assert record(reports_for([LODASH], [TEMPLATE_INJECTION])) == len(FEEDS)
    # Reported again unchanged: nothing is written
    with counted_dynamodb_calls() as calls:
        assert record(reports_for([LODASH], [TEMPLATE_INJECTION])) == 0
    assert set(calls) == {"BatchGetItem"}
    # Reported with a new score and title (the same band): both are updated, nothing else
    changed = {**TEMPLATE_INJECTION, "cvssScore": 8.1, "title": "Command injection in template"}
    with counted_dynamodb_calls() as calls:
        assert record(reports_for([LODASH], [changed])) == 0
    assert calls["BatchWriteItem"] == 1  # the vulnerability
    assert calls["UpdateItem"] == len(FEEDS)  # each feed's finding
    stored = Vulnerability.get("CVE-2021-23337", consistent_read=True)
    assert (stored.cvss_score, stored.title) == (8.1, "Command injection in template")
    for feed in FEEDS:
        finding = Finding.get(feed, "CVE-2021-23337", consistent_read=True)
        assert (finding.cvss_score, finding.title, finding.severity_band, finding.status) == (
            8.1,
            "Command injection in template",
            "high",
            "unassessed",
        )
        assert finding.packages == {LODASH}
        assert [entry.action for entry in history.entries(feed, "CVE-2021-23337")] == ["detected"]
