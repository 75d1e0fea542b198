"""The local event source mappings honour batch size, partial batch
failures, bisection, bounded retries and the on-failure destination."""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.lambdas import InvocationError
from infra.pollers import (
    TTL_HORIZON_SECONDS,
    SqsPoller,
    StreamPoller,
    TtlRegistry,
    TtlSweeper,
    rate_seconds,
    sqs_pollers,
)
from infra.provision import aws_client
from infra.template import SqsMapping, StreamMapping, Template


@dataclass
class FakeFunction:
    """Stands in for a LocalFunction: answers with `behaviour(records)`."""

    behaviour: Any
    name: str = "feedguard-test-Fn"
    batches: list[list[str]] = field(default_factory=list)

    def invoke(self, event: dict[str, Any], trigger: str, record_event: bool = True) -> Any:
        ids = [r.get("messageId") or r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.batches.append(ids)
        return self.behaviour(event["Records"])


def stream_mapping(**overrides: Any) -> StreamMapping:
    settings: dict[str, Any] = {
        "function": "ExpiryFunction",
        "table": "AssessmentsTable",
        "batch_size": 10,
        "starting_position": "TRIM_HORIZON",
        "filters": (),
        "report_failures": True,
        "bisect_on_error": True,
        "max_retry_attempts": 2,
        "max_record_age_seconds": -1,
        "on_failure_queue": "ExpiryFailureQueue",
    }
    return StreamMapping(**{**settings, **overrides})


def records(*sequence_numbers: str) -> list[dict[str, Any]]:
    import time

    return [
        {"eventName": "REMOVE", "dynamodb": {"SequenceNumber": n, "ApproximateCreationDateTime": int(time.time())}}
        for n in sequence_numbers
    ]


def stream_poller(aws: Any, function: FakeFunction, endpoint: str | None = None, **overrides: Any) -> StreamPoller:
    """`endpoint`: a moto server's, for a poller that reads the stream."""
    poller = StreamPoller(stream_mapping(**overrides), function, aws, endpoint, TtlRegistry(), retry_delay=0.0)
    return poller


def failure_messages(aws: Any) -> list[dict[str, Any]]:
    answer = boto3.client("sqs").receive_message(QueueUrl=aws.queue_urls["ExpiryFailureQueue"], MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def test_partial_failure_retries_from_the_first_failed_record(aws: Any) -> None:
    # Given a function that fails record 2 once
    failed_once: set[str] = set()

    def behaviour(batch: list[dict[str, Any]]) -> dict[str, Any]:
        failures = []
        for record in batch:
            number = record["dynamodb"]["SequenceNumber"]
            if number == "2" and number not in failed_once:
                failed_once.add(number)
                failures.append({"itemIdentifier": number})
        return {"batchItemFailures": failures}

    function = FakeFunction(behaviour)
    # When a batch of four is delivered
    stream_poller(aws, function)._deliver(records("1", "2", "3", "4"))
    # Then the retry starts at record 2, and nothing reaches the failure queue
    assert function.batches == [["1", "2", "3", "4"], ["2", "3", "4"]]
    assert failure_messages(aws) == []


def test_a_poison_record_goes_to_the_on_failure_queue_after_bounded_retries(aws: Any) -> None:
    def behaviour(batch: list[dict[str, Any]]) -> dict[str, Any]:
        failures = [
            {"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in batch if r["dynamodb"]["SequenceNumber"] == "3"
        ]
        return {"batchItemFailures": failures}

    function = FakeFunction(behaviour)
    stream_poller(aws, function)._deliver(records("1", "2", "3"))
    # first try, then MaximumRetryAttempts (2) retries of record 3 alone
    assert function.batches == [["1", "2", "3"], ["3"], ["3"]]
    (message,) = failure_messages(aws)
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["DDBStreamBatchInfo"]["startSequenceNumber"] == "3"
    assert message["DDBStreamBatchInfo"]["batchSize"] == 1


def test_a_function_error_bisects_the_batch(aws: Any) -> None:
    def behaviour(batch: list[dict[str, Any]]) -> dict[str, Any]:
        if any(r["dynamodb"]["SequenceNumber"] == "4" for r in batch):
            raise InvocationError({"errorType": "ValueError", "errorMessage": "poison"})
        return {"batchItemFailures": []}

    function = FakeFunction(behaviour)
    stream_poller(aws, function)._deliver(records("1", "2", "3", "4"))
    assert ["1", "2"] in function.batches
    assert ["3"] in function.batches
    assert function.batches.count(["4"]) == 3  # the first try of the lone record, then two retries
    (message,) = failure_messages(aws)
    assert message["DDBStreamBatchInfo"]["startSequenceNumber"] == "4"


def test_records_older_than_the_maximum_age_are_not_retried(aws: Any) -> None:
    function = FakeFunction(lambda batch: {"batchItemFailures": []})
    old = records("1")
    old[0]["dynamodb"]["ApproximateCreationDateTime"] -= 120
    stream_poller(aws, function, max_record_age_seconds=60)._deliver(old)
    assert function.batches == []
    assert failure_messages(aws)[0]["requestContext"]["condition"] == "RecordAgeExceeded"


def test_a_stream_poller_reads_on_after_a_cancelled_transaction(served: tuple[Any, str]) -> None:
    """moto puts back a copy of the table, stream shard and all, when it
    cancels a transaction: an iterator chained from before reads the old
    shard, which gets no more records. The poller reads on from its last record."""
    made, url = served
    function = FakeFunction(lambda batch: {"batchItemFailures": []})
    poller = stream_poller(made, function, endpoint=url)
    table = aws_client("dynamodb", url)
    name = made.table_names["AssessmentsTable"]

    def assess(feed: str) -> None:
        table.put_item(TableName=name, Item={"feed": {"S": feed}, "vulnerability_id": {"S": "CVE-1"}})

    assess("a")
    assess("b")
    poller.tick()
    with pytest.raises(ClientError, match="TransactionCanceled"):
        table.transact_write_items(
            TransactItems=[
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": {"feed": {"S": "a"}, "vulnerability_id": {"S": "CVE-1"}},
                        "ConditionExpression": "attribute_not_exists(feed)",
                    }
                }
            ]
        )
    assess("c")
    poller.tick()
    (first, second), (third,) = function.batches
    assert int(first) < int(second) < int(third)


def test_ttl_registry_claims_only_deletions_the_sweeper_made() -> None:
    registry = TtlRegistry()
    keys = {"feed": {"S": "payments"}}
    assert not registry.claim("table", keys, timeout=0)
    registry.begin("table", keys)
    threading.Timer(0.05, registry.finish, args=("table", keys, True)).start()
    assert registry.claim("table", keys, timeout=2)  # waits for the delete to finish
    assert not registry.claim("table", keys, timeout=0)  # once
    registry.begin("table", keys)
    registry.finish("table", keys, deleted=False)  # the item had changed: TTL did not delete it
    assert not registry.claim("table", keys, timeout=0)


TEMPLATE = Template.load()


def scan_worker_mapping(**parameters: str) -> SqsMapping:
    """The scan queue's mapping as template.yaml makes it, with these parameters."""
    (mapping,) = [m for m in TEMPLATE.with_parameters(parameters).sqs_mappings() if m.function == "ScanWorkerFunction"]
    return mapping


def send(url: str, count: int, start: int = 0) -> None:
    sqs = boto3.client("sqs")
    for n in range(start, start + count):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))


def bodies(batch: list[dict[str, Any]]) -> list[int]:
    return [json.loads(record["body"])["n"] for record in batch]


def test_the_scan_queue_mapping_is_read_from_the_templates_parameters() -> None:
    defaults = TEMPLATE.parameter_defaults()
    mapping = scan_worker_mapping()
    assert mapping.queue == "ScanQueue"
    assert mapping.report_failures
    assert mapping.batch_size == int(defaults["ScanWorkerBatchSize"])
    assert mapping.batching_window_seconds == float(defaults["ScanWorkerBatchingWindowSeconds"])
    assert mapping.max_concurrency == int(defaults["ScanWorkerMaximumConcurrency"])
    changed = scan_worker_mapping(
        ScanWorkerBatchSize="3", ScanWorkerBatchingWindowSeconds="2", ScanWorkerMaximumConcurrency="7"
    )
    assert (changed.batch_size, changed.batching_window_seconds, changed.max_concurrency) == (3, 2.0, 7)


def test_a_poller_hands_the_function_batches_of_the_mappings_batch_size(aws: Any) -> None:
    for size in (1, int(TEMPLATE.parameter_defaults()["ScanWorkerBatchSize"]), 10):
        mapping = scan_worker_mapping(ScanWorkerBatchSize=str(size))
        url = aws.queue_urls["ScanQueue"]
        send(url, 2 * size + 1)
        function = FakeFunction(lambda batch: {"batchItemFailures": []})
        poller = SqsPoller(mapping, function, aws, None, number=0)
        for _ in range(3):
            poller.tick()
        poller.settled()
        assert [len(batch) for batch in function.batches] == [size, size, 1]


def test_a_poller_waits_for_a_fuller_batch_only_within_the_batching_window(aws: Any) -> None:
    url = aws.queue_urls["ScanQueue"]
    # Without a window (the template's default): what one receive returns
    send(url, 1)
    alone = SqsPoller(scan_worker_mapping(), FakeFunction(lambda batch: None), aws, None, number=0)
    assert len(alone.gather()) == 1
    # With one: the messages sent within it join the batch, up to its size
    poller = SqsPoller(
        scan_worker_mapping(ScanWorkerBatchSize="3", ScanWorkerBatchingWindowSeconds="3"),
        FakeFunction(lambda batch: None),
        aws,
        None,
        number=0,
    )
    send(url, 1, start=10)
    threading.Timer(0.5, send, args=(url, 3, 11)).start()
    started = time.monotonic()
    gathered = poller.gather()
    assert sorted(json.loads(m["Body"])["n"] for m in gathered) == [10, 11, 12]
    assert time.monotonic() - started < 3  # full before the window closed
    # and a batch short of its size waits the window out, then goes as it is
    started = time.monotonic()
    assert [json.loads(m["Body"])["n"] for m in poller.gather()] == [13]
    assert 2.5 < time.monotonic() - started < 6


def test_the_mapping_never_runs_more_invocations_at_once_than_its_maximum_concurrency(aws: Any) -> None:
    mapping = scan_worker_mapping(ScanWorkerBatchSize="1")
    url = aws.queue_urls["ScanQueue"]
    send(url, 3 * mapping.max_concurrency)
    running, most, handled = 0, 0, 0
    lock = threading.Lock()

    def slow(batch: list[dict[str, Any]]) -> dict[str, Any]:
        nonlocal running, most, handled
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        with lock:
            running -= 1
            handled += len(batch)
        return {"batchItemFailures": []}

    pollers = sqs_pollers(mapping, FakeFunction(slow), aws, None)  # type: ignore[arg-type]
    for poller in pollers:
        poller.start()
    try:
        deadline = time.monotonic() + 20
        while handled < 3 * mapping.max_concurrency and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for poller in pollers:
            poller.stop()
        for poller in pollers:
            poller.join()
    assert handled == 3 * mapping.max_concurrency
    assert most == mapping.max_concurrency == int(TEMPLATE.parameter_defaults()["ScanWorkerMaximumConcurrency"])


def test_sqs_partial_failures_delete_only_the_successes(aws: Any) -> None:
    sqs = boto3.client("sqs")
    url = aws.queue_urls["ScanQueue"]
    send(url, 3)
    failed_bodies: list[int] = []

    def behaviour(batch: list[dict[str, Any]]) -> dict[str, Any]:
        failures = [r for r in batch if json.loads(r["body"])["n"] == 1]
        failed_bodies.extend(bodies(failures))
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failures]}

    poller = SqsPoller(scan_worker_mapping(), FakeFunction(behaviour), aws, None, number=0)
    poller.tick()
    poller.settled()
    assert failed_bodies == [1]
    # The failed one is left to its visibility timeout (the queue's: 90 minutes), not deleted
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (
        "0",
        "1",
    )


@pytest.mark.parametrize(
    "answer",
    [{"batchItemFailures": [{"itemIdentifier": "not-in-the-batch"}]}, InvocationError({})],
    ids=["unknown identifier", "error"],
)
def test_an_unknown_identifier_or_an_error_fails_the_whole_batch(aws: Any, answer: Any) -> None:
    url = aws.queue_urls["ScanQueue"]

    def behaviour(batch: list[dict[str, Any]]) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    send(url, 2)
    poller = SqsPoller(scan_worker_mapping(), FakeFunction(behaviour), aws, None, number=0)
    poller.tick()
    poller.settled()
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "2"


def test_a_message_that_keeps_failing_is_delivered_max_receive_count_times_then_dead_lettered(aws: Any) -> None:
    sqs = boto3.client("sqs")
    url, dead_letters = aws.queue_urls["ScanQueue"], aws.queue_urls["ScanDeadLetterQueue"]
    max_receives = int(TEMPLATE.queues()["ScanQueue"]["RedrivePolicy"]["maxReceiveCount"])
    send(url, 1)

    def failing(batch: list[dict[str, Any]]) -> dict[str, Any]:
        # as the worker does: the failed batch is made visible again at once
        for record in batch:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0)
        return {"batchItemFailures": [{"itemIdentifier": record["messageId"]} for record in batch]}

    function = FakeFunction(failing)
    poller = SqsPoller(scan_worker_mapping(), function, aws, None, number=0)
    for _ in range(max_receives + 2):
        poller.tick()
    poller.settled()
    assert len(function.batches) == max_receives == 5
    (dead,) = sqs.receive_message(QueueUrl=dead_letters, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(dead["Body"]) == {"n": 0}


def test_rate_expressions() -> None:
    assert rate_seconds("rate(6 hours)") == 21600
    assert rate_seconds("rate(1 minute)") == 60
    assert rate_seconds("cron(0 12 * * ? *)") is None


def test_ttl_sweeps_tables_with_a_stream_every_tick_and_the_others_rarely(aws: Any) -> None:
    dynamodb = boto3.client("dynamodb")
    past = {"N": str(int(time.time()) - 10)}
    expired = {
        "AssessmentsTable": {"feed": {"S": "f"}, "vulnerability_id": {"S": "CVE-1"}, "expires_ttl": past},
        "AnswerCacheTable": {"source_id": {"S": "s"}, "purl": {"S": "pkg:npm/a@1"}, "expires_ttl": past},
    }
    for logical_id, item in expired.items():
        dynamodb.put_item(TableName=aws.table_names[logical_id], Item=item)

    def left(logical_id: str) -> int:
        return int(dynamodb.scan(TableName=aws.table_names[logical_id])["Count"])

    sweeper = TtlSweeper(aws, None, TtlRegistry(), interval=2, quiet_interval=3600)
    sweeper.tick()
    # The assessments' REMOVE records drive expiry: swept at once
    assert (left("AssessmentsTable"), left("AnswerCacheTable")) == (0, 1)
    # The answer cache has no stream: swept on the quiet interval, or when asked
    sweeper.sweep_all()
    assert left("AnswerCacheTable") == 0
    assert sweeper.deleted == 2


NOW = 1_800_000_000
ttl_values = st.one_of(
    st.none(),
    st.integers(-3, 3).map(lambda seconds: {"N": str(NOW + seconds)}),  # just expired, expiring, not yet
    st.just({"N": str(NOW - TTL_HORIZON_SECONDS - 1)}),  # beyond DynamoDB's horizon
    st.just({"N": f"{NOW - 5}.5"}),  # not whole
    st.just({"S": str(NOW - 10)}),  # a string: never TTL's
)
ttl_tables = itertools.count()


@settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ttl_values, max_size=8), st.booleans())
def test_ttl_finds_the_items_dynamodb_s_ttl_would_delete(
    aws: Any, values: list[dict[str, str] | None], ranged: bool
) -> None:
    """Numbers from DynamoDB's five-year horizon to now, on tables with and
    without a range key; never a string, a number not yet passed or one beyond the horizon."""
    dynamodb = boto3.client("dynamodb")
    table = f"ttl-{next(ttl_tables)}"
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    if ranged:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
    dynamodb.create_table(
        TableName=table,
        KeySchema=keys,
        AttributeDefinitions=[{"AttributeName": key["AttributeName"], "AttributeType": "S"} for key in keys],
        BillingMode="PAY_PER_REQUEST",
    )
    stored = []
    for number, value in enumerate(values):
        key = {"pk": {"S": f"p{number % 2}"}, "sk": {"S": f"s{number}"}} if ranged else {"pk": {"S": f"p{number}"}}
        dynamodb.put_item(TableName=table, Item={**key, **({"expires_ttl": value} if value else {})})
        stored.append((key, value))
    expected = [
        key
        for key, value in stored
        if value and "N" in value and NOW - TTL_HORIZON_SECONDS <= Decimal(value["N"]) <= NOW
    ]
    found = TtlSweeper(aws, None, TtlRegistry(), interval=2).expired(table, "expires_ttl", NOW)
    assert sorted(map(json.dumps, found)) == sorted(map(json.dumps, expected))
