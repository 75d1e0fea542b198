"""What infra/moto_patches.py is for: DynamoDB's requests from concurrent
clients behave as DynamoDB's do, in process (mock_aws) and on the local
stack's moto server. Each test fails on unpatched moto (see the module)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from infra.stack import free_port

ITEMS = 3000  # moto deep-copies the table for each transaction: a copy long enough to be written into


@pytest.fixture(params=["mock_aws", "server"])
def dynamodb(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A DynamoDB client on moto in this process, or on moto's threaded server."""
    retries = Config(retries={"max_attempts": 1})  # an error is the test's, not retried away
    if request.param == "mock_aws":
        with mock_aws():
            yield boto3.client("dynamodb", config=retries)
        return
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", config=retries)
    finally:
        server.stop()


def make_table(dynamodb: Any, items: int) -> str:
    name = f"patched-{threading.get_ident()}-{items}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for number in range(0, items, 25):
        requests = [{"PutRequest": {"Item": {"pk": {"S": f"old-{n}"}}}} for n in range(number, min(number + 25, items))]
        dynamodb.batch_write_item(RequestItems={name: requests})
    return name


def run_together(*work: Any) -> list[BaseException]:
    """Runs each callable on a thread of its own, all at once; the errors they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(work), timeout=30)

    def run(one: Any) -> None:
        start.wait()
        try:
            one()
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=run, args=(one,)) for one in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_writes_during_a_cancelled_transaction_are_kept_and_fail_nothing(dynamodb: Any) -> None:
    # Given a table, and transactions on it that are cancelled (their check fails)
    table = make_table(dynamodb, ITEMS)

    def cancelled_transactions() -> None:
        for _ in range(3):
            with pytest.raises(ClientError) as refused:
                dynamodb.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": table, "Item": {"pk": {"S": "written-by-the-transaction"}}}},
                        {
                            "ConditionCheck": {
                                "TableName": table,
                                "Key": {"pk": {"S": "old-0"}},
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
            assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"

    def puts() -> None:
        for number in range(100):
            dynamodb.put_item(TableName=table, Item={"pk": {"S": f"new-{number}"}})

    # When another client writes while they run
    errors = run_together(cancelled_transactions, puts)

    # Then nothing failed, every write is there, and the cancelled transactions wrote nothing
    assert errors == []
    for number in range(100):
        assert "Item" in dynamodb.get_item(TableName=table, Key={"pk": {"S": f"new-{number}"}})
    assert "Item" not in dynamodb.get_item(TableName=table, Key={"pk": {"S": "written-by-the-transaction"}})


def test_of_transactions_conditioned_on_one_item_s_absence_one_succeeds(dynamodb: Any) -> None:
    # Given a table with enough items that a transaction takes a while
    table = make_table(dynamodb, ITEMS // 3)
    succeeded: list[int] = []
    refused: list[str] = []

    def claim(number: int) -> None:
        try:
            dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": table,
                            "Item": {"pk": {"S": "claim"}, "by": {"N": str(number)}},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                ]
            )
            succeeded.append(number)
        except ClientError as error:
            refused.append(error.response["Error"]["Code"])

    # When eight clients claim the item at once
    errors = run_together(*(lambda number=number: claim(number) for number in range(8)))

    # Then one did, and the item is its
    assert errors == []
    assert len(succeeded) == 1
    assert refused == ["TransactionCanceledException"] * 7
    item = dynamodb.get_item(TableName=table, Key={"pk": {"S": "claim"}})["Item"]
    assert item["by"] == {"N": str(succeeded[0])}
