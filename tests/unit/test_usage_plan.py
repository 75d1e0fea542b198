"""Per-key throttling (issue 27, finding 1): API Gateway's usage plan, whose
keys the authorizer names, throttles each key at ApiKeyRateLimit and
ApiKeyBurstLimit; every feedguard key gets its usage plan key from the keys
function. The local gateway enforces the same from the template."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from feedguard import usage_keys
from handlers import authorizer, keys
from infra import apigw
from infra.template import Template
from tests.support import ADMIN_KEY, TEST_STACK, LambdaContext, load_event, request
from tests.unit.conftest import TEMPLATE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Function:
    """A function of the local stack, as the gateway calls it."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0

    def invoke(self, event: dict[str, Any], trigger: str, record_event: bool) -> Any:
        self.calls += 1
        return self.answer(event) if callable(self.answer) else self.answer


def allow(usage_key: str | None) -> Function:
    def policy(event: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "principalId": "k1",
            "policyDocument": {"Statement": [{"Effect": "Allow", "Resource": "arn:aws:execute-api:*"}]},
            "context": {"key_id": "k1"},
        }
        if usage_key:
            answer["usageIdentifierKey"] = usage_key
        return answer

    return Function(policy)


def gateway(usage_key: str | None, plan: apigw.UsagePlan) -> tuple[apigw.ApiGateway, Function]:
    function = Function({"statusCode": 200, "body": "{}"})
    functions: dict[str, Any] = dict.fromkeys(TEMPLATE.functions(), function)
    functions[TEMPLATE.authorizer_function()] = allow(usage_key)
    made = apigw.ApiGateway(
        routes=TEMPLATE.routes(),
        functions=functions,
        authorizer=TEMPLATE.authorizer_function(),
        identity_headers=TEMPLATE.authorizer_identity_headers(),
        gateway_responses=TEMPLATE.gateway_responses(),
        stage="v1",
        usage_plan=plan,
    )
    return made, function


def get(made: apigw.ApiGateway, path: str) -> apigw.GatewayAnswer:
    return made.handle("GET", path, [("Authorization", "Bearer x")], b"", "127.0.0.1")


def test_a_bucket_gives_its_burst_at_once_then_its_rate() -> None:
    clock = Clock()
    bucket = apigw.TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token back at 2 a second
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 60  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]


def test_every_route_but_health_and_openapi_needs_a_usage_plan_key() -> None:
    required = {(r.method, r.path) for r in TEMPLATE.routes() if r.api_key_required}
    assert {(r.method, r.path) for r in TEMPLATE.routes() if not r.api_key_required} == {
        ("GET", "/health"),
        ("GET", "/openapi.json"),
    }
    assert all(not r.open for r in TEMPLATE.routes() if (r.method, r.path) in required)


def test_a_key_past_its_burst_is_429_in_the_contract_shape_with_retry_after() -> None:
    # Given the template's usage plan at a burst of 2, and a key of the plan
    clock = Clock()
    plan = apigw.UsagePlan(rate=1, burst=2, plan_keys=lambda: {"usage-k1", "usage-k2"}, clock=clock)
    made, function = gateway("usage-k1", plan)
    # When the key calls three times at once
    answers = [get(made, "/me") for _ in range(3)]
    # Then the third is the template's THROTTLED response, and no function ran for it
    assert [a.status for a in answers] == [200, 200, 429]
    throttled = answers[2]
    configured = TEMPLATE.gateway_responses()["THROTTLED"]
    assert json.loads(throttled.body) == json.loads(configured["ResponseTemplates"]["application/json"])
    assert set(json.loads(throttled.body)) == {"message"}
    assert dict(throttled.headers)["Retry-After"] == "1"
    assert function.calls == 2
    # And a second later the key may call again; open routes are never throttled
    clock.now += 1
    assert get(made, "/me").status == 200
    assert all(get(made, "/health").status == 200 for _ in range(5))


def test_each_key_has_its_own_bucket() -> None:
    plan = apigw.UsagePlan(rate=1, burst=1, plan_keys=lambda: {"usage-k1", "usage-k2"}, clock=Clock())
    first, _ = gateway("usage-k1", plan)
    second, _ = gateway("usage-k2", plan)
    assert [get(first, "/me").status, get(first, "/me").status] == [200, 429]
    assert get(second, "/me").status == 200


def test_a_key_the_plan_does_not_have_is_refused_and_one_added_later_is_read_again() -> None:
    members = {"usage-k1"}
    plan = apigw.UsagePlan(rate=10, burst=10, plan_keys=lambda: set(members), clock=Clock())
    made, _ = gateway("usage-new", plan)
    refused = get(made, "/me")
    assert refused.status == 403
    assert set(json.loads(refused.body)) == {"message"}
    members.add("usage-new")
    assert get(made, "/me").status == 200
    nameless, _ = gateway(None, plan)
    assert get(nameless, "/me").status == 403


def test_the_template_throttles_each_key_by_its_parameters() -> None:
    template = Template.load(parameters={"ApiKeyRateLimit": "3", "ApiKeyBurstLimit": "7"})
    ((_, plan),) = template.usage_plans().items()
    assert plan["Throttle"] == {"RateLimit": {"Ref": "ApiKeyRateLimit"}, "BurstLimit": {"Ref": "ApiKeyBurstLimit"}}
    assert {"ApiKeyRateLimit": "3", "ApiKeyBurstLimit": "7"}.items() <= template.parameter_values().items()
    _, api = template.api()
    assert api["ApiKeySourceType"] == "AUTHORIZER"


def plan_key_values(aws: Any) -> set[str]:
    client = boto3.client("apigateway")
    (plan_id,) = aws.usage_plan_ids.values()
    return {item["value"] for item in client.get_usage_plan_keys(usagePlanId=plan_id)["items"]}


def test_a_new_key_gets_its_usage_plan_key_and_loses_it_when_deleted(aws: Any) -> None:
    # Given a key made by the admin
    status, made = request(keys, "POST", "/api-keys", body={"name": "ci-bot"})
    assert status == 201
    # Then API Gateway's usage plan has a key named and valued after it
    assert usage_keys.value_of(made["id"]) in plan_key_values(aws)
    # And the authorizer names that key for it
    event = load_event("authorizer-request.json")
    event["headers"] = {"Authorization": f"Bearer {made['key']}"}
    assert authorizer.handler(event, LambdaContext())["usageIdentifierKey"] == usage_keys.value_of(made["id"])
    # When it is deleted, its API Gateway key goes too
    assert request(keys, "DELETE", f"/api-keys/{made['id']}")[0] == 204
    names = {item["name"] for item in boto3.client("apigateway").get_api_keys()["items"]}
    assert usage_keys.value_of(made["id"]) not in names
    assert usage_keys.value_of(made["id"]) not in plan_key_values(aws)


def test_the_admin_key_is_named_by_the_template_s_admin_usage_key(aws: Any) -> None:
    event = load_event("authorizer-request.json")
    event["headers"] = {"Authorization": f"Bearer {ADMIN_KEY}"}
    named = authorizer.handler(event, LambdaContext())["usageIdentifierKey"]
    assert named == f"{TEST_STACK}-feedguard-usage-admin"
    assert named in plan_key_values(aws)


def test_a_key_whose_store_fails_leaves_no_usage_plan_key(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from feedguard.dal import keys as key_store

    def broken(*args: Any) -> None:
        raise RuntimeError("DynamoDB did not answer")

    monkeypatch.setattr(key_store, "create", broken)
    assert request(keys, "POST", "/api-keys", body={"name": "ci-bot"})[0] == 500
    assert plan_key_values(aws) == {f"{TEST_STACK}-feedguard-usage-admin"}
