"""Batch writes and reads with what DynamoDB asks of callers: at most 25
writes / 100 reads a call, and unprocessed items retried with exponential
backoff and jitter (PynamoDB's own BatchWrite retries at once)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.attributes import Attribute
from pynamodb.exceptions import GetError, PutError
from pynamodb.models import Model

from feedguard.dal.models import connection

M = TypeVar("M", bound=Model)
T = TypeVar("T")

WRITE_LIMIT = 25
READ_LIMIT = 100
TRANSACTION_ITEMS = 100
MAX_ATTEMPTS = 8
BASE_DELAY = 0.05
MAX_DELAY = 2.0
# Calls in flight at once, for every caller in the process together. One
# pool for all: a pool made per call cost a scan worker about a millisecond
# of CPU a batch. Its threads only send calls, never batch again.
CALLS_AT_ONCE = 8
_calls = ThreadPoolExecutor(max_workers=CALLS_AT_ONCE, thread_name_prefix="dynamodb-batch")


def alongside(call: Callable[..., T], *args: Any) -> Future[T]:
    """`call(*args)` sent on the pool while the caller sends its own calls:
    one read that needs nothing of them (the gate's Query of a feed's
    exceptions, beside its BatchGet of packages) costs no round trip of
    its own. `call` must send its calls itself, not batch on the pool."""
    return _calls.submit(call, *args)


class UnprocessedItems(RuntimeError):
    """DynamoDB kept refusing some items after every retry."""


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(MAX_DELAY, BASE_DELAY * 2**attempt)))  # noqa: S311 - jitter, not crypto


def _write_chunk(model: type[Model], puts: list[dict[str, Any]], deletes: list[dict[str, Any]]) -> None:
    table = model.Meta.table_name
    for attempt in range(MAX_ATTEMPTS):
        requests = [{"DeleteRequest": {"Key": key}} for key in deletes]
        requests += [{"PutRequest": {"Item": item}} for item in puts]
        try:
            answer = connection().dispatch("BatchWriteItem", {"RequestItems": {table: requests}}) or {}
        except (BotoCoreError, ClientError) as error:  # as PynamoDB's own batch write says it
            raise PutError(f"Failed to batch write items: {error}", error) from error
        unprocessed = answer.get("UnprocessedItems", {}).get(table) or []
        if not unprocessed:
            return
        puts = [entry["PutRequest"]["Item"] for entry in unprocessed if "PutRequest" in entry]
        deletes = [entry["DeleteRequest"]["Key"] for entry in unprocessed if "DeleteRequest" in entry]
        _backoff(attempt)
    raise UnprocessedItems(
        f"{len(puts) + len(deletes)} writes to {table} stayed unprocessed after {MAX_ATTEMPTS} tries"
    )


def write(model: type[M], puts: Iterable[M] = (), deletes: Iterable[M] = ()) -> None:
    """Puts and deletes, 25 a call, calls in parallel."""
    write_serialized(
        model,
        [item.serialize() for item in puts],
        [key_of(item) for item in deletes],
    )


def key_of(item: Model) -> dict[str, Any]:
    """The item's key in DynamoDB's form."""
    return {
        attribute.attr_name: {attribute.attr_type: attribute.serialize(getattr(item, name))}
        for name, attribute in type(item).get_attributes().items()
        if attribute.is_hash_key or attribute.is_range_key
    }


def write_serialized(
    model: type[Model], puts: Sequence[dict[str, Any]], deletes: Sequence[dict[str, Any]] = ()
) -> None:
    """`write` for items already in DynamoDB's form (a hot path that builds
    them without a model instance each)."""
    operations: list[tuple[str, dict[str, Any]]] = [("put", item) for item in puts]
    operations += [("delete", key) for key in deletes]
    chunks = list(_chunks(operations, WRITE_LIMIT))

    def send(chunk: Sequence[tuple[str, dict[str, Any]]]) -> None:
        _write_chunk(
            model,
            [item for action, item in chunk if action == "put"],
            [item for action, item in chunk if action == "delete"],
        )

    _send_all(send, chunks)


def _send_all(send: Callable[[T], None], chunks: list[T]) -> None:
    """`send` for each chunk: in parallel when there are several."""
    if len(chunks) <= 1:
        for chunk in chunks:
            send(chunk)
        return
    list(_calls.map(send, chunks))


def serialized_keys(model: type[Model], keys: Iterable[Any]) -> list[dict[str, Any]]:
    """Keys in DynamoDB's form: each a hash key, or a (hash, range) pair for
    a model with a range key, as `read` takes them. Only for string keys."""
    attributes = model.get_attributes().values()
    hash_attribute = next(attribute for attribute in attributes if attribute.is_hash_key)
    range_attribute = next((attribute for attribute in attributes if attribute.is_range_key), None)
    for attribute in (hash_attribute, range_attribute):
        if attribute is not None and attribute.attr_type != "S":
            raise TypeError(f"{model.__name__}.{attribute.attr_name} is not a string key")
    hash_name = hash_attribute.attr_name
    if range_attribute is None:
        return [{hash_name: {"S": key}} for key in keys]
    range_name = range_attribute.attr_name
    return [{hash_name: {"S": hash_key}, range_name: {"S": range_key}} for hash_key, range_key in keys]


def read_serialized(
    model: type[Model], keys: Sequence[dict[str, Any]], attributes: Sequence[str] = (), consistent: bool = False
) -> list[dict[str, Any]]:
    """`read` for keys already in DynamoDB's form, answering items in it (a
    hot path: a scan batch reads 128 cache items, and PynamoDB made a key
    map twice and a model once for each, half of the read's CPU), with only
    `attributes` when named, strongly consistent when `consistent`.
    Unprocessed keys are asked again with backoff, as writes are."""
    table = model.Meta.table_name
    asked: dict[str, Any] = {"ConsistentRead": True} if consistent else {}
    if attributes:
        names = {f"#a{n}": name for n, name in enumerate(attributes)}
        asked |= {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}

    def fetch(chunk: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        pending = list(chunk)
        for attempt in range(MAX_ATTEMPTS):
            try:
                answer = connection().dispatch("BatchGetItem", {"RequestItems": {table: {"Keys": pending, **asked}}})
            except (BotoCoreError, ClientError) as error:  # as PynamoDB's own batch read says it
                raise GetError(f"Failed to batch get items: {error}", error) from error
            found += answer.get("Responses", {}).get(table, [])
            pending = answer.get("UnprocessedKeys", {}).get(table, {}).get("Keys") or []
            if not pending:
                return found
            _backoff(attempt)
        raise UnprocessedItems(f"{len(pending)} reads of {table} stayed unprocessed after {MAX_ATTEMPTS} tries")

    return _fetched(fetch, keys)


def read_values(model: type[Model], keys: Iterable[Any], attributes: Sequence[Attribute[Any]]) -> list[dict[str, Any]]:
    """Of each item of these keys (as `serialized_keys` takes them) that
    exists, only `attributes`, by name: each value as DynamoDB's JSON carries
    it (a number as its string, a set as a list), None when absent. No model
    is built."""
    items = read_serialized(model, serialized_keys(model, keys), [attribute.attr_name for attribute in attributes])
    return [{a.attr_name: item.get(a.attr_name, {}).get(a.attr_type) for a in attributes} for item in items]


def read(model: type[M], keys: Sequence[Any], attributes: Sequence[str] | None = None) -> list[M]:
    """BatchGet, 100 keys a call, calls in parallel (PynamoDB retries
    unprocessed keys of each call)."""

    def fetch(chunk: Sequence[Any]) -> list[M]:
        return list(model.batch_get(chunk, attributes_to_get=attributes))

    return _fetched(fetch, keys)


def read_tables(wanted: Sequence[tuple[type[Model], Sequence[Any]]]) -> list[list[Model]]:
    """`read` of keys of several tables in one round trip: their keys
    together, 100 a BatchGetItem whatever their table, the calls in parallel;
    for each (model, keys) of `wanted`, the items found. Unprocessed keys are
    asked again with backoff."""
    tagged = [(model.Meta.table_name, key) for model, keys in wanted for key in serialized_keys(model, keys)]
    models = {model.Meta.table_name: model for model, _ in wanted}

    def fetch(chunk: Sequence[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        pending: dict[str, Any] = {}
        for table, key in chunk:
            pending.setdefault(table, {"Keys": []})["Keys"].append(key)
        found: list[tuple[str, dict[str, Any]]] = []
        for attempt in range(MAX_ATTEMPTS):
            try:
                answer = connection().dispatch("BatchGetItem", {"RequestItems": pending})
            except (BotoCoreError, ClientError) as error:  # as PynamoDB's own batch read says it
                raise GetError(f"Failed to batch get items: {error}", error) from error
            found += [(table, item) for table, items in answer.get("Responses", {}).items() for item in items]
            pending = answer.get("UnprocessedKeys") or {}
            if not pending:
                return found
            _backoff(attempt)
        raise UnprocessedItems(f"{sum(len(p['Keys']) for p in pending.values())} reads stayed unprocessed")

    by_table: dict[str, list[Model]] = {table: [] for table in models}
    for table, item in _fetched(fetch, tagged):
        by_table[table].append(models[table].from_raw_data(item))
    return [by_table[model.Meta.table_name] for model, _ in wanted]


def _fetched(fetch: Callable[[Sequence[Any]], list[T]], keys: Sequence[Any]) -> list[T]:
    """What `fetch` finds for each READ_LIMIT keys, the calls in parallel
    when there are several."""
    chunks = list(_chunks(list(keys), READ_LIMIT))
    if len(chunks) <= 1:
        return [item for chunk in chunks for item in fetch(chunk)]
    return [item for found in _calls.map(fetch, chunks) for item in found]
