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
from infra.pollers import TTL_HORIZON_SECONDS, SqsPoller, StreamPoller, TtlRegistry, TtlSweeper, rate_seconds
from infra.provision import aws_client
from infra.template import SqsMapping, StreamMapping


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


def test_sqs_partial_failures_delete_only_the_successes(aws: Any) -> None:
    sqs = boto3.client("sqs")
    url = aws.queue_urls["ScanQueue"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    failed_bodies: list[str] = []

    def behaviour(batch: list[dict[str, Any]]) -> dict[str, Any]:
        failures = [r for r in batch if json.loads(r["body"])["n"] == 1]
        failed_bodies.extend(r["body"] for r in failures)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failures]}

    mapping = SqsMapping("ScanWorkerFunction", "ScanQueue", batch_size=5, report_failures=True, max_concurrency=1)
    poller = SqsPoller(mapping, FakeFunction(behaviour), aws, None, number=0, retry_delay=0)
    poller.tick()
    poller.settled()
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in left] == [{"n": 1}]
    assert failed_bodies == [json.dumps({"n": 1})]


def test_an_sqs_poller_receives_its_next_batch_while_the_last_one_is_deleted(aws: Any) -> None:
    sqs = boto3.client("sqs")
    url = aws.queue_urls["ScanQueue"]
    for n in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))
    mapping = SqsMapping("ScanWorkerFunction", "ScanQueue", batch_size=1, report_failures=True, max_concurrency=1)
    function = FakeFunction(lambda batch: {"batchItemFailures": []})
    poller = SqsPoller(mapping, function, aws, None, number=0, retry_delay=0)
    # Given a delete that SQS is slow to answer
    slow = threading.Event()
    real_delete = poller.sqs.delete_message_batch

    def delete_message_batch(**kwargs: Any) -> Any:
        assert slow.wait(timeout=10)
        return real_delete(**kwargs)

    poller.sqs.delete_message_batch = delete_message_batch
    # When the poller has invoked the function with each message
    poller.tick()
    poller.tick()
    # Then the second was received and handled while the first was being deleted
    assert len(function.batches) == 2
    slow.set()
    poller.settled()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert (
        int(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][
                "ApproximateNumberOfMessagesNotVisible"
            ]
        )
        == 0
    )


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
