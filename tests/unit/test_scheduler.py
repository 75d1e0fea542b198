"""The local schedule invokes its function as Lambda runs an asynchronous
invocation: a failure is retried as the function's EventInvokeConfig says,
then sent to its on-failure queue in Lambda's record; the schedule's own
dead-letter queue is for deliveries Lambda refuses, which locally none are."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from infra.lambdas import InvocationError, LocalFunction
from infra.pollers import Scheduler
from infra.template import Template

TEMPLATE = Template.load()
SCHEDULES = {schedule.function: schedule for schedule in TEMPLATE.schedules()}
SCHEDULE = SCHEDULES["ScanCoordinatorFunction"]
SPEC = TEMPLATE.functions()[SCHEDULE.function]
ERROR = {"errorType": "ClientError", "errorMessage": "the scans table is gone"}


def scheduler(
    aws: Any, monkeypatch: pytest.MonkeyPatch, failures: int, schedule: Any = SCHEDULE
) -> tuple[Scheduler, list[Any]]:
    """The template's schedule on its function, whose first `failures` invocations fail."""
    spec = TEMPLATE.functions()[schedule.function]
    function = LocalFunction(spec, f"feedguard-test-{spec.logical_id}", {}, 1)
    invoked: list[Any] = []

    def invoke(event: Any, trigger: str, record_event: bool = True) -> Any:
        invoked.append(event)
        if len(invoked) <= failures:
            raise InvocationError(ERROR)
        return {"scan_id": "s1"}

    monkeypatch.setattr(function, "invoke", invoke)
    fired = Scheduler(schedule, function, aws, None, "rate(1 hour)")  # type: ignore[arg-type]
    monkeypatch.setattr(fired.stopping, "wait", lambda seconds: False)  # no waits between retries
    return fired, invoked


def messages(aws: Any, queue: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    found = sqs.receive_message(QueueUrl=aws.queue_urls[queue], MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(message["Body"]) for message in found]


def test_the_coordinator_has_an_on_failure_queue_for_its_asynchronous_invocations() -> None:
    destination = SPEC.invoke_config["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["ScanCoordinatorFailureQueue", "Arn"]}


def test_a_scheduled_scan_that_keeps_failing_lands_in_the_on_failure_queue_in_lambdas_record(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a coordinator that fails every time
    fired, invoked = scheduler(aws, monkeypatch, failures=99)
    # When the schedule fires
    assert fired.fire() is False
    # Then Lambda ran it once and retried it as many times as the template says
    retries = int(SPEC.invoke_config["MaximumRetryAttempts"])
    assert invoked == [json.loads(str(SCHEDULE.input))] * (1 + retries)
    # And the event is in the on-failure queue as Lambda writes it; the schedule's DLQ has nothing
    (record,) = messages(aws, "ScanCoordinatorFailureQueue")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1 + retries
    assert record["requestContext"]["functionArn"].endswith(f":function:feedguard-test-{SPEC.logical_id}:$LATEST")
    assert record["requestPayload"] == json.loads(str(SCHEDULE.input))
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"] == ERROR
    assert messages(aws, "ScheduleDeadLetterQueue") == []


def test_a_scheduled_scan_that_fails_once_succeeds_on_lambdas_retry_and_leaves_no_message(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fired, invoked = scheduler(aws, monkeypatch, failures=1)
    assert fired.fire() is True
    assert len(invoked) == 2
    assert messages(aws, "ScanCoordinatorFailureQueue") == []


def test_the_expiry_warnings_run_hourly_and_a_run_that_keeps_failing_lands_in_their_own_queue(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings = SCHEDULES["ExpiringFunction"]
    assert (warnings.name, warnings.expression) == ("ExpiringWarnings", "rate(1 hour)")
    fired, invoked = scheduler(aws, monkeypatch, failures=99, schedule=warnings)
    assert fired.fire() is False
    assert len(invoked) == 3  # the run and Lambda's two retries
    (record,) = messages(aws, "ExpiringFailureQueue")
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert messages(aws, "ScanCoordinatorFailureQueue") == []
