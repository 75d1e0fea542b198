"""A query parameter a route does not declare is a 422 naming it, on every
route of the template, as an unknown body field is: `?package=` on a route
without it must not answer as if it were absent."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest

from infra.template import Template
from tests.support import request
from tests.unit import builders
from tests.unit.conftest import TEMPLATE

ROUTES = TEMPLATE.routes()
HANDLER_OF = {logical_id: spec.handler.rsplit(".", 1)[0] for logical_id, spec in TEMPLATE.functions().items()}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_an_undeclared_query_parameter_is_a_422_naming_it(aws: Any, route: Any) -> None:
    handler = importlib.import_module(HANDLER_OF[route.function])
    status, answer = request(handler, route.method, concrete(route.path), query={"bogus": "1"})
    assert status == 422, answer
    assert {"loc": ["query", "bogus"], "type": "extra_forbidden", "msg": "Unknown query parameter"} in answer["details"]
    assert "query.bogus" in answer["message"]


def test_every_route_is_covered() -> None:
    assert len(ROUTES) == len(Template.load().routes()) >= 38


def test_declared_parameters_pass_and_an_unknown_one_beside_them_is_named(aws: Any) -> None:
    from handlers import feeds, scans

    builders.a_feed("demo")
    assert request(feeds, "GET", "/feeds", query={"limit": "5"})[0] == 200
    assert request(scans, "GET", "/scans", query={"feed": "demo", "limit": "5"})[0] == 200
    status, answer = request(scans, "GET", "/scans", query={"feed": "demo", "package": "pkg:npm/x@1"})
    assert status == 422
    assert [d["loc"] for d in answer["details"]] == [["query", "package"]]


def test_an_unknown_parameter_is_named_beside_an_invalid_declared_one(aws: Any) -> None:
    from handlers import feeds

    status, answer = request(feeds, "GET", "/feeds", query={"limit": "0", "pakage": "x"})
    assert status == 422
    assert [d["loc"] for d in answer["details"]] == [["query", "pakage"], ["query", "limit"]]
