"""The local stack's speed-ups to moto keep its answers exactly as they were."""

from __future__ import annotations

import copy
import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.server import ThreadedMotoServer

from infra import moto_speedups
from infra.provision import Provisioned, aws_client
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


# ---------------------------------------------------------------- transactions

ACCOUNT = "123456789012"
SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
keys = st.sampled_from(["a", "b", "c"])
conditions = st.sampled_from([None, "attribute_not_exists(pk)", "attribute_exists(pk)", "n = :one", "n < :two"])


@st.composite
def operations(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Put", "Update", "Delete", "ConditionCheck"]))
    table = draw(st.sampled_from(["plain", "ranged"]))
    key = {"pk": {"S": draw(keys)}}
    if table == "ranged":
        key["sk"] = {"S": draw(keys)}
    op: dict[str, Any] = {"TableName": table}
    if kind == "Put":
        op["Item"] = {**key, "n": {"N": str(draw(st.integers(0, 2)))}}
    else:
        op["Key"] = key
    if kind == "Update":
        op["UpdateExpression"] = "ADD n :one"
    condition = draw(conditions) if kind != "ConditionCheck" else draw(conditions.filter(bool))
    if condition:
        op["ConditionExpression"] = condition
        op["ReturnValuesOnConditionCheckFailure"] = draw(st.sampled_from(["NONE", "ALL_OLD"]))
    values = {":one": {"N": "1"}, ":two": {"N": "2"}}
    used = {name: value for name, value in values.items() if name in (condition or "") + op.get("UpdateExpression", "")}
    if used:
        op["ExpressionAttributeValues"] = used
    return {kind: op}


def create_table(backend: Any, name: str, schema: list[dict[str, str]], strings: list[str], **options: Any) -> None:
    """A pay-per-request table of string attributes `strings` on moto's backend;
    `options`: streams, global_indexes."""
    backend.create_table(
        name,
        schema=schema,
        throughput=None,
        attr=[{"AttributeName": attribute, "AttributeType": "S"} for attribute in strings],
        global_indexes=options.get("global_indexes"),
        indexes=None,
        streams=options.get("streams"),
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )


def backend_with_tables(region: str) -> Any:
    from moto.dynamodb.models import DynamoDBBackend

    backend = DynamoDBBackend(region, ACCOUNT)
    streams = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    create_table(backend, "plain", [{"AttributeName": "pk", "KeyType": "HASH"}], ["pk"], streams=streams)
    create_table(backend, "ranged", SCHEMA, ["pk", "sk"], streams=streams)
    return backend


def updating(pk: str, expression: str) -> dict[str, Any]:
    """An Update of the plain table's item `pk`, with `:one` bound to 1."""
    return {
        "Update": {
            "TableName": "plain",
            "Key": {"pk": {"S": pk}},
            "UpdateExpression": expression,
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def outcome(transact: Any, backend: Any, transaction: list[dict[str, Any]]) -> Any:
    try:
        transact(backend, transaction)
    except Exception as error:  # noqa: BLE001 - the error is the outcome compared
        return type(error).__name__, getattr(error, "description", str(error))
    return None


def contents(backend: Any) -> dict[str, Any]:
    tables = {}
    for name in ("plain", "ranged"):
        table = backend.get_table(name)
        tables[name] = (
            sorted(str(item.to_json()) for item in table.all_items()),
            [(r.record["eventName"], r.record["dynamodb"]["Keys"]) for r in table.stream_shard.items],
        )
    return tables


@settings(deadline=None)  # up to 24 operations on two backends an example
@given(st.lists(st.lists(operations(), min_size=1, max_size=4), min_size=1, max_size=6))
def test_transactions_end_as_moto_ends_them(transactions: list[list[dict[str, Any]]]) -> None:
    """The same transactions, one after another, through moto's own
    transact_write_items and ours: the same errors (cancellation reasons
    included), the same items and the same stream records after each."""
    from moto.dynamodb.models import DynamoDBBackend

    theirs, ours = backend_with_tables("us-east-1"), backend_with_tables("eu-west-1")
    for transaction in transactions:
        expected = outcome(moto_speedups.MOTO_TRANSACT_WRITE_ITEMS, theirs, transaction)
        assert outcome(DynamoDBBackend.transact_write_items, ours, transaction) == expected
        assert contents(ours) == contents(theirs)


def test_a_transaction_copies_only_the_items_it_writes(monkeypatch: Any) -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import Item

    backend = backend_with_tables("us-east-1")
    for n in range(500):
        backend.put_item("plain", {"pk": {"S": f"item-{n}"}, "n": {"N": "0"}})
    copies: list[Item] = []
    copy_item = Item.__deepcopy__

    def counted(item: Item, memo: dict[int, Any]) -> Item:
        copies.append(item)
        return copy_item(item, memo)

    monkeypatch.setattr(Item, "__deepcopy__", counted)
    DynamoDBBackend.transact_write_items(
        backend,
        [
            updating("item-1", "SET n = :one"),
            {"Put": {"TableName": "plain", "Item": {"pk": {"S": "new"}}}},
        ],
    )
    # moto's update_item copies the item it updates too; no other is copied.
    assert {item.hash_key.value for item in copies} == {"item-1"}


def test_a_transaction_failing_half_way_puts_back_only_what_it_wrote() -> None:
    """The third operation fails only when written (ADD to a string): the
    items the first two wrote are as they were (one updated, one created),
    their stream records are gone, and every other item is untouched."""
    from moto.dynamodb.models import DynamoDBBackend

    backend = backend_with_tables("us-east-1")
    backend.put_item("plain", {"pk": {"S": "a"}, "n": {"N": "1"}})
    backend.put_item("plain", {"pk": {"S": "text"}, "n": {"S": "not a number"}})
    before = contents(backend)
    transaction = [
        updating("a", "ADD n :one"),
        {"Put": {"TableName": "plain", "Item": {"pk": {"S": "b"}}}},
        updating("text", "ADD n :one"),
    ]
    failed = outcome(DynamoDBBackend.transact_write_items, backend, transaction)
    assert failed is not None
    assert contents(backend) == before
    assert backend.get_item("plain", {"pk": {"S": "a"}}).attrs["n"].value == "1"


@contextmanager
def switching_at_nearly_every_bytecode() -> Iterator[None]:
    """Threads switch as often as Python lets them, so a race shows."""
    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(switching)


def racing(writer: Callable[[], None], checker: Callable[[], None], checkers: int = 2) -> None:
    """`writer` in a thread against `checkers` threads of `checker`, switching
    at nearly every bytecode, until they are done."""
    with switching_at_nearly_every_bytecode():
        threads = [threading.Thread(target=writer), *(threading.Thread(target=checker) for _ in range(checkers))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)


def test_a_transaction_never_sees_an_item_half_updated() -> None:
    """An UpdateItem setting two attributes at once, against transactions on
    condition that both are equal, under threads switching at nearly every
    bytecode: DynamoDB writes an item whole, so no condition fails. (moto
    sets the attributes one at a time, and without ITEM_WRITES a condition
    checked in between failed.)"""
    from moto.dynamodb.models import DynamoDBBackend

    backend = backend_with_tables("us-east-1")
    backend.put_item("plain", {"pk": {"S": "pair"}, "a": {"N": "0"}, "b": {"N": "0"}})
    failed: list[Any] = []
    done = threading.Event()

    def update() -> None:
        for n in range(1, 400):
            backend.update_item(
                "plain",
                {"pk": {"S": "pair"}},
                update_expression="SET a = :n, b = :n",
                expression_attribute_names=None,
                expression_attribute_values={":n": {"N": str(n)}},
                expected=None,
                condition_expression=None,
            )
        done.set()

    def check() -> None:
        equal = {"ConditionCheck": {"TableName": "plain", "Key": {"pk": {"S": "pair"}}, "ConditionExpression": "a = b"}}
        while not done.is_set():
            if (answer := outcome(DynamoDBBackend.transact_write_items, backend, [equal])) is not None:
                failed.append(answer)

    racing(update, check)
    assert failed == []


condition_texts = st.sampled_from(
    ["n = :v", "n < :v OR #m = :w", "attribute_exists(#m) AND NOT n = :v", "n BETWEEN :v AND :w", "begins_with(s, :s)"]
)
numbers_as_strings = st.integers(0, 3).map(lambda n: {"N": str(n)})
conditions_asked = st.tuples(
    condition_texts, numbers_as_strings, numbers_as_strings, st.sampled_from(["a", "ab"]), st.sampled_from(["m", "n"])
)


@given(
    st.lists(conditions_asked, max_size=6),
    st.fixed_dictionaries({"n": numbers_as_strings, "m": numbers_as_strings, "s": st.just({"S": "abc"})}),
)
def test_conditions_are_parsed_once_and_hold_as_moto_s_do(
    asked: list[tuple[str, dict[str, str], dict[str, str], str, str]], attributes: dict[str, Any]
) -> None:
    """A condition parsed again (the same text, names and values) or anew
    holds of an item as moto's own parse of it does, and records the same
    names and values found."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.models.dynamo_type import Item

    item = Item(DynamoType({"S": "h"}), None, {"pk": {"S": "h"}, **attributes})
    for text, v, w, prefix, named in asked * 2:  # each a second time, from what was kept
        names = {"#m": named} if "#m" in text else None
        values = {name: value for name, value in {":v": v, ":w": w, ":s": {"S": prefix}}.items() if name in text}
        ours, moto_s = (ConditionExpressionParser(text, names, values) for _ in range(2))
        assert ours.parse().expr(item) == moto_speedups.MOTO_PARSE_CONDITION(moto_s).expr(item)
        assert (ours.expr_attr_names_found, ours.expr_attr_values_found) == (
            moto_s.expr_attr_names_found,
            moto_s.expr_attr_values_found,
        )


def test_a_condition_moto_refuses_is_refused_every_time() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    for _ in range(2):
        with pytest.raises(KeyError):  # a value it names is not given
            ConditionExpressionParser("n = :missing", None, {":v": {"N": "1"}}).parse()


# ---------------------------------------------------------------- queries


def pages(query: Any, table: Any, hash_key: str, asked: dict[str, Any]) -> list[Any]:
    """Every page of a Query as (items, count, last key), following the last key.
    `asked`: limit, forward, index, condition (a range comparison and its
    values), projection."""
    found, start = [], None
    index, condition = asked["index"], asked["condition"]
    comparison, operands = condition or (None, [])
    while True:
        items, count, last = query(
            table,
            DynamoType({"S": hash_key}),
            comparison,
            [DynamoType({"S": operand}) for operand in operands],
            asked["limit"],
            start,
            asked["forward"],
            asked["projection"],
            index,
            hash_key_conditions=[("g" if index else "pk", DynamoType({"S": hash_key}))],
            range_key_conditions=[("sk", comparison, [DynamoType({"S": operand}) for operand in operands])]
            if condition
            else [],
        )
        found.append(([item.to_json() for item in items], count, last))
        if last is None or len(found) > 50:
            return found
        start = {name: value.to_json() for name, value in last.items()}


range_conditions = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from(["EQ", "LT", "LE", "GT", "GE", "BEGINS_WITH"]),
        st.lists(st.text(max_size=2), min_size=1, max_size=1),
    ),
    st.tuples(st.just("BETWEEN"), st.lists(st.text(max_size=2), min_size=2, max_size=2).map(sorted)),
)
query_projections = st.sampled_from([None, [["sk"]], [["n"], ["g"]], [["pk"], ["missing"]]])


@settings(deadline=None)  # a table of up to 40 items built and read twice an example
@given(
    st.lists(st.tuples(keys, st.text(max_size=3), st.sampled_from(["a", "b"])), max_size=40),
    keys,
    st.fixed_dictionaries(
        {
            "limit": st.integers(1, 7),
            "forward": st.booleans(),
            "index": st.sampled_from([None, "by_g"]),
            "condition": range_conditions,
            "projection": query_projections,
        }
    ),
)
def test_queries_read_what_moto_reads(rows: list[tuple[str, str, str]], hash_key: str, asked: dict[str, Any]) -> None:
    """A Query's pages, of the table or of an index, with or without a range
    condition and a projection, as moto's own Query finds them: items,
    counts and last keys."""
    assume(not (asked["index"] and asked["condition"]))  # the index has no range key
    backend = backend_with_tables("us-east-1")
    create_table(
        backend,
        "indexed",
        SCHEMA,
        ["pk", "sk", "g"],
        global_indexes=[
            {
                "IndexName": "by_g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for number, (pk, sk, g) in enumerate(rows):
        backend.put_item("indexed", {"pk": {"S": pk}, "sk": {"S": sk}, "g": {"S": g}, "n": {"N": str(number)}})
    table = backend.get_table("indexed")
    ours = pages(type(table).query, table, hash_key, asked)
    assert ours == pages(moto_speedups.MOTO_TABLE_QUERY, table, hash_key, asked)
    assert set(table.items) == {DynamoType({"S": pk}) for pk, _, _ in rows}  # no partition added by a Query


def test_a_page_is_a_copy_of_the_items() -> None:
    """What a Query answers is not the stored item: a write while the answer
    is being sent changes neither."""
    backend = backend_with_tables("us-east-1")
    stored = {"m": {"M": {"k": {"N": "1"}}}, "ss": {"SS": ["x"]}, "s": {"S": "x"}}
    backend.put_item("ranged", copy.deepcopy({"pk": {"S": "a"}, "sk": {"S": "1"}, **stored}))
    table = backend.get_table("ranged")
    for projection in (None, [["m"], ["ss"], ["s"]]):
        items, _, _ = table.query(DynamoType({"S": "a"}), None, [], 10, None, True, projection)
        items[0].attrs["m"].value["k"] = DynamoType({"N": "2"})
        items[0].attrs["ss"].value.append("y")
        items[0].attrs["s"].value = "y"
        items[0].range_key.value = "2"
        item = backend.get_item("ranged", {"pk": {"S": "a"}, "sk": {"S": "1"}})
        assert item.to_json()["Attributes"] == {"pk": {"S": "a"}, "sk": {"S": "1"}, **stored}
        assert item.range_key.value == "1"


range_keys = st.sampled_from(["a", "b", "c", "d"])
writes = st.lists(
    st.one_of(
        st.tuples(st.just("put"), range_keys, st.integers(0, 9)),  # a new item, or one put over another
        st.tuples(st.just("update"), range_keys, st.integers(0, 9)),  # in place, as moto updates
        st.tuples(st.just("delete"), range_keys, st.just(0)),
        st.tuples(st.just("query"), range_keys, st.just(0)),  # pages, and the page after this range key
    ),
    max_size=25,
)


@settings(deadline=None, max_examples=300)
@given(writes)
def test_a_query_reads_the_partition_as_it_is_after_every_write(steps: list[tuple[str, str, Any]]) -> None:
    """A partition's order is kept between Queries: one put over another,
    added, deleted or updated in place since is seen as moto sees it, and
    pages start where moto's do, forward and backward."""
    backend = backend_with_tables("us-east-1")
    table = backend.get_table("ranged")
    every = {"limit": 3, "index": None, "condition": None, "projection": [["sk"], ["n"]]}
    for step, sk, value in steps:
        key = {"pk": {"S": "a"}, "sk": {"S": sk}}
        if step == "put":
            backend.put_item("ranged", {**key, "n": {"N": str(value)}})
        elif step == "update" and backend.get_item("ranged", key) is not None:
            backend.update_item("ranged", key, "SET n = :n", {}, {":n": {"N": str(value)}})
        elif step == "delete":
            backend.delete_item("ranged", key)
        elif step == "query":
            for forward in (True, False):
                asked = {**every, "forward": forward}
                assert page_after(type(table).query, table, sk, asked) == page_after(
                    moto_speedups.MOTO_TABLE_QUERY, table, sk, asked
                )
                assert pages(type(table).query, table, "a", asked) == pages(
                    moto_speedups.MOTO_TABLE_QUERY, table, "a", asked
                )


def page_after(query: Any, table: Any, sk: str, asked: dict[str, Any]) -> Any:
    """The page of partition `a` after range key `sk`, which may be no item's."""
    start = {"pk": {"S": "a"}, "sk": {"S": sk}}
    forward, projection = asked["forward"], asked["projection"]
    items, count, last = query(table, DynamoType({"S": "a"}), None, [], asked["limit"], start, forward, projection)
    return [item.to_json() for item in items], count, last


def test_a_partition_is_sorted_once_for_its_pages(monkeypatch: Any) -> None:
    """Pages of a partition whose keys are unchanged reuse its order, and
    read its items as they are; a key added sorts it again."""
    backend = backend_with_tables("us-east-1")
    for sk in "dbeac":
        backend.put_item("ranged", {"pk": {"S": "a"}, "sk": {"S": sk}})
    table = backend.get_table("ranged")
    sorts = []
    sort = moto_speedups.SortedPartition.__init__

    def counted(self: Any, stored: Any) -> None:
        sorts.append(len(stored))
        sort(self, stored)

    monkeypatch.setattr(moto_speedups.SortedPartition, "__init__", counted)
    asked = {"limit": 2, "forward": True, "index": None, "condition": None, "projection": None}
    assert len(pages(type(table).query, table, "a", asked)) == 3
    assert sorts == [5]
    backend.put_item("ranged", {"pk": {"S": "a"}, "sk": {"S": "c"}, "n": {"N": "1"}})  # put over another
    found = pages(type(table).query, table, "a", asked)
    assert found[1][0][0]["Attributes"] == {"pk": {"S": "a"}, "sk": {"S": "c"}, "n": {"N": "1"}}
    assert sorts == [5]
    backend.put_item("ranged", {"pk": {"S": "a"}, "sk": {"S": "f"}})
    assert len(pages(type(table).query, table, "a", asked)) == 3
    assert sorts == [5, 6]


key_values = st.fixed_dictionaries({"S": st.sampled_from(["a", "b"])})


@given(st.lists(st.dictionaries(st.sampled_from(["pk", "sk"]), key_values, max_size=2), max_size=6))
def test_duplicate_keys_are_found_as_moto_finds_them(asked: list[dict[str, Any]]) -> None:
    from moto.dynamodb.responses import DynamoHandler

    handler = DynamoHandler.__new__(DynamoHandler)
    assert handler._contains_duplicates(asked) == moto_speedups.MOTO_CONTAINS_DUPLICATES(handler, asked)
    odd = [*asked, {"pk": {"N": 1}}, {"pk": {"N": 1}}]  # not a string: moto's own check
    assert handler._contains_duplicates(odd) == moto_speedups.MOTO_CONTAINS_DUPLICATES(handler, odd)
    serialized = [json.dumps(key) for key in asked]  # a BatchWriteItem's items, as moto serializes them
    assert handler._contains_duplicates(serialized) == moto_speedups.MOTO_CONTAINS_DUPLICATES(handler, serialized)


# ---------------------------------------------------------------- projections

names = st.sampled_from(["a", "b", "c", "d"])
numbers = st.integers(-(10**6), 10**6).map(str)
attribute_values = st.recursive(
    st.one_of(
        st.builds(lambda s: {"S": s}, st.text(max_size=5)),
        st.builds(lambda n: {"N": n}, numbers),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda s: {"SS": sorted(s)}, st.sets(st.text(max_size=3), min_size=1, max_size=3)),
    ),
    lambda inner: st.one_of(
        st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
        st.builds(lambda entries: {"M": entries}, st.dictionaries(names, inner, max_size=3)),
    ),
    max_leaves=6,
)
paths = st.one_of(
    st.lists(names, min_size=1, max_size=1),
    st.lists(names, min_size=2, max_size=3),
    st.builds(lambda name, n: [f"{name}[{n}]"], names, st.integers(0, 2)),
)


def comparable(item: Any) -> Any:
    """An item's JSON with its sets in order: DynamoDB sets have none."""

    def sort_sets(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: sorted(v) if k in ("SS", "NS") else sort_sets(v) for k, v in value.items()}
        if isinstance(value, list):
            return [sort_sets(v) for v in value]
        return value

    return sort_sets(item.to_json())


@given(st.dictionaries(names, attribute_values, max_size=4), st.lists(paths, min_size=1, max_size=3))
def test_projections_pick_what_moto_picks(attributes: dict[str, Any], expressions: list[list[str]]) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    item = Item(DynamoType({"S": "h"}), None, {"pk": {"S": "h"}, **attributes})

    def projected(project: Any) -> Any:
        try:
            return comparable(project(item, expressions))
        except Exception as error:  # noqa: BLE001 - moto's own errors (an index past a list's end) stay
            return type(error).__name__

    assert projected(type(item).project) == projected(moto_speedups.MOTO_ITEM_PROJECT)


# ---------------------------------------------------------------- item sizes

# Small and large: three or four large attributes reach moto's limit of 405,000 bytes.
lengths = st.one_of(st.integers(0, 100), st.integers(100_000, 140_000))
sized_values = st.one_of(
    lengths.map(lambda n: {"S": "x" * n}),
    lengths.map(lambda n: {"L": [{"S": "y" * 10}] * (n // 11)}),
    st.builds(lambda n: {"N": str(n)}, st.integers()),
)


@given(st.one_of(attribute_values, st.builds(lambda v: {"B": v}, st.binary(max_size=4)), st.just({"X": "y"})))
def test_attribute_values_are_made_and_hashed_as_moto_makes_them(value: dict[str, Any]) -> None:
    ours, theirs = DynamoType.__new__(DynamoType), DynamoType.__new__(DynamoType)
    type(ours).__init__(ours, value)
    moto_speedups.MOTO_VALUE_INIT(theirs, value)
    assert (ours.type, ours.to_json()) == (theirs.type, theirs.to_json())
    assert type(ours.value) is type(theirs.value)
    if value.keys() & {"S", "N", "B"}:  # lists, maps and sets are not hashable, in moto either
        assert hash(ours) == moto_speedups.MOTO_VALUE_HASH(theirs)
    copied = DynamoType(ours)  # a value made from a value, as moto's put does with its keys
    assert (copied.type, copied.to_json()) == (ours.type, ours.to_json())


@given(attribute_values)
def test_values_are_sized_as_moto_sizes_them(value: dict[str, Any]) -> None:
    assert DynamoType(value).size() == moto_speedups.MOTO_VALUE_SIZE(DynamoType(value))


@settings(max_examples=50, deadline=None)  # items of up to 800 KB: seconds on a loaded machine
@given(st.dictionaries(st.text(min_size=1, max_size=20), sized_values, max_size=6))
def test_items_are_built_and_refused_as_moto_builds_them(attributes: dict[str, Any]) -> None:
    """The same attributes, or the same error (too large) for the same item."""
    from moto.dynamodb.models.dynamo_type import Item

    def built(init: Any) -> Any:
        item = Item.__new__(Item)
        try:
            init(item, DynamoType({"S": "h"}), None, attributes)
        except Exception as error:  # noqa: BLE001 - the error is what is compared
            return type(error).__name__
        return item.to_json(), type(item.attrs).__name__

    assert built(Item.__init__) == built(moto_speedups.MOTO_ITEM_INIT)


# ---------------------------------------------------------------- batch writes

TABLES = ["plain", "ranged", "indexed", "numbered"]
plain_values = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=3)),
    st.builds(lambda n: {"N": n}, numbers),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda s: {"SS": sorted(s)}, st.sets(st.text(max_size=2), min_size=1, max_size=2)),
    st.builds(lambda s: {"NS": sorted(s)}, st.sets(numbers, min_size=1, max_size=2)),
)
# What moto's put checks further, refuses, or stores otherwise
ODD_VALUES: list[Any] = [
    *({"N": n} for n in ["", "x", " 1", "1e200", "1e-200", "NaN", "Infinity"]),
    {"N": 1},  # a number that is no string
    {"S": 1},
    {"NULL": False},
    {"SS": []},
    {"NS": [1]},
    {"SS": {"N": 1}},
    {"B": ""},
    {"B": "eA=="},
    {"L": [{"S": "x"}]},
    {"M": {"a": {"S": "x"}}},
    {"S": "x", "N": "1"},
    {},
    "x",
]
odd_values = st.sampled_from(ODD_VALUES)
odd_keys = st.one_of(
    st.just({"S": ""}),
    st.just({"S": "k" * 2100}),
    st.just({"N": "1"}),
    st.just({"S": "a", "N": "1"}),
    st.just({"B": "eA=="}),
    st.just(None),  # missing
)


@st.composite
def write_requests(draw: st.DrawFn, table: str) -> dict[str, Any]:
    """A put, now and then with one thing moto's put checks further or
    refuses; sometimes a delete or a request that is neither."""
    rare = draw(st.integers(0, 29))
    if rare == 0:
        return {"DeleteRequest": {"Key": {"pk": {"S": draw(keys)}}}}
    if rare == 1:
        return {"UpdateRequest": {}}
    item = draw(st.dictionaries(st.sampled_from(["n", "v", "gk"]), plain_values, max_size=3))
    if rare in (2, 3, 4):
        item[draw(st.sampled_from(["n", "gk"]))] = draw(odd_values)
    if table == "numbered":
        item["pk"] = {"N": draw(st.sampled_from(["1", "1.0", "2"]))}
    else:
        item["pk"] = {"S": draw(keys)}
    if table == "ranged":
        item["sk"] = {"S": draw(keys)}
    if rare == 5:
        key = draw(st.sampled_from(["pk", "sk"] if table == "ranged" else ["pk"]))
        odd = draw(odd_keys)
        if odd is None:
            del item[key]
        else:
            item[key] = odd
    if rare == 6 and table == "indexed":
        item["gk"] = {"S": ""}
    return {"PutRequest": {"Item": item}}


@st.composite
def batch_writes(draw: st.DrawFn) -> dict[str, Any]:
    """RequestItems: mostly one table's puts; sometimes a request repeated,
    several tables, or an unknown one."""
    table = draw(st.sampled_from(TABLES))
    requests = draw(st.lists(write_requests(table), min_size=1, max_size=5))
    if draw(st.integers(0, 9)) == 0:
        requests.append(copy.deepcopy(draw(st.sampled_from(requests))))
    batch = {table: requests}
    if draw(st.integers(0, 19)) == 0:
        other = draw(st.sampled_from(TABLES).filter(lambda name: name != table))
        batch[other] = draw(st.lists(write_requests(other), min_size=1, max_size=2))
    if draw(st.integers(0, 29)) == 0:
        batch["missing"] = [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]
    return batch


def backend_for_batches(region: str) -> Any:
    from moto.dynamodb.models import DynamoDBBackend

    backend = DynamoDBBackend(region, ACCOUNT)
    streams = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    create_table(backend, "plain", [{"AttributeName": "pk", "KeyType": "HASH"}], ["pk"], streams=streams)
    create_table(backend, "ranged", SCHEMA, ["pk", "sk"])
    index = {
        "IndexName": "by-gk",
        "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    create_table(backend, "indexed", [{"AttributeName": "pk", "KeyType": "HASH"}], ["pk", "gk"], global_indexes=[index])
    backend.create_table(
        "numbered",
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        throughput=None,
        attr=[{"AttributeName": "pk", "AttributeType": "N"}],
        global_indexes=None,
        indexes=None,
        streams=None,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    return backend


def handler_outcome(write: Any, backend: Any, body: dict[str, Any]) -> Any:
    """What `write`, a DynamoHandler action, answers to `body` on `backend`:
    its JSON answer, or its error's name and description."""
    from moto.dynamodb.responses import DynamoHandler

    class Handler(DynamoHandler):
        @property
        def dynamodb_backend(self) -> Any:
            return backend

    handler = Handler()
    handler.body = copy.deepcopy(body)
    try:
        return json.loads(write(handler))
    except Exception as error:  # noqa: BLE001 - the error is the outcome compared
        return type(error).__name__, getattr(error, "description", str(error))


def batch_outcome(write: Any, backend: Any, request_items: dict[str, Any]) -> Any:
    return handler_outcome(write, backend, {"RequestItems": request_items})


def batch_contents(backend: Any) -> dict[str, Any]:
    tables = {}
    for name in TABLES:
        table = backend.get_table(name)
        records = table.stream_shard.items if table.stream_shard is not None else []
        tables[name] = (
            sorted(str(comparable(item)) for item in table.all_items()),
            [(r.record["eventName"], r.record["dynamodb"]["Keys"]) for r in records],
        )
    return tables


@settings(deadline=None, max_examples=300)  # up to 6 small batches on two backends an example
@given(st.lists(batch_writes(), min_size=1, max_size=6))
def test_batch_writes_end_as_moto_ends_them(batches: list[dict[str, Any]]) -> None:
    """The same batches, one after another, through moto's own batch write
    and ours: the same answers and errors, the same items and the same
    stream records after each."""
    from moto.dynamodb.responses import DynamoHandler

    theirs, ours = backend_for_batches("us-east-1"), backend_for_batches("eu-west-1")
    for request_items in batches:
        expected = batch_outcome(moto_speedups.MOTO_BATCH_WRITE_ITEM, theirs, request_items)
        assert batch_outcome(DynamoHandler.batch_write_item, ours, request_items) == expected
        assert batch_contents(ours) == batch_contents(theirs)


ODD_PUTS = [
    ("plain", {"pk": {"S": ""}}),
    ("plain", {"pk": {"S": "k" * 2100}}),
    ("ranged", {"pk": {"S": "a"}, "sk": {"S": "k" * 1100}}),
    ("ranged", {"pk": {"S": "a"}, "sk": {"S": ""}}),
    ("ranged", {"pk": {"S": "a"}}),
    ("plain", {}),
    ("plain", {"pk": {"N": "1"}}),
    ("plain", {"pk": {"S": "a", "N": "1"}}),
    ("plain", {"pk": {"B": "eA=="}}),
    ("numbered", {"pk": {"N": ""}}),
    ("numbered", {"pk": {"S": "1"}}),
    ("indexed", {"pk": {"S": "a"}, "gk": {"S": ""}}),
    ("plain", {"pk": {"S": "a"}, "n": {"S": "x" * 410_000}}),
    ("plain", {"pk": {"S": "b"}, "n": {"NULL": True}}),  # and the same again
] + [("plain", {"pk": {"S": "a"}, "n": value}) for value in ODD_VALUES]


def between_plain_puts(table: str, item: Any) -> list[Any]:
    """`item` between two items of `table` that moto stores as they are."""
    plain = [{"pk": {"S": key}, "sk": {"S": "s"}} if table == "ranged" else {"pk": {"S": key}} for key in "bc"]
    if table == "numbered":
        plain = [{"pk": {"N": "7"}}, {"pk": {"N": "8"}}]
    return [plain[0], item, plain[1]]


@pytest.mark.parametrize(("table", "item"), ODD_PUTS, ids=lambda value: str(value)[:40])
def test_each_odd_put_is_answered_as_moto_answers_it(table: str, item: Any) -> None:
    """One put moto checks further, refuses or stores otherwise, between two
    plain ones: the same answer or error, and the same items written."""
    from moto.dynamodb.responses import DynamoHandler

    batch = {table: [{"PutRequest": {"Item": put}} for put in between_plain_puts(table, item)]}
    theirs, ours = backend_for_batches("us-east-1"), backend_for_batches("eu-west-1")
    expected = batch_outcome(moto_speedups.MOTO_BATCH_WRITE_ITEM, theirs, batch)
    assert batch_outcome(DynamoHandler.batch_write_item, ours, batch) == expected
    assert batch_contents(ours) == batch_contents(theirs)


def test_a_batch_of_plain_puts_is_stored_without_moto_s_put(monkeypatch: Any) -> None:
    """The quick way is the one taken for the answer cache's writes."""
    from moto.dynamodb.models.table import Table

    def no_put(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("moto's put was used")

    monkeypatch.setattr(Table, "put_item", no_put)
    backend = backend_for_batches("us-west-2")
    # As the cache's: one source, a purl each
    items = [{"pk": {"S": "source"}, "sk": {"S": f"p{n}"}, "answer": {"S": "{}"}, "ttl": {"N": "1"}} for n in range(25)]
    answer = batch_outcome(
        moto_speedups.DynamoHandler.batch_write_item, backend, {"ranged": [{"PutRequest": {"Item": i}} for i in items]}
    )
    assert answer["UnprocessedItems"] == {}
    assert len(backend.get_table("ranged").all_items()) == 25


# ---------------------------------------------------------------- transactions of puts


def transaction_entry(table: str, request: dict[str, Any]) -> dict[str, Any]:
    """A batch's write request as a transaction's; one that is neither a
    put nor a delete, a put without an item."""
    if "PutRequest" in request:
        return {"Put": {"TableName": table, "Item": request["PutRequest"]["Item"]}}
    if "DeleteRequest" in request:
        return {"Delete": {"TableName": table, "Key": request["DeleteRequest"]["Key"]}}
    return {"Put": {"TableName": table}}


@st.composite
def transactions_of_puts(draw: st.DrawFn) -> list[Any]:
    """TransactItems: mostly one table's puts, as the answer cache writes
    them; now and then a put moto checks further, a condition, a delete, a
    second table, an unknown one, a key twice, none, or too many."""
    table = draw(st.sampled_from(TABLES))
    entries = [transaction_entry(table, r) for r in draw(st.lists(write_requests(table), min_size=1, max_size=5))]
    rare = draw(st.integers(0, 39))
    if rare == 0:
        entries.append(copy.deepcopy(draw(st.sampled_from(entries))))
    elif rare == 1:
        other = draw(st.sampled_from(TABLES).filter(lambda name: name != table))
        entries.append(transaction_entry(other, draw(write_requests(other))))
    elif rare == 2:
        entries.append({"Put": {"TableName": "missing", "Item": {"pk": {"S": "a"}}}})
    elif rare in (3, 4) and "Put" in entries[0] and "Item" in entries[0]["Put"]:
        entries[0]["Put"]["ConditionExpression"] = draw(
            st.sampled_from(["attribute_not_exists(pk)", "attribute_exists(pk)"])
        )
    elif rare == 5 and "Put" in entries[0]:
        entries[0]["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    elif rare == 6:
        entries = []
    elif rare == 7:
        entries = [{"Put": {"TableName": "plain", "Item": {"pk": {"S": f"k{n}"}}}} for n in range(101)]
    elif rare == 8:
        entries.append({"Put": {"TableName": table, "Item": {"pk": {"S": "x"}}}, "Delete": {"TableName": table}})
    return entries


def transaction_outcome(write: Any, backend: Any, entries: list[Any]) -> Any:
    return handler_outcome(write, backend, {"TransactItems": entries})


@settings(deadline=None, max_examples=300)  # up to 6 small transactions on two backends an example
@given(st.lists(transactions_of_puts(), min_size=1, max_size=6))
def test_transactions_of_puts_end_as_moto_ends_them(transactions: list[list[Any]]) -> None:
    """The same transactions, one after another, through moto's handler and
    through ours: the same answers and errors, the same items and stream
    records after each. (Both write through this module's transactions,
    which test_transactions_end_as_moto_ends_them holds to moto's.)"""
    from moto.dynamodb.responses import DynamoHandler

    theirs, ours = backend_for_batches("us-east-1"), backend_for_batches("eu-west-1")
    for entries in transactions:
        expected = transaction_outcome(moto_speedups.MOTO_HANDLE_TRANSACT_WRITE_ITEMS, theirs, entries)
        assert transaction_outcome(DynamoHandler.transact_write_items, ours, entries) == expected
        assert batch_contents(ours) == batch_contents(theirs)


@pytest.mark.parametrize(("table", "item"), ODD_PUTS, ids=lambda value: str(value)[:40])
def test_each_odd_put_of_a_transaction_is_answered_as_moto_answers_it(table: str, item: Any) -> None:
    from moto.dynamodb.responses import DynamoHandler

    entries = [{"Put": {"TableName": table, "Item": put}} for put in between_plain_puts(table, item)]
    theirs, ours = backend_for_batches("us-east-1"), backend_for_batches("eu-west-1")
    expected = transaction_outcome(moto_speedups.MOTO_HANDLE_TRANSACT_WRITE_ITEMS, theirs, entries)
    assert transaction_outcome(DynamoHandler.transact_write_items, ours, entries) == expected
    assert batch_contents(ours) == batch_contents(theirs)


def test_a_transaction_of_puts_is_seen_whole() -> None:
    """Two items put together, flipping between "a" and "b", against
    transactions checking that both are "a", under threads switching at
    nearly every bytecode: each check finds both or neither, never one
    (without ITEM_WRITES around the quick path's writes, some found one)."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    backend = backend_with_tables("us-east-1")
    torn: list[Any] = []
    done = threading.Event()

    def put_both() -> None:
        for n in range(300):
            value = {"S": "ab"[n % 2]}
            entries = [{"Put": {"TableName": "plain", "Item": {"pk": {"S": pk}, "v": value}}} for pk in ("x", "y")]
            transaction_outcome(DynamoHandler.transact_write_items, backend, entries)
        done.set()

    def check() -> None:
        both = [
            {
                "ConditionCheck": {
                    "TableName": "plain",
                    "Key": {"pk": {"S": pk}},
                    "ConditionExpression": "v = :a",
                    "ExpressionAttributeValues": {":a": {"S": "a"}},
                }
            }
            for pk in ("x", "y")
        ]
        while not done.is_set():
            answer = outcome(DynamoDBBackend.transact_write_items, backend, both)
            if answer is not None and "None" in answer[1] and "ConditionalCheckFailed" in answer[1]:
                torn.append(answer)

    backend.put_item("plain", {"pk": {"S": "x"}, "v": {"S": "b"}})
    backend.put_item("plain", {"pk": {"S": "y"}, "v": {"S": "b"}})
    racing(put_both, check)
    assert torn == []


def test_a_transaction_of_plain_puts_is_stored_without_moto_s_put(monkeypatch: Any) -> None:
    """The quick way is the one taken for the answer cache's writes."""
    from moto.dynamodb.models.table import Table

    def no_put(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("moto's put was used")

    monkeypatch.setattr(Table, "put_item", no_put)
    backend = backend_for_batches("us-west-2")
    # As the cache's: one source, a purl each
    items = [
        {"pk": {"S": "source"}, "sk": {"S": f"p{n}"}, "answer": {"S": "{}"}, "ttl": {"N": "1"}} for n in range(100)
    ]
    entries = [{"Put": {"TableName": "ranged", "Item": item}} for item in items]
    assert transaction_outcome(moto_speedups.DynamoHandler.transact_write_items, backend, entries) == {
        "ConsumedCapacity": [],
        "ItemCollectionMetrics": {},
    }
    assert len(backend.get_table("ranged").all_items()) == 100


def test_a_response_class_lists_the_methods_moto_lists() -> None:
    from moto.core import responses, utils
    from moto.dynamodb.responses import DynamoHandler

    assert responses.method_names_from_class(DynamoHandler) == utils.method_names_from_class(DynamoHandler)


# ---------------------------------------------------------------- SQS


@given(st.integers(60, 1_209_600), st.integers(-2_000_000, 10))
def test_messages_are_retained_as_moto_retains_them(retention: int, sent_seconds_ago: int) -> None:
    import time

    assume(abs(sent_seconds_ago - retention) > 5)  # not at the very second both clocks are read

    from moto.sqs.models import SQSBackend

    backend = SQSBackend("us-east-1", ACCOUNT)
    backend.create_queue("q", MessageRetentionPeriod=str(retention))
    message = backend.send_message("q", "body")
    message.sent_timestamp = int((time.time() - sent_seconds_ago) * 1000)
    ours = SQSBackend.is_message_valid_based_on_retention_period(backend, "q", message)
    assert ours == moto_speedups.MOTO_RETAINED(backend, "q", message)


moments = st.integers(-3, 3).map(lambda offset: 1_000_000.0 + offset)  # around the clock's 1,000,000 ms


@given(st.lists(st.tuples(moments, moments), max_size=8))
def test_a_queue_lists_the_messages_moto_lists(times: list[tuple[float, float]]) -> None:
    """Visible and not delayed, each as moto decides it, on one clock: in
    flight until, and delayed until, before, at and after the moment."""
    from unittest import mock

    from moto.sqs.models import SQSBackend

    backend = SQSBackend("us-east-1", ACCOUNT)
    queue = backend.create_queue("q")
    for number, (visible_at, delayed_until) in enumerate(times):
        message = backend.send_message("q", f"body {number}")
        message.visible_at, message.delayed_until = visible_at, delayed_until
    with mock.patch("moto.sqs.models.unix_time_millis", return_value=1_000_000.0):
        assert queue.messages == moto_speedups.MOTO_QUEUE_MESSAGES.fget(queue)


def sent(send: Any, kind: str, queue_delay: int, call: dict[str, Any]) -> Any:
    """What `send` made of one SendMessage on a fresh queue of `kind`
    (standard, fifo, or fifo deduplicating by content): the message's fields
    (not its random id, sequence number or clock; its delay in seconds) and
    the queue's length, or the error it raised."""
    from moto.core.exceptions import ServiceException
    from moto.sqs.models import SQSBackend

    backend = SQSBackend("us-east-1", ACCOUNT)
    name, attributes = "q", {"MaximumMessageSize": "1024", "DelaySeconds": str(queue_delay)}
    if kind != "standard":
        name, attributes["FifoQueue"], attributes["DelaySeconds"] = "q.fifo", "true", "0"
        attributes["ContentBasedDeduplication"] = str(kind == "fifo by content").lower()
    backend.create_queue(name, **attributes)
    try:
        message = send(backend, name, **call)
    except ServiceException as error:  # moto's own errors, compared by kind and text
        return type(error).__name__, str(error)
    fields = dict(vars(message))
    # In whole seconds, None when not delayed (delayed_until is 0 then):
    # the two clocks are read apart, further under a loaded run.
    delayed_until, sent_at = fields.pop("delayed_until"), fields.pop("sent_timestamp")
    fields["delay_s"] = round((delayed_until - sent_at) / 1000) if delayed_until else None
    fields["sequence_number"] = len(fields["sequence_number"] or "")
    del fields["id"]
    return fields, len(backend.get_queue(name)._messages)


@settings(deadline=None)
@given(
    st.sampled_from(["standard", "fifo", "fifo by content"]),
    st.integers(0, 5),
    st.fixed_dictionaries(
        {
            "message_body": st.text(min_size=1, max_size=8) | st.just("x" * 1025),
            "delay_seconds": st.none() | st.sampled_from([0, 3, 900, 901]),
        },
        optional={
            "message_attributes": st.none() | st.just({"a": {"DataType": "String", "StringValue": "b"}}),
            "deduplication_id": st.none() | st.just("d"),
            "group_id": st.none() | st.just("g"),
            "system_attributes": st.none() | st.just({"AWSTraceHeader": {"DataType": "String", "StringValue": "t"}}),
        },
    ),
)
def test_messages_are_sent_as_moto_sends_them(kind: str, queue_delay: int, call: dict[str, Any]) -> None:
    from moto.sqs.models import SQSBackend

    ours = sent(SQSBackend.send_message, kind, queue_delay, call)
    assert ours == sent(moto_speedups.MOTO_SEND_MESSAGE, kind, queue_delay, call)


def test_items_and_messages_are_freed_once_nothing_holds_them() -> None:
    """moto lists every instance of its models for its dashboard until it is
    reset, so every item put, copied or deleted and every message sent
    stayed in memory for the stack's life: 48,600 items a bench scan."""
    import gc
    import weakref

    from moto.sqs.models import SQSBackend

    dynamodb = backend_with_tables("us-east-1")
    dynamodb.put_item("plain", {"pk": {"S": "a"}, "v": {"S": "x"}})
    read = dynamodb.get_item("plain", {"pk": {"S": "a"}}, projection_expressions=[["v"]])
    items = [weakref.ref(dynamodb.get_table("plain").items[DynamoType({"S": "a"})]), weakref.ref(read)]
    dynamodb.delete_item("plain", {"pk": {"S": "a"}})
    # An item a Query read, whose partition's order is kept for the next page
    dynamodb.put_item("ranged", {"pk": {"S": "a"}, "sk": {"S": "1"}})
    ranged = dynamodb.get_table("ranged")
    assert len(ranged.query(DynamoType({"S": "a"}), None, [], 10, None, True, None)[0]) == 1
    items.append(weakref.ref(ranged.items[DynamoType({"S": "a"})][DynamoType({"S": "1"})]))
    dynamodb.delete_item("ranged", {"pk": {"S": "a"}, "sk": {"S": "1"}})
    sqs = SQSBackend("us-east-1", ACCOUNT)
    sqs.create_queue("q")
    messages = [weakref.ref(sqs.send_message("q", "body"))]
    sqs.purge_queue("q")
    del read
    gc.collect()
    assert [ref() for ref in items + messages] == [None, None, None, None]


def test_shard_iterators_expire_and_are_forgotten(
    served: tuple[Provisioned, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On DynamoDB Streams an iterator serves for 15 minutes, then GetRecords
    refuses it; moto's were kept for ever (four a second of the stack's
    pollers) and an unknown one failed with a 500."""
    from types import SimpleNamespace

    from botocore.exceptions import ClientError
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    clock = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(moto_speedups, "time", SimpleNamespace(monotonic=lambda: clock.now))
    made, url = served
    streams, arn = aws_client("dynamodbstreams", url), made.stream_arns["AssessmentsTable"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def handed_out() -> str:
        answer = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        return str(answer["ShardIterator"])

    first = handed_out()
    for _ in range(2):  # as often as wanted while it lives
        assert streams.get_records(ShardIterator=first)["Records"] == []
    clock.now += 15 * 60 - 1
    assert streams.get_records(ShardIterator=first)["Records"] == []  # a second short of 15 minutes
    clock.now += 1
    with pytest.raises(ClientError) as refused:
        streams.get_records(ShardIterator=first)
    assert refused.value.response["Error"]["Code"] == "ExpiredIteratorException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    streams.get_records(ShardIterator=handed_out())
    # the one the read a second short of 15 minutes answered with, the one
    # just handed out and the one its read answered with
    assert len(dynamodbstreams_backends[ACCOUNT]["us-east-1"].shard_iterators) == 3


def test_messages_are_handed_out_once_and_none_is_lost_under_threads() -> None:
    """Senders, and receivers deleting what they got (or giving every other
    message back once), all at once with a thread switch at nearly every
    bytecode: moto's own handed one message to two receivers, failed a
    receive, or lost a message sent during a delete."""
    from collections import Counter

    from moto.sqs.models import SQSBackend

    backend = SQSBackend("us-east-1", ACCOUNT)
    backend.create_queue("busy")
    sent = [f"m{n}" for n in range(2400)]
    received: Counter[str] = Counter()
    failures: list[Exception] = []
    senders_done = threading.Event()

    def given_back(body: str) -> bool:  # every other message comes back once
        return int(body[1:]) % 2 == 1

    def send(bodies: list[str]) -> None:
        for body in bodies:
            backend.send_message("busy", body)

    def receive() -> None:
        try:
            while True:
                messages = backend.receive_message("busy", 2, 0, 30)
                if not messages and senders_done.is_set() and not backend.get_queue("busy").messages:
                    return
                for message in messages:
                    received[message.body] += 1
                    if received[message.body] == 1 and given_back(message.body):
                        backend.change_message_visibility("busy", message.receipt_handle, 0)
                    else:
                        backend.delete_message("busy", message.receipt_handle)
        except Exception as error:  # noqa: BLE001 - every failure is the finding
            failures.append(error)

    with switching_at_nearly_every_bytecode():
        senders = [threading.Thread(target=send, args=(sent[n::3],)) for n in range(3)]
        receivers = [threading.Thread(target=receive) for _ in range(6)]
        for thread in senders + receivers:
            thread.start()
        for thread in senders:
            thread.join()
        senders_done.set()
        for thread in receivers:
            thread.join(timeout=60)
    assert failures == []
    expected = {body: 2 if given_back(body) else 1 for body in sent}
    assert {body: count for body, count in received.items() if count != expected[body]} == {}
    assert sorted(received) == sorted(sent)
    assert backend.get_queue("busy")._messages == []


def test_a_long_poll_waits_for_a_message_and_ends_empty_at_its_time() -> None:
    import time

    from moto.sqs.models import SQSBackend

    backend = SQSBackend("us-east-1", ACCOUNT)
    backend.create_queue("waiting")
    started = time.monotonic()
    assert backend.receive_message("waiting", 1, 1, 30) == []
    assert 0.9 < time.monotonic() - started < 3

    threading.Timer(0.2, backend.send_message, ("waiting", "late")).start()
    started = time.monotonic()
    [message] = backend.receive_message("waiting", 1, 10, 30)
    assert message.body == "late"
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- connections


def signed(service: str, target: str | None, content_type: str) -> dict[str, str]:
    headers = {
        "Host": "127.0.0.1:5000",
        "Content-Type": content_type,
        "Authorization": f"AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host, Signature=x",
    }
    if target:
        headers["X-Amz-Target"] = target
    return headers


def raw_request(body: bytes, *, close: bool = False) -> bytes:
    headers = signed("dynamodb", "DynamoDB_20120810.ListTables", "application/x-amz-json-1.0")
    headers["Content-Length"] = str(len(body))
    if close:
        headers["Connection"] = "close"
    lines = ["POST / HTTP/1.1", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answers(sock: Any) -> list[bytes]:
    """Every answer read from `sock` until the server closes it or stops sending."""
    received = b""
    sock.settimeout(2)
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pass
    return received.split(b"HTTP/1.1 ")[1:]


def test_the_server_keeps_a_connection_for_the_next_request() -> None:
    """Two requests on one connection are both answered, the second even
    when sent at once after the first (werkzeug's drain after an answer
    must not eat it); a client's own "Connection: close" still closes."""
    import socket

    port = free_port()
    server = moto_speedups.KeepAliveMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(raw_request(b"{}") + raw_request(b'{"Limit": 5}') + raw_request(b"{}", close=True))
            got = answers(sock)
        assert len(got) == 3
        assert all(part.startswith(b"200 OK") for part in got)
        assert all(b"Connection: close" not in part for part in got[:2])
        assert b'"TableNames"' in got[2]
    finally:
        server.stop()


def json_request(service: str, target: str, body: dict[str, Any]) -> dict[str, Any]:
    """An AWS JSON-protocol request, as werkzeug's EnvironBuilder takes it."""
    return {
        "method": "POST",
        "path": "/",
        "data": json.dumps(body),
        "headers": signed(service, target, "application/x-amz-json-1.0"),
    }


def dynamodb(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    return json_request("dynamodb", f"DynamoDB_20120810.{operation}", body)


def sqs(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    return json_request("sqs", f"AmazonSQS.{operation}", body)


def test_answers_without_flask_are_flasks_answers() -> None:
    """moto's answer got without its Flask app around the view: the same
    status, body and headers (but a request's own id), for answers and
    errors of DynamoDB and SQS, and a path no view serves."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.test import EnvironBuilder

    dispatcher = DomainDispatcherApplication(create_backend_app)

    def through(app: Any, request: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
        started: list[Any] = []
        environ = EnvironBuilder(**request).get_environ()
        body = b"".join(app(environ, lambda status, headers, exc=None: started.extend([status, headers])))
        headers = {name.lower(): value for name, value in started[1]}
        for varying in ("x-amzn-requestid", "x-amz-crc32", "date", "x-amz-request-id"):
            headers.pop(varying, None)
        return started[0], headers, body

    def direct(request: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
        environ = EnvironBuilder(**request).get_environ()
        answer = moto_speedups._answer_without_flask(dispatcher, environ)
        assert answer is not None, request
        return through(lambda *_: answer(environ, _[1]), request)

    table = {
        "TableName": "flaskless",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    assert through(dispatcher, dynamodb("CreateTable", table))[0] == "200 OK"
    try:
        _compare_flaskless(dispatcher, direct, through)
    finally:  # moto's state is the process's: other tests start empty
        through(dispatcher, {"method": "POST", "path": "/moto-api/reset"})


def _compare_flaskless(dispatcher: Any, direct: Any, through: Any) -> None:
    from werkzeug.test import EnvironBuilder

    assert direct(dynamodb("PutItem", {"TableName": "flaskless", "Item": {"pk": {"S": "a"}}})) == through(
        dispatcher, dynamodb("PutItem", {"TableName": "flaskless", "Item": {"pk": {"S": "b"}}})
    )
    queue = through(dispatcher, sqs("CreateQueue", {"QueueName": "flaskless"}))
    url = json.loads(queue[2])["QueueUrl"]
    reads = [
        dynamodb("GetItem", {"TableName": "flaskless", "Key": {"pk": {"S": "a"}}}),
        dynamodb("Scan", {"TableName": "flaskless"}),
        dynamodb(
            "Query",
            {
                "TableName": "flaskless",
                "KeyConditionExpression": "pk = :a",
                "ExpressionAttributeValues": {":a": {"S": "b"}},
            },
        ),
        dynamodb("GetItem", {"TableName": "missing", "Key": {"pk": {"S": "a"}}}),
        dynamodb("GetItem", {"TableName": "flaskless", "Key": {"wrong": {"S": "a"}}}),
        sqs("GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]}),
        sqs("ReceiveMessage", {"QueueUrl": url}),
        sqs("GetQueueUrl", {"QueueName": "missing"}),
    ]
    for request in reads:
        assert direct(request) == through(dispatcher, request), request
    unknown = dynamodb("NoSuchOperation", {})
    for answer in (direct, lambda request: through(dispatcher, request)):
        with pytest.raises(NotImplementedError):  # a 500 from either server
            answer(unknown)
    nowhere = {"method": "GET", "path": "/no/such/path", "headers": signed("sqs", None, "text/plain")}
    assert moto_speedups._answer_without_flask(dispatcher, EnvironBuilder(**nowhere).get_environ()) is None
    browser = {**reads[0], "headers": {**reads[0]["headers"], "Origin": "http://localhost"}}
    assert direct(browser) == through(dispatcher, browser)
    assert "access-control-allow-origin" in direct(browser)[1]
    preflight = {**browser, "method": "OPTIONS"}
    assert moto_speedups._answer_without_flask(dispatcher, EnvironBuilder(**preflight).get_environ()) is None


def test_answers_are_moto_s_whether_or_not_capacity_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads and writes that may report consumed capacity answer what moto's
    answer, byte for byte, with ReturnConsumedCapacity absent, NONE, TOTAL,
    INDEXES or not one of those."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.test import EnvironBuilder

    dispatcher = DomainDispatcherApplication(create_backend_app)

    def answer(request: dict[str, Any]) -> tuple[str, bytes]:
        started: list[Any] = []
        environ = EnvironBuilder(**request).get_environ()
        body = b"".join(dispatcher(environ, lambda status, headers, exc=None: started.extend([status, headers])))
        return started[0], body

    table = {
        "TableName": "capacity",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    item = {"pk": {"S": "a"}, "text": {"S": 'ünïcødé \u2028 "quoted"'}, "n": {"N": "1.50"}, "set": {"SS": ["x", "y"]}}
    assert answer(dynamodb("CreateTable", table))[0] == "200 OK"
    assert answer(dynamodb("PutItem", {"TableName": "capacity", "Item": item}))[0] == "200 OK"
    query = {"KeyConditionExpression": "pk = :a", "ExpressionAttributeValues": {":a": {"S": "a"}}}
    asked = [
        ("GetItem", {"Key": {"pk": {"S": "a"}}}),
        ("GetItem", {"Key": {"pk": {"S": "none"}}}),
        ("Query", query),
        ("Scan", {}),
        ("PutItem", {"Item": item, "ReturnValues": "ALL_OLD"}),
        ("DeleteItem", {"Key": {"pk": {"S": "none"}}}),
    ]
    try:
        for operation, body in asked:
            for capacity in (None, "NONE", "TOTAL", "INDEXES", "SOME"):
                request = dynamodb(
                    operation,
                    {"TableName": "capacity", **body, **({"ReturnConsumedCapacity": capacity} if capacity else {})},
                )
                ours = answer(request)
                with monkeypatch.context() as moto_s:
                    for name, action in moto_speedups.MOTO_CAPACITY_ACTIONS.items():
                        moto_s.setattr(DynamoHandler, name, action)
                    assert ours == answer(request), (operation, capacity)
    finally:  # moto's state is the process's: other tests start empty
        answer({"method": "POST", "path": "/moto-api/reset"})


def test_the_server_reads_bodies_as_clients_send_them() -> None:
    """A chunked body, a client waiting for "100 Continue", an HTTP/1.0
    request (answered, then closed) and a request line that is not HTTP."""
    import socket

    port = free_port()
    server = moto_speedups.KeepAliveMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        chunked = raw_request(b"").replace(b"Content-Length: 0", b"Transfer-Encoding: chunked")
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(chunked.replace(b"\r\n\r\n", b"\r\n\r\n2\r\n{}\r\n0\r\n\r\n"))
            sock.sendall(raw_request(b"{}").replace(b"Content-Length", b"Expect: 100-continue\r\nContent-Length"))
            sock.sendall(raw_request(b"{}").replace(b"HTTP/1.1", b"HTTP/1.0"))
            got = answers(sock)
        assert [part[:6] for part in got] == [b"200 OK", b"100 Co", b"200 OK", b"200 OK"]
        assert b"Connection: close" in got[3]
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"hello\r\n\r\n")
            assert answers(sock)[0].startswith(b"400")
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(raw_request(b"").replace(b"Content-Length: 0", b"Content-Length: many"))
            assert answers(sock)[0].startswith(b"400")
    finally:
        server.stop()


def test_stopping_the_server_closes_idle_connections() -> None:
    import socket

    port = free_port()
    server = moto_speedups.KeepAliveMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(raw_request(b"{}"))
        assert len(answers(sock)) == 1
        server.stop()
        sock.settimeout(2)
        assert sock.recv(100) == b""  # closed by the server, not left waiting


def test_clients_reuse_their_connections() -> None:
    from socketserver import StreamRequestHandler

    port = free_port()
    server = moto_speedups.KeepAliveMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    opened: list[Any] = []
    setup = StreamRequestHandler.setup

    def counted(handler: Any) -> None:
        opened.append(handler)
        setup(handler)

    try:
        moto_speedups.KeepAliveHandler.setup = counted  # type: ignore[method-assign]
        client = aws_client("dynamodb", f"http://127.0.0.1:{port}")
        for _ in range(20):
            assert client.list_tables()["TableNames"] == []
        assert len(opened) == 1
    finally:
        del moto_speedups.KeepAliveHandler.setup
        server.stop()


def test_an_event_goes_through_a_target_input_as_moto_sends_it_each_path_parsed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import jsonpath_ng.ext
    from jsonpath_ng.ext.parser import ExtendedJsonPathParser
    from moto.events.utils import EventTemplateParser

    event = {
        "id": "e-1",
        "time": 1795676400.0,  # moto formats it after the template
        "detail-type": "Finding Detected",
        "source": "feedguard",
        "region": "us-east-1",
        "account": "123456789012",
        "resources": [],
        "detail": {"feed": "demo", "vulnerability": {"id": "CVE-2021-44228"}},
        "ingestion-time": 1.5,
    }
    inputs = [
        {"input_template": None, "input_paths_map": {}},  # what a target without a transformer gets
        {
            "input_template": '{"feed": "<feed>", "id": "<id>"}',
            "input_paths_map": {"feed": "$.detail.feed", "id": "$.id"},
        },
    ]
    built = 0
    build = ExtendedJsonPathParser.__init__

    def counted(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal built
        built += 1
        build(self, *args, **kwargs)

    monkeypatch.setattr(ExtendedJsonPathParser, "__init__", counted)
    ours = [EventTemplateParser.parse(event=event, **given) for given in inputs]
    first = built
    assert [EventTemplateParser.parse(event=event, **given) for given in inputs] == ours
    assert built == first  # every path was parsed already
    monkeypatch.setattr(jsonpath_ng.ext, "parse", moto_speedups.MOTO_PARSE_JSON_PATH)
    assert [EventTemplateParser.parse(event=event, **given) for given in inputs] == ours
    assert built > first
