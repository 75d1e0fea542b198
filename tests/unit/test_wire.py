"""dal.wire sends and reads what botocore would: each call is made on a
client with the direct path and on one without, and the request bodies,
headers and answers compared (no network: a before-send handler answers)."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import datetime
from functools import cache
from typing import Any

import botocore.session
import jmespath
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from feedguard.dal import wire
from feedguard.dal.models import connection


class Answered:
    """A DynamoDB client whose requests are kept and answered with `body`."""

    def __init__(self, direct: bool) -> None:
        session = botocore.session.get_session()
        self.client = session.create_client(
            "dynamodb",
            region_name="us-east-1",
            endpoint_url="http://dynamodb.invalid",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(parameter_validation=False),  # as PynamoDB makes it
        )
        self.requests: list[Any] = []
        self.status, self.body = 200, b"{}"
        self.client.meta.events.register("before-send.dynamodb", self._answer)
        if direct:
            wire.install(self.client)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        self.requests.append(request)
        raw = type("Raw", (), {"stream": lambda self, **_: iter([])})()
        answer = AWSResponse(request.url, self.status, {"x-amzn-requestid": "r"}, raw)
        answer._content = self.body
        return answer

    def call(self, operation: str, params: dict[str, Any], status: int, answer: Any) -> Any:
        self.status, self.body = status, json.dumps(answer or {}).encode()
        try:
            return strip(self.client._make_api_call(operation, copy.deepcopy(params)))
        except ClientError as error:
            return type(error).__name__, strip(error.response)


@cache
def client(direct: bool) -> Answered:
    return Answered(direct)


def strip(parsed: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in parsed.items() if key != "ResponseMetadata"}


def sent(client: Answered) -> tuple[Any, str, str]:
    request = client.requests[-1]
    return json.loads(request.body), request.headers["X-Amz-Target"], request.headers["Content-Type"]


def both(operation: str, params: dict[str, Any], status: int = 200, answer: Any = None) -> tuple[Any, Any]:
    """Makes the call both ways; returns what each answered and sent."""
    made = []
    for direct in (True, False):
        answered = client(direct).call(operation, params, status, answer)
        made.append((answered, sent(client(direct))))
    return made[0], made[1]


ITEM = {
    "pk": {"S": "feed#demo"},
    "sk": {"S": "pkg:npm/left-pad@1.3.0"},
    "count": {"N": "12"},
    "score": {"N": "9.8"},
    "ids": {"SS": ["CVE-2024-1", "sonatype-2023-7"]},
    "bands": {"NS": ["1", "7"]},
    "history": {"L": [{"M": {"at": {"S": "2026-11-26T21:00:00Z"}, "open": {"BOOL": True}}}, {"NULL": True}]},
    "title": {"S": "Prototype pollution — “quoted”, \u00e9, \U0001f600"},
    "empty": {"S": ""},
}


CALLS: list[tuple[str, dict[str, Any], Any]] = [
    (
        "PutItem",
        {
            "TableName": "findings",
            "Item": ITEM,
            "ConditionExpression": "attribute_not_exists(#pk) OR #n < :n",
            "ExpressionAttributeNames": {"#pk": "pk", "#n": "count"},
            "ExpressionAttributeValues": {":n": {"N": "3"}},
            "ReturnConsumedCapacity": "TOTAL",
        },
        {"ConsumedCapacity": {"TableName": "findings", "CapacityUnits": 1.0}},
    ),
    (
        "UpdateItem",
        {
            "TableName": "scans",
            "Key": {"pk": {"S": "s1"}, "sk": {"S": "#scan"}},
            "UpdateExpression": "ADD batches_done :one SET #s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":s": {"S": "running"}},
            "ReturnValues": "ALL_NEW",
        },
        {"Attributes": ITEM},
    ),
    (
        "GetItem",
        {"TableName": "scans", "Key": {"pk": {"S": "s1"}, "sk": {"S": "#scan"}}, "ConsistentRead": True},
        {"Item": ITEM},
    ),
    ("GetItem", {"TableName": "scans", "Key": {"pk": {"S": "gone"}, "sk": {"S": "#scan"}}}, {}),
    (
        "Query",
        {
            "TableName": "packages",
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "feed#demo"}},
            "ProjectionExpression": "purl, vulnerability_ids",
            "Limit": 1000,
            "ExclusiveStartKey": {"pk": {"S": "feed#demo"}, "sk": {"S": "pkg:npm/a@1"}},
        },
        {"Items": [ITEM, ITEM], "Count": 2, "ScannedCount": 2, "LastEvaluatedKey": {"pk": {"S": "x"}}},
    ),
    (
        "BatchWriteItem",
        {
            "RequestItems": {
                "cache": [{"PutRequest": {"Item": ITEM}}, {"DeleteRequest": {"Key": {"pk": {"S": "old"}}}}],
                "packages": [{"PutRequest": {"Item": {"pk": {"S": "p"}}}}],
            },
            "ReturnConsumedCapacity": "TOTAL",
        },
        {
            "UnprocessedItems": {"cache": [{"DeleteRequest": {"Key": {"pk": {"S": "old"}}}}]},
            "ConsumedCapacity": [{"TableName": "cache", "CapacityUnits": 25.0}],
        },
    ),
    (
        "BatchGetItem",
        {"RequestItems": {"cache": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}], "ProjectionExpression": "pk"}}},
        {"Responses": {"cache": [ITEM]}, "UnprocessedKeys": {"cache": {"Keys": [{"pk": {"S": "b"}}]}}},
    ),
    (
        "TransactWriteItems",
        {
            "TransactItems": [
                {"ConditionCheck": {"TableName": "scans", "Key": {"pk": {"S": "s"}}, "ConditionExpression": "a = b"}},
                {
                    "Update": {
                        "TableName": "scans",
                        "Key": {"pk": {"S": "s"}},
                        "UpdateExpression": "SET a = :a",
                        "ExpressionAttributeValues": {":a": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": "markers", "Item": ITEM}},
                {"Delete": {"TableName": "markers", "Key": {"pk": {"S": "m"}}}},
            ],
            "ClientRequestToken": "c3d9b7d0-the-callers-own-token",
        },
        {},
    ),
]


@pytest.mark.parametrize(("operation", "params", "answer"), CALLS, ids=[call[0] for call in CALLS])
def test_a_call_sends_and_reads_what_botocore_would(operation: str, params: dict[str, Any], answer: Any) -> None:
    direct, botocores = both(operation, params, answer=answer)
    assert direct == botocores
    assert direct[1][0] == params  # the caller's parameters, as they are


def test_a_transaction_without_a_token_gets_one_as_botocore_gives_it() -> None:
    params = {"TransactItems": [{"Put": {"TableName": "markers", "Item": ITEM}}]}
    direct, botocores = both("TransactWriteItems", params)
    tokens = [made[1][0].pop("ClientRequestToken") for made in (direct, botocores)]
    assert [str(uuid.UUID(token)) for token in tokens] == tokens  # one each, a fresh UUID
    assert direct == botocores


def test_an_error_is_botocores() -> None:
    refused = {
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
        "Item": ITEM,
    }
    direct, botocores = both("PutItem", CALLS[0][1], status=400, answer=refused)
    assert direct == botocores
    assert direct[0][0] == "ConditionalCheckFailedException"
    assert direct[0][1]["Item"] == ITEM


def test_binary_values_go_botocores_way_whole() -> None:
    # bytes in a request: botocore's own serialization, base64
    params = {"TableName": "t", "Item": {"pk": {"S": "k"}, "blob": {"B": b"\x00\xff"}, "blobs": {"BS": [b"a"]}}}
    direct, botocores = both("PutItem", params)
    assert direct == botocores
    assert direct[1][0]["Item"]["blob"] == {"B": "AP8="}
    # binary in an answer: botocore decodes it
    found = {"Item": {"pk": {"S": "k"}, "blob": {"B": "AP8="}}}
    direct, botocores = both("GetItem", {"TableName": "t", "Key": {"pk": {"S": "k"}}}, answer=found)
    assert direct == botocores
    assert direct[0]["Item"]["blob"] == {"B": b"\x00\xff"}


def test_an_answer_that_is_not_a_json_object_is_left_to_botocore() -> None:
    for garbled in (b"<html>502 Bad Gateway</html>", b'["not", "an", "object"]'):
        answers = []
        for direct in (True, False):
            answered = client(direct)
            answered.status, answered.body = 200, garbled
            try:
                answers.append(strip(answered.client._make_api_call("GetItem", {"TableName": "t", "Key": {}})))
            except Exception as error:  # noqa: BLE001 - botocore's own, whichever it is
                answers.append(type(error))
        assert answers[0] == answers[1]


def test_other_operations_are_botocores() -> None:
    described = {"Table": {"TableName": "t", "CreationDateTime": 1764190800.0, "ItemCount": 3}}
    direct, botocores = both("DescribeTable", {"TableName": "t"}, answer=described)
    assert direct == botocores
    assert isinstance(direct[0]["Table"]["CreationDateTime"], datetime)


def test_the_stand_in_names_the_tables_the_call_does() -> None:
    # all endpoint resolution reads of DynamoDB's parameters: ResourceArn (the
    # TableName) and ResourceArnList, of which its rules read the first
    service = connection().client.meta.service_model
    many = {"TransactItems": [{"Put": {"TableName": "cache", "Item": ITEM}}] * 100 + CALLS[-1][1]["TransactItems"]}
    for operation, params, _ in [*CALLS, ("TransactWriteItems", many, None)]:
        stand_in = wire._naming_tables(params)
        assert stand_in.get("TableName") == params.get("TableName"), operation
        for context in dict(service.operation_model(operation).operation_context_parameters or {}).values():
            named, stand_in_names = jmespath.search(context["path"], params), jmespath.search(context["path"], stand_in)
            assert named[0] == stand_in_names[0], operation
            assert list(dict.fromkeys(named)) == list(dict.fromkeys(stand_in_names)), operation
    assert len(wire._naming_tables(many)["TransactItems"]) == 5  # one an action and table


def test_the_services_connection_speaks_directly() -> None:
    client = connection().client
    model = client.meta.service_model.operation_model("GetItem")
    called = client.meta.events.emit("provide-client-params.dynamodb.GetItem", params={}, model=model, context={})
    assert wire._serialize in [handler for handler, _ in called]


values: st.SearchStrategy[dict[str, Any]] = st.deferred(
    lambda: st.one_of(
        st.builds(lambda text: {"S": text}, st.text()),
        st.builds(
            lambda number: {"N": str(number)}, st.integers() | st.decimals(allow_nan=False, allow_infinity=False)
        ),
        st.builds(lambda texts: {"SS": texts}, st.lists(st.text(min_size=1), min_size=1, unique=True)),
        st.builds(lambda flag: {"BOOL": flag}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda members: {"L": members}, st.lists(values, max_size=3)),
        st.builds(lambda members: {"M": members}, st.dictionaries(st.text(), values, max_size=3)),
    )
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1), values, min_size=1, max_size=6))
def test_any_item_is_written_and_read_as_botocore_would(item: dict[str, Any]) -> None:
    direct, botocores = both("BatchWriteItem", {"RequestItems": {"t": [{"PutRequest": {"Item": item}}]}})
    assert direct == botocores
    direct, botocores = both("GetItem", {"TableName": "t", "Key": {"k": {"S": "k"}}}, answer={"Item": item})
    assert direct == botocores
    assert direct[0]["Item"] == item
