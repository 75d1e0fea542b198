"""The local gateway's HTTP server answers every method as API Gateway does:
a method no route has (TRACE, CONNECT, a made-up one), or any method on a
path with no route, gets the template's MISSING_AUTHENTICATION_TOKEN gateway
response, never http.server's HTML 501. Over HTTP, as a client sees it."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from infra import apigw
from infra.stack import free_port
from tests.unit.conftest import TEMPLATE


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    gateway = apigw.ApiGateway(
        routes=TEMPLATE.routes(),
        functions={},  # nothing here reaches a function
        authorizer=TEMPLATE.authorizer_function(),
        identity_headers=TEMPLATE.authorizer_identity_headers(),
        gateway_responses=TEMPLATE.gateway_responses(),
        stage="Prod",
    )
    number = free_port()
    server = apigw.serve(gateway, "127.0.0.1", number)
    yield number
    server.shutdown()
    server.server_close()


def send(port: int, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, headers={"Authorization": "Bearer whatever"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def expected() -> tuple[int, dict[str, str]]:
    configured = TEMPLATE.gateway_responses()["MISSING_AUTHENTICATION_TOKEN"]
    return int(configured["StatusCode"]), json.loads(configured["ResponseTemplates"]["application/json"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("TRACE", "/sources"),
        ("TRACE", "/feeds/demo"),
        ("CONNECT", "/sources"),
        ("PROPFIND", "/feeds"),
        ("DELETE", "/sources"),  # a method the path's routes do not have
        ("GET", "/no/such/route"),
        ("TRACE", "/no/such/route"),
    ],
)
def test_a_method_or_path_no_route_has_gets_the_templates_gateway_response(port: int, method: str, path: str) -> None:
    status, headers, body = send(port, method, path)
    assert (status, json.loads(body)) == expected()
    assert headers["content-type"] == "application/json"
    assert headers["x-amzn-errortype"] == "MISSING_AUTHENTICATION_TOKEN"
    assert b"<html" not in body.lower()
