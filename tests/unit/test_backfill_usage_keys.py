"""Keys made before per-key throttling get their usage plan key from
infra.backfill_usage_keys, once; keys that have one are left alone."""

from __future__ import annotations

from typing import Any

import boto3

from feedguard.dal.models import ApiKey
from handlers import keys
from infra.backfill_usage_keys import backfill
from tests.support import TEST_STACK, request


def plan_values(aws: Any) -> set[str]:
    (plan_id,) = aws.usage_plan_ids.values()
    items = boto3.client("apigateway").get_usage_plan_keys(usagePlanId=plan_id)["items"]
    return {item["value"] for item in items}


def test_keys_made_before_throttling_get_a_usage_plan_key_once(aws: Any) -> None:
    # Given a key made through the API (it has its usage plan key) and two
    # stored before per-key throttling (they have none)
    made = request(keys, "POST", "/api-keys", body={"name": "new-bot"})[1]["id"]
    for key_id in ("kold1", "kold2"):
        ApiKey(id=key_id, name=key_id, key_hash="x", created_at="2026-11-01T00:00:00Z").save()
    (plan_id,) = aws.usage_plan_ids.values()
    table = aws.table_names["KeysTable"]
    apigateway, dynamodb = boto3.client("apigateway"), boto3.client("dynamodb")
    # When the backfill runs, twice
    first = backfill(apigateway, dynamodb, TEST_STACK, table, plan_id)
    second = backfill(apigateway, dynamodb, TEST_STACK, table, plan_id)
    # Then the old keys got one each, the first time only, and the new key kept its own
    assert (sorted(first), second) == (["kold1", "kold2"], [])
    prefix = f"{TEST_STACK}-feedguard-usage-"
    assert {f"{prefix}kold1", f"{prefix}kold2", f"{prefix}{made}", f"{prefix}admin"} == plan_values(aws)
