"""What the local stack emulates around the functions: DynamoDB TTL and its
stream records, the schedule, and SQS with its dead-letter queue."""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from tests.integration.conftest import RunningStack, wait_for

TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def assessment(vulnerability_id: str, expires_ttl: int | None) -> dict[str, Any]:
    item = {
        "feed": {"S": "emulation"},
        "vulnerability_id": {"S": vulnerability_id},
        "type": {"S": "ignore"},
        "effect": {"S": "allow"},
        "assessed_by": {"S": "alice"},
        "assessed_at": {"S": "2026-11-25T10:00:00Z"},
        "expires_at": {"S": "2026-11-25T10:00:00Z"},
        "version": {"N": "1"},
    }
    if expires_ttl is not None:
        item["expires_ttl"] = {"N": str(expires_ttl)}
    return item


def stream_records_for(stack: RunningStack, vulnerability_id: str) -> list[dict[str, Any]]:
    return [
        record
        for invocation in stack.invocations("ExpiryFunction")
        for record in invocation["event"]["Records"]
        if record["dynamodb"]["Keys"]["vulnerability_id"]["S"] == vulnerability_id
    ]


def table(stack: RunningStack, logical_id: str) -> str:
    return f"feedguard-local-{logical_id}"


def test_ttl_deletes_expired_items_and_only_its_removals_reach_the_expiry_function(stack: RunningStack) -> None:
    dynamodb = stack.aws("dynamodb")
    assessments = table(stack, "AssessmentsTable")
    now = int(time.time())
    # Given an expired assessment, a live one, and one a user deletes
    dynamodb.put_item(TableName=assessments, Item=assessment("CVE-TTL-EXPIRED", now - 10))
    dynamodb.put_item(TableName=assessments, Item=assessment("CVE-TTL-LIVE", now + 3600))
    dynamodb.put_item(TableName=assessments, Item=assessment("CVE-USER-DELETED", now + 3600))
    dynamodb.delete_item(
        TableName=assessments, Key={"feed": {"S": "emulation"}, "vulnerability_id": {"S": "CVE-USER-DELETED"}}
    )

    # When the emulated TTL runs, the expired item disappears
    def gone() -> bool:
        key = {"feed": {"S": "emulation"}, "vulnerability_id": {"S": "CVE-TTL-EXPIRED"}}
        return "Item" not in dynamodb.get_item(TableName=assessments, Key=key)

    wait_for(gone)
    # Then its REMOVE record reaches the expiry function with the service identity
    (record,) = wait_for(lambda: stream_records_for(stack, "CVE-TTL-EXPIRED"))
    assert record["eventName"] == "REMOVE"
    assert record["userIdentity"] == TTL_IDENTITY
    assert record["dynamodb"]["OldImage"]["type"] == {"S": "ignore"}
    # And the function recorded exactly one expiry in the history
    history = dynamodb.query(
        TableName=table(stack, "HistoryTable"),
        KeyConditionExpression="finding = :f",
        ExpressionAttributeValues={":f": {"S": "emulation#CVE-TTL-EXPIRED"}},
    )["Items"]
    assert [item["action"]["S"] for item in history] == ["expired"]
    # And the user's deletion never passed the filter, and the live item stays
    time.sleep(2)
    assert stream_records_for(stack, "CVE-USER-DELETED") == []
    live_key = {"feed": {"S": "emulation"}, "vulnerability_id": {"S": "CVE-TTL-LIVE"}}
    assert "Item" in dynamodb.get_item(TableName=assessments, Key=live_key)


def test_the_schedule_invokes_the_coordinator_with_its_input(stack: RunningStack) -> None:
    fired = requests.post(f"{stack.control}/schedules/Schedule/fire", timeout=60).json()
    assert fired == {"ok": True}
    (invocation, *_) = [i for i in stack.invocations("ScanCoordinatorFunction") if i["trigger"] == "schedule"]
    assert invocation["event"] == {"trigger": "schedule"}
    # The coordinator created a scan of every feed
    scan = stack.aws("dynamodb").get_item(
        TableName=table(stack, "ScansTable"),
        Key={"scan_id": {"S": invocation["result"]["scan_id"]}, "sk": {"S": "#scan"}},
        ConsistentRead=True,
    )["Item"]
    assert (scan["scope"]["S"], scan["trigger"]["S"]) == ("*", "schedule")
    assert scan["status"]["S"] == invocation["result"]["status"]


def test_a_message_that_always_fails_ends_in_the_dead_letter_queue(stack: RunningStack) -> None:
    sqs = stack.aws("sqs")
    queue = sqs.get_queue_url(QueueName="feedguard-local-ScanQueue")["QueueUrl"]
    dead_letters = sqs.get_queue_url(QueueName="feedguard-local-ScanDeadLetterQueue")["QueueUrl"]
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
    )
    sqs.send_message(QueueUrl=queue, MessageBody="not a scan batch")

    def dead_lettered() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=dead_letters, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [m for m in messages.get("Messages", []) if m["Body"] == "not a scan batch"]

    # The worker brings it back after 1, 2, 4, 8 and 16 s (ScanBatchRetrySeconds=1, doubled)
    (message,) = wait_for(dead_lettered, timeout=120, interval=1)
    assert message["Body"] == "not a scan batch"

    def reported_as_failed(call: dict[str, Any]) -> bool:
        # powertools fails the whole invocation when every record of a batch failed
        if not call["ok"]:
            return True
        (record,) = [r for r in call["event"]["Records"] if r["body"] == "not a scan batch"]
        return {"itemIdentifier": record["messageId"]} in call["result"]["batchItemFailures"]

    worker_calls = [i for i in stack.invocations("ScanWorkerFunction") if "not a scan batch" in json.dumps(i["event"])]
    # Received maxReceiveCount times, each time by an invocation that reported it failed, then dead-lettered
    assert len(worker_calls) == int(redrive["maxReceiveCount"]) == 5
    assert all(reported_as_failed(call) for call in worker_calls)
