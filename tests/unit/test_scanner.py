"""Scans end to end in one process: coordinator, queue, workers, moto, and
the fake OSS Index on loopback."""

from __future__ import annotations

import io
import json
import math
import os
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from feedguard import clock, scan_queue, scanner, scanning
from feedguard.actors import Actor
from feedguard.dal import answers, detections, history, packages, scans
from feedguard.dal import feeds as feed_store
from feedguard.dal import sources as source_store
from feedguard.dal.models import FEED_SK, CachedAnswer, Feed, Finding, Package, Scan, Vulnerability
from feedguard.scanplan import Batch
from handlers import scan_coordinator, scan_worker
from infra import ossindex_data
from infra.fake_ossindex import FakeOssIndex, Fault
from tests.support import CLEAN, LODASH, LOG4J, SCAN_FAULTS, LambdaContext, ScanFault, dynamodb_hook
from tests.unit.builders import a_feed, a_finding

AN_HOUR_AGO = clock.iso(clock.now() - timedelta(hours=1))


@pytest.fixture(autouse=True)
def _no_backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("feedguard.ossindex.time.sleep", lambda seconds: None)


def a_source(url: str, name: str = "guide", token: str = "local-fake-token") -> str:
    return source_store.create(f"src-{name}", {"name": name, "url": url, "auth": "bearer"}, token).id


# What the fake OSS Index reports for LODASH, as its data says
LODASH_VULNERABILITIES: list[dict[str, Any]] = list(ossindex_data.COMPONENTS[LODASH][1])


def lodash_reports(monkeypatch: pytest.MonkeyPatch, vulnerabilities: list[dict[str, Any]]) -> None:
    """From now on the fake OSS Index reports these vulnerabilities for LODASH."""
    description, _ = ossindex_data.COMPONENTS[LODASH]
    monkeypatch.setitem(ossindex_data.COMPONENTS, LODASH, (description, vulnerabilities))


def medium_turns_critical(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the fake OSS Index scores LODASH's CVE-2020-28500 9.1, not 5.3."""
    lodash_reports(
        monkeypatch, [{**v, "cvssScore": 9.1} if v["id"] == "CVE-2020-28500" else v for v in LODASH_VULNERABILITIES]
    )


def sqs_record(message: dict[str, Any], receives: int) -> dict[str, Any]:
    """An SQS message as the event source mapping hands it to the worker."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": str(receives)},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
    }


def drain(aws: Any, deliveries: int = 1) -> int:
    """Delivers every queued batch to the worker, like the SQS mapping; returns how many."""
    sqs = boto3.client("sqs")
    delivered = 0
    while True:
        messages = sqs.receive_message(QueueUrl=aws.queue_urls["ScanQueue"], MaxNumberOfMessages=5).get("Messages", [])
        if not messages:
            return delivered
        for delivery in range(deliveries):
            records = [sqs_record(m, receives=delivery + 1) for m in messages]
            answer = scan_worker.handler({"Records": records}, LambdaContext())
            assert answer == {"batchItemFailures": []}
        for message in messages:
            sqs.delete_message(QueueUrl=aws.queue_urls["ScanQueue"], ReceiptHandle=message["ReceiptHandle"])
        delivered += len(messages)


def scan(aws: Any, feed: str | None = None, refresh: bool = False, deliveries: int = 1) -> Scan:
    started = scan_coordinator.handler({"trigger": "api", "feed": feed, "refresh": refresh}, LambdaContext())
    drain(aws, deliveries)
    return Scan.get(started["scan_id"], "#scan", consistent_read=True)


def errors(done: Scan) -> list[str]:
    return [json.loads(entry)["message"] for entry in done.error_set or ()]


def test_a_scan_detects_unassessed_findings_with_a_detected_entry(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    source = a_source(oss[1])
    a_feed("demo", [LOG4J, LODASH, CLEAN], [source])
    done = scan(aws, "demo")
    assert (done.status, done.packages_scanned, done.requests_made, done.findings_new) == ("succeeded", 3, 1, 5)
    finding = Finding.get("demo", "CVE-2021-44228")
    assert (finding.status, finding.packages, finding.severity_band) == ("unassessed", {LOG4J}, "critical")
    assert [entry.action for entry in history.entries("demo", "CVE-2021-44228")] == ["detected"]
    assert Vulnerability.get("CVE-2021-44228").cve == "CVE-2021-44228"
    assert Package.get("demo", CLEAN).vulnerability_ids is None


def test_a_whole_feed_scan_stamps_the_feed_instead_of_every_unchanged_package(
    aws: Any, oss: tuple[FakeOssIndex, str]
) -> None:
    a_feed("demo", [LOG4J, CLEAN], [a_source(oss[1])], added_at=AN_HOUR_AGO)
    done = scan(aws, "demo")
    feed = Feed.get("demo", FEED_SK)
    assert feed.scanned_at == done.started_at
    # The clean package's row is not written; it counts as scanned through the feed
    clean = Package.get("demo", CLEAN)
    assert clean.last_scanned_at is None
    assert packages.last_scanned(clean, feed) == done.started_at
    # The vulnerable one's answer changed, so its row was written
    assert Package.get("demo", LOG4J).last_scanned_at is not None
    # A package added after the scan started is not covered by it
    late = Package(feed="demo", purl="pkg:npm/late@1.0.0", added_at=clock.iso(clock.now() + timedelta(seconds=1)))
    assert packages.last_scanned(late, feed) is None


def test_a_scan_of_just_added_packages_stamps_each_of_them(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    source = a_source(oss[1])
    a_feed("demo", [], [source])
    packages.add("demo", [CLEAN])
    scanning.scan_new_packages("s-new-packages", feed_store.require("demo"), [source], [CLEAN])
    drain(aws)
    assert Package.get("demo", CLEAN).last_scanned_at is not None
    assert Feed.get("demo", FEED_SK).scanned_at is None  # it did not cover the whole feed


def test_a_purl_shared_by_feeds_is_asked_once_per_source(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    source = a_source(url)
    purls = [f"pkg:npm/package-{n}@1.0.0" for n in range(300)] + [LODASH]
    a_feed("one", purls[:200], [source])
    a_feed("two", purls[100:], [source])
    a_feed("three", [*purls[:50], LODASH], [source])
    done = scan(aws)
    assert done.status == "succeeded"
    assert done.requests_made == service.stats()["requests"] == math.ceil(301 / 128)
    assert service.stats()["coordinates_asked"] == 301
    assert Finding.get("two", "CVE-2021-23337").packages == {LODASH}
    assert Finding.get("three", "CVE-2021-23337").packages == {LODASH}
    assert done.findings_new == 4  # two lodash vulnerabilities in two feeds


def test_workers_faster_than_the_planner_leave_the_last_batch_to_finish_the_scan(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a feed of three batches, sent one a call, whose lodash finding is no longer reported
    a_feed("demo", [CLEAN, *(f"pkg:npm/package-{n}@1.0.0" for n in range(300))], [a_source(oss[1])])
    a_finding("demo", "CVE-2021-23337", LODASH)
    monkeypatch.setattr(scan_queue, "SEND_BATCH", 1)
    real_set_totals = scans.set_totals
    counted_before_totals: list[int] = []

    def workers_first(scan: Scan, packages_total: int, batches_total: int) -> None:
        # every batch sent so far is counted while the scan has no totals: none finishes it
        counted_before_totals.append(drain(aws))
        assert Scan.get(scan.scan_id, "#scan", consistent_read=True).status == "running"
        real_set_totals(scan, packages_total, batches_total)

    monkeypatch.setattr(scans, "set_totals", workers_first)
    # When the scan is planned, then its last batch delivered
    started = scan_coordinator.handler({"trigger": "api", "feed": "demo", "refresh": False}, LambdaContext())
    assert counted_before_totals == [2]
    assert Scan.get(started["scan_id"], "#scan", consistent_read=True).status == "running"
    drain(aws)
    # Then the worker that counted it finished the scan, withdrawals included
    done = Scan.get(started["scan_id"], "#scan", consistent_read=True)
    assert (done.status, done.batches_done, done.batches_total) == ("succeeded", 3, 3)
    assert done.planned_at is not None
    assert Finding.get("demo", "CVE-2021-23337").status == "withdrawn"


def test_a_batch_reads_and_writes_only_the_package_rows_whose_answer_changed(
    aws: Any, oss: tuple[FakeOssIndex, str]
) -> None:
    a_feed("demo", [CLEAN, LODASH], [a_source(oss[1])], added_at=AN_HOUR_AGO)
    packages_table = aws.table_names["PackagesTable"]
    touched: list[tuple[str, str]] = []

    def package_keys(params: dict[str, Any], **_: Any) -> None:
        """(read or write, purl) of every Packages item read or written by key."""
        requested = params.get("RequestItems", {}).get(packages_table)
        if isinstance(requested, dict):  # BatchGetItem
            touched.extend(("read", key["purl"]["S"]) for key in requested["Keys"])
        elif isinstance(requested, list):  # BatchWriteItem
            touched.extend(("write", e["PutRequest"]["Item"]["purl"]["S"]) for e in requested if "PutRequest" in e)
        elif params.get("TableName") == packages_table and "Key" in params:  # not the Queries of planning
            touched.append(("read", params["Key"]["purl"]["S"]))

    with dynamodb_hook("provide-client-params.dynamodb", package_keys):
        cold = scan(aws, "demo")
        # The clean row is never touched; the vulnerable one's answer changed, so it is written
        assert CLEAN not in {purl for _, purl in touched}
        assert [purl for action, purl in touched if action == "write"] == [LODASH]
        touched.clear()
        again = scan(aws, "demo", refresh=True)
    # Nothing changed: no row written, the clean one not even read
    assert CLEAN not in {purl for _, purl in touched}
    assert [purl for action, purl in touched if action == "write"] == []
    assert (cold.status, again.status, again.requests_made) == ("succeeded", "succeeded", 1)


def test_an_invocation_works_its_batches_one_after_another_with_one_request_in_flight(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, url = oss
    a_feed("demo", [f"pkg:npm/package-{n}@1.0.0" for n in range(3 * 128)], [a_source(url)])
    service.latency_ms = 30
    steps: list[tuple[str, int]] = []
    real_ask, real_record = scanner.ask, scanner.record

    def ask(batch: Batch, *args: Any, **kwargs: Any) -> Any:
        steps.append(("ask", batch.number))
        return real_ask(batch, *args, **kwargs)

    def record(answered: Any) -> Any:
        steps.append(("record", answered.batch.number))
        return real_record(answered)

    monkeypatch.setattr(scanner, "ask", ask)
    monkeypatch.setattr(scanner, "record", record)
    # When one invocation is handed the scan's three batches
    done = scan(aws, "demo")
    # Then it asked about and recorded each before the next: the mapping's
    # MaximumConcurrency is the most requests OSS Index sees at once
    assert (done.status, done.batches_done) == ("succeeded", 3)
    assert [kind for kind, _ in steps] == ["ask", "record"] * 3
    assert service.stats()["max_in_flight"] == 1


def scan_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The scan ids read by scans.get from now on."""
    reads: list[str] = []
    real_get = scans.get

    def get(scan_id: str) -> Any:
        reads.append(scan_id)
        return real_get(scan_id)

    monkeypatch.setattr(scans, "get", get)
    return reads


def test_an_invocation_reads_its_scan_record_once_and_only_the_last_batch_reads_it_back(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_feed("demo", [f"pkg:npm/package-{n}@1.0.0" for n in range(3 * 128)], [a_source(oss[1])])
    scan_id = scan_coordinator.handler({"trigger": "api", "feed": "demo"}, LambdaContext())["scan_id"]
    reads = scan_reads(monkeypatch)
    assert drain(aws) == 3  # one invocation
    done = Scan.get(scan_id, "#scan", consistent_read=True)
    assert (done.status, done.batches_done) == ("succeeded", 3)
    # Once for asking, then once more to finish it: the first two counts knew
    # from their own transaction that batches remained
    assert reads == [done.scan_id] * 2


def test_an_invocation_parses_each_message_once(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_feed("demo", [f"pkg:npm/package-{n}@1.0.0" for n in range(3 * 128)], [a_source(oss[1])])
    parsed: list[int] = []
    from_message = Batch.from_message

    def parsing(message: dict[str, Any]) -> Batch:
        parsed.append(message["batch"])
        return from_message(message)

    monkeypatch.setattr(Batch, "from_message", parsing)
    done = scan(aws, "demo")
    assert (done.status, sorted(parsed)) == ("succeeded", [0, 1, 2])


def test_a_batchs_log_lines_name_its_scan_and_batch(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What is logged while a batch is worked on names it, whichever of the
    invocation's messages it is."""
    service, url = oss
    a_feed("demo", [f"pkg:npm/package-{n}@1.0.0" for n in range(3 * 128)], [a_source(url)])
    service.add_fault(Fault(status=402, times=10))
    logged = io.StringIO()
    monkeypatch.setattr(scan_worker.logger.registered_handler, "stream", logged)
    done = scan(aws, "demo")
    lines = [json.loads(line) for line in logged.getvalue().splitlines()]
    refused = [line for line in lines if line["message"] == "OSS Index refused a batch"]
    assert [(line.get("scan_id"), line.get("batch")) for line in refused] == [(done.scan_id, 0)]


def test_batches_counted_before_the_total_is_known_do_not_read_the_scan_back(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers start on the first batches while the coordinator still plans
    the rest: their counts know from their transaction that batches remain."""
    a_feed("demo", [f"pkg:npm/package-{n}@1.0.0" for n in range(7 * 128)], [a_source(oss[1])])
    monkeypatch.setattr(scan_queue, "SEND_BATCH", 2)  # six batches are sent before the total is known
    checked: list[str] = []
    finish_if_complete, set_totals = scans.finish_if_complete, scans.set_totals

    def checking(scan_id: str) -> Any:
        checked.append(scan_id)
        return finish_if_complete(scan_id)

    def totals_after_a_drain(scan: Scan, packages_total: int, batches_total: int) -> None:
        # the batches sent so far are asked and counted before the total is written
        assert drain(aws) == 6
        set_totals(scan, packages_total=packages_total, batches_total=batches_total)

    monkeypatch.setattr(scans, "finish_if_complete", checking)
    monkeypatch.setattr(scans, "set_totals", totals_after_a_drain)
    done = scan(aws, "demo")
    assert (done.status, done.batches_done) == ("succeeded", 7)
    assert checked == [done.scan_id]  # by the last batch only


def test_a_count_tells_by_its_own_transaction_whether_batches_remain(aws: Any) -> None:
    scan = scans.create("s-counted", None, "api", refresh=False)
    outcome = scans.BatchOutcome(packages_scanned=100)
    # Counted before the coordinator knows the total: its last batches are not sent yet
    assert scans.count_batch("s-counted", 0, outcome) is scans.Counted.REMAINING
    scans.set_totals(scan, packages_total=300, batches_total=3)
    assert scans.count_batch("s-counted", 1, outcome) is scans.Counted.REMAINING
    assert scans.count_batch("s-counted", 1, outcome) is scans.Counted.ALREADY
    assert scans.count_batch("s-counted", 2, outcome) is scans.Counted.PERHAPS_LAST
    assert scans.count_batch("s-counted", 2, outcome) is scans.Counted.ALREADY
    done = Scan.get("s-counted", "#scan", consistent_read=True)
    assert (done.batches_done, done.packages_scanned) == (3, 300)
    assert (done.batches_counted, done.batches_before_last) == (2, 2)  # the last count leaves it alone


def test_a_count_adds_only_the_counters_its_batch_moved(aws: Any) -> None:
    scans.create("s-moved", None, "api", refresh=False)
    updates: list[str] = []

    def seen(params: dict[str, Any], **kwargs: Any) -> None:
        updates.extend(item["Update"]["UpdateExpression"] for item in params["TransactItems"] if "Update" in item)

    with dynamodb_hook("provide-client-params.dynamodb.TransactWriteItems", seen):
        scans.count_batch("s-moved", 0, scans.BatchOutcome(packages_scanned=128, requests_made=1))
    done = Scan.get("s-moved", "#scan", consistent_read=True)
    assert (done.packages_scanned, done.requests_made, done.cache_hits, done.findings_new) == (128, 1, 0, 0)
    # Four counters moved (the batch's two, batches done and counted); none for the zeros
    assert len(updates) == 1
    assert updates[0].count(",") == 3


@pytest.mark.parametrize("lacking", ["batches_counted", "batches_before_last"])
def test_a_scan_recorded_before_the_count_condition_existed_still_finishes(
    aws: Any, oss: tuple[FakeOssIndex, str], lacking: str
) -> None:
    a_feed("demo", [f"pkg:npm/package-{n}@1.0.0" for n in range(3 * 128)], [a_source(oss[1])])
    started = scan_coordinator.handler({"trigger": "api", "feed": "demo", "refresh": False}, LambdaContext())
    # Given a scan record as the code before wrote it: created without the
    # counter (so counts made by then are not in it), or planned without
    # the number of batches before the last
    Scan(started["scan_id"], "#scan").update(actions=[getattr(Scan, lacking).remove()])
    drain(aws)
    done = Scan.get(started["scan_id"], "#scan", consistent_read=True)
    assert (done.status, done.batches_done) == ("succeeded", 3)
    if lacking == "batches_counted":
        assert done.batches_counted is None  # a count it lacked from the start would be wrong


def test_a_rescan_within_a_day_is_answered_by_the_cache(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    a_feed("demo", [LOG4J, CLEAN], [a_source(url)])
    scan(aws, "demo")
    again = scan(aws, "demo")
    assert (again.status, again.requests_made, again.cache_hits, again.findings_new) == ("succeeded", 0, 2, 0)
    refreshed = scan(aws, "demo", refresh=True)
    assert (refreshed.requests_made, refreshed.cache_hits) == (1, 0)
    assert service.stats()["requests"] == 2


def test_an_answer_is_cached_per_source_and_purl_for_a_day(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    a_feed("demo", [LOG4J, CLEAN], [a_source(oss[1])])
    done = scan(aws, "demo")
    for purl, vulnerable in ((LOG4J, True), (CLEAN, False)):
        cached = CachedAnswer.get("src-guide", purl)
        fetched = clock.parse_iso(cached.fetched_at)
        assert fetched >= clock.parse_iso(done.started_at or "")
        assert cached.expires_ttl == int((fetched + timedelta(hours=24)).timestamp())
        report = json.loads(cached.answer)
        assert report["coordinates"] == purl
        assert bool(report["vulnerabilities"]) is vulnerable


def test_the_cache_is_read_whole_though_dynamodb_leaves_its_keys_unprocessed(aws: Any) -> None:
    from botocore.awsrequest import AWSResponse

    purls = [f"pkg:npm/package-{n}@1.0.0" for n in range(150)]  # two calls' worth
    now = clock.now()
    answers.store("src", {purl: {"coordinates": purl, "vulnerabilities": []} for purl in purls}, now)
    refused: list[int] = []
    seen: set[str] = set()

    def refuse_once(params: dict[str, Any], **kwargs: Any) -> Any:
        ((table, request),) = json.loads(params["body"])["RequestItems"].items()
        if json.dumps(request["Keys"][0]) in seen:
            return None  # asked again: answered
        seen.add(json.dumps(request["Keys"][0]))
        refused.append(len(request["Keys"]))
        return AWSResponse("", 200, {}, None), {"Responses": {table: []}, "UnprocessedKeys": {table: request}}

    with dynamodb_hook("before-call.dynamodb.BatchGetItem", refuse_once):
        found = answers.cached("src", purls, now)
    # Both calls (100 keys and 50) were left unprocessed whole, then asked again
    assert sorted(refused) == [50, 100]
    assert sorted(found) == sorted(purls)
    assert found[purls[0]] == {"coordinates": purls[0], "vulnerabilities": []}
    assert answers.cached("src", purls, now + timedelta(hours=24, seconds=1)) == {}


def test_a_rescan_that_finds_nothing_new_rewrites_no_finding_vulnerability_or_package(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_feed("demo", [LOG4J, LODASH], [a_source(oss[1])])
    scan(aws, "demo")

    def stored() -> tuple[list[str], ...]:
        return tuple(
            sorted(json.dumps(item.serialize(), sort_keys=True) for item in model.scan())
            for model in (Vulnerability, Finding, Package)
        )

    before = stored()
    later = clock.now() + timedelta(hours=1)
    monkeypatch.setattr(clock, "now", lambda: later)  # a rewrite would carry a later timestamp
    scan(aws, "demo", refresh=True)
    assert stored() == before


def test_redelivered_batches_count_once(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    a_feed("demo", [LOG4J, LODASH], [a_source(oss[1])])
    done = scan(aws, "demo", deliveries=3)
    assert (done.packages_scanned, done.findings_new, done.batches_done) == (2, 5, 1)
    assert [e.action for e in history.entries("demo", "CVE-2021-44228")] == ["detected"]


def test_a_batch_sent_twice_counts_once_though_each_copy_is_a_first_delivery(
    aws: Any, oss: tuple[FakeOssIndex, str]
) -> None:
    # A planning retried after it died half-way sends some batches again: new
    # messages, so nothing tells the worker before it asks; the count does.
    a_feed("demo", [LOG4J, LODASH], [a_source(oss[1])])
    started = scan_coordinator.handler({"trigger": "api", "feed": "demo"}, LambdaContext())
    sqs = boto3.client("sqs")
    message = sqs.receive_message(QueueUrl=aws.queue_urls["ScanQueue"])["Messages"][0]
    for _ in range(2):
        answer = scan_worker.handler({"Records": [sqs_record(message, receives=1)]}, LambdaContext())
        assert answer == {"batchItemFailures": []}
    done = Scan.get(started["scan_id"], "#scan", consistent_read=True)
    assert (done.status, done.packages_scanned, done.findings_new, done.batches_done) == ("succeeded", 2, 5, 1)
    assert [e.action for e in history.entries("demo", "CVE-2021-44228")] == ["detected"]


def test_a_batch_that_cannot_be_read_is_counted_failed_on_its_last_delivery(
    aws: Any, oss: tuple[FakeOssIndex, str]
) -> None:
    # Given a scan whose one batch message cannot be read (an older format: purls, no rows)
    a_feed("demo", [LOG4J], [a_source(oss[1])])
    started = scan_coordinator.handler({"trigger": "api", "feed": "demo"}, LambdaContext())
    sqs = boto3.client("sqs")
    message = sqs.receive_message(QueueUrl=aws.queue_urls["ScanQueue"])["Messages"][0]
    body = json.loads(message["Body"])
    message["Body"] = json.dumps({**body, "packages": None, "purls": [LOG4J]})
    # Then it is retried (the whole invocation fails: its only record did),
    with pytest.raises(BatchProcessingError):
        scan_worker.handler({"Records": [sqs_record(message, 1)]}, LambdaContext())
    # and on its last delivery counted as failed, so the scan finishes
    answer = scan_worker.handler({"Records": [sqs_record(message, scan_worker.LAST_TRY)]}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    done = Scan.get(started["scan_id"], "#scan", consistent_read=True)
    assert (done.status, done.batches_failed) == ("failed", 1)
    assert errors(done) == ["Internal error: AttributeError."]
    assert oss[0].stats()["requests"] == 0


def queue_counts(aws: Any) -> tuple[int, int]:
    """Messages of the scan queue visible, and in flight."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws.queue_urls["ScanQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_an_invocation_reports_only_its_failed_batch_which_comes_back_soon(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_feed("demo", [f"pkg:npm/package-{n}@1.0.0" for n in range(3 * 128)], [a_source(oss[1])])
    started = scan_coordinator.handler({"trigger": "api", "feed": "demo"}, LambdaContext())
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=aws.queue_urls["ScanQueue"], MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 3
    process = scanner.process
    failing_batch = json.loads(messages[1]["Body"])["batch"]

    def failing(batch: Batch, *args: Any, **kwargs: Any) -> Any:
        if batch.number == failing_batch:
            raise RuntimeError("DynamoDB went away")
        return process(batch, *args, **kwargs)

    monkeypatch.setattr(scanner, "process", failing)
    # When one invocation is handed the scan's three batches and the second fails
    answer = scan_worker.handler({"Records": [sqs_record(m, receives=1) for m in messages]}, LambdaContext())
    # Then that one alone is reported, and hidden for ScanBatchRetrySeconds, not the queue's 90 minutes
    assert answer == {"batchItemFailures": [{"itemIdentifier": messages[1]["MessageId"]}]}
    assert Scan.get(started["scan_id"], "#scan", consistent_read=True).batches_done == 2
    assert queue_counts(aws) == (0, 3)  # none deleted yet: the mapping deletes the two done
    clock_moved = time.time() + int(os.environ["SCAN_RETRY_SECONDS"]) + 1
    with mock.patch("moto.sqs.models.unix_time_millis", return_value=clock_moved * 1000):
        (back,) = sqs.receive_message(QueueUrl=aws.queue_urls["ScanQueue"], MaxNumberOfMessages=10)["Messages"]
    assert back["MessageId"] == messages[1]["MessageId"]
    # and its next delivery finishes the scan
    monkeypatch.setattr(scanner, "process", process)
    answer = scan_worker.handler({"Records": [sqs_record(back, receives=2)]}, LambdaContext())
    assert answer == {"batchItemFailures": []}
    done = Scan.get(started["scan_id"], "#scan", consistent_read=True)
    assert (done.status, done.batches_done, done.batches_failed) == ("succeeded", 3, 0)


def test_a_failed_batch_comes_back_after_the_retry_delay_doubled_with_each_receive() -> None:
    assert [scan_worker.retry_delay(receives) for receives in range(1, 7)] == [30, 60, 120, 240, 480, 900]


def test_a_source_refused_in_an_invocation_is_stopped_for_its_later_batches_and_read_by_the_next(
    aws: Any, oss: tuple[FakeOssIndex, str]
) -> None:
    service, url = oss
    a_feed("demo", [f"pkg:npm/package-{n}@1.0.0" for n in range(4 * 128)], [a_source(url)])
    started = scan_coordinator.handler({"trigger": "api", "feed": "demo"}, LambdaContext())
    messages = boto3.client("sqs").receive_message(QueueUrl=aws.queue_urls["ScanQueue"], MaxNumberOfMessages=10)[
        "Messages"
    ]
    assert len(messages) == 4
    service.add_fault(Fault(status=401, times=10))
    # One invocation of two batches: the first is refused, the second not asked
    scan_worker.handler({"Records": [sqs_record(m, 1) for m in messages[:2]]}, LambdaContext())
    assert service.stats()["requests"] == 1
    # The next invocation reads the stop from the scan record and asks nothing
    scan_worker.handler({"Records": [sqs_record(m, 1) for m in messages[2:]]}, LambdaContext())
    done = Scan.get(started["scan_id"], "#scan", consistent_read=True)
    assert (done.status, done.batches_failed) == ("failed", 4)
    assert service.stats()["requests"] == 1


def test_a_finding_no_longer_reported_is_withdrawn_after_a_successful_scan(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_feed("demo", [LODASH], [a_source(oss[1])])
    scan(aws, "demo")
    lodash_reports(monkeypatch, LODASH_VULNERABILITIES[:1])
    done = scan(aws, "demo", refresh=True)
    assert done.status == "succeeded"
    withdrawn = Finding.get("demo", "CVE-2020-28500")
    assert withdrawn.status == "withdrawn"
    assert [e.action for e in history.entries("demo", "CVE-2020-28500")] == ["detected", "withdrawn"]
    assert Finding.get("demo", "CVE-2021-23337").status == "unassessed"
    # reported again: it needs assessing again
    lodash_reports(monkeypatch, LODASH_VULNERABILITIES)
    scan(aws, "demo", refresh=True)
    assert Finding.get("demo", "CVE-2020-28500").status == "unassessed"
    assert [e.action for e in history.entries("demo", "CVE-2020-28500")] == ["detected", "withdrawn", "detected"]


def test_a_partial_scan_never_withdraws(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, url = oss
    purls = [LODASH] + [f"pkg:npm/package-{n}@1.0.0" for n in range(200)]
    a_feed("demo", purls, [a_source(url)])
    scan(aws, "demo")
    lodash_reports(monkeypatch, [])
    service.add_fault(Fault())  # the first batch gets through
    service.add_fault(Fault(status=503, times=50))  # the second never does
    first_started = Feed.get("demo", FEED_SK).scanned_at
    done = scan(aws, "demo", refresh=True)
    assert done.status == "partial"
    assert Finding.get("demo", "CVE-2021-23337").status == "unassessed"
    # Nor does it count as a scan of the whole feed
    assert Feed.get("demo", FEED_SK).scanned_at == first_started
    # The next successful scan withdraws it, though the partial one already wrote the package's row
    service.reset()
    done = scan(aws, "demo", refresh=True)
    assert done.status == "succeeded"
    assert Finding.get("demo", "CVE-2021-23337").status == "withdrawn"


def test_rows_a_failed_batch_wrote_without_counting_them_are_checked_by_the_next_successful_scan(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_feed("demo", [LODASH], [a_source(oss[1])])
    scan(aws, "demo")
    lodash_reports(monkeypatch, [])

    # Given a batch that writes the package's row, then fails before counting it, on its last delivery
    def cut_short(feed: str, count: int) -> None:
        raise ConnectionError("the worker's Lambda ended here")

    monkeypatch.setattr(detections, "feed_store", SimpleNamespace(note_package_changes=cut_short))
    scan_coordinator.handler({"trigger": "api", "feed": "demo", "refresh": True}, LambdaContext())
    sqs = boto3.client("sqs")
    (message,) = sqs.receive_message(QueueUrl=aws.queue_urls["ScanQueue"]).get("Messages", [])
    scan_worker.handler({"Records": [sqs_record(message, receives=scan_worker.LAST_TRY)]}, LambdaContext())
    assert Package.get("demo", LODASH).vulnerability_ids is None  # written
    sqs.delete_message(QueueUrl=aws.queue_urls["ScanQueue"], ReceiptHandle=message["ReceiptHandle"])
    monkeypatch.undo()
    lodash_reports(monkeypatch, [])
    # When the next scan succeeds, the row already as the answer says
    assert scan(aws, "demo", refresh=True).status == "succeeded"
    # Then it withdraws what the row no longer reports: the failed scan counted its feed
    assert {f.status for f in Finding.query("demo")} == {"withdrawn"}


def test_a_scan_that_finds_nothing_new_reads_no_finding_to_withdraw(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a_feed("demo", [LODASH, LOG4J, CLEAN], [a_source(oss[1])])
    scan(aws, "demo")
    queried: list[str] = []
    query = Finding.query
    monkeypatch.setattr(
        Finding, "query", lambda feed, *args, **kwargs: (queried.append(feed), query(feed, *args, **kwargs))[1]
    )
    # Nothing changed: the end of the scan reads none of the feed's findings
    assert scan(aws, "demo", refresh=True).status == "succeeded"
    assert queried == []
    # A package removed: the next scan checks the findings, and withdraws those it left without a package
    packages.remove("demo", LODASH, "demo")
    assert scan(aws, "demo", refresh=True).status == "succeeded"
    assert queried == ["demo"]
    assert {Finding.get("demo", vid).status for vid in ("CVE-2021-23337", "CVE-2020-28500")} == {"withdrawn"}
    assert Finding.get("demo", "CVE-2021-44228").status == "unassessed"
    # and once checked, not again until something changes
    assert scan(aws, "demo", refresh=True).status == "succeeded"
    assert queried == ["demo"]


@pytest.mark.parametrize("case", SCAN_FAULTS, ids=lambda case: case.name)
def test_faults_end_the_scan_with_the_right_status_and_lose_nothing(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch, case: ScanFault
) -> None:
    # (tests/integration/test_scans_http.py runs the same cases through the local stack)
    fault = Fault(**case.fault)
    if fault.latency_ms:  # a short timeout for the case that tests it, and only there
        monkeypatch.setattr("feedguard.ossindex.REQUEST_TIMEOUT", 0.5)
    service, url = oss
    a_feed("demo", [LOG4J, LODASH], [a_source(url)])
    scan(aws, "demo")
    before = sorted(f.vulnerability_id for f in Finding.query("demo"))
    service.add_fault(fault)
    done = scan(aws, "demo", refresh=True)
    assert done.status == case.status
    assert errors(done) == ([f"guide: {case.error}"] if case.error else [])
    assert sorted(f.vulnerability_id for f in Finding.query("demo")) == before
    assert all(f.status == "unassessed" for f in Finding.query("demo"))


def test_a_refusing_source_is_stopped_for_the_rest_of_the_scan(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    purls = [f"pkg:npm/package-{n}@1.0.0" for n in range(400)]
    a_feed("demo", purls, [a_source(url)])
    service.add_fault(Fault(status=402, times=10))
    done = scan(aws, "demo")
    assert (done.status, done.batches_failed, done.requests_made) == ("failed", 4, 1)
    assert service.stats()["requests"] == 1


def test_a_feed_without_a_source_succeeds_with_nothing_to_do(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    a_feed("lonely", [LOG4J], [])
    done = scan(aws, "lonely")
    assert (done.status, done.packages_total, done.requests_made) == ("succeeded", 0, 0)


def test_tokens_and_keys_never_reach_logs_responses_or_tables_across_a_scan_cycle(
    aws: Any,
    oss: tuple[FakeOssIndex, str],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import logging

    from aws_lambda_powertools.utilities import parameters

    from handlers import scans as scans_api
    from handlers import sources as sources_api
    from tests.support import request

    service, url = oss
    secret_token, rotated = "pat-cycle-0123456789", "pat-rotated-9876543210"
    service.tokens |= {secret_token, rotated}
    # Given DEBUG logging everywhere
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("FEEDGUARD_ALLOW_HTTP_SOURCES", "1")
    from feedguard.settings import settings

    settings.cache_clear()
    caplog.set_level(logging.DEBUG)
    for name in ("feedguard", "botocore", "boto3", "pynamodb", "urllib3", "requests"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    answers: list[Any] = []
    # When a source is created, scanned, refused, rotated and scanned again
    _, source = request(
        sources_api, "POST", "/sources", body={"name": "cycle", "kind": "ossindex", "url": url, "token": secret_token}
    )
    answers.append(source)
    a_feed("cycle", [LOG4J, LODASH], [source["id"]])
    answers.append(scan(aws, "cycle").attribute_values)
    service.add_fault(Fault(status=401))
    answers.append(scan(aws, "cycle", refresh=True).attribute_values)
    answers.append(request(sources_api, "PATCH", f"/sources/{source['id']}", body={"token": rotated})[1])
    parameters.clear_caches()
    answers.append(scan(aws, "cycle", refresh=True).attribute_values)
    answers.append(request(scans_api, "GET", "/scans")[1])
    # And an API key is issued, used for a check and listed
    from handlers import gate as gate_api
    from handlers import keys as keys_api
    from tests.support import key_caller

    _, issued = request(keys_api, "POST", "/api-keys", body={"name": "ci"})
    request(sources_api, "GET", "/sources")
    answers.append(request(keys_api, "GET", "/api-keys")[1])
    answers.append(
        request(gate_api, "POST", "/feeds/cycle/check", body={"purls": [LOG4J, CLEAN]}, caller=key_caller(issued["id"]))
    )
    answers.append(request(gate_api, "POST", "/feeds/cycle/check", body={"purls": [LOG4J, CLEAN]})[1])
    settings.cache_clear()
    # Then neither token appears anywhere
    captured = capsys.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert "OSS Index refused a batch" in logs
    stored = json.dumps([boto3.client("dynamodb").scan(TableName=t)["Items"] for t in aws.table_names.values()])
    for token in (secret_token, rotated, issued["key"]):
        assert token not in json.dumps(answers, default=str)
        assert token not in logs
        assert token not in stored


def test_new_findings_in_an_auto_assess_range_are_assessed_by_auto(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    from feedguard.dal import assessment_types as type_store
    from feedguard.dal.models import Assessment
    from feedguard.effects import AssessmentType

    # Given two overlapping ranges; the more severe effect wins where they overlap
    type_store.create(AssessmentType("low-risk", "Low Risk", "allow", 30, auto_assess_min=0.0, auto_assess_max=5.9))
    type_store.create(AssessmentType("watch", "Watch", "warn", 14, auto_assess_min=5.0, auto_assess_max=6.9))
    a_feed("demo", [LODASH], [a_source(oss[1])])
    scan(aws, "demo")
    # CVSS 5.3 is in both ranges: watch (warn) wins; 7.2 is in none
    assessment = Assessment.get("demo", "CVE-2020-28500")
    assert (assessment.type, assessment.effect, assessment.assessed_by) == ("watch", "warn", "auto")
    assert Finding.get("demo", "CVE-2020-28500").status == "assessed"
    assert [(e.action, e.actor, e.actor_id) for e in history.entries("demo", "CVE-2020-28500")] == [
        ("detected", "scanner", "scanner"),
        ("assessed", "auto", "auto"),
    ]
    assert assessment.assessed_by_id == "auto"
    assert Finding.get("demo", "CVE-2021-23337").status == "unassessed"


def test_a_severity_rise_reopens_the_assessment(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedguard.dal import assessments
    from feedguard.dal.models import Assessment

    a_feed("demo", [LODASH], [a_source(oss[1])])
    scan(aws, "demo")
    assessments.assess(
        "demo",
        "CVE-2020-28500",
        type_id="ignore",
        effect="allow",
        comment=None,
        expires_at=None,
        actor=Actor("kalice", "alice"),
    )
    medium_turns_critical(monkeypatch)
    # When a rescan reports it in a higher band
    scan(aws, "demo", refresh=True)
    # Then the assessment ends as reopened, naming both bands, and the finding needs reassessing
    finding = Finding.get("demo", "CVE-2020-28500")
    assert (finding.status, finding.severity_band, float(finding.cvss_score)) == ("expired", "critical", 9.1)
    assert Assessment.count("demo", Assessment.vulnerability_id == "CVE-2020-28500") == 0
    entries = history.entries("demo", "CVE-2020-28500")
    assert [e.action for e in entries] == ["detected", "assessed", "reopened"]
    assert entries[-1].reason == "Severity rose from medium to critical."
    assert [e.actor_id for e in entries] == ["scanner", "kalice", "scanner"]
    # And a further rescan at the same severity changes nothing more
    scan(aws, "demo", refresh=True)
    assert [e.action for e in history.entries("demo", "CVE-2020-28500")] == ["detected", "assessed", "reopened"]


def assessments_read(aws: Any) -> Any:
    """A hook collecting the vulnerability id of every assessment read by key."""
    table = aws.table_names["AssessmentsTable"]
    read: list[str] = []

    def collect(params: dict[str, Any], **_: Any) -> None:
        requested = params.get("RequestItems", {}).get(table)
        if isinstance(requested, dict):  # BatchGetItem
            read.extend(key["vulnerability_id"]["S"] for key in requested["Keys"])
        elif params.get("TableName") == table and "Key" in params:
            read.append(params["Key"]["vulnerability_id"]["S"])

    return read, dynamodb_hook("provide-client-params.dynamodb", collect)


def assess_lodash(actor: str = "alice", type_id: str = "ignore") -> None:
    from feedguard.dal import assessments

    for vid in ("CVE-2020-28500", "CVE-2021-23337"):
        assessments.assess(
            "demo", vid, type_id=type_id, effect="allow", comment=None, expires_at=None, actor=Actor(f"k{actor}", actor)
        )


def test_a_rescan_reads_an_assessment_only_when_the_band_rose_above_the_one_it_recorded(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given both findings of LODASH assessed (medium and high)
    a_feed("demo", [LODASH], [a_source(oss[1])])
    scan(aws, "demo")
    assess_lodash()
    read, hook = assessments_read(aws)
    with hook:
        # When a rescan reports the same bands, no assessment is read
        scan(aws, "demo", refresh=True)
        assert read == []
        # When one rises, only its assessment is read, and it is reopened
        medium_turns_critical(monkeypatch)
        scan(aws, "demo", refresh=True)
        assert read == ["CVE-2020-28500"]
    assert [Finding.get("demo", vid).status for vid in ("CVE-2020-28500", "CVE-2021-23337")] == ["expired", "assessed"]


def test_a_finding_assessed_before_it_carried_the_assessments_band_is_still_reopened(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given assessed findings as earlier versions stored them: without the band on the finding
    a_feed("demo", [LODASH], [a_source(oss[1])])
    scan(aws, "demo")
    assess_lodash()
    for vid in ("CVE-2020-28500", "CVE-2021-23337"):
        Finding(feed="demo", vulnerability_id=vid).update(actions=[Finding.assessment_band.remove()])
    read, hook = assessments_read(aws)
    with hook:
        # When a rescan reports the same bands, their assessments are read, and stand
        scan(aws, "demo", refresh=True)
        assert sorted(read) == ["CVE-2020-28500", "CVE-2021-23337"]
    assert {Finding.get("demo", vid).status for vid in ("CVE-2020-28500", "CVE-2021-23337")} == {"assessed"}
    # And when one rises, it is reopened
    medium_turns_critical(monkeypatch)
    scan(aws, "demo", refresh=True)
    assert [Finding.get("demo", vid).status for vid in ("CVE-2020-28500", "CVE-2021-23337")] == ["expired", "assessed"]


def test_an_assessment_that_keeps_changing_is_left_to_the_next_scan_which_says_so(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    a_feed("demo", [LODASH], [a_source(oss[1])])
    scan(aws, "demo")
    assess_lodash()
    medium_turns_critical(monkeypatch)
    # When every reopen finds the assessment changed since it was read
    monkeypatch.setattr(detections, "_reopen", lambda *args: False)
    done = scan(aws, "demo", refresh=True)
    # Then the batch still succeeds, the finding keeps the band its assessment recorded, and the log says why
    finding = Finding.get("demo", "CVE-2020-28500")
    assert (done.status, finding.status, finding.assessment_band) == ("succeeded", "assessed", "medium")
    assert "an assessment kept changing while a scan reopened it" in caplog.text
    # And the next scan reopens it
    monkeypatch.undo()
    medium_turns_critical(monkeypatch)
    scan(aws, "demo", refresh=True)
    assert Finding.get("demo", "CVE-2020-28500").status == "expired"


def test_an_assessment_made_while_a_scan_reopens_the_one_before_is_checked_and_reopened_in_turn(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedguard.dal import assessments

    a_feed("demo", [LODASH], [a_source(oss[1])])
    scan(aws, "demo")
    assess_lodash()
    medium_turns_critical(monkeypatch)
    real_reopen = detections._reopen

    def reassessed_first(feed: str, vid: str, *args: Any) -> bool:
        if not reassessed:  # bob assesses at the band the finding still records (medium)
            reassessed.append(vid)
            assessments.assess(
                feed, vid, type_id="caution", effect="warn", comment=None, expires_at=None, actor=Actor("kbob", "bob")
            )
        return real_reopen(feed, vid, *args)

    reassessed: list[str] = []
    monkeypatch.setattr(detections, "_reopen", reassessed_first)
    # When a rescan reports a higher band, and bob reassesses before its reopen
    scan(aws, "demo", refresh=True)
    # Then bob's assessment, made at the band before, is the one reopened
    assert reassessed == ["CVE-2020-28500"]
    assert Finding.get("demo", "CVE-2020-28500").status == "expired"
    entries = [(e.action, e.actor, e.type) for e in history.entries("demo", "CVE-2020-28500")]
    assert entries == [
        ("detected", "scanner", None),
        ("assessed", "alice", "ignore"),
        ("assessed", "bob", "caution"),
        ("reopened", "scanner", "caution"),
    ]
