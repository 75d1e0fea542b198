"""The coordinator plans a scan: one batch of at most 128 distinct purls per
source, deduplicated across feeds; feeds without a source are skipped."""

from __future__ import annotations

import json
from typing import Any

import boto3

from feedguard.dal.models import Scan
from handlers import scan_coordinator
from tests.support import LambdaContext, load_event
from tests.unit.builders import a_feed


def queued(aws: Any) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(QueueUrl=aws.queue_urls["ScanQueue"], MaxNumberOfMessages=10)
        if not answer.get("Messages"):
            return messages
        messages += [json.loads(message["Body"]) for message in answer["Messages"]]


def test_a_scheduled_scan_deduplicates_purls_across_feeds_per_source(aws: Any) -> None:
    # Given 300 purls over three overlapping feeds, two feeds on source A and one on A and B
    purls = [f"pkg:npm/package-{n}@1.0.0" for n in range(300)]
    a_feed("one", purls[:200], ["srcA"])
    a_feed("two", purls[100:300], ["srcA"])
    a_feed("three", purls[:50], ["srcA", "srcB"])
    a_feed("unwatched", ["pkg:npm/left-pad@1.0.0"], [])
    # When the schedule fires
    result = scan_coordinator.handler(load_event("schedule-scan.json"), LambdaContext())
    # Then source A is asked about 300 purls in ceil(300/128) = 3 batches, source B about 50 in 1
    batches = queued(aws)
    by_source: dict[str, list[str]] = {}
    for batch in batches:
        assert len(batch["purls"]) <= 128
        by_source.setdefault(batch["source_id"], []).extend(batch["purls"])
    assert sorted(by_source["srcA"]) == sorted(purls)
    assert sorted(by_source["srcB"]) == sorted(purls[:50])
    assert len([b for b in batches if b["source_id"] == "srcA"]) == 3
    assert "pkg:npm/left-pad@1.0.0" not in by_source["srcA"]
    # And the scan record covers every feed and is running with its totals
    scan = Scan.get(result["scan_id"], "#scan")
    assert (scan.scope, scan.status, scan.packages_total, scan.batches_total) == ("*", "running", 300, 4)


def test_a_scan_with_nothing_to_ask_succeeds_at_once(aws: Any) -> None:
    a_feed("lonely", ["pkg:npm/left-pad@1.0.0"], [])
    result = scan_coordinator.handler(load_event("schedule-scan.json"), LambdaContext())
    assert result["status"] == "succeeded"
    assert Scan.get(result["scan_id"], "#scan").finished_at is not None
    assert queued(aws) == []


def test_a_retried_request_does_not_plan_the_scan_twice(aws: Any) -> None:
    a_feed("demo", ["pkg:npm/lodash@4.17.20"], ["srcA"])
    event = load_event("scan-requested.json")
    scan_coordinator.handler(event, LambdaContext())
    scan_coordinator.handler(event, LambdaContext())
    assert len(queued(aws)) == 1
