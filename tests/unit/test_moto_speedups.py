"""The local stack's speed-ups to moto keep its answers exactly as they were."""

from __future__ import annotations

from typing import Any

import requests
from hypothesis import given
from hypothesis import strategies as st
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.server import ThreadedMotoServer

from infra import moto_speedups
from infra.provision import aws_client
from infra.stack import free_port

moto_speedups.apply()

values = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=8)),
    st.builds(lambda n: {"N": str(n)}, st.integers(-1000, 1000)),
    st.builds(lambda n: {"N": str(n)}, st.decimals(allow_nan=False, allow_infinity=False, places=3)),
)


def moto_equal(a: DynamoType, b: DynamoType) -> Any:
    """DynamoType.__eq__ and __lt__ as moto defines them."""
    return a.type == b.type and a.cast_value == b.cast_value


@given(values, values)
def test_attribute_values_compare_as_moto_compares_them(a: dict[str, str], b: dict[str, str]) -> None:
    left, right = DynamoType(a), DynamoType(b)
    assert (left == right) == moto_equal(left, right)
    assert (left != right) == (not moto_equal(left, right))
    try:
        expected = left.cast_value < right.cast_value
    except TypeError:  # a string and a number: moto raises, and so must we
        try:
            left < right  # noqa: B015 - the comparison is the test
        except TypeError:
            return
        raise AssertionError("a string compared with a number") from None
    assert (left < right) == expected


def test_every_service_of_the_stack_is_still_found_after_the_first_request() -> None:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        for _ in range(2):  # the second time from what was remembered
            assert aws_client("dynamodb", endpoint).list_tables()["TableNames"] == []
            assert aws_client("sqs", endpoint).list_queues().get("QueueUrls", []) == []
            assert aws_client("secretsmanager", endpoint).list_secrets()["SecretList"] == []
            assert aws_client("events", endpoint).list_event_buses()["EventBuses"][0]["Name"] == "default"
            assert aws_client("dynamodbstreams", endpoint).list_streams()["Streams"] == []
    finally:
        server.stop()
