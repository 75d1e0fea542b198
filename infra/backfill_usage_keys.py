"""Gives every API key of a deployed stack its usage plan key, once, after
the upgrade that brought per-key throttling: keys made before it have none,
and API Gateway refuses them (INVALID_API_KEY) until they do. Keys made
since get theirs from the keys function; running this again changes nothing.

    python -m infra.backfill_usage_keys [--stack feedguard] [--region us-east-1]

The stack and region default to samconfig.toml's; it uses your own AWS
credentials (cloudformation:DescribeStackResource, dynamodb:Query on the
keys table's by_entity index, apigateway GET and POST on /apikeys and the
usage plan's keys).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import boto3

from infra.deploy_console import samconfig_defaults

# As template.yaml's USAGE_KEY_PREFIX and AdminUsageKey name them.
SUFFIX = "-feedguard-usage-"


def key_ids(dynamodb: Any, table: str) -> list[str]:
    """Every API key's id, from the keys table's by_entity index."""
    ids = []
    for page in dynamodb.get_paginator("query").paginate(
        TableName=table,
        IndexName="by_entity",
        KeyConditionExpression="entity = :entity",
        ExpressionAttributeValues={":entity": {"S": "api-key"}},
        ProjectionExpression="id",
    ):
        ids += [item["id"]["S"] for item in page["Items"]]
    return ids


def backfill(apigateway: Any, dynamodb: Any, stack: str, table: str, plan_id: str) -> list[str]:
    """Makes the usage plan key of each key that lacks one; their ids."""
    in_plan: set[str] = set()
    for page in apigateway.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan_id):
        in_plan.update(item["value"] for item in page.get("items", []))
    made = []
    for key_id in key_ids(dynamodb, table):
        value = f"{stack}{SUFFIX}{key_id}"
        if value in in_plan:
            continue
        api_key = apigateway.create_api_key(name=value, value=value, enabled=True)
        apigateway.create_usage_plan_key(usagePlanId=plan_id, keyId=api_key["id"], keyType="API_KEY")
        made.append(key_id)
    return made


def main(argv: list[str] | None = None) -> int:
    stack, region = samconfig_defaults()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default=stack)
    parser.add_argument("--region", default=region)
    args = parser.parse_args(argv)
    cloudformation = boto3.client("cloudformation", region_name=args.region)

    def physical(logical_id: str) -> str:
        found = cloudformation.describe_stack_resource(StackName=args.stack, LogicalResourceId=logical_id)
        return str(found["StackResourceDetail"]["PhysicalResourceId"])

    made = backfill(
        boto3.client("apigateway", region_name=args.region),
        boto3.client("dynamodb", region_name=args.region),
        args.stack,
        physical("KeysTable"),
        physical("UsagePlan"),
    )
    print(f"{len(made)} key(s) given a usage plan key" + (f": {', '.join(made)}" if made else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
