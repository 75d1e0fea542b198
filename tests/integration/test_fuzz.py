"""Fuzzing the contract: schemathesis generates requests for every operation
of GET /openapi.json, sends them to a local stack of their own, as the admin
and as a viewer of a feed, and checks each answer: no 5xx, status, headers
and body as the document declares them, and every 4xx in the contract's
error shape. Bounded: FUZZ_EXAMPLES examples an operation (default 8)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CheckContext
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.integration.conftest import RunningStack, start_stack, stop_stack, wait_for

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# make test draws the same cases every run, so a red CI run is reproducible;
# FUZZ_RANDOM=1 explores new ones (what found the float DynamoDB cannot store).
DERANDOMIZE = os.environ.get("FUZZ_RANDOM", "0") != "1"
# A schema-valid value is not always a valid one: opaque cursors, purls that
# must parse, ids that must exist. Their rejection (422, 404) is the contract's
# answer, which the status and error-body checks still verify.
# Requests the document forbids are still sent (no 5xx, documented statuses,
# the error body), but their acceptance is not a failure: the test adds the
# key to every request, so "no Authorization" never reaches the stack.
EXCLUDED = [positive_data_acceptance, negative_data_rejection]
# Valid requests, and requests the document forbids (which must be refused with a 4xx)
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


@schemathesis.check
def contract_error_body(ctx: CheckContext, response: Any, case: Any) -> bool | None:
    """Every 4xx is {"message": str, "details"?: list}."""
    if not 400 <= response.status_code < 500:
        return None
    body = response.json()
    assert isinstance(body, dict), f"a {response.status_code} whose body is not an object: {body!r}"
    assert isinstance(body.get("message"), str), f"a {response.status_code} with no message: {body!r}"
    assert set(body) <= {"message", "details"}, f"a {response.status_code} with other fields: {body!r}"
    return True


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[RunningStack, str]]:
    """A stack of its own (fuzzing changes things), with a feed `fuzz` that
    has a package, a finding and a viewer key."""
    running = start_stack()
    api, admin = running.api, running.headers()
    requests.post(f"{api}/feeds", json={"name": "fuzz"}, headers=admin, timeout=30).raise_for_status()
    viewer = requests.post(f"{api}/api-keys", json={"name": "fuzz-viewer"}, headers=admin, timeout=30).json()
    requests.put(
        f"{api}/feeds/fuzz/permissions/{viewer['id']}", json={"role": "viewer"}, headers=admin, timeout=30
    ).raise_for_status()
    source = requests.post(
        f"{api}/sources",
        json={"name": "fake", "kind": "ossindex", "url": "http://127.0.0.1:1", "token": "t"},
        headers=admin,
        timeout=30,
    )
    assert source.status_code in (201, 422), source.text  # a loopback URL may be refused; the feed needs none
    # An osv source at the stack's fake OSV, so /sources/{id} reads and changes meet both kinds
    osv = requests.get(f"{running.control}/status", timeout=10).json()["osv"]
    made = requests.post(
        f"{api}/sources", json={"name": "fake-osv", "kind": "osv", "url": osv}, headers=admin, timeout=30
    )
    assert made.status_code == 201, made.text
    requests.post(
        f"{api}/feeds/fuzz/packages", json={"purls": ["pkg:npm/lodash@4.17.20"]}, headers=admin, timeout=30
    ).raise_for_status()
    yield running, viewer["key"]
    assert stop_stack(running) == 0


def fuzz(running: RunningStack, headers: dict[str, str]) -> tuple[int, int, list[str]]:
    """Every operation of the document, EXAMPLES cases each; returns
    (operations, cases, failures). Runs them all before judging, so one run
    reports every operation that breaks the contract."""
    wait_for(lambda: requests.get(f"{running.api}/openapi.json", timeout=10).status_code == 200)
    schema = schemathesis.openapi.from_url(f"{running.api}/openapi.json")
    operations, cases, failures = 0, 0, []
    for result, mode in itertools.product(list(schema.get_all_operations()), MODES):
        operation = result.ok()
        operations += mode == GenerationMode.POSITIVE

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=DERANDOMIZE,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            nonlocal cases
            cases += 1
            case.call_and_validate(
                base_url=running.api,
                headers=headers,
                timeout=30,
                additional_checks=[contract_error_body],
                excluded_checks=EXCLUDED,
            )

        try:
            run()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE, operation.label  # nothing to break, e.g. GET /health
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collected, reported together
            # Hypothesis groups distinct failures; each one's message is what says what broke.
            found = error.exceptions if isinstance(error, BaseExceptionGroup) else (error,)
            failures.append(f"{operation.label} ({mode.value}): " + "\n".join(str(e)[:1500] for e in found))
    return operations, cases, failures


def test_every_operation_answers_the_admin_as_documented(fuzzed: tuple[RunningStack, str]) -> None:
    running, _ = fuzzed
    operations, cases, failures = fuzz(running, running.headers())
    assert operations >= 44
    assert not failures, "\n\n".join(failures)
    print(f"admin: {operations} operations, {cases} cases")


def test_every_operation_answers_a_viewer_as_documented(fuzzed: tuple[RunningStack, str]) -> None:
    running, viewer_key = fuzzed
    operations, cases, failures = fuzz(running, running.headers(viewer_key))
    assert not failures, "\n\n".join(failures)
    print(f"viewer: {operations} operations, {cases} cases")


def test_input_python_cannot_hold_is_refused_never_a_500(fuzzed: tuple[RunningStack, str]) -> None:
    """What a generator does not think of (issue 27): JSON nested past the
    recursion limit, integers of thousands of digits in a body or If-Match,
    a timestamp past year 9999 in UTC, forged cursors of the right shape."""
    running, viewer_key = fuzzed
    api, admin, viewer = running.api, running.headers(), running.headers(viewer_key)
    deep, digits = "[" * 100_000 + "]" * 100_000, "1" * 5000

    def cursor(key: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")

    forged = cursor({"entity": {"S": "feed"}, "feed": {"N": "1"}, "sk": {"S": "#feed"}})
    decisions = f"{api}/feeds/fuzz/decisions"
    feed_id = requests.get(f"{api}/feeds/fuzz", headers=admin, timeout=30).json()["id"]

    def outer(signature: str, kind: int, after: str) -> str:
        return cursor({"query": {"S": signature}, "kind": {"N": str(kind)}, "after": {"S": after}})

    def signed(*parts: str) -> str:
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    stale, expiring = signed(feed_id, "stale", ""), signed(feed_id, "expiring", "7")
    inner = cursor({"feed": {"S": feed_id}, "expires_at": {"N": "1"}, "vulnerability_id": {"S": "CVE-1"}})

    def across_cursor(score: str) -> str:
        return cursor({"query": {"S": "0" * 16}, "score": {"S": score}, "feed": {"S": "fuzz"}, "id": {"S": "CVE-1"}})

    assessment = f"{api}/feeds/fuzz/vulnerabilities/CVE-2021-23337/assessment"
    exceptions = f"{api}/feeds/fuzz/exceptions"
    cases = [
        ("POST", f"{api}/feeds/fuzz/check", viewer, '{"purls": ' + deep + "}", 400),
        ("POST", f"{api}/feeds", admin, deep, 400),
        ("POST", f"{api}/feeds", admin, '{"name": ' + digits + "}", 400),
        ("POST", f"{api}/feeds/fuzz/packages", admin, '{"purls": [' + digits + "]}", 400),
        ("PUT", assessment, admin | {"If-Match": digits}, '{"type": "ignore"}', 422),
        ("PUT", assessment, admin, '{"type": "ignore", "expires_at": "9999-12-31T23:59:59-12:00"}', 422),
        ("GET", f"{api}/feeds?cursor={forged}", admin, None, 422),
        (
            "POST",
            exceptions,
            admin,
            '{"purl": "pkg:npm/lodash", "type": "ignore", "expires_at": "9999-12-31T23:59:59-12:00"}',
            422,
        ),
        # univers raises exception classes of its own (not ValueError) for these
        ("POST", exceptions, admin, '{"purl": "pkg:nuget/x", "versions": "vers:nuget/g", "type": "ignore"}', 422),
        ("POST", exceptions, admin, '{"purl": "pkg:rpm/x", "versions": "vers:rpm/^|*nb,!n>3c", "type": "ignore"}', 422),
        (
            "POST",
            exceptions,
            admin,
            '{"purl": "pkg:npm/lodash", "vulnerability_ids": [' + digits + '], "type": "ignore"}',
            400,
        ),
        ("GET", f"{exceptions}?cursor={forged}", viewer, None, 422),
        ("GET", f"{api}/sources?cursor={cursor({'entity': {'S': 5}})}", viewer, None, 422),
        ("GET", f"{api}/api-keys?cursor={cursor({'entity': {'N': 'x'}})}", admin, None, 422),
        # The decisions' cursors: a kind that does not exist, another list's, and one of the
        # expiring list (its signature is the feed's id, state and window) whose key has the wrong types
        ("GET", f"{decisions}?state=stale&cursor={outer(stale, 9, '')}", viewer, None, 422),
        ("GET", f"{decisions}?state=stale&cursor={outer(expiring, 0, '')}", viewer, None, 422),
        ("GET", f"{decisions}?state=expiring&cursor={outer(expiring, 0, inner)}", viewer, None, 422),
        ("GET", f"{decisions}?state=expiring&within_days={digits}", viewer, None, 422),
        # Across feeds: cursors of the right keys with values no list gave out, and bodies Python cannot hold
        ("GET", f"{api}/vulnerabilities?status=unassessed&cursor={across_cursor('x' * 5000)}", viewer, None, 422),
        ("GET", f"{api}/vulnerabilities?status=unassessed&cursor={across_cursor('99999')}", admin, None, 422),
        (
            "GET",
            f"{api}/vulnerabilities?id=CVE-1&cursor={cursor({'query': {'S': 'x'}, 'feed': {'N': '1'}})}",
            viewer,
            None,
            422,
        ),
        ("POST", f"{api}/assessments", viewer, '{"feeds": ' + deep + "}", 400),
        (
            "POST",
            f"{api}/assessments",
            admin,
            '{"feeds": ["fuzz"], "vulnerability_ids": [' + digits + '], "type": "ignore"}',
            400,
        ),
        (
            "POST",
            f"{api}/assessments",
            admin,
            '{"feeds": ["fuzz"], "vulnerability_ids": ["CVE-1"], "type": "ignore", '
            '"expires_at": "9999-12-31T23:59:59-12:00"}',
            422,
        ),
    ]
    for method, url, headers, body, status in cases:
        answer = requests.request(method, url, headers=headers, data=body, timeout=30)
        assert answer.status_code == status, (method, url[:80], answer.text)
        assert set(answer.json()) <= {"message", "details"}


def test_a_query_parameter_a_route_does_not_declare_is_a_422_naming_it(fuzzed: tuple[RunningStack, str]) -> None:
    running, viewer_key = fuzzed
    for url, key in [
        (f"{running.api}/feeds/fuzz/packages?package=pkg:npm/lodash@4.17.20", None),
        (f"{running.api}/feeds/fuzz/vulnerabilities?limit=5&stauts=assessed", viewer_key),
    ]:
        answer = requests.get(url, headers=running.headers(key) if key else running.headers(), timeout=30)
        assert answer.status_code == 422, answer.text
        assert answer.json()["details"][0]["loc"][0] == "query"
