"""make bench's meter (bench/meter.py): a client pointed at it through
botocore's own settings is counted by its app id, and the units of its
DynamoDB calls are those of the whole items, as DynamoDB bills them."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from bench.meter import Meter
from infra.provision import REGION, Provisioned


def test_the_meter_counts_calls_and_units_of_whole_items(served: tuple[Provisioned, str]) -> None:
    provisioned, url = served
    table = provisioned.table_names["PackagesTable"]
    meter = Meter(url).start()
    try:
        client: Any = boto3.client(
            "dynamodb",
            endpoint_url=meter.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(user_agent_appid="TestFunction"),
        )
        # 4 + 3 ("feed", "web") + 4 + 11 ("purl", "pkg:npm/a@1") + 4 + 5,000 ("note", …) = 5,026 bytes
        item = {"feed": {"S": "web"}, "purl": {"S": "pkg:npm/a@1"}, "note": {"S": "x" * 5000}}
        client.put_item(TableName=table, Item=item)
        # A projection does not make a read cheaper: 5,026 bytes are two 4 KB blocks, halved.
        got = client.get_item(
            TableName=table, Key={"feed": item["feed"], "purl": item["purl"]}, ProjectionExpression="purl"
        )
        assert got["Item"] == {"purl": item["purl"]}
        assert "ConsumedCapacity" not in got  # the meter's own request for it is not seen
        # A filter that keeps nothing still reads the item.
        client.query(
            TableName=table,
            KeyConditionExpression="feed = :f",
            FilterExpression="purl = :nothing",
            ExpressionAttributeValues={":f": item["feed"], ":nothing": {"S": "none"}},
            ConsistentRead=True,
        )
        client.transact_write_items(
            TransactItems=[{"Delete": {"TableName": table, "Key": {"feed": item["feed"], "purl": item["purl"]}}}]
        )
        tally = meter.snapshot()
    finally:
        meter.stop()
    assert tally.calls == {
        ("TestFunction", "dynamodb", "PutItem"): 1,
        ("TestFunction", "dynamodb", "GetItem"): 1,
        ("TestFunction", "dynamodb", "Query"): 1,
        ("TestFunction", "dynamodb", "TransactWriteItems"): 1,
    }
    units = {(operation, where, kind): amount for (_, operation, where, kind), amount in tally.units.items()}
    assert units == {
        ("PutItem", table, "write"): 5,  # 5,026 bytes: five 1 KB units
        ("PutItem", f"{table}.by_purl", "index write"): 1,  # keys only: one small entry added
        ("GetItem", table, "read"): 1.0,
        ("Query", table, "read"): 2.0,  # strongly consistent
        ("TransactWriteItems", table, "write"): 10,  # the deleted item's size, twice in a transaction
        ("TransactWriteItems", f"{table}.by_purl", "index write"): 1,
    }
    # moto's own figure is a fixed amount a call, whatever the item: 0.5 for this GetItem.
    assert tally.moto_units["GetItem"] == 0.5
