"""Lambda FilterCriteria, as the local stack applies it."""

from __future__ import annotations

from typing import Any

import pytest

from infra.filters import matches, matches_any

RECORD = {
    "eventName": "REMOVE",
    "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
    "dynamodb": {"Keys": {"feed": {"S": "payments"}}, "SizeBytes": 120},
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"eventName": ["REMOVE"]}, True),
        ({"eventName": ["INSERT", "MODIFY"]}, False),
        ({"userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]}}, True),
        ({"userIdentity": {"type": ["User"]}}, False),
        ({"dynamodb": {"Keys": {"feed": {"S": [{"prefix": "pay"}]}}}}, True),
        ({"dynamodb": {"Keys": {"feed": {"S": [{"suffix": "ments"}]}}}}, True),
        ({"dynamodb": {"Keys": {"feed": {"S": [{"anything-but": ["payments"]}]}}}}, False),
        ({"dynamodb": {"SizeBytes": [{"numeric": [">", 100, "<=", 200]}]}}, True),
        ({"dynamodb": {"SizeBytes": [{"numeric": [">", 200]}]}}, False),
        ({"dynamodb": {"NewImage": [{"exists": False}]}}, True),
        ({"dynamodb": {"NewImage": [{"exists": True}]}}, False),
        ({"missing": {"deeper": ["x"]}}, False),
    ],
)
def test_patterns(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, RECORD) is expected


def test_no_filters_let_everything_through_and_several_are_ored() -> None:
    assert matches_any((), RECORD)
    assert matches_any(({"eventName": ["INSERT"]}, {"eventName": ["REMOVE"]}), RECORD)
    assert not matches_any(({"eventName": ["INSERT"]},), RECORD)


def test_a_user_deletion_has_no_identity_and_fails_the_ttl_filter() -> None:
    user_delete = {key: value for key, value in RECORD.items() if key != "userIdentity"}
    ttl_filter = {"userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]}}
    assert not matches(ttl_filter, user_delete)
