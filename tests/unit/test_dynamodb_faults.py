"""DynamoDB faults in the middle of a scan batch: throttling that outlasted
botocore's own retries, injected into the data layer's one client. The
batch's message fails and SQS delivers it again; a redelivery records
nothing twice and the scan counts the batch once. A batch that fails on
every delivery is counted failed on its last, so the scan still finishes,
and nothing recorded before is lost."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from feedguard.actors import Actor
from feedguard.dal import assessment_types as type_store
from feedguard.dal import history
from feedguard.dal.models import Finding, Scan
from feedguard.effects import AssessmentType
from handlers import scan_coordinator, scan_worker
from infra.fake_ossindex import FakeOssIndex
from tests.support import LambdaContext, dynamodb_hook
from tests.unit.builders import a_feed
from tests.unit.test_scanner import LODASH, LOG4J, a_source, sqs_record


@pytest.fixture(autouse=True)
def _no_backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("feedguard.ossindex.time.sleep", lambda seconds: None)


@contextmanager
def throttled(operation: str, times: int) -> Iterator[list[str]]:
    """The next `times` calls of `operation` fail as DynamoDB throttling does."""
    refused: list[str] = []

    def refuse(**kwargs: Any) -> None:
        if len(refused) < times:
            refused.append(operation)
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}},
                operation,
            )

    with dynamodb_hook(f"before-call.dynamodb.{operation}", refuse):
        yield refused


@contextmanager
def refused_transactions(
    table: str, error: Callable[[dict[str, Any]], ClientError], times: int = 1
) -> Iterator[list[str]]:
    """The next `times` TransactWriteItems that write to `table` fail with `error(params)`."""
    refused: list[str] = []

    def refuse(params: dict[str, Any], **kwargs: Any) -> None:
        if len(refused) < times and any(table in json.dumps(item) for item in params["TransactItems"]):
            refused.append(table)
            raise error(params)

    # before-parameter-build sees the call's own parameters
    with dynamodb_hook("before-parameter-build.dynamodb.TransactWriteItems", refuse):
        yield refused


def throttling(params: dict[str, Any]) -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems")


def conflict(params: dict[str, Any]) -> ClientError:
    """As DynamoDB cancels a transaction one of whose items another transaction holds."""
    reasons = [{"Code": "None"}] * (len(params["TransactItems"]) - 1) + [{"Code": "TransactionConflict"}]
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": reasons,
        },
        "TransactWriteItems",
    )


def deliver_until_done(aws: Any, max_receives: int = 5) -> list[int]:
    """The SQS mapping: failed messages come back, with their receive count,
    until they succeed or reach the queue's maxReceiveCount. Returns the
    number of failed messages of each round."""
    sqs = boto3.client("sqs")
    url = aws.queue_urls["ScanQueue"]
    receives: dict[str, int] = {}
    failures_per_round = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5).get("Messages", [])
        if not messages:
            return failures_per_round
        for message in messages:
            receives[message["MessageId"]] = receives.get(message["MessageId"], 0) + 1
        records = [sqs_record(message, receives[message["MessageId"]]) for message in messages]
        try:
            answer = scan_worker.handler({"Records": records}, LambdaContext())
            failed = {failure["itemIdentifier"] for failure in answer["batchItemFailures"]}
        except BatchProcessingError:
            failed = {record["messageId"] for record in records}  # the invocation failed: all come back
        failures_per_round.append(len(failed))
        for message in messages:
            if message["MessageId"] not in failed or receives[message["MessageId"]] >= max_receives:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            else:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)


def start_scan() -> str:
    return str(scan_coordinator.handler({"trigger": "api", "feed": "demo"}, LambdaContext())["scan_id"])


@pytest.mark.parametrize(
    ("operation", "times"),
    [
        ("BatchWriteItem", 1),  # the answer cache, the first of the batch's
        ("BatchGetItem", 2),  # the cache lookup, then the packages
        ("TransactWriteItems", 1),  # the first of the batch's transactions
        ("GetItem", 1),  # the scan record
    ],
)
def test_throttling_fails_the_message_and_its_redelivery_records_everything_once(
    aws: Any, oss: tuple[FakeOssIndex, str], operation: str, times: int
) -> None:
    a_feed("demo", [LOG4J, LODASH], [a_source(oss[1])])
    scan_id = start_scan()
    with throttled(operation, times) as refused:
        rounds = deliver_until_done(aws)
    assert refused == [operation] * times
    assert rounds[0] == 1  # failed
    assert rounds[-1] == 0  # then redelivered, and done
    done = Scan.get(scan_id, "#scan", consistent_read=True)
    assert (done.status, done.batches_done, done.packages_scanned, done.findings_new) == ("succeeded", 1, 2, 5)
    assert [e.action for e in history.entries("demo", "CVE-2021-44228")] == ["detected"]
    assert Finding.get("demo", "CVE-2021-44228").packages == {LOG4J}


def test_the_count_failing_after_the_findings_were_recorded_counts_once_on_redelivery(
    aws: Any, oss: tuple[FakeOssIndex, str]
) -> None:
    a_feed("demo", [LOG4J, LODASH], [a_source(oss[1])])
    scan_id = start_scan()
    with refused_transactions("ScansTable", throttling) as refused:
        deliver_until_done(aws)
    assert refused == ["ScansTable"]
    done = Scan.get(scan_id, "#scan", consistent_read=True)
    assert (done.status, done.batches_done, done.packages_scanned, done.findings_new) == ("succeeded", 1, 2, 5)
    assert [e.action for e in history.entries("demo", "CVE-2021-23337")] == ["detected"]


def test_a_batch_throttled_on_every_delivery_is_counted_failed_and_loses_nothing_recorded_before(
    aws: Any, oss: tuple[FakeOssIndex, str]
) -> None:
    a_feed("demo", [LOG4J, LODASH], [a_source(oss[1])])
    first = Scan.get(start_scan(), "#scan", consistent_read=True)
    deliver_until_done(aws)
    before = sorted(json.dumps(f.serialize(), sort_keys=True) for f in Finding.scan())
    scan_id = start_scan()
    with throttled("BatchGetItem", 1000):
        rounds = deliver_until_done(aws)
    assert rounds == [1, 1, 1, 0]  # fails three times; the fourth delivery counts it failed
    done = Scan.get(scan_id, "#scan", consistent_read=True)
    assert (done.status, done.batches_failed) == ("failed", 1)
    assert [json.loads(e)["message"] for e in done.error_set or ()] == [
        "Internal error: GetError (ProvisionedThroughputExceededException)."
    ]
    assert sorted(json.dumps(f.serialize(), sort_keys=True) for f in Finding.scan()) == before
    assert first.scan_id != scan_id


def test_an_auto_assessment_cut_short_by_a_fault_is_made_on_redelivery(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    type_store.create(AssessmentType("watch", "Watch", "warn", 14, auto_assess_min=5.0, auto_assess_max=6.9))
    a_feed("demo", [LODASH], [a_source(oss[1])])
    scan_id = start_scan()
    with refused_transactions("AssessmentsTable", throttling) as refused:
        deliver_until_done(aws)
    assert refused == ["AssessmentsTable"]
    # The finding was created on the first delivery; the redelivery assessed it and counted it once
    assert Finding.get("demo", "CVE-2020-28500").status == "assessed"
    assert [(e.action, e.actor) for e in history.entries("demo", "CVE-2020-28500")] == [
        ("detected", "scanner"),
        ("assessed", "auto"),
    ]
    done = Scan.get(scan_id, "#scan", consistent_read=True)
    assert (done.status, done.findings_new) == ("succeeded", 2)


@pytest.mark.parametrize("table", ["ScansTable", "FindingsTable"])
def test_a_transaction_conflict_is_retried_in_place_without_a_redelivery(
    aws: Any, oss: tuple[FakeOssIndex, str], monkeypatch: pytest.MonkeyPatch, table: str
) -> None:
    # Workers count on one scan item, and batches may create one finding, at once
    monkeypatch.setattr("feedguard.dal.transactions.time.sleep", lambda seconds: None)
    a_feed("demo", [LOG4J, LODASH], [a_source(oss[1])])
    scan_id = start_scan()
    with refused_transactions(aws.table_names[table], conflict, times=2) as cancelled:
        assert deliver_until_done(aws) == [0]
    assert len(cancelled) == 2
    done = Scan.get(scan_id, "#scan", consistent_read=True)
    assert (done.status, done.batches_done, done.findings_new) == ("succeeded", 1, 5)
    assert [e.action for e in history.entries("demo", "CVE-2021-44228")] == ["detected"]


def test_a_failed_batch_comes_back_in_seconds_doubling_not_after_the_visibility_timeout(
    aws: Any, oss: tuple[FakeOssIndex, str]
) -> None:
    from feedguard import scan_queue

    delays: list[int] = []

    def seen(params: dict[str, Any], **kwargs: Any) -> None:
        assert params["QueueUrl"] == aws.queue_urls["ScanQueue"]
        delays.append(params["VisibilityTimeout"])

    a_feed("demo", [LOG4J], [a_source(oss[1])])
    scan_id = start_scan()
    events = scan_queue._sqs().meta.events
    events.register("provide-client-params.sqs.ChangeMessageVisibility", seen, unique_id="test-visibility")
    try:
        with throttled("BatchGetItem", times=100):
            rounds = deliver_until_done(aws)
    finally:
        events.unregister("provide-client-params.sqs.ChangeMessageVisibility", unique_id="test-visibility")
    # three failed deliveries brought back sooner, the fourth counted as failed
    assert delays == [30, 60, 120]
    assert rounds == [1, 1, 1, 0]
    assert Scan.get(scan_id, "#scan", consistent_read=True).status == "failed"


@pytest.mark.parametrize(
    ("method", "body"),
    [("PUT", {"type": "ignore"}), ("DELETE", None)],
)
def test_an_assessors_write_cancelled_by_a_transaction_conflict_is_retried_not_a_500(
    aws: Any, monkeypatch: pytest.MonkeyPatch, method: str, body: dict[str, Any] | None
) -> None:
    # Given an assessed finding, and DynamoDB cancelling the next two writes of
    # its assessment for a transaction (a scan, another assessor) holding it
    from feedguard.dal import assessments as assessment_store
    from handlers import findings
    from tests.support import request
    from tests.unit.builders import a_finding

    monkeypatch.setattr("feedguard.dal.transactions.time.sleep", lambda seconds: None)
    a_feed("demo", [], [])
    a_finding("demo", "CVE-1")
    assessment_store.assess(
        "demo", "CVE-1", type_id="caution", effect="warn", comment=None, expires_at=None, actor=Actor("kalice", "alice")
    )
    with refused_transactions(aws.table_names["AssessmentsTable"], conflict, times=2) as cancelled:
        # When the admin writes it
        status, _ = request(findings, method, "/feeds/demo/vulnerabilities/CVE-1/assessment", body=body)
    # Then the write is retried until it lands, once
    assert len(cancelled) == 2
    assert status == (200 if method == "PUT" else 204)
    assert [e.action for e in history.entries("demo", "CVE-1")][-1] == ("assessed" if method == "PUT" else "unassessed")


def test_a_conflict_that_outlasts_the_retries_is_a_409_not_a_500(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers import findings
    from tests.support import request
    from tests.unit.builders import a_finding

    monkeypatch.setattr("feedguard.dal.transactions.time.sleep", lambda seconds: None)
    a_feed("demo", [], [])
    a_finding("demo", "CVE-1")
    with refused_transactions(aws.table_names["AssessmentsTable"], conflict, times=100):
        status, answer = request(
            findings, "PUT", "/feeds/demo/vulnerabilities/CVE-1/assessment", body={"type": "ignore"}
        )
    assert status == 409, answer
    assert Finding.get("demo", "CVE-1").status == "unassessed"


def test_an_expiry_cancelled_by_a_transaction_conflict_is_retried_in_place(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.builders import a_finding

    monkeypatch.setattr("feedguard.dal.transactions.time.sleep", lambda seconds: None)
    a_feed("demo", [], [])
    a_finding("demo", "CVE-1", status="assessed")
    with refused_transactions(aws.table_names["HistoryTable"], conflict, times=2) as cancelled:
        assert history.record_expired("demo", "CVE-1", "ignore", "2026-11-25T10:00:00Z", 1)
    assert len(cancelled) == 2
    assert Finding.get("demo", "CVE-1").status == "expired"


@pytest.mark.parametrize("times", [2, 100])
def test_a_package_exceptions_write_cancelled_by_a_conflict_is_retried_then_409_never_a_500(
    aws: Any, monkeypatch: pytest.MonkeyPatch, times: int
) -> None:
    from feedguard.dal import exceptions as exception_store
    from handlers import exceptions
    from tests.support import request

    monkeypatch.setattr("feedguard.dal.transactions.time.sleep", lambda seconds: None)
    a_feed("demo", [], [])
    body = {"purl": "pkg:npm/lodash", "vulnerability_ids": ["CVE-1"], "type": "ignore"}
    with refused_transactions(aws.table_names["AssessmentsTable"], conflict, times=times) as cancelled:
        status, answer = request(exceptions, "POST", "/feeds/demo/exceptions", body=body)
    made = exception_store.of_feed("demo", consistent=True)
    if times == 2:  # retried in place until it lands, once
        assert (len(cancelled), status, len(made)) == (2, 201, 1), answer
        assert [e.action for e in history.entries("demo", "CVE-1")] == ["exception_created"]
    else:  # outlasting the retries: the contract's 409, and nothing written
        assert (status, made) == (409, []), answer
        assert history.entries("demo", "CVE-1") == []


def test_a_gate_check_whose_query_of_exceptions_fails_answers_no_verdict(
    aws: Any, oss: tuple[FakeOssIndex, str]
) -> None:
    """Throttling that outlasted botocore's retries on the feed's exceptions:
    the check is reported failed (500, try again), never answered as if the
    feed had no exceptions; the next check answers with them."""
    from feedguard import clock
    from feedguard.dal.models import ExceptionItem, Package
    from handlers import gate
    from tests.support import request

    a_feed("demo", [], [])
    now = clock.iso(clock.now())
    Package(feed="demo", purl=LODASH, added_at=now, last_scanned_at=now, vulnerability_ids={"CVE-1"}).save()
    ExceptionItem(
        feed="demo",
        key=ExceptionItem.key_of("ex_1"),
        id="ex_1",
        purl="pkg:npm/lodash",
        type="ignore",
        effect="allow",
        created_by="alice",
        created_by_id="kalice",
        created_at=now,
    ).save()
    with throttled("Query", times=1) as refused:
        status, answer = request(gate, "POST", "/feeds/demo/check", body={"purls": [LODASH]})
    assert (len(refused), status) == (1, 500), answer
    assert set(answer) == {"message"}
    status, answer = request(gate, "POST", "/feeds/demo/check", body={"purls": [LODASH]})
    assert status == 200, answer
    assert answer["results"][0]["vulnerabilities"][0]["exception_id"] == "ex_1"
    assert answer["results"][0]["verdict"] == "allow"
