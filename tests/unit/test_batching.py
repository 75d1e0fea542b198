"""Writes of many items: transactions of puts, as the answer cache makes
them, within DynamoDB's limits of 100 items and 4 MB a transaction; and
reads of items in DynamoDB's form."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from pynamodb.attributes import NumberAttribute
from pynamodb.models import Model

from feedguard.dal import answers, batching
from feedguard.dal.models import CachedAnswer, Finding, Vulnerability
from tests.support import dynamodb_hook

# Any attribute value of DynamoDB's JSON but binary (this service stores none).
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
dynamodb_items = st.dictionaries(st.text(min_size=1, max_size=10), values, max_size=5)


def answer_item(n: int, answer: str = "{}") -> dict[str, Any]:
    return {"source_id": {"S": "s1"}, "purl": {"S": f"pkg:npm/p{n}@1.0.0"}, "answer": {"S": answer}}


@pytest.mark.parametrize(
    ("count", "runs"), [(0, []), (1, [1]), (100, [100]), (101, [51, 50]), (128, [64, 64]), (250, [84, 84, 82])]
)
def test_transactions_are_even_runs_of_at_most_100_items(count: int, runs: list[int]) -> None:
    items = [answer_item(n) for n in range(count)]
    chunks = list(batching._transactions(items))
    assert [len(chunk) for chunk in chunks] == runs
    assert [item for chunk in chunks for item in chunk] == items  # all, in order


def test_a_transaction_holds_at_most_4_mb_of_items() -> None:
    # 30 answers of 300 KB: 100 a transaction would be 9 MB
    items = [answer_item(n, "x" * 300_000) for n in range(30)]
    chunks = list(batching._transactions(items))
    assert [len(chunk) for chunk in chunks] == [13, 13, 4]
    assert all(sum(batching._item_bytes(item) for item in chunk) <= 4_000_000 for chunk in chunks)


@given(dynamodb_items)
def test_an_item_s_bytes_are_at_least_the_size_dynamodb_counts(attributes: dict[str, Any]) -> None:
    counted = Item(DynamoType({"S": "k"}), None, attributes).size()  # as moto counts DynamoDB's rules
    assert batching._item_bytes(attributes) >= counted
    if all(next(iter(value)) == "S" for value in attributes.values()):
        assert batching._item_bytes(attributes) == counted  # exact for strings


def test_the_answer_cache_stores_a_batch_in_two_transactions(aws: Any) -> None:
    calls: list[int] = []

    def seen(params: dict[str, Any], **kwargs: Any) -> None:
        calls.append(len(params["TransactItems"]))

    now = datetime(2026, 11, 27, tzinfo=UTC)
    reports = {f"pkg:npm/p{n}@1.0.0": {"coordinates": f"pkg:npm/p{n}@1.0.0", "vulnerabilities": []} for n in range(128)}
    with dynamodb_hook("provide-client-params.dynamodb.TransactWriteItems", seen):  # the caller's own
        answers.store("s1", reports, now)
    assert sorted(calls) == [64, 64]
    assert answers.cached("s1", list(reports), now) == reports
    stored = CachedAnswer.get("s1", "pkg:npm/p7@1.0.0")
    assert (json.loads(stored.answer), stored.expires_ttl) == (
        reports["pkg:npm/p7@1.0.0"],
        int(now.timestamp()) + 86400,
    )


def test_a_write_that_is_neither_a_conflict_nor_done_is_raised(aws: Any) -> None:
    from botocore.exceptions import ClientError
    from pynamodb.exceptions import TransactWriteError

    def refuse(**kwargs: Any) -> None:
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "no"}}, "TransactWriteItems")

    with dynamodb_hook("before-call.dynamodb.TransactWriteItems", refuse), pytest.raises(TransactWriteError):
        batching.put_together(CachedAnswer, [answer_item(1)])


def test_a_read_in_dynamodbs_form_answers_only_the_attributes_named(aws: Any) -> None:
    Vulnerability(id="CVE-1", title="One", cvss_score=7.5, fingerprint="f1", updated_at="t").save()
    Vulnerability(id="CVE-2", title="Two", fingerprint="f2", updated_at="t").save()
    keys = batching.serialized_keys(Vulnerability, ["CVE-1", "CVE-2", "CVE-3"])
    assert keys[0] == {"id": {"S": "CVE-1"}}
    found = batching.read_serialized(Vulnerability, keys, ["id", "cvss_score"])
    assert sorted(found, key=lambda item: item["id"]["S"]) == [
        {"id": {"S": "CVE-1"}, "cvss_score": {"N": "7.5"}},
        {"id": {"S": "CVE-2"}},
    ]
    assert len(batching.read_serialized(Vulnerability, keys)[0]) > 2  # every attribute when none is named


def test_values_read_by_key_are_decoded_none_when_absent(aws: Any) -> None:
    Vulnerability(id="CVE-1", title="One", cvss_score=7.5, fingerprint="f1", updated_at="t").save()
    Vulnerability(id="CVE-2", title="Two", fingerprint="f2", updated_at="t").save()
    found = batching.read_values(
        Vulnerability, ["CVE-1", "CVE-2", "CVE-3"], (Vulnerability.id, Vulnerability.cvss_score)
    )
    assert sorted(found, key=lambda values: values["id"]) == [
        {"id": "CVE-1", "cvss_score": "7.5"},
        {"id": "CVE-2", "cvss_score": None},
    ]


def test_keys_in_dynamodbs_form_pair_hash_and_range() -> None:
    assert batching.serialized_keys(Finding, [("demo", "CVE-1")]) == [
        {"feed": {"S": "demo"}, "vulnerability_id": {"S": "CVE-1"}}
    ]
    with pytest.raises(TypeError, match="not a string key"):
        batching.serialized_keys(NumberKeyed, [1])


class NumberKeyed(Model):
    class Meta:
        table_name = "number-keyed"

    number = NumberAttribute(hash_key=True)
