"""Per-key throttling: each feedguard key has an API Gateway API key in the
stack's usage plan, whose rate and burst API Gateway enforces per key. The
authorizer names it (`usageIdentifierKey`); the keys function makes it with
the key and deletes it with the key. Its name and value are USAGE_KEY_PREFIX
and the key's id: not a credential, since with ApiKeySourceType AUTHORIZER
no caller can present an API Gateway key."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import boto3


def value_of(key_id: str) -> str:
    """The API Gateway key (name and value) of feedguard key `key_id` (or `admin`)."""
    return os.environ["USAGE_KEY_PREFIX"] + key_id


@cache
def _client() -> Any:
    return boto3.client("apigateway")


@cache
def _plan_id() -> str:
    name = os.environ["USAGE_PLAN_NAME"]
    for page in _client().get_paginator("get_usage_plans").paginate():
        for plan in page.get("items", []):
            if plan.get("name") == name:
                return str(plan["id"])
    raise LookupError(f"API Gateway has no usage plan named {name}")


def create(key_id: str) -> str:
    """Makes the key's API Gateway key in the usage plan; its id."""
    value = value_of(key_id)
    made = _client().create_api_key(
        name=value, value=value, enabled=True, description="A feedguard key's usage plan key (not a credential)."
    )
    try:
        _client().create_usage_plan_key(usagePlanId=_plan_id(), keyId=made["id"], keyType="API_KEY")
    except Exception:
        _client().delete_api_key(apiKey=made["id"])
        raise
    return str(made["id"])


def delete(key_id: str) -> None:
    """Deletes the key's API Gateway key, if it has one, out of the plan first."""
    value = value_of(key_id)
    for page in _client().get_paginator("get_api_keys").paginate(nameQuery=value):
        for item in page.get("items", []):
            if item.get("name") == value:
                try:
                    _client().delete_usage_plan_key(usagePlanId=_plan_id(), keyId=item["id"])
                except _client().exceptions.NotFoundException:
                    pass  # not in the plan (its creation failed half-way)
                _client().delete_api_key(apiKey=item["id"])


def clear_caches() -> None:
    """Forgets the plan's id and the client (tests: a new moto account each)."""
    _plan_id.cache_clear()
    _client.cache_clear()
