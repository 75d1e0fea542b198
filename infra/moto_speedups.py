"""moto, made quicker where it spends time for nothing. The local stack runs
moto's server in one Python process, so its overheads are every test's and
every benchmark's; each change here keeps moto's answers exactly as they
were (tests/unit/test_moto_speedups.py holds them to that).

- Connections: werkzeug's development server, which moto's runs on, closes
  the connection after every answer (its comment: Python's http.server
  cannot drain a request body before the next request line). So every
  DynamoDB and SQS call of every function opened a connection, and the
  server started a thread for it: half of a GetItem's time in moto's
  process. `KeepAliveMotoServer` serves moto's WSGI application from a
  small HTTP/1.1 server of its own that reads each body whole (by length
  or chunked) and keeps the connection, as DynamoDB's and SQS's endpoints
  do. werkzeug's request handler, kept open (the previous way), still
  spent 0.3 ms of a 1.1 ms GetItem on parsing headers through the email
  package, a selector made and polled after every answer, and writing an
  answer in pieces.
- Answering without Flask: moto's server wraps each service in a Flask
  app whose view calls moto's response class; Flask's request context,
  routing and hooks were half of a GetItem's time in moto (0.21 of 0.40
  ms). The server calls the view itself, with the request Flask would
  build and the CORS headers the app's hook would add; anything else (a
  preflight, a compressed body, a view or hook moto did not make) still
  goes through Flask.
- Finding a request's backend: moto's server lists its own package
  directory (a stat per entry) and tries its URL patterns in turn on every
  request, about a millisecond, a fifth of a GetItem. The answer for a host
  never changes, so it is remembered.
- Answering a request: moto lists the methods of its response class (an
  `inspect.getmembers`) on every request to find the action's; a class's
  methods do not change, so they are listed once.
- Making an attribute value: moto lists the one key of `{"S": "x"}` and
  its one value, then asks whether it is a list and whether a map; an item
  of five attributes makes nine values when it is put (its keys twice
  more), and a string hashes through the same dispatch as it is stored.
  A string, number, binary, boolean, null or set is now kept as it comes;
  lists and maps still go through moto.
- Comparing two strings: moto compares attribute values through
  `DynamoType.cast_value`, which dispatches on the type each time. A Query
  compares the hash key of every item of the table and sorts its partition
  by range key, so a Query over 6,000 of 18,000 items made about 350,000 such
  comparisons; two strings now compare as the strings they are.
- A Query of a table (not of an index) read every item of the table to find
  those of its partition, on every page: a scan planning 18,000 package
  rows in pages of 2,500 read the table 8 times over. It now reads the
  partition, which moto keeps apart anyway; the rest of moto's Query
  (order, pages, filters, projections) runs on it unchanged.
- Pages of a Query: moto found where a page starts by walking the
  partition from its first item, sized every item twice, and copied each
  whole item before picking the projected attributes. A scan plans 18,000
  package rows in pages of 1,000, a third of moto's time in a scan. A
  table Query whose range keys are strings, without a filter, now finds
  its start by bisection and copies what it answers; anything else (an
  index, a filter, a number or binary range key) is moto's Query still.
  The partition's order is kept for its next page while it holds the same
  keys (SortedPartition): sorting a feed of 6,666 rows for each of its
  seven pages, and reading the projection's names once per item, was
  four tenths of such a Query.
- Consumed capacity: moto's item reads and writes parse their own answer
  and serialize it again to add the capacity a request may ask for, and
  do so when none is asked (a Query page of 1,000 rows: 2.3 ms); they now
  do so only when it is asked.
- Duplicate keys: moto finds them by looking each key of a BatchGetItem
  up in a list of those before it, 0.3 ms for 100 keys; keys whose values
  are strings are now told apart by hashing (0.07 ms), anything else by
  moto.
- Projections: moto projected each item by turning it into plain Python
  values once per projected attribute and back into DynamoDB's types, which
  made a Query of three attributes slower than one of every attribute. An
  expression naming top-level attributes only now picks them; nested paths
  and list elements still go through moto.
- Receiving SQS messages: moto checks each message it hands out against
  the queue's retention period by computing every attribute of the queue
  three times (their approximate counts walk every message); it now reads
  the retention period.
- SQS under the server's threads: moto hands out, deletes and changes the
  visibility of a queue's messages without a lock, while the server
  answers each connection on a thread of its own. Two receives at once
  could both hand out one message, a receive could fail ("set changed
  size during iteration", a 500), and a delete, which rebuilds the list
  of messages, could drop one sent meanwhile. The stack's pollers
  long-poll while scan workers take batches with short polls, so this
  could happen in any scan. A receive's look at the queue, a delete and a
  change of visibility now hold the queue's own lock (the one moto's
  sends already take); a long poll waits for messages without it. On SQS
  a message in flight is not handed out again, and none sent is lost.
- Building an item: moto's item checks the 400 KB limit as each attribute
  is added by summing the sizes of all attributes so far, which makes
  every write quadratic in the item's attributes; the running total is
  now kept, and the same error raised at the same attribute.
- Batches of puts: moto checks each item of a BatchWriteItem in four
  passes (empty keys, types, key sizes, duplicates by serializing the
  item to JSON), looks its table up twice, and builds each item and its
  key values through its general put, conditions and all; a scan's answer
  cache writes 10,000 items in 400 such calls, the largest part of moto's
  time in a scan. A batch of puts into one table without a global index,
  whose values are strings, numbers, string or number sets, booleans or
  null, is now checked in one pass and stored as moto stores it; anything
  else, or anything moto would refuse, is moto's batch write still, from
  the start, so it answers and refuses as it did. The cache now writes a
  batch's answers in transactions of up to 100 unconditional puts, and
  moto's transaction checks each put's condition (none), empty keys and
  names, then puts it through its general put: 15-18 ms of the stack's
  CPU for 128 answers, against 13-16 ms as batches of 25, in one sitting.
  Such a transaction is now checked and stored the same way (10-12 ms);
  any other is moto's.
- Conditions: moto parses a condition expression every time it is used,
  and a transaction's twice or more (its check, then the write's own
  check, and the request's validation); a batch's count, a transaction
  of two conditional writes, spent about a third of its 2 ms in moto
  parsing them. A condition is now parsed once for the same expression,
  names and values (the 256 last parsed are kept), and the tree, which
  evaluating it does not change, is reused with the names and values the
  parse found. A write without a condition (moto asks for one for each
  put of a transaction) gets moto's answer at once: serializing its empty
  names and values to look it up cost more than that.
- Transactions: moto copies every table a transaction writes to (deeply,
  every item) before it starts, and on a cancellation puts the copies back
  in place of the tables. That cost grew with the table (a scan's batch
  markers), and it was wrong under the server's threads: a copy raced
  other requests' writes ("dictionary changed size during iteration", a
  500 the client retried), and a cancelled transaction put back a table
  that lacked every write made meanwhile by others. Now a transaction
  checks every condition first, then writes, one transaction at a time;
  only the items it writes are copied, and only those are put back if a
  write fails half-way, with their stream records. A cancelled transaction
  wrote nothing, as on DynamoDB.
- Writing an item whole: moto updates an item in place, one attribute at
  a time, and a transaction's checks ran while other threads' single
  writes did. A scan's count, conditioned on two attributes the
  coordinator sets in one UpdateItem, saw one set and not the other, and
  the scan never finished (one bench scan in about a hundred). Every write
  that is not one assignment (an update, a put or delete on a condition)
  and every transaction now holds one lock while it writes (ITEM_WRITES),
  as DynamoDB writes an item whole.
- Forgetting what is gone: moto keeps every instance of its models in a
  list on the model's class, for its dashboard (`/moto-api/data.json`),
  until the server is reset. So every DynamoDB item it ever made (each
  put, and each copy a Query, a read or a transaction answers with), every
  SQS message and every stream shard iterator stayed in memory for the
  stack's life: a scan of 10,000 purls left 48,600 items behind, about
  315,000 objects (46 MB), and a full pass of the collector, which holds
  the GIL and so stops every server of the stack, took 0.16 s after one
  scan and 0.32 s after three. Those three are no longer listed; tables,
  queues and the rest still are.
- Shard iterators: moto keeps every shard iterator it hands out, and a
  GetRecords answers with a new one, so the stack's stream pollers left
  four behind a second, about 2 KB each (30 MB an hour of an idle `make
  dev`). On DynamoDB Streams an iterator expires 15 minutes after it is
  handed out; here too (SHARD_ITERATOR_LIFETIME): it is forgotten then,
  and GetRecords with it is refused with ExpiredIteratorException, as on
  AWS (moto's own failed with a 500 on an iterator it did not know).
- Listing a queue's visible messages: moto reads the clock twice for
  each message of the queue (through datetime, a few microseconds each),
  and does so on every receive, so a receive took 1.1 ms with 80 messages
  queued and 21 ms with 2,000: a scan planning thousands of batches had
  its workers take them in quadratic time. The clock is now read once a
  listing; a message is visible as moto decides it, at that moment.
- Sending an SQS message: moto computes every attribute of the queue to
  read ContentBasedDeduplication, which only a FIFO queue has, and three
  of those attributes walk every message in the queue: a send took 2.7 ms
  into a queue of 100 messages and 38 ms into one of 2,000, so a scan
  planning thousands of batches sent them in quadratic time. A send to a
  standard queue now does what moto's does without that; a FIFO queue's
  is moto's own.
"""

from __future__ import annotations

import bisect
import contextlib
import copy
import decimal
import functools
import inspect
import io
import itertools
import json
import logging
import operator
import socket
import socketserver
import string
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import unquote

import jsonpath_ng.ext
import jsonpath_ng.ext.parser
from botocore.exceptions import ClientError
from flask import Request as FlaskRequest
from flask import Response as FlaskResponse
from flask_cors.core import ACL_ORIGIN, get_cors_headers, try_match_pattern
from moto.core import responses
from moto.core import utils as core_utils
from moto.core.exceptions import JsonRESTError
from moto.core.utils import unix_time
from moto.dynamodb.comparisons import ConditionExpressionParser, OpDefault, get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    ItemSizeTooLarge,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.limits import HASH_KEY_MAX_LENGTH, RANGE_KEY_MAX_LENGTH
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table
from moto.dynamodb.models.utilities import bytesize, dynamo_json_dump
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator
from moto.moto_api import recorder
from moto.moto_api._internal import mock_random
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs import models as sqs_models
from moto.sqs.exceptions import InvalidParameterValue
from moto.sqs.models import MAXIMUM_MESSAGE_DELAY, Message, Queue, SQSBackend
from werkzeug.exceptions import HTTPException

log = logging.getLogger("feedguard.local")
STRING = "S"
NUMBER = "N"
STRING_SET = "SS"
# moto's own, for tests/unit/test_moto_speedups.py to hold ours to.
MOTO_TRANSACT_WRITE_ITEMS = DynamoDBBackend.transact_write_items
MOTO_TABLE_QUERY = Table.query
MOTO_ITEM_PROJECT = Item.project
MOTO_ITEM_INIT = Item.__init__
MOTO_VALUE_SIZE = DynamoType.size
MOTO_VALUE_INIT = DynamoType.__init__
MOTO_VALUE_HASH = DynamoType.__hash__
MOTO_RETAINED = SQSBackend.is_message_valid_based_on_retention_period
MOTO_BATCH_WRITE_ITEM = DynamoHandler.batch_write_item
MOTO_HANDLE_TRANSACT_WRITE_ITEMS = DynamoHandler.transact_write_items
MOTO_CONTAINS_DUPLICATES = DynamoHandler._contains_duplicates
# moto's actions that report consumed capacity, each as moto wraps it
CAPACITY_WRAPPER = "include_consumed_capacity.<locals>._inner.<locals>._wrapper"
MOTO_CAPACITY_ACTIONS = {
    name: action
    for name, action in vars(DynamoHandler).items()
    if getattr(getattr(action, "__code__", None), "co_qualname", "") == CAPACITY_WRAPPER
    and hasattr(action, "__wrapped__")
}
MOTO_SEND_MESSAGE = SQSBackend.send_message
MOTO_QUEUE_MESSAGES = Queue.messages
MOTO_PARSE_CONDITION = ConditionExpressionParser.parse
# The most operations moto (as DynamoDB) takes in a transaction
TRANSACTION_LIMIT = 100
# The longest request line or header line, and the most header lines, a request may have
MAX_LINE = 65536
MAX_HEADERS = 100
# moto's limit on an item's size, a little above DynamoDB's 400 KB (dynamo_type.LimitedSizeDict)
ITEM_SIZE_LIMIT = 405000


def apply() -> None:
    """Idempotent: the stack calls it each time it starts."""
    if getattr(DomainDispatcherApplication, "_feedguard_quick", False):
        return
    _remember_backends()
    _remember_method_names()
    _compare_strings_directly()
    _make_scalars_directly()
    _query_reads_its_partition()
    _query_pages_quickly()
    _project_top_level_attributes()
    _size_items_once()
    _size_values_directly()
    _read_retention_period()
    _hand_out_messages_once()
    _send_without_every_attribute()
    _list_visible_messages_on_one_clock()
    _parse_each_condition_once()
    _transactions_copy_only_their_items()
    _write_items_whole()
    _put_batches_quickly()
    _put_transactions_quickly()
    _find_duplicate_keys_by_hashing()
    _count_capacity_only_when_asked()
    _forget_what_is_gone()
    _expire_shard_iterators()
    _parse_each_json_path_once()
    DomainDispatcherApplication._feedguard_quick = True  # type: ignore[attr-defined]


MOTO_PARSE_JSON_PATH = jsonpath_ng.ext.parser.parse


def _parse_each_json_path_once() -> None:
    """EventBridge: moto delivers an event to each target of each matching
    rule through its input template, parsing eight JSONPaths for it, and a
    parse builds the JSONPath grammar's tables anew. That was a fifth of the
    stack's CPU while a scan published its findings events (the history
    stream: one event each); a parsed path is kept for the next event (it
    is not changed by finding what it points to). moto imports `parse` when
    it delivers, so it finds this one."""
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(MOTO_PARSE_JSON_PATH)  # type: ignore[attr-defined]


# Made and dropped by the thousand as the stack serves requests.
UNLISTED_MODELS = (Item, Message, ShardIterator)


def _forget_what_is_gone() -> None:
    def unlisted(cls: type, *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    for model in UNLISTED_MODELS:
        model.__new__ = staticmethod(unlisted)  # type: ignore[method-assign]
        model.instances_tracked.clear()  # type: ignore[union-attr]


# DynamoDB Streams: "A shard iterator expires 15 minutes after it is
# returned to the requester."
SHARD_ITERATOR_LIFETIME = 15 * 60.0
MOTO_SHARD_ITERATOR_INIT = ShardIterator.__init__


class ExpiredIteratorError(JsonRESTError):
    def __init__(self) -> None:
        super().__init__(
            "ExpiredIteratorException",
            "The shard iterator has expired and can no longer be used to retrieve stream records.",
        )


def _expire_shard_iterators() -> None:
    def handed_out(self: ShardIterator, *args: Any, **kwargs: Any) -> None:
        MOTO_SHARD_ITERATOR_INIT(self, *args, **kwargs)
        self.expires_at = time.monotonic() + SHARD_ITERATOR_LIFETIME  # type: ignore[attr-defined]

    def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
        now = time.monotonic()
        # One C call, so no thread's new iterator changes what is walked.
        for arn, iterator in list(self.shard_iterators.items()):
            if getattr(iterator, "expires_at", 0.0) <= now:
                self.shard_iterators.pop(arn, None)
        asked = self.shard_iterators.get(iterator_arn)
        if asked is None:
            raise ExpiredIteratorError()
        return asked.get(limit)

    ShardIterator.__init__ = handed_out  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]


def _remember_backends() -> None:
    lookup = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        # moto calls this under the dispatcher's lock.
        if host not in known:
            known[host] = lookup(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _remember_method_names() -> None:
    remembered = functools.cache(core_utils.method_names_from_class)
    responses.method_names_from_class = remembered  # type: ignore[attr-defined]


def _compare_strings_directly() -> None:
    equal, less = DynamoType.__eq__, DynamoType.__lt__

    def __eq__(self: DynamoType, other: DynamoType) -> bool:  # noqa: N807 - the method it replaces
        if self.type == STRING and getattr(other, "type", None) == STRING:
            return bool(self.value == other.value)
        return equal(self, other)

    def __lt__(self: DynamoType, other: DynamoType) -> bool:  # noqa: N807 - the method it replaces
        if self.type == STRING and getattr(other, "type", None) == STRING:
            return bool(self.value < other.value)
        return less(self, other)

    DynamoType.__eq__ = __eq__  # type: ignore[method-assign]
    DynamoType.__lt__ = __lt__  # type: ignore[method-assign]


# Attribute value types whose value moto keeps as it is given (not lists or maps of values)
SCALAR_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS"})


def _make_scalars_directly() -> None:
    def __init__(self: DynamoType, type_as_dict: Any) -> None:  # noqa: N807 - the method it replaces
        if type(type_as_dict) is dict and len(type_as_dict) == 1:
            for kind, value in type_as_dict.items():
                if kind in SCALAR_TYPES:
                    self.type, self.value = kind, value
                    return
        MOTO_VALUE_INIT(self, type_as_dict)

    def __hash__(self: DynamoType) -> int:  # noqa: N807 - the method it replaces
        if self.type == STRING:
            return hash((STRING, self.value))
        return MOTO_VALUE_HASH(self)

    DynamoType.__init__ = __init__  # type: ignore[method-assign]
    DynamoType.__hash__ = __hash__  # type: ignore[method-assign]


def _query_reads_its_partition() -> None:
    """moto's Table.query finds a table Query's items as every item of the
    table whose hash key is the one asked; while it runs, "every item of the
    table" is the partition of that key (per server thread)."""
    query, all_items = Table.query, Table.all_items
    signature = inspect.signature(query)
    asked = threading.local()

    def partition_query(self: Table, hash_key: DynamoType | None, *args: Any, **kwargs: Any) -> Any:
        index = signature.bind(self, hash_key, *args, **kwargs).arguments.get("index_name")
        asked.partition = None if index or hash_key is None else (self, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            asked.partition = None

    def items_asked(self: Table) -> list[Item]:
        table, hash_key = getattr(asked, "partition", None) or (None, None)
        if table is not self:
            return all_items(self)
        if hash_key not in self.items:  # `in`, not [], which would add an empty partition
            return []
        found = self.items[hash_key]
        return list(found.values()) if self.range_key_attr else [found]

    Table.query = partition_query  # type: ignore[method-assign]
    Table.all_items = items_asked  # type: ignore[method-assign]


def _query_pages_quickly() -> None:
    query = Table.query

    def quick_query(
        self: Table,
        hash_key: DynamoType | None,
        range_comparison: str | None,
        range_objs: list[DynamoType],
        limit: int,
        exclusive_start_key: dict[str, Any],
        scan_index_forward: bool,
        projection_expressions: list[list[str]] | None,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: list[tuple[str, DynamoType]] | None = None,
        range_key_conditions: list[tuple[str, str, list[DynamoType]]] | None = None,
        **filter_kwargs: Any,
    ) -> Any:
        partition = _quick_partition(
            self, hash_key, index_name, filter_expression, hash_key_conditions, range_key_conditions, filter_kwargs
        )
        start = _quick_start(self, hash_key, partition, exclusive_start_key, scan_index_forward)
        if partition is None or start is None:
            return query(
                self,
                hash_key,
                range_comparison,
                range_objs,
                limit,
                exclusive_start_key,
                scan_index_forward,
                projection_expressions,
                index_name,
                consistent_read,
                filter_expression,
                hash_key_conditions=hash_key_conditions,
                range_key_conditions=range_key_conditions,
                **filter_kwargs,
            )
        results: list[Item] = []
        size = 0
        last = None
        for item in partition.read(start, scan_index_forward):
            item_size = item.size()
            if len(results) == limit or size + item_size > RESULT_SIZE_LIMIT:
                last = self._get_last_evaluated_key(results[-1], None)
                break
            if range_comparison and not item.range_key.compare(range_comparison, range_objs):  # type: ignore[union-attr]
                continue
            results.append(item)
            size += item_size
        names = _top_level_names(projection_expressions) if projection_expressions else None
        return [_copy_projected(item, projection_expressions, names) for item in results], len(results), last

    Table.query = quick_query  # type: ignore[method-assign]


def _copy_projected(item: Item, projection_expressions: list[list[str]] | None, names: list[str] | None) -> Item:
    """A copy of the item's projected attributes (moto copies the whole item,
    then projects the copy). `names`: the projection's top-level attributes,
    as _top_level_names reads them once for a page."""
    if names is None:
        return copy.deepcopy(item.project(projection_expressions) if projection_expressions else item)
    copied = cast(Item, Item.__new__(Item))
    copied.hash_key = _copy_value(item.hash_key)
    copied.range_key = _copy_value(item.range_key)
    copied.attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    for name in names:
        if name in item.attrs:
            dict.__setitem__(copied.attrs, name, _copy_value(item.attrs[name]))
    return copied


def _copy_value(value: DynamoType | None) -> Any:
    """copy.deepcopy, quicker for a string, a number or a set of strings."""
    if value is None or value.type not in (STRING, NUMBER, STRING_SET):
        return copy.deepcopy(value)
    copied = DynamoType.__new__(DynamoType)
    copied.type = value.type
    copied.value = list(value.value) if value.type == STRING_SET else value.value
    return copied


def _quick_partition(
    table: Table,
    hash_key: DynamoType | None,
    index_name: str | None,
    filter_expression: Any,
    hash_key_conditions: list[tuple[str, DynamoType]] | None,
    range_key_conditions: list[tuple[str, str, list[DynamoType]]] | None,
    filter_kwargs: dict[str, Any],
) -> PartitionPage | None:
    """The partition a table Query reads, in range key order; None when the
    Query is not one this module answers (moto's then does)."""
    if index_name or hash_key is None or filter_kwargs or not table.range_key_attr:
        return None
    if filter_expression is not None and not isinstance(filter_expression, OpDefault):
        return None
    if any(name != table.hash_key_attr or value != hash_key for name, value in hash_key_conditions or ()):
        return None
    if any(name != table.range_key_attr for name, _, _ in range_key_conditions or ()):
        return None
    # One look at the partition, each list made at once (under the GIL):
    # other server threads write to it meanwhile.
    stored = table.items.get(hash_key, {})  # get, not [], which would add an empty partition
    keys, items = list(stored), list(stored.values())
    if len(keys) != len(items):
        return None  # written between the two looks
    with SORTED_PARTITIONS_LOCK:
        partitions = table.__dict__.setdefault(SORTED_PARTITIONS, {})
        known = partitions.pop(hash_key, None)
    if known is None or not known.holds(keys):
        if any(key.type != STRING for key in keys):
            return None
        known = SortedPartition(keys)
    with SORTED_PARTITIONS_LOCK:
        partitions[hash_key] = known  # the most recently read last
        while len(partitions) > SORTED_PARTITIONS_KEPT:
            del partitions[next(iter(partitions))]
    return PartitionPage(known, items)


# Where a table keeps the order of its partitions last read by a Query, and
# how many it keeps (the most recently sorted).
SORTED_PARTITIONS = "_feedguard_sorted_partitions"
SORTED_PARTITIONS_KEPT = 16
SORTED_PARTITIONS_LOCK = threading.Lock()


class SortedPartition:
    """The range key order of a partition's items, as long as it holds the
    very same keys in the same order: a scan plans 18,000 package rows in
    pages of 1,000, and sorting the feed's partition for each page was a
    tenth of moto's time in a scan. A key added or deleted makes it stale;
    an item put over another or updated in place keeps its key and its
    place. It holds the keys, not the items, so an item deleted is freed."""

    def __init__(self, keys: list[DynamoType]) -> None:
        self.keys = keys
        self.order = sorted(range(len(keys)), key=lambda position: keys[position].value)
        self.values = [keys[position].value for position in self.order]

    def holds(self, keys: list[DynamoType]) -> bool:
        return len(keys) == len(self.keys) and all(map(operator.is_, keys, self.keys))


class PartitionPage:
    """A partition's items as one Query found them, in range key order."""

    def __init__(self, sorted_keys: SortedPartition, items: list[Item]) -> None:
        self.values = sorted_keys.values
        self.order = sorted_keys.order
        self.items = items

    def read(self, start: int, forward: bool) -> Iterator[Item]:
        """The items from `start` on, in the Query's order."""
        order = self.order if forward else self.order[::-1]
        return map(self.items.__getitem__, itertools.islice(order, start, None))


def _quick_start(
    table: Table,
    hash_key: DynamoType | None,
    partition: PartitionPage | None,
    exclusive_start_key: dict[str, Any] | None,
    forward: bool,
) -> int | None:
    """Where the page after `exclusive_start_key` starts in `partition`, in
    the Query's order (descending for a backward Query); None when moto
    should say."""
    if partition is None:
        return None
    if exclusive_start_key is None:
        return 0
    start_hash = exclusive_start_key.get(table.hash_key_attr)
    start_range = exclusive_start_key.get(table.range_key_attr)  # type: ignore[arg-type]
    if start_hash is None or DynamoType(start_hash) != hash_key or not isinstance(start_range, dict):
        return None
    if list(start_range) != [STRING]:
        return None
    if forward:
        return bisect.bisect_right(partition.values, start_range[STRING])
    # Descending: the page starts after every value at or above the start key.
    return len(partition.values) - bisect.bisect_left(partition.values, start_range[STRING])


def _top_level_names(projection_expressions: list[list[str]]) -> list[str] | None:
    """The attributes a projection names, when each is a top-level one (no
    nested path, no list element); None otherwise."""
    if any(len(path) != 1 or "[" in path[0] for path in projection_expressions):
        return None
    return [path[0] for path in projection_expressions]


def _project_top_level_attributes() -> None:
    project = Item.project

    def project_names(self: Item, projection_expressions: list[list[str]]) -> Item:
        names = _top_level_names(projection_expressions)
        if names is None:
            return project(self, projection_expressions)
        return Item(self.hash_key, self.range_key, {name: self.attrs[name] for name in names if name in self.attrs})

    Item.project = project_names  # type: ignore[method-assign]


def _size_items_once() -> None:
    def __init__(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:  # noqa: N807 - the method it replaces
        self.hash_key = hash_key
        self.range_key = range_key
        self.attrs = LimitedSizeDict()
        size = 0
        for key, value in attrs.items():
            converted = DynamoType(value)
            size += bytesize(key) + converted.size()
            if size > ITEM_SIZE_LIMIT:
                raise ItemSizeTooLarge
            dict.__setitem__(self.attrs, key, converted)

    Item.__init__ = __init__  # type: ignore[method-assign]


def _size_values_directly() -> None:
    size = DynamoType.size

    def value_size(self: DynamoType) -> int:
        kind, value = self.type, self.value
        if kind == STRING:
            return len(value) if isinstance(value, bytes) else len(value.encode("utf-8"))
        if kind == NUMBER:
            return len(str(value))
        if kind == STRING_SET:
            return sum(len(member.encode("utf-8")) for member in value)
        return size(self)  # lists, maps, other sets, binary, booleans, null: moto's

    DynamoType.size = value_size  # type: ignore[method-assign]


def _read_retention_period() -> None:
    def retained(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention_period = self.get_queue(queue_name).message_retention_period  # type: ignore[attr-defined]
        return bool(retention_period + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]

    SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]


def _hand_out_messages_once() -> None:
    receive, delete = SQSBackend.receive_message, Queue.delete_message
    change_visibility = SQSBackend.change_message_visibility

    def receive_message(
        self: SQSBackend,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Message]:
        queue = self.get_queue(queue_name)
        polling_end = unix_time() + wait_seconds_timeout
        while True:
            with queue._messages_lock:
                # moto's receive looking once, as it does for a short poll
                found: list[Message] = receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            waiting = polling_end - unix_time()
            if found or not wait_seconds_timeout or waiting <= 0:
                return found
            queue.wait_for_messages(min(1, waiting))  # type: ignore[arg-type]

    def delete_message(self: Queue, receipt_handle: str) -> None:
        with self._messages_lock:
            delete(self, receipt_handle)

    def change_message_visibility(
        self: SQSBackend, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        # It takes a message out of the in-flight set a receive walks.
        with self.get_queue(queue_name)._messages_lock:
            change_visibility(self, queue_name, receipt_handle, visibility_timeout)

    SQSBackend.receive_message = receive_message  # type: ignore[method-assign]
    Queue.delete_message = delete_message  # type: ignore[method-assign]
    SQSBackend.change_message_visibility = change_message_visibility  # type: ignore[method-assign]


def _list_visible_messages_on_one_clock() -> None:
    def messages(self: Queue) -> list[Message]:
        now = sqs_models.unix_time_millis()  # type: ignore[attr-defined] # moto's clock, as its Message reads it
        return [message for message in self._messages if message.visible_at < now and not now < message.delayed_until]

    Queue.messages = property(messages)  # type: ignore[assignment,method-assign]


def _send_without_every_attribute() -> None:
    def send_message(
        self: SQSBackend,
        queue_name: str,
        message_body: str,
        message_attributes: dict[str, Any] | None = None,
        delay_seconds: int | None = None,
        deduplication_id: str | None = None,
        group_id: str | None = None,
        system_attributes: dict[str, Any] | None = None,
        validate_group_id: bool = True,
    ) -> Message:
        queue = self.get_queue(queue_name)
        if queue.fifo_queue:
            return MOTO_SEND_MESSAGE(
                self,
                queue_name,
                message_body,
                message_attributes,
                delay_seconds,
                deduplication_id,
                group_id,
                system_attributes,
                validate_group_id,
            )
        # moto's send, but for reading ContentBasedDeduplication (None: a standard queue has none)
        self._validate_message(
            queue,
            message_body=message_body,
            delay_seconds=int(delay_seconds or 0),
            deduplication_id=deduplication_id,
            group_id=group_id,
            validate_group_id=validate_group_id,
        )
        delay = int(delay_seconds) if delay_seconds is not None else int(queue.delay_seconds)  # type: ignore[attr-defined]
        message = Message(str(mock_random.uuid4()), message_body, system_attributes)
        if deduplication_id is not None:
            message.deduplication_id = deduplication_id
            message.sequence_number = "".join(mock_random.choice(string.digits) for _ in range(20))
        if group_id is not None:
            message.group_id = group_id
        if message_attributes:
            message.message_attributes = message_attributes
        if delay > MAXIMUM_MESSAGE_DELAY:
            raise InvalidParameterValue(
                f"Value {delay} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
            )
        message.mark_sent(delay_seconds=delay)
        queue.add_message(message)
        return message

    SQSBackend.send_message = send_message  # type: ignore[method-assign]


def _put_batches_quickly() -> None:
    def batch_write_item(self: DynamoHandler) -> str:
        puts = _quick_puts(self.dynamodb_backend, self.body.get("RequestItems"))
        if puts is None:
            return MOTO_BATCH_WRITE_ITEM(self)
        for table, item in puts:
            _store(table, item)
        # moto's answer, whatever was asked of it
        answer = {
            "ConsumedCapacity": [
                {"TableName": name, "CapacityUnits": 1.0, "Table": {"CapacityUnits": 1.0}}
                for name in self.body["RequestItems"]
            ],
            "ItemCollectionMetrics": {},
            "UnprocessedItems": {},
        }
        return dynamo_json_dump(answer)

    DynamoHandler.batch_write_item = batch_write_item  # type: ignore[method-assign]


def _find_duplicate_keys_by_hashing() -> None:
    def contains_duplicates(self: DynamoHandler, keys: list[Any]) -> bool:
        markers = [key if type(key) is str else _key_marker(key) for key in keys]
        if any(marker is None for marker in markers):
            return bool(MOTO_CONTAINS_DUPLICATES(self, keys))
        return len(set(markers)) < len(markers)

    DynamoHandler._contains_duplicates = contains_duplicates  # type: ignore[method-assign]


def _count_capacity_only_when_asked() -> None:
    for name, action in MOTO_CAPACITY_ACTIONS.items():
        setattr(DynamoHandler, name, _capacity_when_asked(action))


def _capacity_when_asked(wrapped: Any) -> Any:
    """moto's GetItem, PutItem, DeleteItem, Query and Scan parse their own
    answer and serialize it again to add the consumed capacity, and do so
    when none is asked too, which changes nothing: 2.3 ms for a Query page
    of 1,000 rows. Without ReturnConsumedCapacity (or with NONE), the
    answer is now the action's own."""
    action = wrapped.__wrapped__

    @functools.wraps(wrapped)
    def answer(self: DynamoHandler) -> Any:
        if isinstance(self.body, dict) and self.body.get("ReturnConsumedCapacity", "NONE") == "NONE":
            return action(self)
        return wrapped(self)

    return answer


def _key_marker(key: Any) -> frozenset[tuple[str, str, str]] | None:
    """What tells a key of a BatchGetItem from another, hashable: moto finds
    duplicates by looking each key up in a list of those before it, 0.3
    ms for 100 keys, about 3 % of its time in a scan.
    Two keys whose values are all strings (as DynamoDB's keys are) are
    equal when their markers are; None for anything else."""
    if type(key) is not dict:
        return None
    marker = []
    for name, typed in key.items():
        if type(typed) is not dict or not typed:
            return None
        for kind, value in typed.items():
            if type(value) is not str:
                return None
            marker.append((name, kind, value))
    return frozenset(marker)


def _quick_puts(backend: DynamoDBBackend, request_items: Any) -> list[tuple[Table, Item]] | None:
    """The items of a batch of puts into one table, built as moto builds
    them, when moto would store every one; None when the batch is anything
    else (deletes, several tables, an index to keep, a value moto checks
    further or would refuse), for moto's own batch write."""
    if type(request_items) is not dict or len(request_items) != 1:
        return None
    ((table_name, requests),) = request_items.items()
    if type(requests) is not list:
        return None
    attributes = []
    for request in requests:
        put = request.get("PutRequest") if type(request) is dict and len(request) == 1 else None
        if type(put) is not dict:
            return None
        attributes.append(put.get("Item"))
    return _quick_items(backend, table_name, attributes)


def _quick_items(backend: DynamoDBBackend, table_name: Any, attributes: list[Any]) -> list[tuple[Table, Item]] | None:
    """Items to put into one table, as moto builds them, if it would store
    every one without a further check; None otherwise."""
    table = backend.tables.get(table_name) if type(table_name) is str else None
    if table is None or table.global_indexes:
        return None
    puts: list[tuple[Table, Item]] = []
    keys = set()
    for each in attributes:
        item = _quick_item(table, each)
        if item is None:
            return None
        key = (item.hash_key.value, item.range_key.value if item.range_key is not None else None)
        if key in keys:  # DynamoDB refuses two puts of one key; moto, two equal items
            return None
        keys.add(key)
        puts.append((table, item))
    return puts


QUICK_KINDS = frozenset({"S", "N", "SS", "NS", "BOOL", "NULL"})


def _quick_item(table: Table, attributes: Any) -> Item | None:
    if type(attributes) is not dict:
        return None
    for value in attributes.values():
        if type(value) is not dict or len(value) != 1:
            return None
        ((kind, content),) = value.items()
        if kind not in QUICK_KINDS or not _plain(table, kind, content):
            return None
    hash_value = _quick_key(attributes.get(table.hash_key_attr), table.hash_key_type, HASH_KEY_MAX_LENGTH)
    if hash_value is None:
        return None
    range_value = None
    if table.range_key_attr is not None:
        range_value = _quick_key(attributes.get(table.range_key_attr), table.range_key_type, RANGE_KEY_MAX_LENGTH)
        if range_value is None:
            return None
    try:
        return Item(hash_value, range_value, attributes)
    except Exception:  # noqa: BLE001 - too large, or anything else: moto's put says what
        return None


def _plain(table: Table, kind: str, content: Any) -> bool:
    """Whether moto's put takes the value as it is, unchecked further."""
    if kind == "S":
        return type(content) is str
    if kind == "N":
        try:
            table._validate_number_type(content)
        except Exception:  # noqa: BLE001 - moto's put raises it
            return False
        return type(content) is str
    if kind in ("SS", "NS"):
        return type(content) is list
    if kind == "BOOL":
        return type(content) is bool
    return content is True  # NULL


def _quick_key(value: Any, kind: str | None, longest: int) -> DynamoType | None:
    """The key's value, if it is one moto's put takes: of the key's type, not
    empty and not too long."""
    if value is None or kind not in value or value[kind] == "":
        return None
    key = DynamoType(value)
    return key if key.size() <= longest else None


def _store(table: Table, item: Item) -> None:
    """The end of moto's Table.put_item, without a condition."""
    current = table.get_item(item.hash_key, item.range_key)
    if item.range_key:
        table.items[item.hash_key][item.range_key] = item
    else:
        table.items[item.hash_key] = item  # type: ignore[assignment]
    if table.stream_shard is not None:
        table.stream_shard.add(current, item)


OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}
Reason = tuple[str | None, str | None, dict[str, Any] | None]


# Held while an item is written and while a transaction checks and writes
# (the module's docstring says why). Re-entrant: a transaction writes through
# the backend's own methods.
ITEM_WRITES = threading.RLock()


def _write_items_whole() -> None:
    """Every write of an item holds ITEM_WRITES but a batch write's: an
    update changes the item in place, and a PutItem or DeleteItem may check
    a condition, then write; a batch write's put or delete (moto passes the
    table and item alone then) is one assignment already, and a scan makes
    about 12,000 of them."""
    for name in ("put_item", "update_item", "delete_item"):
        write = getattr(DynamoDBBackend, name)

        def whole(self: DynamoDBBackend, *args: Any, _write: Any = write, _name: str = name, **kwargs: Any) -> Any:
            if _name != "update_item" and len(args) <= 2 and not kwargs:
                return _write(self, *args)
            with ITEM_WRITES:
                return _write(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, whole)


# How many parsed conditions are kept, the most recently used.
PARSED_CONDITIONS_KEPT = 256


def _parse_each_condition_once() -> None:
    def parse(self: ConditionExpressionParser) -> Any:
        if not self.condition_expression:  # moto's parse finds nothing in none
            return MOTO_PARSE_CONDITION(self)
        try:
            names = json.dumps(self.expression_attribute_names, sort_keys=True)
            values = json.dumps(self.expression_attribute_values, sort_keys=True)
        except (TypeError, ValueError):  # not JSON: moto's parse says what it is
            return MOTO_PARSE_CONDITION(self)
        condition, names_found, values_found = _parsed(self.condition_expression, names, values)
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)
        return condition

    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]


@functools.lru_cache(maxsize=PARSED_CONDITIONS_KEPT)
def _parsed(expression: str | None, names: str, values: str) -> tuple[Any, tuple[str, ...], tuple[str, ...]]:
    """moto's parse of a condition, with the names and values it found
    (the handlers check those for unused ones). A condition moto refuses
    raises, and is not kept."""
    parser = ConditionExpressionParser(expression, json.loads(names), json.loads(values))
    condition = MOTO_PARSE_CONDITION(parser)
    return condition, tuple(parser.expr_attr_names_found), tuple(parser.expr_attr_values_found)


def _transactions_copy_only_their_items() -> None:
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        if len(transact_items) > TRANSACTION_LIMIT:
            raise TooManyTransactionsException()
        with ITEM_WRITES:
            checked, reasons = _check(self, transact_items)
            if any(code is not None for code, _, _ in reasons):
                raise TransactionCanceledException(reasons)
            _write(self, checked, reasons)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _put_transactions_quickly() -> None:
    def transact_write_items(self: DynamoHandler) -> str:
        body = self.body if isinstance(self.body, dict) else {}
        puts = _quick_transaction_puts(self.dynamodb_backend, body.get("TransactItems"))
        if puts is None:
            return MOTO_HANDLE_TRANSACT_WRITE_ITEMS(self)
        with ITEM_WRITES:  # built from the request alone; written together
            for table, item in puts:
                _store(table, item)
        return dynamo_json_dump({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})  # moto's answer

    DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _quick_transaction_puts(backend: DynamoDBBackend, transact_items: Any) -> list[tuple[Table, Item]] | None:
    """The items of a transaction of unconditional puts, built as moto
    builds them, when it would store every one (`_quick_items`, as for a
    batch of puts); None for any other transaction, for moto's checks,
    reasons and writes. Nothing can cancel such a transaction half-way."""
    if type(transact_items) is not list or not 0 < len(transact_items) <= TRANSACTION_LIMIT:
        return None
    by_table: dict[Any, list[Any]] = {}
    for entry in transact_items:
        put = entry.get("Put") if type(entry) is dict and len(entry) == 1 else None
        if type(put) is not dict or put.keys() != {"TableName", "Item"}:
            return None
        by_table.setdefault(put["TableName"], []).append(put["Item"])
    puts: list[tuple[Table, Item]] = []
    for table_name, attributes in by_table.items():
        found = _quick_items(backend, table_name, attributes)
        if found is None:
            return None
        puts += found
    return puts


def _check(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> tuple[list[Any], list[Reason]]:
    """Each operation's key and condition, against the tables as they are:
    moto's own checks, in its order, with its reasons."""
    targets: set[tuple[str, str]] = set()
    checked: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    reasons: list[Reason] = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        try:
            key, reason = _check_one(backend, op_type, op, targets)
        except (MultipleTransactionsException, MockValidationException):
            raise
        except Exception as error:  # noqa: BLE001 - moto reports any other failure as the operation's reason
            key, reason = {}, (type(error).__name__, str(error), None)
        if reason[0] is None:
            checked.append((op_type, op, key))
        reasons.append(reason)
    return checked, reasons


def _check_one(
    backend: DynamoDBBackend, op_type: str, op: dict[str, Any], targets: set[tuple[str, str]]
) -> tuple[dict[str, Any], Reason]:
    if op_type not in OPERATIONS:
        raise ValueError("Unsupported transaction operation")
    table = backend.get_table(op["TableName"])
    if op_type == "Put":
        key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = op["Item"][table.range_key_attr]
    else:
        key = op["Key"]
    target = (str(op["TableName"]), str(key))
    if target in targets:
        raise MultipleTransactionsException()
    targets.add(target)
    current = backend.get_item(op["TableName"], key)
    if op.get("ConditionExpression") is not None:
        condition = get_filter_expression(
            op["ConditionExpression"], op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        )
        if not condition.expr(current):
            old = None
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
                old = current.to_json()["Attributes"]
            return key, ("ConditionalCheckFailed", ConditionalCheckFailed().message, old)
    return key, (None, None, None)


def _write(backend: DynamoDBBackend, checked: list[Any], reasons: list[Reason]) -> None:
    """The checked operations carried out; if one fails, those before it are
    undone (their items as they were, their stream records gone)."""
    undo: list[tuple[Table, dict[str, Any], Item | None, int]] = []
    try:
        for position, (op_type, op, key) in enumerate(checked):
            table = backend.get_table(op["TableName"])
            before = backend.get_item(op["TableName"], key)
            shard = table.stream_shard
            undo.append((table, key, copy.deepcopy(before), len(shard.items) if shard is not None else 0))
            try:
                _apply(backend, op_type, op, key)
            except (MultipleTransactionsException, MockValidationException):
                raise
            except Exception as error:
                reasons[position] = (type(error).__name__, str(error), None)
                raise TransactionCanceledException(reasons) from error
    except Exception:
        for table, key, before, records in reversed(undo):
            _put_back(table, key, before, records)
        raise


def _apply(backend: DynamoDBBackend, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    conditions: dict[str, Any] = {
        "condition_expression": op.get("ConditionExpression"),
        "expression_attribute_names": op.get("ExpressionAttributeNames"),
        "expression_attribute_values": op.get("ExpressionAttributeValues"),
    }
    if op_type == "Put":
        backend.put_item(op["TableName"], op["Item"], **conditions)
    elif op_type == "Delete":
        backend.delete_item(op["TableName"], key, **conditions)
    elif op_type == "Update":
        backend.update_item(op["TableName"], key, update_expression=op["UpdateExpression"], **conditions)


def _put_back(table: Table, key: dict[str, Any], before: Item | None, records: int) -> None:
    hash_value = DynamoType(key[table.hash_key_attr])
    keys = {table.hash_key_attr: hash_value.to_json()}
    items: Any  # a partition (range key -> item) or the table (hash key -> item)
    if table.range_key_attr is None:
        items, slot = table.items, hash_value
    else:
        range_value = DynamoType(key[table.range_key_attr])
        keys[table.range_key_attr] = range_value.to_json()
        items, slot = table.items[hash_value], range_value
    if before is None:
        items.pop(slot, None)
    else:
        items[slot] = before
    shard = table.stream_shard
    if shard is not None:
        shard.items[records:] = [r for r in shard.items[records:] if r.record["dynamodb"]["Keys"] != keys]


def expired_keys(
    account: str, region: str, table_name: str, attribute: str, now: int, horizon: int
) -> list[dict[str, Any]] | None:
    """The keys, in DynamoDB's JSON, of the items of a table of this
    process's moto whose `attribute` is a number from `horizon` to `now`:
    what a Scan filtered on them finds, for the local stack's TTL, without
    moto evaluating the filter on every item (a Scan of 10,000 cached
    answers took 0.64 s of the stack's CPU, holding the GIL, and the sweep
    of tables with a stream runs every two seconds). None when this
    process's moto has no such table (a moto elsewhere: Scan it)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account][region].tables.get(table_name)
    if table is None:
        return None
    # Lists made at once (under the GIL): server threads write meanwhile.
    stored: list[Any] = list(table.items.values())
    items: list[Item] = (
        [item for partition in stored for item in list(partition.values())] if table.range_key_attr else stored
    )
    low, high = decimal.Decimal(horizon), decimal.Decimal(now)
    keys: list[dict[str, Any]] = []
    for item in items:
        value = item.attrs.get(attribute)
        if value is None or value.type != NUMBER:
            continue
        try:
            expired = low <= decimal.Decimal(value.value) <= high
        except decimal.InvalidOperation:
            continue
        if expired:
            key = {table.hash_key_attr: item.hash_key.to_json()}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = item.range_key.to_json()  # type: ignore[union-attr]
            keys.append(key)
    return keys


# ---------------------------------------------------------------- connections


class KeepAliveHandler(socketserver.StreamRequestHandler):
    """One connection: HTTP/1.1 requests, one after another, each handed to
    the WSGI application with the environ werkzeug would give it."""

    server: KeepAliveWsgiServer
    # An answer goes out in one write; without this, Nagle's algorithm could
    # still hold a short one for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def handle(self) -> None:
        self.server.opened(self.connection)
        try:
            while self.handle_one():
                pass
        except (ConnectionError, TimeoutError, OSError):
            pass  # the client went away, or the server is stopping
        finally:
            self.server.closed(self.connection)

    def handle_one(self) -> bool:
        """Answers one request; False when the connection is to close."""
        line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            return False
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1.") or len(line) > MAX_LINE:
            self.answer("400 Bad Request", [], b"", close=True)
            return False
        method, target, version = parts
        headers = self.read_headers()
        if headers is None:
            self.answer("431 Request Header Fields Too Large", [], b"", close=True)
            return False
        wanted = {name.lower(): value for name, value in headers}
        if wanted.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            if "chunked" in wanted.get("transfer-encoding", "").lower():
                body = self.read_chunked()
            else:
                body = self.rfile.read(int(wanted.get("content-length") or 0))
        except ValueError:  # a length or chunk size that is not a number
            self.answer("400 Bad Request", [], b"", close=True)
            return False
        close = version == "HTTP/1.0" or wanted.get("connection", "").lower() == "close"
        status, answer_headers, content = self.respond(method, target, version, headers, body)
        self.answer(status, answer_headers, b"" if method == "HEAD" else content, close)
        return not close

    def read_headers(self) -> list[tuple[str, str]] | None:
        headers: list[tuple[str, str]] = []
        for _ in range(MAX_HEADERS):
            raw = self.rfile.readline(MAX_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                return headers
            text = raw.decode("latin-1")
            if text[0] in " \t" and headers:  # an obsolete folded line continues the last header
                name, value = headers[-1]
                headers[-1] = (name, f"{value} {text.strip()}")
                continue
            name, _, value = text.partition(":")
            headers.append((name.strip(), value.strip()))
        return None

    def read_chunked(self) -> bytes:
        body = io.BytesIO()
        while size := int(self.rfile.readline(MAX_LINE + 1).split(b";")[0].strip() or b"0", 16):
            body.write(self.rfile.read(size))
            self.rfile.readline(MAX_LINE + 1)  # the chunk's CRLF
        while self.rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return body.getvalue()

    def respond(
        self, method: str, target: str, version: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[str, list[tuple[str, str]], bytes]:
        path, _, query = target.partition("?")
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": target,
            "REQUEST_URI": target,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in headers:
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ[key] = value
            elif key not in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                key = f"HTTP_{key}"
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, answer_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, answer_headers]
            return written.append

        try:
            answered = _answer_without_flask(self.server.application, environ)
            result = (answered or self.server.application)(environ, start_response)
            try:
                written.extend(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception:
            log.exception("moto failed to answer %s %s", method, target)
            return "500 Internal Server Error", [], b""
        return started[0], started[1], b"".join(written)

    def answer(self, status: str, headers: list[tuple[str, str]], content: bytes, close: bool) -> None:
        lines = [f"HTTP/1.1 {status}"]
        lines += [f"{name}: {value}" for name, value in headers if name.lower() not in ("connection", "content-length")]
        lines.append(f"Content-Length: {len(content)}")
        if close:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content)


def _answer_without_flask(dispatcher: DomainDispatcherApplication, environ: dict[str, Any]) -> FlaskResponse | None:
    """moto's answer, as the WSGI application that sends it, got by calling
    the view moto's Flask app would call and adding what the app's hooks
    would (flask_cors's headers) without the app around it: Flask's request
    context and routing were half of a GetItem's time in moto. None when
    the request needs more of Flask (a browser's preflight, a compressed
    body) or its app or view is not as moto makes them."""
    if environ["REQUEST_METHOD"] == "OPTIONS" or "HTTP_CONTENT_ENCODING" in environ:
        return None
    app = dispatcher.get_application(environ)
    try:
        endpoint, _ = app.url_map.bind_to_environ(environ).match()
    except HTTPException:
        return None
    view = app.view_functions.get(endpoint)
    after = app.after_request_funcs.get(None, [])
    if not isinstance(view, core_utils.convert_to_flask_response) or any(
        getattr(hook, "__name__", "") != "cors_after_request" for hook in after
    ):
        return None
    # What convert_to_flask_response does with Flask's request, which reads its limits from the app
    request = FlaskRequest(environ)
    request.max_content_length = app.config["MAX_CONTENT_LENGTH"]
    request.max_form_memory_size = app.config["MAX_FORM_MEMORY_SIZE"]
    request.max_form_parts = app.config["MAX_FORM_PARTS"]
    try:
        recorder._record_request(request)
        result = view.callback(request, request.url, dict(request.headers))
    except ClientError as error:
        result = 400, {}, error.response["Error"]["Message"]
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    response = FlaskResponse(response=content, status=status, headers=headers)
    if request.method == "HEAD" and "content-length" in headers:
        response.headers["Content-Length"] = headers["content-length"]
    for hook in after:
        _add_cors_headers(hook, request, response)
    return response


def _add_cors_headers(hook: Any, request: FlaskRequest, response: FlaskResponse) -> None:
    """What flask_cors's after-request hook adds to the response, read from
    the resources the hook holds."""
    if response.headers.get(ACL_ORIGIN):
        return
    resources = dict(zip(hook.__code__.co_freevars, (cell.cell_contents for cell in hook.__closure__), strict=True))[
        "resources"
    ]
    for pattern, options in resources:
        if try_match_pattern(unquote(request.path), pattern, caseSensitive=True):
            for name, value in get_cors_headers(options, request.headers, request.method).items():
                response.headers.add(name, value)
            return


class KeepAliveWsgiServer(socketserver.ThreadingTCPServer):
    """A thread per connection; stopping closes every connection still open."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], application: Any) -> None:
        self.application = application
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, KeepAliveHandler)

    def opened(self, connection: socket.socket) -> None:
        with self.connections_lock:
            self.connections.add(connection)

    def closed(self, connection: socket.socket) -> None:
        with self.connections_lock:
            self.connections.discard(connection)

    def server_close(self) -> None:
        super().server_close()
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


class KeepAliveMotoServer(ThreadedMotoServer):
    """moto's threaded server, served by KeepAliveWsgiServer instead of
    werkzeug's development server."""

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        server = KeepAliveWsgiServer((self._ip_address, self._port), app)
        self._server = server  # type: ignore[assignment]
        self._server_ready_event.set()
        server.serve_forever()

    def stop(self) -> None:
        super().stop()
        if self._server is not None:
            self._server.server_close()
