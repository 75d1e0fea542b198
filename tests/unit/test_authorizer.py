"""The REQUEST authorizer: only the admin key and live API keys pass."""

from __future__ import annotations

from typing import Any

import pytest

from feedguard import keys
from feedguard.dal import keys as key_store
from handlers import authorizer
from tests.support import ADMIN_KEY, LambdaContext, load_event


def request(authorization: str | None, header_name: str = "Authorization") -> dict[str, Any]:
    event = load_event("authorizer-request.json")
    event["headers"] = {"Host": "127.0.0.1:3000"}
    if authorization is not None:
        event["headers"][header_name] = authorization
    return event


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic {ADMIN_KEY}",
        ADMIN_KEY,
        f"Bearer {ADMIN_KEY}x",
        "Bearer fgk_",
        "Bearer fgk_k1_",
    ],
)
def test_missing_or_unknown_keys_are_unauthorized(aws: Any, authorization: str | None) -> None:
    with pytest.raises(authorizer.Unauthorized, match=r"^Unauthorized$"):
        authorizer.handler(request(authorization), LambdaContext())


def test_a_key_with_a_valid_id_but_a_wrong_secret_is_unauthorized(aws: Any) -> None:
    issued = keys.issue()
    key_store.create(issued.id, "ci-bot", issued.key_hash)
    forged = issued.key[:-4] + "AAAA"
    with pytest.raises(authorizer.Unauthorized):
        authorizer.handler(request(f"Bearer {forged}"), LambdaContext())


@pytest.mark.parametrize("header_name", ["Authorization", "authorization", "AUTHORIZATION"])
def test_the_header_name_and_scheme_are_case_insensitive(aws: Any, header_name: str) -> None:
    policy = authorizer.handler(request(f"bearer {ADMIN_KEY}", header_name), LambdaContext())
    assert policy["principalId"] == "admin"


def test_the_policy_allows_every_route_of_the_stage(aws: Any) -> None:
    policy = authorizer.handler(request(f"Bearer {ADMIN_KEY}"), LambdaContext())
    (statement,) = policy["policyDocument"]["Statement"]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": "arn:aws:execute-api:us-east-1:123456789012:local/v1/*",
    }
