"""Observability, read from template.yaml and the handlers: every function
traced and in the metrics namespace, every failure somewhere an alarm sees
it, and every alarm on the one topic (docs/architecture.md, "Observability")."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra.template import load_document

DOCUMENT = load_document()
RESOURCES: dict[str, Any] = DOCUMENT["Resources"]
GLOBALS = DOCUMENT["Globals"]["Function"]
FUNCTIONS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::Serverless::Function"}
ALARMS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
QUEUES = {name for name, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue"}
FUNCTIONS_ROOT = Path(__file__).resolve().parents[2] / "functions"
# Event types whose service invokes a function asynchronously (Lambda retries, then drops it)
ASYNC_EVENTS = {
    "Schedule",
    "ScheduleV2",
    "EventBridgeRule",
    "CloudWatchEvent",
    "SNS",
    "S3",
    "CloudWatchLogs",
    "IoTRule",
}


def _logical(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


def failure_queues(document: dict[str, Any]) -> set[str]:
    """Queues anything sends its failures to: redrive policies, event source
    mappings' and invoke configs' on-failure destinations, dead-letter configs."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                target = None
                if key == "deadLetterTargetArn":
                    target = _logical(inner)
                elif key == "OnFailure" and isinstance(inner, dict):
                    target = _logical(inner.get("Destination"))
                elif key == "DeadLetterConfig" and isinstance(inner, dict):
                    target = _logical(inner.get("Arn"))
                if target:
                    found.add(target)
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(document["Resources"])
    return found & {n for n, r in document["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}


def alarms_on(metric: str, dimension: str, alarms: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(the resource the alarm watches, the alarm) for alarms on `metric` over a `dimension`."""
    for alarm in alarms.values():
        props = alarm["Properties"]
        if props.get("MetricName") != metric:
            continue
        for entry in props.get("Dimensions", []):
            if entry["Name"] == dimension and _logical(entry["Value"]):
                yield str(_logical(entry["Value"])), alarm


def _notifies_the_topic(alarm: dict[str, Any]) -> bool:
    return {"Ref": "AlarmTopic"} in alarm["Properties"].get("AlarmActions", [])


def unalarmed_queues(document: dict[str, Any], alarms: dict[str, Any]) -> set[str]:
    alarmed = {
        queue
        for queue, alarm in alarms_on("ApproximateNumberOfMessagesVisible", "QueueName", alarms)
        if alarm["Properties"]["Threshold"] == 0
        and alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
        and _notifies_the_topic(alarm)
        and alarm.get("Condition") == document["Resources"][queue].get("Condition")
    }
    return failure_queues(document) - alarmed


def test_the_finder_sees_every_kind_of_failure_queue() -> None:
    # The redrive policy, a stream's on-failure destination, the schedule's and
    # the webhook rule's dead-letter configs, the coordinator's invoke config
    assert {
        "ScanDeadLetterQueue",
        "ExpiryFailureQueue",
        "ScheduleDeadLetterQueue",
        "WebhookDeadLetterQueue",
        "ScanCoordinatorFailureQueue",
    } <= failure_queues(DOCUMENT)
    assert "ScanQueue" not in failure_queues(DOCUMENT)


def test_every_dead_letter_and_on_failure_queue_alarms_on_its_first_message() -> None:
    assert unalarmed_queues(DOCUMENT, ALARMS) == set()


def test_the_check_notices_a_failure_queue_without_an_alarm() -> None:
    others = {name: alarm for name, alarm in ALARMS.items() if name != "ScanDeadLetterQueueAlarm"}
    assert unalarmed_queues(DOCUMENT, others) == {"ScanDeadLetterQueue"}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_is_traced_and_in_the_metrics_namespace(function: str) -> None:
    props = FUNCTIONS[function]["Properties"]
    assert props.get("Tracing", GLOBALS.get("Tracing")) == "Active"
    variables = {**GLOBALS["Environment"]["Variables"], **props.get("Environment", {}).get("Variables", {})}
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "feedguard"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "feedguard"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_alarms_on_its_errors(function: str) -> None:
    watched = {
        name
        for name, alarm in alarms_on("Errors", "FunctionName", ALARMS)
        if alarm["Properties"]["Namespace"] == "AWS/Lambda" and _notifies_the_topic(alarm)
    }
    assert function in watched


@pytest.mark.parametrize(
    "function",
    sorted(
        name
        for name, r in FUNCTIONS.items()
        if any(event["Type"] in ASYNC_EVENTS for event in r["Properties"].get("Events", {}).values())
    ),
)
def test_an_asynchronously_invoked_function_sends_its_failures_to_an_alarmed_queue(function: str) -> None:
    config = FUNCTIONS[function]["Properties"]["EventInvokeConfig"]
    queue = _logical(config["DestinationConfig"]["OnFailure"]["Destination"])
    assert config["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    assert queue in QUEUES
    assert queue not in unalarmed_queues(DOCUMENT, ALARMS)


SCHEDULES = {
    f"{function}.{name}": event["Properties"]
    for function, r in FUNCTIONS.items()
    for name, event in r["Properties"].get("Events", {}).items()
    if event["Type"] == "ScheduleV2"
}


def test_the_schedules_are_the_scan_and_the_expiry_warnings() -> None:
    assert set(SCHEDULES) == {"ScanCoordinatorFunction.Schedule", "ExpiringFunction.ExpiringWarnings"}


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_each_schedule_retries_into_an_alarmed_dead_letter_queue(schedule: str) -> None:
    properties = SCHEDULES[schedule]
    assert properties["RetryPolicy"]["MaximumRetryAttempts"] > 0
    queue = _logical(properties["DeadLetterConfig"]["Arn"])
    assert queue in failure_queues(DOCUMENT)
    assert queue not in unalarmed_queues(DOCUMENT, ALARMS)


def test_the_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use_and_mails_only_when_asked() -> None:
    topic = RESOURCES["AlarmTopic"]["Properties"]
    key = RESOURCES[str(_logical(topic["KmsMasterKeyId"]))]
    assert key["Properties"]["EnableKeyRotation"] is True
    services = [s["Principal"].get("Service") for s in key["Properties"]["KeyPolicy"]["Statement"]]
    assert "cloudwatch.amazonaws.com" in services
    (subscription,) = [r for r in RESOURCES.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert DOCUMENT["Parameters"]["AlarmEmail"]["Default"] == ""


def _entry_point_decorators(handler: str) -> list[str]:
    module, _, attribute = handler.rpartition(".")
    tree = ast.parse(FUNCTIONS_ROOT.joinpath(*module.split(".")).with_suffix(".py").read_text())
    (function,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == attribute]
    return [ast.unparse(decorator) for decorator in function.decorator_list]


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_entry_point_logs_traces_and_flushes_metrics_with_its_cold_start(function: str) -> None:
    decorators = _entry_point_decorators(FUNCTIONS[function]["Properties"]["Handler"])
    assert decorators == [
        "logger.inject_lambda_context(clear_state=True)",
        # Never the response: it can hold a newly created API key.
        "tracer.capture_lambda_handler(capture_response=False)",
        "metrics.log_metrics(capture_cold_start_metric=True)",
    ]


def test_the_dashboard_is_json_and_shows_the_metrics_the_code_emits() -> None:
    body = RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    dashboard = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    lines = [metric for widget in dashboard["widgets"] for metric in widget["properties"]["metrics"]]
    shown = {metric[1] for metric in lines if isinstance(metric[0], str) and metric[0] == "feedguard"}
    # Metrics by source kind are searched for, so a kind added later shows without a change here.
    searched = [metric[0]["expression"] for metric in lines if isinstance(metric[0], dict)]
    shown |= {
        match.group(1)
        for expression in searched
        if (match := re.match(r"SEARCH\('\{feedguard,service,source_kind\} MetricName=\"([A-Za-z]+)\"'", expression))
    }
    source = (FUNCTIONS_ROOT / "feedguard" / "observability.py").read_text()
    emitted = set(re.findall(r'name="([A-Za-z]+)"', source)) - {"status", "effect", "source_kind"}
    assert shown == emitted


def test_source_metrics_are_named_for_no_one_source() -> None:
    """Requests and cache hits are counted per source kind (OSS Index, OSV, ...), not named after one."""
    source = (FUNCTIONS_ROOT / "feedguard" / "observability.py").read_text()
    template = (FUNCTIONS_ROOT.parent / "template.yaml").read_text()
    assert "OssIndex" not in source
    assert "OssIndex" not in template
    assert 'add_dimension(name="source_kind"' in source
