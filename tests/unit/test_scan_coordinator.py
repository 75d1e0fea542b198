"""The coordinator plans a scan: one batch of at most 128 distinct purls per
source, deduplicated across feeds; feeds without a source are skipped."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from feedguard import scan_queue
from feedguard.dal import feeds as feed_store
from feedguard.dal.models import Package, Scan
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
    # Then the feeds on source A alone are asked about their 300 purls in
    # ceil(300/128) = 3 batches, and feed three's 50 purls go to A and B together
    # in 1, so that both answers are recorded merged
    batches = queued(aws)
    by_sources: dict[tuple[str, ...], list[str]] = {}
    for batch in batches:
        assert len(list(batch["packages"])) <= 128
        by_sources.setdefault(tuple(batch["source_ids"]), []).extend(list(batch["packages"]))
    assert sorted(by_sources[("srcA",)]) == sorted(purls)
    assert sorted(by_sources[("srcA", "srcB")]) == sorted(purls[:50])
    assert len([b for b in batches if b["source_ids"] == ["srcA"]]) == 3
    assert "pkg:npm/left-pad@1.0.0" not in by_sources[("srcA",)]
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


def test_each_purl_carries_its_rows_in_the_feeds_of_its_source(aws: Any) -> None:
    # Given a purl in two feeds on one source and a third feed on another source
    a_feed("one", ["pkg:npm/shared@1.0.0", "pkg:npm/only-one@1.0.0"], ["srcA"])
    a_feed("two", ["pkg:npm/shared@1.0.0"], ["srcA"])
    a_feed("three", ["pkg:npm/shared@1.0.0"], ["srcB"])
    scanned = Package.get("two", "pkg:npm/shared@1.0.0")
    scanned.update(actions=[Package.vulnerability_ids.set({"CVE-1"}), Package.last_scanned_at.set("2026-01-01")])
    # When the schedule fires
    scan_coordinator.handler(load_event("schedule-scan.json"), LambdaContext())
    # Then each batch names, per purl, the rows of its source's feeds and what they held
    packages = {batch["source_id"]: batch["packages"] for batch in queued(aws)}
    assert packages["srcA"] == {
        "pkg:npm/only-one@1.0.0": {"one": None},
        "pkg:npm/shared@1.0.0": {"one": None, "two": ["CVE-1"]},
    }
    assert packages["srcB"] == {"pkg:npm/shared@1.0.0": {"three": None}}


def test_batches_go_on_the_queue_while_the_feeds_are_still_being_read(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given 600 purls over two feeds read 100 rows a page
    purls = [f"pkg:npm/package-{n:03d}@1.0.0" for n in range(600)]
    a_feed("one", purls[:400], ["srcA"])
    a_feed("two", purls[200:], ["srcA"])
    rows: list[str] = []
    sends: list[int] = []
    real_states = feed_store.package_states

    def states(name: str) -> Any:
        for state in real_states(name):
            rows.append(state.purl)
            yield state

    def send(chunk: list[Any]) -> int:
        sends.append(len(rows))
        return real_send(chunk)

    real_send = scan_queue._send
    monkeypatch.setattr(feed_store, "package_states", states)
    monkeypatch.setattr(feed_store, "PLAN_PAGE_SIZE", 100)
    monkeypatch.setattr(scan_queue, "_send", send)
    monkeypatch.setattr(scan_queue, "SEND_BATCH", 2)
    # When the schedule fires
    scan_coordinator.handler(load_event("schedule-scan.json"), LambdaContext())
    # Then the first two batches went once a third was planned (about 570 of the 800 rows read:
    # the last send waits for the totals), before every row was read; and every purl is asked once
    assert sends[0] < 600
    assert len(rows) == 800
    asked = [purl for batch in queued(aws) for purl in batch["packages"]]
    assert sorted(asked) == purls


@pytest.mark.parametrize("dies_at", [2, 3])  # before the totals are written, or after: the last send
def test_a_planning_that_died_half_way_is_planned_again(
    aws: Any, monkeypatch: pytest.MonkeyPatch, dies_at: int
) -> None:
    a_feed("demo", [f"pkg:npm/package-{n}@1.0.0" for n in range(300)], ["srcA"])
    event = load_event("scan-requested.json")
    calls = 0
    real_send = scan_queue._send

    def dies_on_a_send(chunk: list[Any]) -> int:
        nonlocal calls
        calls += 1
        if calls == dies_at:
            raise ConnectionError("the coordinator's sandbox went away")
        return real_send(chunk)

    monkeypatch.setattr(scan_queue, "_send", dies_on_a_send)
    monkeypatch.setattr(scan_queue, "SEND_BATCH", 1)
    with pytest.raises(ConnectionError):
        scan_coordinator.handler(event, LambdaContext())
    scan = Scan.get(event["scan_id"], "#scan")
    assert (scan.status, scan.planned_at) == ("running", None)
    # The retried request plans it again, with the same batch numbers
    scan_coordinator.handler(event, LambdaContext())
    numbers = sorted(batch["batch"] for batch in queued(aws))
    assert numbers == sorted([*range(dies_at - 1), 0, 1, 2])
    again = Scan.get(scan.scan_id, "#scan")
    assert again.batches_total == 3
    assert again.planned_at is not None
