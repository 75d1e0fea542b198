"""Every route of the management API, for every kind of caller, gets the
contract's answer: 404 for a feed the key has no role on, 403 for a role
too small or a non-admin on an admin route, success otherwise; and a key
with no role on the feed (none, or a manager of another feed) sees nothing
of it in any answer. Calls with no key or a deleted key never reach a
handler: tests/integration/test_keys_http.py covers them on every route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import boto3
import pytest

from feedguard.access import Role
from feedguard.dal import scans as scan_store
from handlers import (
    assessment_types,
    decisions,
    exceptions,
    feeds,
    findings,
    gate,
    keys,
    scans,
    sources,
    vulnerabilities,
)
from infra.template import Template
from tests.support import ADMIN, key_caller, request
from tests.unit.builders import a_finding
from tests.unit.conftest import fresh_account

CALLERS = ["none", "other_manager", "viewer", "assessor", "manager", "admin"]
OUTSIDERS = {"none", "other_manager"}  # valid keys with no role on feed `matrix`
ANY, ADMIN_ONLY = "any", "admin"

# (handler, method, template path, concrete path, body, query, who may)
ROUTES: list[tuple[Any, str, str, str, Any, Any, Any]] = [
    (keys, "POST", "/api-keys", "/api-keys", {"name": "x"}, None, ADMIN_ONLY),
    (keys, "GET", "/api-keys", "/api-keys", None, None, ADMIN_ONLY),
    (keys, "DELETE", "/api-keys/{id}", "/api-keys/{target_key}", None, None, ADMIN_ONLY),
    (keys, "GET", "/me", "/me", None, None, ANY),
    (sources, "POST", "/sources", "/sources", {"name": "s", "kind": "ossindex", "token": "t"}, None, ADMIN_ONLY),
    (sources, "GET", "/sources", "/sources", None, None, ANY),
    (sources, "GET", "/sources/{id}", "/sources/{source}", None, None, ANY),
    (sources, "PATCH", "/sources/{id}", "/sources/{source}", {"name": "renamed"}, None, ADMIN_ONLY),
    (sources, "DELETE", "/sources/{id}", "/sources/{spare_source}", None, None, ADMIN_ONLY),
    (
        assessment_types,
        "POST",
        "/assessment-types",
        "/assessment-types",
        {"name": "Later", "effect": "warn"},
        None,
        ADMIN_ONLY,
    ),
    (assessment_types, "GET", "/assessment-types", "/assessment-types", None, None, ANY),
    (assessment_types, "GET", "/assessment-types/{id}", "/assessment-types/ignore", None, None, ANY),
    (
        assessment_types,
        "PATCH",
        "/assessment-types/{id}",
        "/assessment-types/custom",
        {"effect": "block"},
        None,
        ADMIN_ONLY,
    ),
    (assessment_types, "DELETE", "/assessment-types/{id}", "/assessment-types/custom", None, None, ADMIN_ONLY),
    (feeds, "POST", "/feeds", "/feeds", {"name": "new-feed"}, None, ADMIN_ONLY),
    (feeds, "GET", "/feeds", "/feeds", None, None, ANY),
    (feeds, "GET", "/feeds/{feed}", "/feeds/matrix", None, None, Role.viewer),
    (feeds, "PATCH", "/feeds/{feed}", "/feeds/matrix", {"description": "x"}, None, ADMIN_ONLY),
    (feeds, "DELETE", "/feeds/{feed}", "/feeds/matrix", None, None, ADMIN_ONLY),
    (
        feeds,
        "PUT",
        "/feeds/{feed}/sources/{source_id}",
        "/feeds/matrix/sources/{spare_source}",
        None,
        None,
        Role.manager,
    ),
    (feeds, "DELETE", "/feeds/{feed}/sources/{source_id}", "/feeds/matrix/sources/{source}", None, None, Role.manager),
    (feeds, "GET", "/feeds/{feed}/permissions", "/feeds/matrix/permissions", None, None, Role.manager),
    (
        feeds,
        "PUT",
        "/feeds/{feed}/permissions/{key_id}",
        "/feeds/matrix/permissions/{target_key}",
        {"role": "viewer"},
        None,
        Role.manager,
    ),
    (
        feeds,
        "DELETE",
        "/feeds/{feed}/permissions/{key_id}",
        "/feeds/matrix/permissions/{viewer_key}",
        None,
        None,
        Role.manager,
    ),
    (feeds, "POST", "/feeds/{feed}/packages", "/feeds/matrix/packages", {"purls": ["pkg:npm/a@1"]}, None, Role.manager),
    (feeds, "GET", "/feeds/{feed}/packages", "/feeds/matrix/packages", None, None, Role.viewer),
    (
        feeds,
        "DELETE",
        "/feeds/{feed}/packages",
        "/feeds/matrix/packages",
        None,
        {"purl": "pkg:npm/lodash@4.17.20"},
        Role.manager,
    ),
    (scans, "POST", "/scans", "/scans", {"feed": "matrix"}, None, Role.manager),
    (scans, "POST", "/scans", "/scans", {}, None, ADMIN_ONLY),
    (scans, "GET", "/scans", "/scans", None, {"feed": "matrix"}, Role.manager),
    (scans, "GET", "/scans", "/scans", None, None, ADMIN_ONLY),
    (scans, "GET", "/scans/{id}", "/scans/{scan}", None, None, Role.manager),
    (
        findings,
        "GET",
        "/feeds/{feed}/vulnerabilities",
        "/feeds/matrix/vulnerabilities",
        None,
        {"status": "unassessed"},
        Role.viewer,
    ),
    (
        findings,
        "GET",
        "/feeds/{feed}/vulnerabilities/{id}",
        "/feeds/matrix/vulnerabilities/CVE-2021-23337",
        None,
        None,
        Role.viewer,
    ),
    (
        findings,
        "GET",
        "/feeds/{feed}/vulnerabilities/{id}/history",
        "/feeds/matrix/vulnerabilities/CVE-2021-23337/history",
        None,
        None,
        Role.viewer,
    ),
    (
        findings,
        "PUT",
        "/feeds/{feed}/vulnerabilities/{id}/assessment",
        "/feeds/matrix/vulnerabilities/CVE-2021-23337/assessment",
        {"type": "ignore"},
        None,
        Role.assessor,
    ),
    (
        findings,
        "DELETE",
        "/feeds/{feed}/vulnerabilities/{id}/assessment",
        "/feeds/matrix/vulnerabilities/CVE-ASSESSED/assessment",
        None,
        None,
        Role.assessor,
    ),
    (
        findings,
        "POST",
        "/feeds/{feed}/assessments",
        "/feeds/matrix/assessments",
        {"vulnerability_ids": ["CVE-2021-23337"], "type": "caution"},
        None,
        Role.assessor,
    ),
    (
        exceptions,
        "POST",
        "/feeds/{feed}/exceptions",
        "/feeds/matrix/exceptions",
        {"purl": "pkg:npm/lodash", "versions": "vers:npm/<4.17.21", "type": "caution"},
        None,
        Role.assessor,
    ),
    (exceptions, "GET", "/feeds/{feed}/exceptions", "/feeds/matrix/exceptions", None, None, Role.viewer),
    (
        exceptions,
        "GET",
        "/feeds/{feed}/exceptions/{id}",
        "/feeds/matrix/exceptions/{exception}",
        None,
        None,
        Role.viewer,
    ),
    (
        exceptions,
        "DELETE",
        "/feeds/{feed}/exceptions/{id}",
        "/feeds/matrix/exceptions/{exception}",
        None,
        None,
        Role.assessor,
    ),
    (findings, "GET", "/feeds/{feed}/vex", "/feeds/matrix/vex", None, {"format": "openvex"}, Role.viewer),
    (findings, "GET", "/feeds/{feed}/vex", "/feeds/matrix/vex", None, {"format": "cyclonedx"}, Role.viewer),
    # Across feeds: any key, answered for the feeds its roles reach (the
    # admin: every feed); an outsider's answer holds nothing of `matrix`.
    (vulnerabilities, "GET", "/vulnerabilities", "/vulnerabilities", None, {"id": "CVE-2021-23337"}, ANY),
    (vulnerabilities, "GET", "/vulnerabilities", "/vulnerabilities", None, {"status": "unassessed"}, ANY),
    (
        vulnerabilities,
        "POST",
        "/assessments",
        "/assessments",
        {"feeds": ["matrix"], "vulnerability_ids": ["CVE-2021-23337"], "type": "caution"},
        None,
        ANY,
    ),
    (
        gate,
        "POST",
        "/feeds/{feed}/check",
        "/feeds/matrix/check",
        {"purls": ["pkg:npm/lodash@4.17.20"]},
        None,
        Role.viewer,
    ),
    (gate, "GET", "/feeds/{feed}/check", "/feeds/matrix/check", None, {"purl": "pkg:npm/lodash@4.17.20"}, Role.viewer),
    (decisions, "GET", "/feeds/{feed}/decisions", "/feeds/matrix/decisions", None, {"state": "stale"}, Role.viewer),
    (
        decisions,
        "GET",
        "/feeds/{feed}/decisions",
        "/feeds/matrix/decisions",
        None,
        {"state": "expiring", "within_days": "365"},
        Role.viewer,
    ),
]
FEED_SCOPED = {"/feeds/matrix", "/scans/{scan}"}


def expected(who_may: Any, caller: str, feed_scoped: bool) -> str:
    if caller == "admin" or who_may == ANY:
        return "ok"
    if who_may == ADMIN_ONLY:
        return "404" if feed_scoped and caller in OUTSIDERS else "403"
    if caller in OUTSIDERS:
        return "404"
    return "ok" if Role[caller] >= who_may else "403"


def outcome_of(route: tuple[Any, ...], caller: str) -> str:
    _, _, _, path, body, query, who_may = route
    return expected(
        who_may,
        caller,
        feed_scoped=any(path.startswith(p) for p in FEED_SCOPED)
        or bool(body and body.get("feed"))
        or bool(query and query.get("feed")),
    )


def build_world() -> dict[str, str]:
    """A feed `matrix` with a source, a package, and a key for each role."""
    names = {}
    for role in ("none", "other_manager", "viewer", "assessor", "manager", "target"):
        names[f"{role}_key"] = request(keys, "POST", "/api-keys", body={"name": role})[1]["id"]
    names["matrix_id"] = request(feeds, "POST", "/feeds", body={"name": "matrix"})[1]["id"]
    request(feeds, "POST", "/feeds", body={"name": "elsewhere"})
    request(feeds, "PUT", f"/feeds/elsewhere/permissions/{names['other_manager_key']}", body={"role": "manager"})
    for role in ("viewer", "assessor", "manager"):
        request(feeds, "PUT", f"/feeds/matrix/permissions/{names[role + '_key']}", body={"role": role})
    for name in ("source", "spare_source"):
        names[name] = request(sources, "POST", "/sources", body={"name": name, "kind": "ossindex", "token": "t"})[1][
            "id"
        ]
    request(feeds, "PUT", f"/feeds/matrix/sources/{names['source']}")
    request(feeds, "POST", "/feeds/matrix/packages", body={"purls": ["pkg:npm/lodash@4.17.20"]})
    request(assessment_types, "POST", "/assessment-types", body={"name": "Custom", "effect": "warn"})
    names["scan"] = request(scans, "POST", "/scans", body={"feed": "matrix"})[1]["id"]
    # It has run (no coordinator here): a feed's next scan waits for the one queued or running.
    scan_store.set_totals(scan_store.get(names["scan"]), 0, 0)  # type: ignore[arg-type]
    a_finding(names["matrix_id"], "CVE-2021-23337", "pkg:npm/lodash@4.17.20")
    a_finding(names["matrix_id"], "CVE-ASSESSED", "pkg:npm/lodash@4.17.20")
    request(findings, "PUT", "/feeds/matrix/vulnerabilities/CVE-ASSESSED/assessment", body={"type": "ignore"})
    names["exception"] = request(
        exceptions, "POST", "/feeds/matrix/exceptions", body={"purl": "pkg:npm/lodash", "type": "ignore"}
    )[1]["id"]
    return names


def state() -> dict[str, Any]:
    """Everything a call could change: every table's items, the queues'
    messages, the secrets and the API Gateway keys."""
    dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    tables = {
        table: sorted(
            json.dumps(item, sort_keys=True)
            for page in dynamodb.get_paginator("scan").paginate(TableName=table)
            for item in page["Items"]
        )
        for table in dynamodb.list_tables()["TableNames"]
    }
    queues = {
        url: sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        for url in sqs.list_queues().get("QueueUrls", [])
    }
    secrets = sorted(s["Name"] for s in boto3.client("secretsmanager").list_secrets()["SecretList"])
    api_keys = sorted((k["id"], k["enabled"]) for k in boto3.client("apigateway").get_api_keys()["items"])
    return {"tables": tables, "queues": queues, "secrets": secrets, "api_keys": api_keys}


def changes(route: tuple[Any, ...], caller: str) -> bool:
    """Whether the case may change the world: a write the caller is allowed,
    or a gate check (it records what its inline lookup learnt of a source)."""
    return (route[1] != "GET" or route[0] is gate) and outcome_of(route, caller) == "ok"


# The world the cases that change nothing share (built once per process, in
# its own account), and what closes it. A case that may change the world gets
# a fresh one: moto has one state per process, so the shared world is closed
# first, and the cases are ordered so that the shared ones run before.
SHARED: dict[str, Any] = {}


def close_shared() -> None:
    if "account" in SHARED:
        SHARED.pop("account").close()
        SHARED.clear()


@pytest.fixture(scope="module", autouse=True)
def _close_shared_world() -> Iterator[None]:
    yield
    close_shared()


@pytest.fixture
def world(request: pytest.FixtureRequest) -> dict[str, str]:
    params = request.node.callspec.params
    if "route" not in params or changes(params["route"], params["caller"]):
        close_shared()
        request.getfixturevalue("aws")
        return build_world()
    if "account" not in SHARED:
        account = ExitStack()
        account.enter_context(fresh_account())
        SHARED["account"] = account
        SHARED["names"] = build_world()
        SHARED["state"] = state()
    return dict(SHARED["names"])


def test_the_matrix_names_every_authenticated_route_of_the_template() -> None:
    declared = {(r.method, r.path) for r in Template.load().routes() if not r.open}
    assert declared == {(method, template_path) for _, method, template_path, *_ in ROUTES}


def route_id(route: tuple[Any, ...]) -> str:
    return f"{route[1]} {route[3]} {route[4] or ''} {route[5] or ''}"


# Every (route, caller) with the id pytest's two parametrizes gave it, those
# that change nothing (on the shared world) first.
CASES = sorted(
    ((route, caller) for route in ROUTES for caller in CALLERS),
    key=lambda case: changes(*case),
)


@pytest.mark.parametrize(("route", "caller"), CASES, ids=[f"{route_id(r)}-{c}" for r, c in CASES])
def test_route_by_caller(world: dict[str, str], route: tuple[Any, ...], caller: str) -> None:
    handler, method, _, path, body, query, _ = route
    concrete = path.format(**world)
    who = ADMIN if caller == "admin" else key_caller(world[f"{caller}_key"], caller)
    status, answer = request(handler, method, concrete, body=body, query=query, caller=who)
    outcome = outcome_of(route, caller)
    if outcome == "ok":
        assert status < 400, (status, answer)
    else:
        assert status == int(outcome), (status, answer)
        assert set(answer) <= {"message", "details"}
    if not changes(route, caller):
        # A refused call or a read changes nothing (and so the next case's world is the one built).
        assert state() == SHARED["state"], (status, answer)
    if handler is vulnerabilities:
        across_feeds(method, caller, answer)
    if caller in OUTSIDERS:
        # Nothing of the feed leaks: not its findings, packages, keys or scans
        # (a 404 may repeat the name the caller sent, nothing more; so may
        # POST /assessments, in the words an unknown feed gets: across_feeds).
        text = json.dumps(answer)
        sent = concrete + json.dumps(body or {})
        secrets_of_matrix = ["CVE-2021-23337", "CVE-ASSESSED", "lodash", world["viewer_key"], world["scan"]]
        assert not [s for s in secrets_of_matrix if s in text and s not in sent], (status, answer)
        if outcome == "ok" and "matrix" not in sent:
            assert "matrix" not in text, answer


def across_feeds(method: str, caller: str, answer: dict[str, Any]) -> None:
    """The routes across feeds answer every key, each for what its roles
    reach: the feed `matrix` is listed for its viewers and up, assessed in
    by its assessors and up, and for anyone else it is as if it did not
    exist."""
    sees = caller not in OUTSIDERS
    assesses = caller == "admin" or (sees and Role[caller] >= Role.assessor)
    if method == "GET":
        assert any(item["feed"] == "matrix" for item in answer["items"]) == sees, answer
        assert all(item["feed"] == "matrix" for item in answer["items"]) or caller == "admin", answer
    elif assesses:
        assert answer["assessed"] == [{"feed": "matrix", "vulnerability_id": "CVE-2021-23337", "version": 1}]
    elif sees:
        assert answer["refused"] == [
            {"feed": "matrix", "reason": f"Your role on feed matrix is {caller}; this needs assessor."}
        ]
    else:
        refused = [{"feed": "matrix", "reason": "There is no feed named matrix."}]
        assert answer == {"assessed": [], "refused": refused, "not_found": [], "failed": []}


FEED_ROUTES = [route for route in ROUTES if route[3].startswith("/feeds/matrix")]


@pytest.mark.parametrize("caller", ["viewer", "assessor", "manager"])
def test_roles_on_a_deleted_feed_give_nothing_on_a_new_feed_of_its_name(world: dict[str, str], caller: str) -> None:
    """Issue 27, finding 7: the feed is deleted (its purge not run yet) and
    made again under its name; the old feed's keys are no one on it."""
    assert request(feeds, "DELETE", "/feeds/matrix")[0] == 204
    assert request(feeds, "POST", "/feeds", body={"name": "matrix"})[0] == 201
    who = key_caller(world[f"{caller}_key"], caller)
    for handler, method, _, path, body, query, _ in FEED_ROUTES:
        status, answer = request(handler, method, path.format(**world), body=body, query=query, caller=who)
        assert status == 404, (method, path, status, answer)
    assert request(feeds, "GET", "/feeds", caller=who)[1]["items"] == []
    assert request(scans, "GET", f"/scans/{world['scan']}", caller=who)[0] == 404
    # The admin finds the new feed empty
    assert request(findings, "GET", "/feeds/matrix/vulnerabilities")[1]["items"] == []
    assert request(feeds, "GET", "/feeds/matrix/packages")[1]["items"] == []
    assert request(feeds, "GET", "/feeds/matrix/permissions")[1]["items"] == []
