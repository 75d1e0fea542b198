"""Recording what a batch found: how findings are created, together, and
what happens when two batches of one scan report one vulnerability at once."""

from __future__ import annotations

import math
from typing import Any

import pytest

from feedguard import clock, ossindex
from feedguard.dal import batching, detections, history
from feedguard.dal.models import Finding
from infra.ossindex_data import made_up_vulnerabilities
from tests.support import counted_dynamodb_calls

FEEDS = ("feed-a", "feed-b")


def reports_for(purls: list[str], vulnerabilities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        purl: ossindex.parse_report(
            {"coordinates": purl, "vulnerabilities": vulnerabilities or made_up_vulnerabilities(purl)}
        )
        for purl in purls
    }


def test_a_batch_creates_its_new_findings_fifty_a_transaction_each_with_its_detected_entry(aws: Any) -> None:
    purls = [f"pkg:npm/made-up-{n}@1.0.0" for n in range(40)]
    reports = reports_for(purls)
    wanted = {(feed, v.id): purl for purl in purls for v in reports[purl].vulnerabilities for feed in FEEDS}
    assert len(wanted) > 2 * detections.CREATED_TOGETHER
    with counted_dynamodb_calls() as calls:
        new = detections.record_findings(
            [(feed, purl) for purl in purls for feed in FEEDS], reports, clock.now(), batch="s1#0"
        )
    assert new == len(wanted)
    assert calls["TransactWriteItems"] == math.ceil(len(wanted) / detections.CREATED_TOGETHER)
    for (feed, vid), purl in wanted.items():
        finding = Finding.get(feed, vid, consistent_read=True)
        assert (finding.status, finding.packages, finding.detected_in) == ("unassessed", {purl}, "s1#0")
        assert [entry.action for entry in history.entries(feed, vid)] == ["detected"]


def test_a_finding_another_batch_created_meanwhile_gets_this_batchs_packages_too(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = made_up_vulnerabilities("pkg:npm/shared@1.0.0")[:1]
    own = made_up_vulnerabilities("pkg:npm/own@1.0.0")
    first, second, third = "pkg:npm/shared@1.0.0", "pkg:npm/shared@1.0.1", "pkg:npm/own@1.0.0"
    # Batch 0 reports the shared vulnerability for one version, and creates its finding
    assert detections.record_findings([("feed-a", first)], reports_for([first], shared), clock.now(), "s1#0") == 1
    # Batch 1 read the findings before that finding was there (the race), and
    # reports it for another version, with a vulnerability of its own
    read = batching.read
    monkeypatch.setattr(batching, "read", lambda model, keys, **kw: [] if model is Finding else read(model, keys, **kw))
    reports = {**reports_for([second], shared), **reports_for([third], own)}
    new = detections.record_findings([("feed-a", second), ("feed-a", third)], reports, clock.now(), "s1#1")
    # Then the shared finding lists both versions, detected once, and the other is created
    assert new == len(own)
    shared_finding = Finding.get("feed-a", shared[0]["id"], consistent_read=True)
    assert (shared_finding.packages, shared_finding.detected_in) == ({first, second}, "s1#0")
    assert [entry.action for entry in history.entries("feed-a", shared[0]["id"])] == ["detected"]
    for vulnerability in own:
        assert Finding.get("feed-a", vulnerability["id"], consistent_read=True).packages == {third}
