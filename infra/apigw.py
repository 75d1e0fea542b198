"""API Gateway (REST API, Lambda proxy integration), emulated.

Serves the routes of template.yaml: runs the REQUEST authorizer, builds v1
proxy events with requestContext.authorizer, invokes the real handlers, and
answers what API Gateway itself answers (unknown route, missing key, body too
large, function error, a key past its usage plan's rate) with the template's
GatewayResponses.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from infra.lambdas import InvocationError, LocalFunction
from infra.provision import ACCOUNT, REGION
from infra.template import Route

# API Gateway's own payload limit is 10 MB, Lambda's 6 MB; both end as 413 here.
MAX_BODY_BYTES = 6 * 1024 * 1024

_DEFAULT_STATUS = {
    "UNAUTHORIZED": 401,
    "ACCESS_DENIED": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "REQUEST_TOO_LARGE": 413,
    "AUTHORIZER_FAILURE": 500,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "INTEGRATION_FAILURE": 502,
    "INTEGRATION_TIMEOUT": 504,
    "INVALID_API_KEY": 403,
    "THROTTLED": 429,
}
_DEFAULT_MESSAGE = {
    "UNAUTHORIZED": "Unauthorized",
    "ACCESS_DENIED": "User is not authorized to access this resource",
    "MISSING_AUTHENTICATION_TOKEN": "Missing Authentication Token",
    "REQUEST_TOO_LARGE": "Request Too Long",
    "INTEGRATION_TIMEOUT": "Endpoint request timed out",
    "INVALID_API_KEY": "Forbidden",
    "THROTTLED": "Too Many Requests",
}


@dataclass(frozen=True)
class _CompiledRoute:
    route: Route
    pattern: re.Pattern[str]
    specificity: tuple[int, ...]


def _compile(route: Route) -> _CompiledRoute:
    parts = []
    specificity = []
    for segment in route.path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
            specificity.append(0)
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
            specificity.append(1)
        else:
            parts.append(re.escape(segment))
            specificity.append(2)
    return _CompiledRoute(route, re.compile("^/" + "/".join(parts) + "$"), tuple(specificity))


class TokenBucket:
    """API Gateway's throttle: `burst` requests at once, refilled at `rate`
    a second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.updated = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self.clock()
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class UsagePlan:
    """A usage plan's throttle, per API key: the key the authorizer names
    (usageIdentifierKey) must be one of the plan's (`plan_keys` lists their
    values, read again when a key is not among those read before), and each
    has its own bucket."""

    def __init__(
        self,
        rate: float,
        burst: int,
        plan_keys: Callable[[], set[str]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.plan_keys, self.clock = rate, burst, plan_keys, clock
        self.known: set[str] = set()
        self.buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def admit(self, usage_key: str | None) -> str | None:
        """None if the request may go on, else the gateway response's type."""
        if not usage_key:
            return "INVALID_API_KEY"
        with self._lock:
            if usage_key not in self.known:
                self.known = self.plan_keys()
            if usage_key not in self.known:
                return "INVALID_API_KEY"
            bucket = self.buckets.setdefault(usage_key, TokenBucket(self.rate, self.burst, self.clock))
        return None if bucket.take() else "THROTTLED"


@dataclass
class GatewayAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class ApiGateway:
    def __init__(
        self,
        routes: list[Route],
        functions: dict[str, LocalFunction],
        authorizer: str,
        identity_headers: list[str],
        gateway_responses: dict[str, dict[str, Any]],
        stage: str,
        usage_plan: UsagePlan | None = None,
    ) -> None:
        self.routes = [_compile(route) for route in routes]
        self.functions = functions
        self.authorizer = authorizer
        self.identity_headers = [header.lower() for header in identity_headers]
        self.gateway_responses = gateway_responses
        self.stage = stage
        self.usage_plan = usage_plan

    # ------------------------------------------------------------ routing

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        candidates = []
        for compiled in self.routes:
            found = compiled.pattern.match(path)
            if found and compiled.route.method in (method, "ANY"):
                candidates.append((compiled.specificity, compiled.route, found.groupdict()))
        if not candidates:
            return None
        candidates.sort(key=lambda candidate: candidate[0], reverse=True)
        _, route, parameters = candidates[0]
        return route, {name: unquote(value) for name, value in parameters.items()}

    # ------------------------------------------------------------ answers

    def gateway_response(self, response_type: str) -> GatewayAnswer:
        configured = self.gateway_responses.get(response_type)
        if configured is None:
            family = "DEFAULT_5XX" if _DEFAULT_STATUS.get(response_type, 500) >= 500 else "DEFAULT_4XX"
            configured = self.gateway_responses.get(family, {})
        status = int(configured.get("StatusCode", _DEFAULT_STATUS.get(response_type, 500)))
        template = configured.get("ResponseTemplates", {}).get("application/json")
        body = template or json.dumps({"message": _DEFAULT_MESSAGE.get(response_type, "Internal server error")})
        headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", response_type)]
        # Static header values, as the template quotes them ('1').
        for name, value in configured.get("ResponseParameters", {}).get("Headers", {}).items():
            headers.append((name, str(value).strip("'")))
        return GatewayAnswer(status, headers, body.encode())

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> GatewayAnswer:
        if len(body) > MAX_BODY_BYTES:
            return self.gateway_response("REQUEST_TOO_LARGE")
        split = urlsplit(raw_path)
        path = split.path or "/"
        matched = self.match(method, unquote(path))
        if matched is None:
            return self.gateway_response("MISSING_AUTHENTICATION_TOKEN")
        route, path_parameters = matched
        request_id = str(uuid.uuid4())
        event = self._proxy_event(
            method, path, split.query, headers, body, route, path_parameters, source_ip, request_id
        )

        if not route.open:
            verdict = self._authorize(event)
            if isinstance(verdict, GatewayAnswer):
                return verdict
            context, usage_key = verdict
            event["requestContext"]["authorizer"] = context
            if route.api_key_required and self.usage_plan is not None:
                refused = self.usage_plan.admit(usage_key)
                if refused:
                    return self.gateway_response(refused)

        try:
            result = self.functions[route.function].invoke(event, trigger=f"{method} {route.path}", record_event=False)
        except InvocationError as error:
            if error.payload.get("errorType") == "Sandbox.Timedout":
                return self.gateway_response("INTEGRATION_TIMEOUT")
            answer = self.gateway_response("DEFAULT_5XX")
            answer.status = 502
            return answer
        return self._from_proxy_result(result)

    def _authorize(self, event: dict[str, Any]) -> tuple[dict[str, Any], str | None] | GatewayAnswer:
        """The authorizer's context and the usage plan key it names, or API Gateway's refusal."""
        lowered = {name.lower() for name in event["headers"] or {}}
        if any(header not in lowered for header in self.identity_headers):
            return self.gateway_response("UNAUTHORIZED")
        context = event["requestContext"]
        api = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{context['apiId']}"
        method_arn = f"{api}/{self.stage}/{event['httpMethod']}{event['path']}"
        request = {
            "type": "REQUEST",
            "methodArn": method_arn,
            **{key: event[key] for key in ("resource", "path", "httpMethod", "headers", "multiValueHeaders")},
            **{key: event[key] for key in ("queryStringParameters", "multiValueQueryStringParameters")},
            **{key: event[key] for key in ("pathParameters", "stageVariables", "requestContext")},
        }
        started = time.time()
        try:
            policy = self.functions[self.authorizer].invoke(request, trigger="authorizer", record_event=False)
        except InvocationError as error:
            if error.payload.get("errorMessage") == "Unauthorized":
                return self.gateway_response("UNAUTHORIZED")
            return self.gateway_response("AUTHORIZER_FAILURE")
        if not isinstance(policy, dict) or "policyDocument" not in policy:
            return self.gateway_response("AUTHORIZER_CONFIGURATION_ERROR")
        if not _allows(policy["policyDocument"], method_arn):
            return self.gateway_response("ACCESS_DENIED")
        authorizer: dict[str, Any] = {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in (policy.get("context") or {}).items()
        }
        authorizer["principalId"] = policy.get("principalId")
        authorizer["integrationLatency"] = int((time.time() - started) * 1000)
        usage_key = policy.get("usageIdentifierKey")
        return authorizer, str(usage_key) if usage_key else None

    def _proxy_event(
        self,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
        route: Route,
        path_parameters: dict[str, str],
        source_ip: str,
        request_id: str,
    ) -> dict[str, Any]:
        multi_headers: dict[str, list[str]] = {}
        for name, value in headers:
            multi_headers.setdefault(name, []).append(value)
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            multi_query.setdefault(name, []).append(value)
        try:
            text_body: str | None = body.decode("utf-8") if body else None
            encoded = False
        except UnicodeDecodeError:
            text_body, encoded = base64.b64encode(body).decode(), True
        now = time.time()
        host = next((value for name, value in headers if name.lower() == "host"), "127.0.0.1")
        return {
            "resource": route.path,
            "path": path,
            "httpMethod": method,
            "headers": {name: values[-1] for name, values in multi_headers.items()} or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": "local",
                "resourceId": "local",
                "resourcePath": route.path,
                "httpMethod": method,
                "extendedRequestId": request_id,
                "requestId": request_id,
                "path": f"/{self.stage}{path}",
                "stage": self.stage,
                "protocol": "HTTP/1.1",
                "domainName": host,
                "requestTime": formatdate(now, usegmt=True),
                "requestTimeEpoch": int(now * 1000),
                "identity": {
                    "sourceIp": source_ip,
                    "userAgent": next((v for n, v in headers if n.lower() == "user-agent"), None),
                },
            },
            "body": text_body,
            "isBase64Encoded": encoded,
        }

    def _from_proxy_result(self, result: Any) -> GatewayAnswer:
        if not isinstance(result, dict) or "statusCode" not in result:
            answer = self.gateway_response("DEFAULT_5XX")
            answer.status = 502
            return answer
        headers: list[tuple[str, str]] = []
        for name, value in (result.get("headers") or {}).items():
            headers.append((name, str(value)))
        for name, values in (result.get("multiValueHeaders") or {}).items():
            headers.extend((name, str(value)) for value in values if (name, str(value)) not in headers)
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
        return GatewayAnswer(int(result["statusCode"]), headers, raw)


def _allows(policy: dict[str, Any], method_arn: str) -> bool:
    allowed = False
    for statement in policy.get("Statement", []):
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase(method_arn, pattern) for pattern in resources):
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


class Frontend(Protocol):
    """What answers the API's port: the ApiGateway, or CloudFront in front of it."""

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> GatewayAnswer: ...


def serve(front: Frontend, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes
        server_version = "feedguard-local-apigw"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            answer = front.handle(self.command, self.path, list(self.headers.items()), body, self.client_address[0])
            self.send_response(answer.status)
            for name, value in answer.headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)

        def __getattr__(self, name: str) -> Any:
            # http.server answers a method without a do_ method with an HTML
            # 501; API Gateway answers every method, TRACE and CONNECT among
            # them, and one no route has gets its MISSING_AUTHENTICATION_TOKEN
            # response (the gateway's match decides that, as for any path).
            if name.startswith("do_"):
                return self._any
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="apigw", daemon=True).start()
    return server
