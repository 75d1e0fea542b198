"""The webhook: template.yaml's rule, its event pattern and its input
transformer, as EventBridge applies them (the pattern through moto's
EventBridge, which matches as EventBridge does; the transformer through
infra.transformer, which the local stack's API destination uses)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws
from moto.server import ThreadedMotoServer

from infra.pollers import ApiDestinationPoller
from infra.provision import Provisioned, aws_client, provision
from infra.stack import free_port
from infra.template import Template
from infra.transformer import InputTransformer, TransformError, select
from tests.support import ADMIN_KEY, TEST_STACK
from tests.unit.conftest import TEMPLATE

HOOK = "https://hooks.example.com/services/T0/B0/x"
WEBHOOK_RESOURCES = {
    "WebhookConnection",
    "WebhookDestination",
    "WebhookRole",
    "WebhookRule",
    "WebhookDeadLetterQueue",
    "WebhookDeadLetterQueuePolicy",
    "WebhookDeadLetterQueueAlarm",
}


def detail(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "feed": "payments-api",
        "feed_id": "f_0193a1b2c3d4e5f6a7b8",
        "vulnerability_id": "CVE-2021-44228",
        "title": "Log4Shell",
        "cvss_score": 10.0,
        "severity": "critical",
        "packages": ["pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"],
        "action": "detected",
        "at": "2026-12-01T10:00:00Z",
        "actor": "scanner",
        "actor_id": "scanner",
        "type": None,
        "expires_at": None,
        "reason": "Reported for pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1.",
    }
    return {**base, **fields}


def event(detail_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": "feedguard",
        "account": "123456789012",
        "time": "2026-12-01T10:00:01Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail(**fields),
    }


# ---------------------------------------------------------------- the template's conditions


def test_without_a_url_the_template_makes_no_webhook_resource() -> None:
    present = {logical_id for logical_id, resource in TEMPLATE.resources.items() if TEMPLATE._exists(resource)}
    assert not present & WEBHOOK_RESOURCES
    assert TEMPLATE.api_destination_targets() == []


def test_with_a_url_every_webhook_resource_is_made() -> None:
    template = TEMPLATE.with_parameters({"WebhookUrl": HOOK})
    present = {logical_id for logical_id, resource in template.resources.items() if template._exists(resource)}
    assert present >= WEBHOOK_RESOURCES
    (target,) = template.api_destination_targets()
    assert (target.rule, target.destination, target.dead_letter_queue) == (
        "WebhookRule",
        "WebhookDestination",
        "WebhookDeadLetterQueue",
    )


def test_every_webhook_resource_is_gated_by_the_url() -> None:
    gated = {
        logical_id
        for logical_id, resource in TEMPLATE.resources.items()
        if logical_id.startswith("Webhook") and resource.get("Condition") == "HasWebhook"
    }
    assert gated == WEBHOOK_RESOURCES


@pytest.fixture
def made() -> Iterator[Any]:
    """Provisions the template with these parameters (and a webhook URL) on moto."""
    with mock_aws():

        def make(**parameters: str) -> Provisioned:
            template = TEMPLATE.with_parameters({"WebhookUrl": HOOK, **parameters})
            return provision(template, None, TEST_STACK, secret_values={"AdminKeySecret": ADMIN_KEY})

        yield make


def connection_header(made: Any, **parameters: str) -> dict[str, str]:
    provisioned = made(**parameters)
    (target,) = TEMPLATE.with_parameters({"WebhookUrl": HOOK, **parameters}).api_destination_targets()
    auth = provisioned.resolver(target.auth)["AuthParameters"]["ApiKeyAuthParameters"]
    return {auth["ApiKeyName"]: auth["ApiKeyValue"]}


def test_the_connection_sends_the_secret_header_when_one_is_given(made: Any) -> None:
    header = connection_header(made, WebhookSecretHeaderName="X-Hook-Secret", WebhookSecretHeaderValue="s3cr3t")
    assert header == {"X-Hook-Secret": "s3cr3t"}


def test_without_a_secret_the_connection_sends_a_harmless_header(made: Any) -> None:
    assert connection_header(made) == {"X-Feedguard-Webhook": "feedguard"}


def test_the_secret_value_is_no_echo() -> None:
    assert TEMPLATE.parameters["WebhookSecretHeaderValue"]["NoEcho"] is True


def test_the_retry_policy_and_dead_letter_queue_come_from_the_template(made: Any) -> None:
    provisioned = made(WebhookMaximumRetryAttempts="3")
    (target,) = TEMPLATE.with_parameters({"WebhookUrl": HOOK}).api_destination_targets()
    assert int(provisioned.resolver(target.max_event_age_seconds)) == 86400
    assert "WebhookDeadLetterQueue" in provisioned.queue_urls
    rule = TEMPLATE.resources["WebhookRule"]["Properties"]["Targets"][0]
    assert rule["RetryPolicy"]["MaximumRetryAttempts"] == {"Ref": "WebhookMaximumRetryAttempts"}


# ---------------------------------------------------------------- the event pattern


def delivered(provisioned: Provisioned, events: list[dict[str, Any]]) -> list[str]:
    """Which of these events the template's rule passes: put on the bus, and
    read from the queue the rule fills (moto matches the pattern)."""
    client = boto3.client("events")
    bus = next(iter(provisioned.bus_names.values()))
    for one in events:
        client.put_events(
            Entries=[
                {
                    "Source": one["source"],
                    "DetailType": one["detail-type"],
                    "Detail": json.dumps(one["detail"]),
                    "EventBusName": bus,
                }
            ]
        )
    (url,) = provisioned.api_destination_queues.values()
    sqs, names = boto3.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            body = json.loads(message["Body"])
            names.append(f"{body['detail-type']}:{body['detail']['cvss_score']}")
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return sorted(names)


EVERY_KIND = [
    event("Finding Detected", cvss_score=9.8),
    event("Finding Detected", cvss_score=7.0),
    event("Finding Detected", cvss_score=6.9),
    event("Finding Detected", cvss_score=None),
    event("Finding Assessed", cvss_score=9.8, action="assessed"),
    event("Assessment Expired", cvss_score=4.0, action="expired"),
    event("Assessment Reopened", cvss_score=8.0, action="reopened"),
    event("Finding Withdrawn", cvss_score=9.0, action="withdrawn"),
    event("Assessment Expiring", cvss_score=5.0, action="expiring"),
    # A package exception's, from the feed's stream: no finding, so no score
    event("Exception Expired", cvss_score=None, action="exception_expired"),
    event("Exception Expiring", cvss_score=None, action="exception_expiring"),
]


@pytest.mark.parametrize(
    ("preset", "passed"),
    [
        (
            "high",
            [
                "Assessment Expired:4.0",
                "Assessment Expiring:5.0",
                "Assessment Reopened:8.0",
                "Exception Expired:None",
                "Exception Expiring:None",
                "Finding Detected:7.0",
                "Finding Detected:9.8",
            ],
        ),
        (
            "high-and-assessed",
            [
                "Assessment Expired:4.0",
                "Assessment Expiring:5.0",
                "Assessment Reopened:8.0",
                "Exception Expired:None",
                "Exception Expiring:None",
                "Finding Assessed:9.8",
                "Finding Detected:7.0",
                "Finding Detected:9.8",
            ],
        ),
        (
            "all-detected",
            [
                "Assessment Expired:4.0",
                "Assessment Expiring:5.0",
                "Assessment Reopened:8.0",
                "Exception Expired:None",
                "Exception Expiring:None",
                "Finding Detected:6.9",
                "Finding Detected:7.0",
                "Finding Detected:9.8",
                "Finding Detected:None",
            ],
        ),
        ("all", sorted(f"{e['detail-type']}:{e['detail']['cvss_score']}" for e in EVERY_KIND)),
    ],
)
def test_each_preset_passes_the_events_it_names(made: Any, preset: str, passed: list[str]) -> None:
    assert delivered(made(WebhookEvents=preset), EVERY_KIND) == passed


def test_the_default_preset_is_detected_at_cvss_7_or_more_expired_and_reopened() -> None:
    assert TEMPLATE.parameters["WebhookEvents"]["Default"] == "high"


def test_a_score_sent_as_a_string_is_not_a_number_to_the_pattern(made: Any) -> None:
    assert delivered(made(), [event("Finding Detected", cvss_score="9.8")]) == []


def test_events_of_another_source_are_not_posted(made: Any) -> None:
    other = event("Finding Detected", cvss_score=9.8)
    other["source"] = "someone-else"
    assert delivered(made(), [other]) == []


# ---------------------------------------------------------------- the template's input transformer


@pytest.fixture
def webhook_transformer() -> Iterator[InputTransformer]:
    with mock_aws():
        template = TEMPLATE.with_parameters({"WebhookUrl": HOOK})
        provisioned = provision(template, None, TEST_STACK, secret_values={"AdminKeySecret": ADMIN_KEY})
        (target,) = template.api_destination_targets()
        assert target.input_transformer is not None
        yield InputTransformer.of(provisioned.resolver(target.input_transformer))


def posted(transformer: InputTransformer, one: dict[str, Any]) -> dict[str, Any]:
    body = transformer.apply(one, "arn:aws:events:us-east-1:123456789012:rule/bus/WebhookRule", "WebhookRule")
    answer: dict[str, Any] = json.loads(body)
    return answer


def test_a_detection_reads_as_one_line_with_its_link(webhook_transformer: InputTransformer) -> None:
    message = posted(webhook_transformer, event("Finding Detected"))
    assert message["text"] == (
        "[feedguard] payments-api: CVE-2021-44228 (Log4Shell, CVSS 10.0) detected by scanner in "
        "[pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1]. "
        "Reported for pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1. — "
        "https://localhost/#/feeds/payments-api/vulnerabilities/CVE-2021-44228"
    )
    assert message["link"] == "https://localhost/#/feeds/payments-api/vulnerabilities/CVE-2021-44228"


def test_the_message_carries_the_structured_fields_with_their_types(webhook_transformer: InputTransformer) -> None:
    message = posted(
        webhook_transformer,
        event(
            "Finding Assessed",
            action="assessed",
            actor="ci-bot",
            actor_id="k-42",
            type="ignore",
            expires_at="2027-01-01T00:00:00Z",
        ),
    )
    assert {
        key: message[key] for key in ("event", "feed", "feed_id", "vulnerability_id", "cvss_score", "packages")
    } == {
        "event": "Finding Assessed",
        "feed": "payments-api",
        "feed_id": "f_0193a1b2c3d4e5f6a7b8",
        "vulnerability_id": "CVE-2021-44228",
        "cvss_score": 10.0,
        "packages": ["pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"],
    }
    assert (message["actor"], message["actor_id"], message["type"], message["expires_at"]) == (
        "ci-bot",
        "k-42",
        "ignore",
        "2027-01-01T00:00:00Z",
    )
    assert "assessed by ci-bot" in message["text"]


def test_quotes_in_a_title_keep_the_message_valid_json(webhook_transformer: InputTransformer) -> None:
    message = posted(webhook_transformer, event("Finding Detected", title='JNDI "lookup" \\ injection'))
    assert '(JNDI "lookup" \\ injection, CVSS 10.0)' in message["text"]
    assert message["title"] == 'JNDI "lookup" \\ injection'


def test_an_unscored_finding_of_a_deleted_feed_still_makes_a_message(webhook_transformer: InputTransformer) -> None:
    message = posted(webhook_transformer, event("Finding Withdrawn", title=None, cvss_score=None, packages=[]))
    assert (message["title"], message["cvss_score"], message["packages"]) == (None, None, [])
    assert "(null, CVSS null) detected by scanner in []" in message["text"]


def test_a_field_the_event_lacks_is_empty(webhook_transformer: InputTransformer) -> None:
    one = event("Finding Detected")
    del one["detail"]["actor_id"]
    assert posted(webhook_transformer, one)["actor_id"] == ""


# ---------------------------------------------------------------- EventBridge's substitution rules


def transformed(template: str, one: dict[str, Any] | None = None, **paths: str) -> str:
    return InputTransformer.of({"InputPathsMap": paths, "InputTemplate": template}).apply(
        one or event("Finding Detected"), "arn:rule", "rule"
    )


def test_outside_a_string_a_value_is_written_as_json() -> None:
    out = transformed(
        '{"feed": <feed>, "score": <score>, "packages": <packages>, "none": <none>}',
        feed="$.detail.feed",
        score="$.detail.cvss_score",
        packages="$.detail.packages",
        none="$.detail.type",
    )
    assert json.loads(out) == {
        "feed": "payments-api",
        "score": 10.0,
        "packages": ["pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"],
        "none": None,
    }


def test_inside_a_string_a_value_is_written_as_text_and_arrays_lose_their_quotes() -> None:
    out = transformed(
        '{"text": "<feed> scored <score> in <packages>"}',
        feed="$.detail.feed",
        score="$.detail.cvss_score",
        packages="$.detail.packages",
    )
    assert json.loads(out) == {
        "text": "payments-api scored 10.0 in [pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1]"
    }


def test_a_missing_path_is_the_empty_string_inside_and_outside_a_string() -> None:
    out = transformed('{"a": <gone>, "b": "x<gone>y"}', gone="$.detail.nothing.here")
    assert json.loads(out) == {"a": "", "b": "xy"}


def test_a_text_template_is_written_as_it_comes_out() -> None:
    assert transformed('"<feed> is in <action>"', feed="$.detail.feed", action="$.detail.action") == (
        '"payments-api is in detected"'
    )


def test_an_escaped_quote_in_the_template_does_not_end_its_string() -> None:
    out = transformed('{"text": "say \\"<feed>\\" twice <score>"}', feed="$.detail.feed", score="$.detail.cvss_score")
    assert json.loads(out) == {"text": 'say "payments-api" twice 10.0'}


def test_the_predefined_variables() -> None:
    out = json.loads(
        transformed(
            '{"rule": <aws.events.rule-name>, "at": "<aws.events.event.ingestion-time>", "e": <aws.events.event>}'
        )
    )
    assert (out["rule"], out["at"]) == ("rule", "2026-12-01T10:00:01Z")
    assert out["e"]["detailType"] == "Finding Detected"
    assert "detail" not in out["e"]


def test_an_undeclared_placeholder_is_refused_as_put_targets_refuses_it() -> None:
    with pytest.raises(TransformError, match="invalid placeholder nope"):
        InputTransformer.of({"InputPathsMap": {}, "InputTemplate": '{"a": <nope>}'})


def test_a_template_that_fills_to_invalid_json_fails() -> None:
    with pytest.raises(TransformError, match="not valid JSON"):
        transformed('{"a": <feed> <feed>}', feed="$.detail.feed")


def test_json_paths_take_dots_dashes_and_indices() -> None:
    one = event("Finding Detected")
    assert select(one, "$.detail-type") == "Finding Detected"
    assert select(one, "$.detail.packages[0]").startswith("pkg:maven/")
    with pytest.raises(TransformError):
        select(one, "$..feed")


def test_the_template_reader_refuses_an_unknown_parameter() -> None:
    with pytest.raises(ValueError, match="no parameter Nope"):
        Template.load(parameters={"Nope": "1"})


# ---------------------------------------------------------------- the local API destination


class Receiver:
    """Answers the planned statuses in order, then 200; records each post's time and body."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.posts: list[tuple[float, dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.posts.append((time.monotonic(), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def destination() -> Iterator[Any]:
    """A moto server with the template's resources and the webhook pointed at
    `url`; returns (poller, a function that publishes an event, the dead-letter queue's messages)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    requests.post(f"{endpoint}/moto-api/reset", timeout=30).raise_for_status()

    def make(url: str, **parameters: str) -> tuple[ApiDestinationPoller, Any, Any]:
        template = TEMPLATE.with_parameters({"WebhookUrl": url, "WebhookEvents": "all", **parameters})
        provisioned = provision(template, endpoint, TEST_STACK, secret_values={"AdminKeySecret": ADMIN_KEY})
        (target,) = template.api_destination_targets()
        poller = ApiDestinationPoller(target, provisioned, endpoint, retry_delay=0.05)
        events, sqs = aws_client("events", endpoint), aws_client("sqs", endpoint)
        bus = next(iter(provisioned.bus_names.values()))

        def publish(one: dict[str, Any]) -> None:
            entry = {"Source": "feedguard", "DetailType": one["detail-type"], "Detail": json.dumps(one["detail"])}
            events.put_events(Entries=[{**entry, "EventBusName": bus}])

        def dead_lettered() -> list[dict[str, Any]]:
            url = provisioned.queue_urls["WebhookDeadLetterQueue"]
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
            return list(answer.get("Messages", []))

        return poller, publish, dead_lettered

    try:
        yield make
    finally:
        server.stop()


def run(poller: ApiDestinationPoller, until: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the poller did not finish"
        poller.tick()


def attributes(message: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}


def test_a_4xx_is_dead_lettered_without_a_retry(destination: Any) -> None:
    receiver = Receiver([400])
    poller, publish, dead_lettered = destination(receiver.url)
    publish(event("Finding Detected"))
    run(poller, lambda: poller.dead_lettered == 1)
    assert len(receiver.posts) == 1
    (message,) = dead_lettered()
    assert attributes(message)["ERROR_CODE"] == "HTTP_400"
    assert attributes(message)["RETRY_ATTEMPTS"] == "0"
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes(message)
    assert json.loads(message["Body"])["detail"]["vulnerability_id"] == "CVE-2021-44228"


def test_a_429_is_tried_again_and_delivered_once(destination: Any) -> None:
    receiver = Receiver([429, 502])
    poller, publish, dead_lettered = destination(receiver.url)
    publish(event("Finding Detected"))
    run(poller, lambda: poller.delivered == 1)
    assert len(receiver.posts) == 3
    assert dead_lettered() == []
    assert poller.pending == []


def test_an_endpoint_that_does_not_answer_is_retried_then_dead_lettered(destination: Any) -> None:
    closed = f"http://127.0.0.1:{free_port()}/hook"
    poller, publish, dead_lettered = destination(closed, WebhookMaximumRetryAttempts="3")
    publish(event("Finding Detected"))
    run(poller, lambda: poller.dead_lettered == 1)
    (message,) = dead_lettered()
    assert attributes(message)["ERROR_CODE"] == "SDK_CLIENT_ERROR"
    assert (attributes(message)["RETRY_ATTEMPTS"], attributes(message)["EXHAUSTED_RETRY_CONDITION"]) == (
        "3",
        "MaximumRetryAttempts",
    )


def test_posts_keep_to_the_rate_limit(destination: Any) -> None:
    receiver = Receiver([])
    poller, publish, _ = destination(receiver.url, WebhookRateLimitPerSecond="5")
    for n in range(3):
        publish(event("Finding Detected", vulnerability_id=f"CVE-{n}"))
    run(poller, lambda: poller.delivered == 3)
    times = [at for at, _ in receiver.posts]
    assert all(later - earlier >= 0.19 for earlier, later in itertools.pairwise(times))


def test_an_event_older_than_the_maximum_age_is_dead_lettered(destination: Any) -> None:
    receiver = Receiver([503] * 100)
    poller, publish, dead_lettered = destination(receiver.url)
    # The template's is a day; 3 s leaves room for several retries on a loaded machine.
    poller.max_event_age_seconds = 3
    publish(event("Finding Detected"))
    run(poller, lambda: poller.dead_lettered == 1)
    (message,) = dead_lettered()
    assert attributes(message)["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert 1 < len(receiver.posts) < 100
