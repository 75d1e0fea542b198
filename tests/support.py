"""Helpers the tests share: events from events/, a Lambda context, the
template's table names for the unit-test stack, and the faults of OSS Index
a scan must survive."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"
TEST_STACK = "feedguard-test"
ADMIN_KEY = "test-admin-key-0123456789abcdef"

# Two packages OSS Index (the fake) reports vulnerable, and one it reports clean.
LOG4J = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
LODASH = "pkg:npm/lodash@4.17.20"
CLEAN = "pkg:npm/lodash@4.17.21"

TRUNCATED = '[{"coordinates":"pkg:npm/lodash@4.17.20","vulnerabilities":[{"id":"CVE-2021-2'
UNASKED = json.dumps([{"coordinates": "pkg:npm/never-asked@1.0.0", "vulnerabilities": []}])
# Well-formed JSON whose second entry cannot be read: read after the worker's request slot is free
NO_ID = json.dumps(
    [
        {"coordinates": LODASH, "vulnerabilities": []},
        {"coordinates": LOG4J, "vulnerabilities": [{"title": "?"}]},
    ]
)


@dataclass(frozen=True)
class ScanFault:
    """A fault of the fake OSS Index (the fields of infra.fake_ossindex.Fault)
    during a scan of a feed of LOG4J and LODASH, and how the scan ends: its
    status and its one error, after the source's name (None: no error)."""

    name: str
    fault: dict[str, Any]
    status: str
    error: str | None


SCAN_FAULTS = (
    ScanFault("credits-exhausted", {"status": 402}, "failed", "OSS Index answered 402: credits exhausted."),
    ScanFault("unauthorized", {"status": 401}, "failed", "OSS Index answered 401: the token was refused."),
    ScanFault("forbidden", {"status": 403}, "failed", "OSS Index answered 403: the token was refused."),
    ScanFault("unavailable", {"status": 503, "times": 50}, "failed", "OSS Index answered 503 after 5 attempts."),
    ScanFault("html", {"body": "<html>oops</html>"}, "failed", "OSS Index answered a body that is not JSON."),
    # An error's body is the source's, never shown: the status is the reason
    ScanFault(
        "teapot-with-a-body", {"status": 418, "body": "<html>internal page</html>"}, "failed", "OSS Index answered 418."
    ),
    ScanFault("short", {"answer_only": 1}, "partial", "OSS Index did not answer for 1 of 2 packages."),
    ScanFault("truncated", {"body": TRUNCATED}, "failed", "OSS Index answered a body that is not JSON."),
    ScanFault("unasked", {"body": UNASKED}, "partial", "OSS Index did not answer for 2 of 2 packages."),
    ScanFault("no-id", {"body": NO_ID}, "failed", "OSS Index answered a vulnerability without an id."),
    ScanFault(
        "rate-limited",
        {"status": 429, "retry_after": "0", "times": 50},
        "failed",
        "OSS Index answered 429 after 5 attempts.",
    ),
    ScanFault("rate-limit-storm", {"status": 429, "retry_after": "0", "times": 3}, "succeeded", None),
    ScanFault("rate-limited-without-retry-after", {"status": 429, "times": 2}, "succeeded", None),
    # Neither seconds nor a date: the default backoff, not a crash
    ScanFault("retry-after-soon", {"status": 429, "retry_after": "soon", "times": 2}, "succeeded", None),
    ScanFault("bad-gateway-four-times", {"status": 502, "times": 4}, "succeeded", None),
    ScanFault(
        "connection-reset",
        {"reset": True, "times": 50},
        "failed",
        "OSS Index could not be reached (ConnectionError) after 5 attempts.",
    ),
    # A worker gives up on a request after 10 s: only the unit tests shorten that.
    ScanFault(
        "read-timeout",
        {"latency_ms": 3000, "times": 50},
        "failed",
        "OSS Index could not be reached (ReadTimeout) after 5 attempts.",
    ),
)

# The same for the fake OSV (infra.fake_osv), whose faults take the same
# fields: a scan of LOG4J and LODASH asks one querybatch, one follow-up page
# (lodash's third id) and four records, so a fault of the next few requests
# may hit any of them.
OSV_SCAN_FAULTS = (
    ScanFault("osv-unavailable", {"status": 503, "times": 50}, "failed", "OSV answered 503 after 5 attempts."),
    ScanFault(
        "osv-bad-request", {"status": 400, "body": '{"code":3,"message":"invalid"}'}, "failed", "OSV answered 400."
    ),
    ScanFault("osv-not-found", {"status": 404}, "failed", "OSV answered 404."),
    ScanFault("osv-html", {"body": "<html>oops</html>"}, "failed", "OSV answered a body that is not JSON."),
    ScanFault("osv-no-results", {"body": '{"results": []}'}, "failed", "OSV answered 0 results for 2 queries."),
    ScanFault(
        "osv-rate-limited",
        {"status": 429, "retry_after": "0", "times": 50},
        "failed",
        "OSV answered 429 after 5 attempts.",
    ),
    ScanFault("osv-rate-limit-storm", {"status": 429, "retry_after": "0", "times": 3}, "succeeded", None),
    ScanFault("osv-internal-error-twice", {"status": 500, "times": 2}, "succeeded", None),
    ScanFault("osv-bad-gateway-four-times", {"status": 502, "times": 4}, "succeeded", None),
    ScanFault(
        "osv-redirect",
        {"status": 302},
        "failed",
        "OSV answered 302, a redirect, which sources do not follow; check the source's URL.",
    ),
    ScanFault(
        "osv-connection-reset",
        {"reset": True, "times": 50},
        "failed",
        "OSV could not be reached (ConnectionError) after 5 attempts.",
    ),
    ScanFault(
        "osv-read-timeout",
        {"latency_ms": 3000, "times": 50},
        "failed",
        "OSV could not be reached (ReadTimeout) after 5 attempts.",
    ),
)


def load_event(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((EVENTS / name).read_text()))


@dataclass
class LambdaContext:
    function_name: str = "feedguard-test-function"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:feedguard-test-function"
    memory_limit_in_mb: int = 512
    aws_request_id: str = ""
    log_group_name: str = "/aws/lambda/feedguard-test-function"
    log_stream_name: str = "test"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def api_event(
    name: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    as_key: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API event from events/, with its body, caller and parameters replaced."""
    event = load_event(name)
    if body is not None:
        event["body"] = json.dumps(body)
    if raw_body is not None:
        event["body"] = raw_body
    if as_key is not None:
        event["requestContext"]["authorizer"] = {"principalId": as_key["key_id"], **as_key}
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
        path = event["resource"]
        for name_, value in path_parameters.items():
            path = path.replace("{" + name_ + "}", value)
        event["path"] = path
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None


ADMIN = {"key_id": "admin", "key_name": "admin", "admin": "true"}


def key_caller(key_id: str, name: str | None = None) -> dict[str, str]:
    return {"key_id": key_id, "key_name": name or key_id, "admin": "false"}


def request(
    handler: Any,
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    caller: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """Calls a handler as API Gateway would for `method path`; (status, JSON body)."""
    event = load_event("api-keys-list.json")
    event["httpMethod"] = method
    event["path"] = path
    event["resource"] = path
    event["requestContext"]["httpMethod"] = method
    event["body"] = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    for name, value in (headers or {}).items():
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    who = caller if caller is not None else ADMIN
    event["requestContext"]["authorizer"] = {"principalId": who["key_id"], **who}
    response = handler.handler(event, LambdaContext())
    return response["statusCode"], body_of(response)


# The hooks dynamodb_hook holds, by unique id, and every DynamoDB client
# that sent a call: each PynamoDB connection (one a model, and the one of
# transactions and batches) has a botocore client of its own.
_hooks: dict[str, tuple[str, Callable[..., None]]] = {}
_clients: dict[int, Any] = {}


def _hooked(sender: Any, **_: Any) -> None:
    """PynamoDB's pre_dynamodb_send signal, before each call of any of its
    connections: the client that is about to send has every hook held."""
    client = sender.client
    _clients[id(client)] = client
    for unique_id, (event, hook) in list(_hooks.items()):
        client.meta.events.register(event, hook, unique_id=unique_id)


@contextmanager
def dynamodb_hook(event: str, hook: Callable[..., None]) -> Iterator[None]:
    """`hook` on a botocore event (e.g. "before-call.dynamodb") of every
    DynamoDB client the models and transactions use, while the block runs;
    several hooks on one event coexist."""
    from pynamodb.signals import pre_dynamodb_send

    pre_dynamodb_send.connect(_hooked, weak=False)
    unique_id = f"test-hook-{event}-{id(hook)}"
    _hooks[unique_id] = (event, hook)
    for client in _clients.values():
        client.meta.events.register(event, hook, unique_id=unique_id)
    try:
        yield
    finally:
        del _hooks[unique_id]
        for client in _clients.values():
            client.meta.events.unregister(event, unique_id=unique_id)


@contextmanager
def counted_dynamodb_calls() -> Iterator[Counter[str]]:
    """DynamoDB calls by operation while the block runs."""
    calls: Counter[str] = Counter()

    def count(**kwargs: Any) -> None:
        calls.update([kwargs["event_name"].split(".")[-1]])

    with dynamodb_hook("before-call.dynamodb", count):
        yield calls


@dataclass
class RoundTrips:
    """The DynamoDB calls of a block as (started, ended) intervals, and how
    many of them ran one after another: the longest chain of calls each of
    which began after the one before it had its answer. Calls made at once
    (a BatchGet split over threads) overlap and count once."""

    calls: list[tuple[float, float, str]]

    @property
    def sequential(self) -> int:
        ordered = sorted(self.calls)
        chain: list[int] = []
        for started, _, _ in ordered:
            before = [chain[n] for n, (_, ended, _) in enumerate(ordered[: len(chain)]) if ended <= started]
            chain.append(1 + max(before, default=0))
        return max(chain, default=0)

    def peak(self, operation: str) -> int:
        """The most calls of `operation` in flight at one moment."""
        edges = sorted(
            (moment, step)
            for started, ended, name in self.calls
            if name == operation
            for moment, step in ((started, 1), (ended, -1))
        )
        in_flight = highest = 0
        for _, step in edges:
            in_flight += step
            highest = max(highest, in_flight)
        return highest


@contextmanager
def dynamodb_round_trips(latency: float = 0.05) -> Iterator[RoundTrips]:
    """Records the DynamoDB calls of the block, each held `latency` seconds
    before it is sent, as a network would hold it: calls made together then
    overlap however quickly the emulator answers, and a call that waits for
    another's answer does not overlap it."""
    import threading
    import time

    recorded = RoundTrips([])

    def started(context: dict[str, Any], **_: Any) -> None:
        context["round_trip_started"] = time.monotonic()
        # Here: moto's mock answers at before-send, ahead of any hook of ours. Not
        # time.sleep, which tests of retries replace.
        threading.Event().wait(latency)

    def ended(context: dict[str, Any], event_name: str, **_: Any) -> None:
        if "round_trip_started" in context:
            operation = event_name.rsplit(".", maxsplit=1)[-1]
            recorded.calls.append((context.pop("round_trip_started"), time.monotonic(), operation))

    with (
        dynamodb_hook("before-call.dynamodb", started),
        dynamodb_hook("after-call.dynamodb", ended),
        dynamodb_hook("after-call-error.dynamodb", ended),
    ):
        yield recorded
