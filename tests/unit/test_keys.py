"""API keys: POST/GET/DELETE /api-keys, handled under moto with events/ events."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest

from handlers import authorizer, keys
from tests.support import (
    ADMIN,
    ADMIN_KEY,
    LambdaContext,
    api_event,
    body_of,
    counted_dynamodb_calls,
    load_event,
    request,
)

VIEWER = {"key_id": "k0000000000000000000a", "key_name": "viewer-bot", "admin": "false"}


def create(name: str = "ci-bot") -> dict[str, Any]:
    response = keys.handler(api_event("api-keys-create.json", body={"name": name}), LambdaContext())
    assert response["statusCode"] == 201, response
    return dict(body_of(response))


def stored_items(aws: Any) -> list[dict[str, Any]]:
    table = aws.table_names["KeysTable"]
    return list(boto3.client("dynamodb").scan(TableName=table)["Items"])


def authorize(key: str) -> dict[str, Any]:
    event = load_event("authorizer-request.json")
    event["headers"]["Authorization"] = f"Bearer {key}"
    return dict(authorizer.handler(event, LambdaContext()))


def test_create_returns_the_key_once_and_stores_only_its_hash(aws: Any) -> None:
    # Given the admin / When a key is created
    created = create("ci-bot")
    # Then the answer carries the contract's fields
    assert set(created) == {"id", "name", "key", "created_at"}
    assert created["name"] == "ci-bot"
    assert created["key"].startswith(f"fgk_{created['id']}_")
    # And the table holds its SHA-256, never the key
    (item,) = stored_items(aws)
    assert created["key"] not in json.dumps(item)
    assert len(item["key_hash"]["S"]) == 64


def test_a_created_key_authenticates_with_its_id_and_name(aws: Any) -> None:
    created = create("ci-bot")
    policy = authorize(created["key"])
    assert policy["principalId"] == created["id"]
    assert policy["context"] == {"key_id": created["id"], "key_name": "ci-bot", "admin": "false"}
    assert policy["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_list_pages_with_a_cursor_and_never_shows_keys(aws: Any) -> None:
    # Given three keys
    made = [create(f"bot-{n}") for n in range(3)]
    # When they are listed two at a time
    first = body_of(keys.handler(api_event("api-keys-list.json", query={"limit": "2"}), LambdaContext()))
    second = body_of(
        keys.handler(
            api_event("api-keys-list.json", query={"limit": "2", "cursor": first["next_cursor"]}), LambdaContext()
        )
    )
    # Then every key appears once, in creation order, with no secret, and the last page has no cursor
    listed = [item["id"] for item in first["items"] + second["items"]]
    assert listed == [key["id"] for key in made]
    assert second["next_cursor"] is None
    assert all(set(item) == {"id", "name", "created_at"} for item in first["items"] + second["items"])


def test_deleted_key_stops_working_at_once(aws: Any) -> None:
    created = create()
    event = api_event("api-keys-delete.json", path_parameters={"id": created["id"]})
    response = keys.handler(event, LambdaContext())
    assert response["statusCode"] == 204
    with pytest.raises(authorizer.Unauthorized):
        authorize(created["key"])


def test_deleting_a_key_revokes_its_feed_roles(aws: Any) -> None:
    from feedguard.dal import feeds as feed_store
    from feedguard.dal import permissions

    created = create()
    feed_store.create("payments", None, "block")
    permissions.grant(feed_store.require("payments"), created["id"], "assessor")
    keys.handler(api_event("api-keys-delete.json", path_parameters={"id": created["id"]}), LambdaContext())
    assert permissions.role_of(feed_store.require("payments"), created["id"]) is None


def test_deleting_an_unknown_key_is_404(aws: Any) -> None:
    response = keys.handler(api_event("api-keys-delete.json", path_parameters={"id": "knope"}), LambdaContext())
    assert response["statusCode"] == 404
    assert body_of(response)["message"]


@pytest.mark.parametrize(
    ("event_name", "path_parameters"),
    [("api-keys-create.json", None), ("api-keys-list.json", None), ("api-keys-delete.json", {"id": "k1"})],
)
def test_only_the_admin_may_manage_keys(aws: Any, event_name: str, path_parameters: dict[str, str] | None) -> None:
    event = api_event(event_name, as_key=VIEWER, path_parameters=path_parameters)
    response = keys.handler(event, LambdaContext())
    assert response["statusCode"] == 403
    assert body_of(response) == {"message": "Only the admin key may do this."}
    assert stored_items(aws) == []


@pytest.mark.parametrize(
    ("raw_body", "status"),
    [
        ('{"name": ', 400),
        ("not json at all", 400),
        ('{"name": 5}', 422),
        ('{"name": ""}', 422),
        ('{"name": "   "}', 422),
        ('{"name": "' + "x" * 101 + '"}', 422),
        ("{}", 422),
        ('{"name": "ok", "admin": true}', 422),
        ("[]", 422),
        ('"ci-bot"', 422),
        ('{"name": "' + "x" * (6 * 1024 * 1024) + '"}', 413),
    ],
)
def test_bad_input_gets_the_contract_error_and_stores_nothing(aws: Any, raw_body: str, status: int) -> None:
    # When a malformed, mistyped or huge body is sent
    response = keys.handler(api_event("api-keys-create.json", raw_body=raw_body), LambdaContext())
    # Then the status is the contract's, the body is {"message", "details"?}, and nothing is stored
    assert response["statusCode"] == status
    body = body_of(response)
    assert isinstance(body["message"], str)
    assert set(body) <= {"message", "details"}
    assert stored_items(aws) == []


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "501"}, {"limit": "x"}, {"cursor": "%%%"}])
def test_bad_list_parameters_are_422(aws: Any, query: dict[str, str]) -> None:
    response = keys.handler(api_event("api-keys-list.json", query=query), LambdaContext())
    assert response["statusCode"] == 422
    assert "message" in body_of(response)


def test_a_request_without_the_authorizers_context_is_401(aws: Any) -> None:
    event = api_event("api-keys-list.json")
    del event["requestContext"]["authorizer"]
    assert keys.handler(event, LambdaContext())["statusCode"] == 401


def test_admin_key_is_read_from_secrets_manager(aws: Any) -> None:
    assert authorize(ADMIN_KEY)["context"] == {"key_id": "admin", "key_name": "admin", "admin": "true"}


@pytest.mark.parametrize(
    ("raw_bytes", "status"),
    [
        (b"\xff\xfe\x1b\t;w", 400),  # not UTF-8: found by fuzzing, once a 500
        ('{"name": "ünïcode"}'.encode(), 201),  # UTF-8 that API Gateway still base64-encodes
    ],
)
def test_a_base64_encoded_body_is_json_only_if_it_is_utf8(aws: Any, raw_bytes: bytes, status: int) -> None:
    event = api_event("api-keys-create.json")
    event["body"], event["isBase64Encoded"] = base64.b64encode(raw_bytes).decode(), True
    response = keys.handler(event, LambdaContext())
    assert response["statusCode"] == status
    assert "message" in body_of(response) or status == 201


def test_me_names_a_key_as_the_authorizer_identified_it_without_reading_a_table(aws: Any) -> None:
    # Given a key, and what the authorizer puts in the request's context for it
    created = create("console-user")
    context = authorize(created["key"])["context"]
    # When that key asks who it is
    with counted_dynamodb_calls() as calls:
        status, me = request(keys, "GET", "/me", caller=context)
    # Then it is that key, not the admin, and no table was read for it
    assert (status, me) == (200, {"id": created["id"], "name": "console-user", "admin": False})
    assert sum(calls.values()) == 0


def test_me_says_the_admin_key_is_the_admin(aws: Any) -> None:
    # Given the admin key's context / When it asks who it is / Then it is the admin
    context = authorize(ADMIN_KEY)["context"]
    assert context == ADMIN
    assert request(keys, "GET", "/me", caller=context) == (200, {"id": "admin", "name": "admin", "admin": True})


def test_me_without_the_authorizers_context_is_401(aws: Any) -> None:
    event = api_event("api-keys-list.json")
    event["path"] = event["resource"] = "/me"
    event["queryStringParameters"] = event["multiValueQueryStringParameters"] = None  # /me takes none
    del event["requestContext"]["authorizer"]
    response = keys.handler(event, LambdaContext())
    assert response["statusCode"] == 401
    assert set(body_of(response)) == {"message"}
