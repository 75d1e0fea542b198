"""The key routes, /health and /openapi.json over HTTP on the local stack."""

from __future__ import annotations

import re

import requests
from openapi_spec_validator import validate

from infra.template import Template
from tests.integration.conftest import RunningStack


def test_health_needs_no_key(stack: RunningStack) -> None:
    response = requests.get(f"{stack.api}/health", timeout=10)
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_openapi_document_is_valid_and_open(stack: RunningStack) -> None:
    response = requests.get(f"{stack.api}/openapi.json", timeout=10)
    assert response.status_code == 200
    document = response.json()
    validate(document)
    assert {"/health", "/openapi.json", "/api-keys", "/api-keys/{id}"} <= set(document["paths"])
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_api_keys_is_401_without_a_key_and_200_with_the_admin_key(stack: RunningStack) -> None:
    assert requests.get(f"{stack.api}/api-keys", timeout=10).status_code == 401
    refused = requests.get(f"{stack.api}/api-keys", headers=stack.headers("not-a-key"), timeout=10)
    assert (refused.status_code, set(refused.json())) == (401, {"message"})
    assert requests.get(f"{stack.api}/api-keys", headers=stack.headers(), timeout=10).status_code == 200


def test_a_key_works_until_it_is_deleted(stack: RunningStack) -> None:
    # Given a new key
    created = requests.post(f"{stack.api}/api-keys", json={"name": "ci-bot"}, headers=stack.headers(), timeout=10)
    assert created.status_code == 201
    key = created.json()
    # Then it authenticates, but may not manage keys
    assert requests.get(f"{stack.api}/api-keys", headers=stack.headers(key["key"]), timeout=10).status_code == 403
    listed = requests.get(f"{stack.api}/api-keys", headers=stack.headers(), timeout=10).json()
    assert {"id": key["id"], "name": "ci-bot", "created_at": key["created_at"]} in listed["items"]
    # When it is deleted, it stops working at once
    deleted = requests.delete(f"{stack.api}/api-keys/{key['id']}", headers=stack.headers(), timeout=10)
    assert deleted.status_code == 204
    assert requests.get(f"{stack.api}/api-keys", headers=stack.headers(key["key"]), timeout=10).status_code == 401


def test_unknown_routes_are_404_as_on_api_gateway(stack: RunningStack) -> None:
    for method, path in [("GET", "/nope"), ("PUT", "/api-keys"), ("GET", "/api-keys/x/y")]:
        response = requests.request(method, f"{stack.api}{path}", headers=stack.headers(), timeout=10)
        assert (response.status_code, response.json()) == (404, {"message": "No such route."})


def test_bad_input_gets_the_contract_error_and_stores_nothing(stack: RunningStack) -> None:
    before = requests.get(f"{stack.api}/api-keys", params={"limit": 500}, headers=stack.headers(), timeout=10).json()
    post = f"{stack.api}/api-keys"
    json_headers = {**stack.headers(), "Content-Type": "application/json"}
    cases = [
        (b'{"name": ', 400),
        (b'{"name": 5}', 422),
        (b'{"name": ["a"]}', 422),
        (b'{"nom": "typo"}', 422),
        (b'{"name": "' + b"x" * (7 * 1024 * 1024) + b'"}', 413),
    ]
    for body, status in cases:
        response = requests.post(post, data=body, headers=json_headers, timeout=30)
        assert response.status_code == status, (body[:30], response.text)
        assert isinstance(response.json()["message"], str)
    after = requests.get(f"{stack.api}/api-keys", params={"limit": 500}, headers=stack.headers(), timeout=10).json()
    assert after == before


def test_a_body_sent_as_a_form_is_read_as_json(stack: RunningStack) -> None:
    # curl -d sends application/x-www-form-urlencoded
    response = requests.post(
        f"{stack.api}/api-keys",
        data='{"name": "from-curl"}',
        headers={**stack.headers(), "Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert response.status_code == 201
    assert response.json()["name"] == "from-curl"


def test_every_authenticated_route_is_401_with_no_key_or_a_deleted_key_and_runs_no_handler(
    stack: RunningStack,
) -> None:
    deleted = requests.post(f"{stack.api}/api-keys", json={"name": "soon-gone"}, headers=stack.headers(), timeout=10)
    gone = deleted.json()
    assert requests.delete(f"{stack.api}/api-keys/{gone['id']}", headers=stack.headers(), timeout=10).status_code == 204
    routes = [route for route in Template.load().routes() if not route.open]
    handlers_before = {name: len(stack.invocations(name)) for name in {route.function for route in routes}}
    for route in routes:
        path = re.sub(r"\{[^}]+\}", "anything", route.path)
        for headers in ({}, stack.headers(gone["key"]), {"Authorization": "Basic Zm9vOmJhcg=="}):
            answer = requests.request(route.method, f"{stack.api}{path}", json={}, headers=headers, timeout=10)
            assert (answer.status_code, set(answer.json())) == (401, {"message"}), (route, headers, answer.text)
    # The authorizer refused them all: no handler ran
    assert {name: len(stack.invocations(name)) for name in handlers_before} == handlers_before


def test_me_names_the_calling_key_and_stops_with_it(stack: RunningStack) -> None:
    # Given the admin key and a new key
    admin = requests.get(f"{stack.api}/me", headers=stack.headers(), timeout=10)
    created = requests.post(f"{stack.api}/api-keys", json={"name": "console-me"}, headers=stack.headers(), timeout=10)
    key = created.json()
    # When each asks who it is
    me = requests.get(f"{stack.api}/me", headers=stack.headers(key["key"]), timeout=10)
    # Then each is named, and only the admin key is the admin
    assert (admin.status_code, admin.json()) == (200, {"id": "admin", "name": "admin", "admin": True})
    assert (me.status_code, me.json()) == (200, {"id": key["id"], "name": "console-me", "admin": False})
    # And once the key is deleted it is nobody
    assert requests.delete(f"{stack.api}/api-keys/{key['id']}", headers=stack.headers(), timeout=10).status_code == 204
    gone = requests.get(f"{stack.api}/me", headers=stack.headers(key["key"]), timeout=10)
    assert (gone.status_code, set(gone.json())) == (401, {"message"})
