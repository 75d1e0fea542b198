"""What AWS runs around the functions, emulated: SQS and DynamoDB Streams
event source mappings, EventBridge Scheduler, EventBridge's API destinations
(the webhook), and DynamoDB's TTL deletion."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from botocore.exceptions import ClientError

from infra.filters import matches_any
from infra.lambdas import InvocationError, LocalFunction
from infra.provision import ACCOUNT, REGION, Provisioned, aws_client
from infra.template import ApiDestinationTarget, Schedule, SqsMapping, StreamMapping
from infra.transformer import InputTransformer, TransformError

log = logging.getLogger("feedguard.local")

TTL_SERVICE_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
# DynamoDB's TTL skips items whose expiry is more than five years past.
TTL_HORIZON_SECONDS = 5 * 365 * 24 * 3600


class _Loop(threading.Thread):
    """A daemon thread that runs `tick` until stopped."""

    def __init__(self, name: str, interval: float) -> None:
        super().__init__(name=name, daemon=True)
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("%s failed; retrying", self.name)
                self.stopping.wait(1.0)
            self.stopping.wait(self.interval)

    def tick(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping.set()


# ---------------------------------------------------------------- TTL


class TtlRegistry:
    """Deletions the TTL sweeper is making. The stream poller asks it whether a
    REMOVE record is one of them, so only those carry the service identity."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._state: dict[tuple[str, str], str] = {}

    @staticmethod
    def _key(table: str, keys: dict[str, Any]) -> tuple[str, str]:
        return table, json.dumps(keys, sort_keys=True)

    def begin(self, table: str, keys: dict[str, Any]) -> None:
        with self._changed:
            self._state[self._key(table, keys)] = "deleting"

    def finish(self, table: str, keys: dict[str, Any], deleted: bool) -> None:
        with self._changed:
            if deleted:
                self._state[self._key(table, keys)] = "deleted"
            else:
                self._state.pop(self._key(table, keys), None)
            self._changed.notify_all()

    def claim(self, table: str, keys: dict[str, Any], timeout: float = 5.0) -> bool:
        """True, once, for the REMOVE record of a TTL deletion."""
        key = self._key(table, keys)
        with self._changed:
            self._changed.wait_for(lambda: self._state.get(key) != "deleting", timeout=timeout)
            if self._state.get(key) == "deleted":
                del self._state[key]
                return True
            return False


class TtlSweeper(_Loop):
    """Deletes items whose TTL attribute has passed, as DynamoDB does in the
    background (there, within days; here, within `interval` seconds for a
    table with a stream, whose REMOVE records something reacts to, and within
    `quiet_interval` for one without). It finds them with a Scan filtered
    on the attribute (the emulator's stand-in for DynamoDB's own background
    sweep; the application never scans) and deletes each through the API, on
    condition that it is still expired, so its REMOVE record is DynamoDB's."""

    def __init__(
        self,
        provisioned: Provisioned,
        endpoint: str,
        registry: TtlRegistry,
        interval: float,
        quiet_interval: float = 60.0,
    ) -> None:
        super().__init__("ttl-sweeper", interval)
        self.provisioned = provisioned
        self.registry = registry
        self.dynamodb = aws_client("dynamodb", endpoint)
        self.deleted = 0
        self.quiet_interval = quiet_interval
        self._quiet_due = time.monotonic() + quiet_interval

    def tick(self) -> None:
        if time.monotonic() < self._quiet_due:
            self.sweep_all(only=self.provisioned.stream_arns.keys())
            return
        self._quiet_due = time.monotonic() + self.quiet_interval
        self.sweep_all()

    def sweep_all(self, only: Collection[str] | None = None) -> None:
        """Every table with a TTL attribute, or those of `only` (logical ids)."""
        for logical_id, attribute in self.provisioned.ttl_attributes.items():
            if only is None or logical_id in only:
                self.sweep(self.provisioned.table_names[logical_id], attribute)

    def sweep(self, table: str, attribute: str) -> None:
        now = int(time.time())
        for keys in self.expired(table, attribute, now):
            self._expire(table, attribute, keys, now)

    def expired(self, table: str, attribute: str, now: int) -> list[dict[str, Any]]:
        """The keys of the items whose TTL attribute is a Number that has
        passed, within DynamoDB's five-year horizon (TTL ignores any other type)."""
        key_names = [
            key["AttributeName"] for key in self.dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        ]
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=table,
            FilterExpression="attribute_type(#ttl, :number) AND #ttl BETWEEN :horizon AND :now",
            ExpressionAttributeNames={"#ttl": attribute, **{f"#k{n}": name for n, name in enumerate(key_names)}},
            ExpressionAttributeValues={
                ":number": {"S": "N"},
                ":now": {"N": str(now)},
                ":horizon": {"N": str(now - TTL_HORIZON_SECONDS)},
            },
            ProjectionExpression=", ".join(f"#k{n}" for n in range(len(key_names))),
        )
        return [{name: item[name] for name in key_names} for page in pages for item in page.get("Items", [])]

    def _expire(self, table: str, attribute: str, keys: dict[str, Any], now: int) -> None:
        self.registry.begin(table, keys)
        deleted = False
        try:
            # Only if still expired: an item updated since the scan is not TTL's to delete.
            self.dynamodb.delete_item(
                TableName=table,
                Key=keys,
                ConditionExpression="#ttl <= :now",
                ExpressionAttributeNames={"#ttl": attribute},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
            deleted = True
            self.deleted += 1
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        finally:
            self.registry.finish(table, keys, deleted)


# ---------------------------------------------------------------- DynamoDB Streams


def _lambda_record(raw: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(json.dumps(raw, default=str))
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, str):
        try:
            created = datetime.fromisoformat(created.replace("Z", "+00:00")).replace(tzinfo=UTC).timestamp()
        except ValueError:
            created = time.time()
    elif isinstance(created, datetime):
        created = created.timestamp()
    record["dynamodb"]["ApproximateCreationDateTime"] = int(created or time.time())
    record["awsRegion"] = REGION
    record["eventSourceARN"] = stream_arn
    return record


class StreamPoller(_Loop):
    """A DynamoDB stream event source mapping: FilterCriteria, batch size,
    partial batch failures, bisection, bounded retries and record age, and
    the on-failure SQS destination."""

    def __init__(
        self,
        mapping: StreamMapping,
        function: LocalFunction,
        provisioned: Provisioned,
        endpoint: str,
        registry: TtlRegistry,
        interval: float = 0.5,
        retry_delay: float = 0.5,
    ) -> None:
        super().__init__(f"stream-{mapping.function}", interval)
        self.mapping = mapping
        self.function = function
        self.registry = registry
        self.retry_delay = retry_delay
        self.table_name = provisioned.table_names[mapping.table]
        self.stream_arn = provisioned.stream_arns[mapping.table]
        self.failure_queue = provisioned.queue_urls.get(mapping.on_failure_queue or "")
        self.streams = aws_client("dynamodbstreams", endpoint)
        self.sqs = aws_client("sqs", endpoint)
        self.iterators: dict[str, str | None] = {}
        # shard -> the sequence number of the last record read from it
        self.positions: dict[str, str] = {}
        self.pending: deque[dict[str, Any]] = deque()
        self.filtered_out = 0

    def tick(self) -> None:
        self._read()
        while self.pending and not self.stopping.is_set():
            batch = [self.pending.popleft() for _ in range(min(self.mapping.batch_size, len(self.pending)))]
            self._deliver(batch)

    def _read(self) -> None:
        if not self.iterators:
            shards = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
            self.iterators = {shard["ShardId"]: None for shard in shards}
        for shard_id, chained in list(self.iterators.items()):
            # A new iterator for each read, after the last record read: when
            # moto cancels a transaction it puts back a copy of the table,
            # stream shard included, and an iterator chained from before still
            # reads the old shard, which gets no more records. Only a LATEST
            # mapping that has read nothing yet follows its chain (a new LATEST
            # iterator would skip what was written since the last read).
            latest = self.mapping.starting_position == "LATEST" and shard_id not in self.positions
            iterator = chained if latest and chained else self._iterator(shard_id)
            answer = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            self.iterators[shard_id] = answer.get("NextShardIterator")
            for raw in answer.get("Records", []):
                self.positions[shard_id] = raw["dynamodb"]["SequenceNumber"]
                record = _lambda_record(raw, self.stream_arn)
                if record["eventName"] == "REMOVE" and self.registry.claim(self.table_name, record["dynamodb"]["Keys"]):
                    record["userIdentity"] = dict(TTL_SERVICE_IDENTITY)
                if matches_any(self.mapping.filters, record):
                    self.pending.append(record)
                else:
                    self.filtered_out += 1

    def _iterator(self, shard_id: str) -> str:
        """Where to read the shard from: after its last record read, or at
        the mapping's starting position when none has been."""
        position = self.positions.get(shard_id)
        where = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": position}
            if position
            else {"ShardIteratorType": self.mapping.starting_position}
        )
        answer = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **where)
        return str(answer["ShardIterator"])

    def _deliver(self, batch: list[dict[str, Any]], attempts: int = 0) -> None:
        while batch and not self.stopping.is_set():
            batch = self._drop_too_old(batch)
            if not batch:
                return
            try:
                result = self.function.invoke({"Records": batch}, trigger="dynamodb-stream")
            except InvocationError:
                if self.mapping.bisect_on_error and len(batch) > 1:
                    # Bisecting does not count against the retry quota.
                    half = len(batch) // 2
                    self._deliver(batch[:half], attempts)
                    self._deliver(batch[half:], attempts)
                    return
                remaining = batch
            else:
                remaining = self._unfinished(batch, result)
            if not remaining:
                return
            attempts += 1
            if 0 <= self.mapping.max_retry_attempts < attempts:
                self._give_up(remaining, attempts, "RetryAttemptsExhausted")
                return
            self.stopping.wait(min(self.retry_delay * 2 ** (attempts - 1), 5.0))
            batch = remaining

    def _unfinished(self, batch: list[dict[str, Any]], result: Any) -> list[dict[str, Any]]:
        """What must be retried: from the lowest failed sequence number on."""
        if not self.mapping.report_failures:
            return []
        failures = (result or {}).get("batchItemFailures") if isinstance(result, dict) else None
        if not failures:
            return []
        sequence_numbers = [record["dynamodb"]["SequenceNumber"] for record in batch]
        failed = [failure.get("itemIdentifier") for failure in failures]
        if any(identifier not in sequence_numbers for identifier in failed):
            return batch  # an unknown identifier fails the whole batch, as on AWS
        first = min(sequence_numbers.index(identifier) for identifier in failed)
        return batch[first:]

    def _drop_too_old(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        limit = self.mapping.max_record_age_seconds
        if limit < 0:
            return batch
        now = time.time()
        fresh = [record for record in batch if now - record["dynamodb"]["ApproximateCreationDateTime"] <= limit]
        if len(fresh) < len(batch):
            self._give_up([r for r in batch if r not in fresh], 0, "RecordAgeExceeded")
        return fresh

    def _give_up(self, records: list[dict[str, Any]], attempts: int, condition: str) -> None:
        log.warning("%s: %d stream records sent to the on-failure destination (%s)", self.name, len(records), condition)
        if not self.failure_queue:
            return
        first, last = records[0], records[-1]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:123456789012:function:{self.function.name}",
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": next(iter(self.iterators), ""),
                "startSequenceNumber": first["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": last["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": first["dynamodb"]["ApproximateCreationDateTime"],
                "approximateArrivalOfLastRecord": last["dynamodb"]["ApproximateCreationDateTime"],
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.failure_queue, MessageBody=json.dumps(message))


# ---------------------------------------------------------------- SQS


class SqsPoller(_Loop):
    """One of an SQS event source mapping's pollers. The stack runs the
    mapping's `ScalingConfig.MaximumConcurrency` of them, each invoking the
    function synchronously, so no more invocations of the mapping run at
    once. Each gathers a batch as Lambda does: up to `BatchSize` messages
    (a ReceiveMessage takes ten at most, so it asks again), waiting for
    more up to `MaximumBatchingWindowInSeconds` after its first receive (0:
    what one receive returns). With `ReportBatchItemFailures`, only the
    messages the function names fail (a name not in the batch, or an error,
    fails the whole batch); the others are deleted. A failed message is left
    alone, as Lambda leaves it: it comes back once its visibility timeout
    passes (the queue's `VisibilityTimeout`, or what the function set), and
    the queue's redrive policy moves it to the dead-letter queue once it has
    been received `maxReceiveCount` times; moto does both, as SQS does."""

    def __init__(
        self,
        mapping: SqsMapping,
        function: LocalFunction,
        provisioned: Provisioned,
        endpoint: str,
        number: int,
    ) -> None:
        super().__init__(f"sqs-{mapping.function}-{number}", 0.0)
        self.mapping = mapping
        self.function = function
        self.queue_url = provisioned.queue_urls[mapping.queue]
        self.queue_arn = provisioned.queue_arns[mapping.queue]
        self.sqs = aws_client("sqs", endpoint)
        self.settling = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-settle")

    def tick(self) -> None:
        messages = self.gather()
        if not messages:
            return
        records = [self._record(message) for message in messages]
        try:
            result = self.function.invoke({"Records": records}, trigger="sqs")
        except InvocationError:
            return  # every message of the batch comes back
        failed_ids = set()
        if self.mapping.report_failures and isinstance(result, dict):
            failed_ids = {failure.get("itemIdentifier") for failure in result.get("batchItemFailures") or []}
        if not failed_ids <= {message["MessageId"] for message in messages}:
            return  # an unknown identifier fails the whole batch
        self._settle([message for message in messages if message["MessageId"] not in failed_ids])

    def gather(self) -> list[dict[str, Any]]:
        """The next batch: what one receive (a long poll of up to a second)
        returns, then more until BatchSize or the batching window closes."""
        wanted = self.mapping.batch_size
        messages = self._receive(wanted, wait_seconds=1)
        if not messages:
            return []
        closes = time.monotonic() + self.mapping.batching_window_seconds
        while len(messages) < wanted and not self.stopping.is_set():
            left = closes - time.monotonic()
            if left <= 0:
                break
            more = self._receive(wanted - len(messages), wait_seconds=int(min(left, 1.0)))
            messages.extend(more)
            if not more and left < 1.0:
                self.stopping.wait(min(left, 0.05))  # a short poll found none; the window is still open
        return messages

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(count, 10),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def _settle(self, done: list[dict[str, Any]]) -> None:
        """Deletes the messages done while this poller already gathers its
        next batch (one settlement at a time, in order)."""
        if done:
            self.settling.submit(self._delete_done, done)

    def _delete_done(self, done: list[dict[str, Any]]) -> None:
        try:
            for start in range(0, len(done), 10):
                chunk = done[start : start + 10]
                self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(chunk)],
                )
        except Exception:
            log.exception("%s could not delete a batch; its messages come back after the visibility timeout", self.name)

    def settled(self) -> None:
        """Returns once every batch received so far is settled."""
        self.settling.submit(lambda: None).result()

    def run(self) -> None:
        try:
            super().run()
        finally:
            self.settling.shutdown(wait=True)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = {}
        for name, value in (message.get("MessageAttributes") or {}).items():
            attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": attributes,
            "md5OfBody": message.get("MD5OfBody"),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }


def sqs_pollers(
    mapping: SqsMapping, function: LocalFunction, provisioned: Provisioned, endpoint: str
) -> list[SqsPoller]:
    """An SQS mapping's pollers: one for each invocation it may run at once."""
    return [SqsPoller(mapping, function, provisioned, endpoint, number) for number in range(mapping.max_concurrency)]


# ---------------------------------------------------------------- EventBridge Scheduler

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    """Seconds between firings of a rate() expression; None for cron() and at()."""
    found = _RATE.match(expression.strip())
    if not found:
        return None
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2).rstrip("s")]


class Scheduler(_Loop):
    """A ScheduleV2 event: fires at its rate and hands its input to the
    function as an asynchronous invocation. EventBridge Scheduler counts that
    delivered once Lambda accepts the event, which locally it always does (the
    schedule's RetryPolicy and dead-letter queue are for deliveries Lambda
    refuses, a throttle or a missing permission). Lambda itself then runs it:
    a failed invocation is retried up to the function's EventInvokeConfig
    MaximumRetryAttempts (2 without one) within MaximumEventAgeInSeconds, then
    the event goes to its on-failure destination in Lambda's record, or is
    dropped without one."""

    def __init__(
        self, schedule: Schedule, function: LocalFunction, provisioned: Provisioned, endpoint: str, expression: str
    ) -> None:
        every = rate_seconds(expression)
        super().__init__(f"schedule-{schedule.name}", float(every or 0))
        self.schedule = schedule
        self.function = function
        self.expression = expression
        config = function.spec.invoke_config
        self.max_retry_attempts = int(config.get("MaximumRetryAttempts", 2))
        self.max_event_age_seconds = int(config.get("MaximumEventAgeInSeconds", 21600))
        destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        queue = destination.get("Fn::GetAtt", [None])[0] if isinstance(destination, dict) else None
        self.on_failure_queue = provisioned.queue_urls.get(queue or "")
        self.sqs = aws_client("sqs", endpoint)
        self.fired = 0
        self._fire_lock = threading.Lock()

    def run(self) -> None:
        if self.interval <= 0:
            log.warning("schedule %s (%s) is not run locally", self.schedule.name, self.expression)
            return
        # The first firing comes one period after start, as with a new schedule.
        while not self.stopping.wait(self.interval):
            try:
                self.fire()
            except Exception:
                log.exception("schedule %s failed", self.schedule.name)

    def fire(self) -> bool:
        """Invokes the target now; True when it succeeded (possibly after Lambda's retries)."""
        with self._fire_lock:
            self.fired += 1
            payload = json.loads(self.schedule.input) if self.schedule.input else {}
            started = time.time()
            attempt = 0
            while True:
                try:
                    self.function.invoke(payload, trigger="schedule")
                    return True
                except InvocationError as error:
                    attempt += 1
                    too_old = time.time() - started > self.max_event_age_seconds
                    if attempt > self.max_retry_attempts or too_old or self.stopping.is_set():
                        self._on_failure(payload, error, attempt, "EventAgeExceeded" if too_old else "RetriesExhausted")
                        return False
                    # Lambda waits a minute, then two; locally seconds.
                    self.stopping.wait(min(2 ** (attempt - 1), 10))

    def _on_failure(self, payload: Any, error: InvocationError, invocations: int, condition: str) -> None:
        log.warning("schedule %s: %s failed %d times", self.schedule.name, self.function.name, invocations)
        if not self.on_failure_queue:
            return
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function.name}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": invocations,
            },
            "requestPayload": payload,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": error.payload,
        }
        self.sqs.send_message(QueueUrl=self.on_failure_queue, MessageBody=json.dumps(record))


# ---------------------------------------------------------------- EventBridge API destinations

# The answers after which EventBridge tries an API destination again; any
# other 4xx (and a 3xx: it follows no redirect) goes to the dead-letter queue at once.
RETRIED_STATUSES = frozenset({401, 407, 409, 429})
# EventBridge gives an API destination 5 seconds to answer.
API_DESTINATION_TIMEOUT_SECONDS = 5.0


@dataclass
class _Delivery:
    """An event on its way to the destination, and the queue message it came in."""

    event: dict[str, Any]
    receipt_handle: str
    ingested_at: float
    attempts: int = 0
    due: float = 0.0


class ApiDestinationPoller(_Loop):
    """A rule's API destination target, as EventBridge runs it: each event
    the rule matched (moto matched it and queued it for this poller) goes
    through the target's input transformer and is posted to the endpoint
    with the connection's API key header, at most InvocationRateLimitPerSecond
    a second; 5xx, 401, 407, 409, 429 and no answer within 5 seconds are
    tried again with exponential backoff up to the RetryPolicy's
    MaximumRetryAttempts within MaximumEventAgeInSeconds, after which (or
    at once, for any other failure) the event goes to the DeadLetterConfig
    queue with EventBridge's message attributes. An event is deleted from
    the poller's queue once delivered or dead-lettered, so it is posted once.

    The wait before retry n is `retry_delay` x 2^(n-1) seconds, at most
    `max_retry_delay` (EventBridge's own schedule, with jitter, spreads 185
    retries over a day)."""

    def __init__(
        self,
        target: ApiDestinationTarget,
        provisioned: Provisioned,
        endpoint: str,
        retry_delay: float = 1.0,
        max_retry_delay: float = 60.0,
    ) -> None:
        super().__init__(f"api-destination-{target.rule}-{target.target_id}", 0.0)
        resolve = provisioned.resolver
        self.target = target
        self.url = str(resolve(target.endpoint))
        self.method = str(resolve(target.http_method)).upper()
        self.min_interval = 1.0 / max(1, int(resolve(target.rate_limit_per_second)))
        self.max_retry_attempts = int(resolve(target.max_retry_attempts))
        self.max_event_age_seconds = int(resolve(target.max_event_age_seconds))
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.headers = {"Content-Type": "application/json; charset=utf-8", **_connection_headers(target, resolve)}
        spec = target.input_transformer
        self.transformer = InputTransformer.of(resolve(spec)) if spec else None
        self.rule_name = target.rule
        self.rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{provisioned.bus_names[target.bus]}/{target.rule}"
        self.target_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:api-destination/{provisioned.stack}-{target.destination}"
        self.queue_url = provisioned.api_destination_queues[(target.rule, target.target_id)]
        self.dead_letter_queue = provisioned.queue_urls.get(target.dead_letter_queue or "")
        self.sqs = aws_client("sqs", endpoint)
        self.http = requests.Session()
        self.pending: list[_Delivery] = []
        self.delivered = 0
        self.dead_lettered = 0
        self._last_post = 0.0

    def tick(self) -> None:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0 if self.pending else 1
        ).get("Messages", [])
        now = time.time()
        for message in messages:
            event = json.loads(message["Body"])
            self.pending.append(_Delivery(event, message["ReceiptHandle"], _ingested(event, now), due=now))
        for delivery in sorted(self.pending, key=lambda d: d.due):
            if self.stopping.is_set() or delivery.due > time.time():
                break
            self._attempt(delivery)
        if not messages and self.pending:
            next_due = min(delivery.due for delivery in self.pending)
            self.stopping.wait(max(0.0, min(next_due - time.time(), 1.0)))

    def _attempt(self, delivery: _Delivery) -> None:
        try:
            body = (
                self.transformer.apply(delivery.event, self.rule_arn, self.rule_name)
                if self.transformer
                else json.dumps(delivery.event)
            )
        except TransformError as error:
            self._dead_letter(delivery, "INVALID_JSON", str(error), "")
            return
        self._pace()
        delivery.attempts += 1
        try:
            answer = self.http.request(
                self.method, self.url, data=body.encode(), headers=self.headers, timeout=API_DESTINATION_TIMEOUT_SECONDS
            )
        except requests.RequestException as error:
            code, message = "SDK_CLIENT_ERROR", f"the endpoint did not answer: {type(error).__name__}"
            retried = True
        else:
            if answer.status_code < 300:
                log.info("%s: event delivered (%d)", self.name, answer.status_code)
                self.delivered += 1
                self._done(delivery)
                return
            code, message = f"HTTP_{answer.status_code}", f"the endpoint answered {answer.status_code}"
            retried = answer.status_code >= 500 or answer.status_code in RETRIED_STATUSES
        retries = delivery.attempts - 1
        wait = min(self.retry_delay * 2**retries, self.max_retry_delay)
        too_old = time.time() + wait - delivery.ingested_at > self.max_event_age_seconds
        if not retried:
            self._dead_letter(delivery, code, message, "")
        elif retries >= self.max_retry_attempts:
            self._dead_letter(delivery, code, message, "MaximumRetryAttempts")
        elif too_old:
            self._dead_letter(delivery, code, message, "MaximumEventAgeInSeconds")
        else:
            log.info("%s: %s; trying again in %.1f s", self.name, message, wait)
            delivery.due = time.time() + wait

    def _pace(self) -> None:
        """InvocationRateLimitPerSecond: posts are spaced evenly."""
        wait = self._last_post + self.min_interval - time.monotonic()
        if wait > 0:
            self.stopping.wait(wait)
        self._last_post = time.monotonic()

    def _dead_letter(self, delivery: _Delivery, code: str, message: str, exhausted: str) -> None:
        log.warning("%s: event sent to the dead-letter queue (%s)", self.name, message)
        self.dead_lettered += 1
        if self.dead_letter_queue:
            attributes = {
                "RULE_ARN": self.rule_arn,
                "TARGET_ARN": self.target_arn,
                "ERROR_CODE": code,
                "ERROR_MESSAGE": message,
                "RETRY_ATTEMPTS": str(max(0, delivery.attempts - 1)),
            }
            if exhausted:
                attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
            self.sqs.send_message(
                QueueUrl=self.dead_letter_queue,
                MessageBody=json.dumps(delivery.event),
                MessageAttributes={
                    name: {"DataType": "Number" if name == "RETRY_ATTEMPTS" else "String", "StringValue": value}
                    for name, value in attributes.items()
                },
            )
        self._done(delivery)

    def _done(self, delivery: _Delivery) -> None:
        self.pending.remove(delivery)
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=delivery.receipt_handle)


def _ingested(event: dict[str, Any], default: float) -> float:
    """When EventBridge took the event (its `time`): MaximumEventAgeInSeconds counts from there."""
    try:
        return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return default


def _connection_headers(target: ApiDestinationTarget, resolve: Any) -> dict[str, str]:
    """The header an API_KEY connection adds to every request."""
    auth = resolve(target.auth)
    if auth.get("AuthorizationType") != "API_KEY":
        raise ValueError(f"the local stack posts through API_KEY connections only, not {auth.get('AuthorizationType')}")
    key = auth["AuthParameters"]["ApiKeyAuthParameters"]
    return {str(key["ApiKeyName"]): str(key["ApiKeyValue"])}
