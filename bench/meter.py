"""The AWS meter of make bench: counts what the functions of the local stack
ask of AWS, as AWS would bill it.

It is an HTTP proxy in front of the emulator's AWS endpoint. Each function's
sandbox is pointed at it through botocore's own settings (AWS_ENDPOINT_URL,
and AWS_SDK_UA_APP_ID naming the function, which botocore puts in its
User-Agent as `app/<id>`), so every call any client of the function makes is
counted, whatever library made the client, and nothing of the product changes.

For DynamoDB it computes the capacity units of each call from the sizes of
the items it read or wrote (bench.capacity): the items a read returned, or,
when a projection or filter hid part of them, the whole items it read (the
proxy asks for them again without the projection or filter); for a write the
item before (asked for before the call is forwarded) and after it. Those
extra reads go straight to the emulator and are not counted. It also asks
the emulator for its own ReturnConsumedCapacity on every call that did not
ask for it (and takes it out of the answer again), to set its figures next to
moto's, which charges a fixed amount per call or key whatever the item size.
Concurrent writes of one item can mis-size a write between the read before
and the write: the scan's items are written by one batch each.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bench import capacity
from infra.provision import aws_client

APP_ID = re.compile(r"\bapp/([A-Za-z0-9_.-]+)")
CREDENTIAL = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/")
PLACEHOLDER = re.compile(r"[#:][A-Za-z0-9_]+")
K = TypeVar("K")
Response = tuple[int, list[tuple[str, str]], bytes]
READS = {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@dataclass(frozen=True)
class Table:
    keys: tuple[str, ...]
    indexes: tuple[capacity.Index, ...]


@dataclass
class Tally:
    """What was counted: calls by (function, service, operation); DynamoDB
    units by (function, operation, table, "read"|"write"|"index write"); moto's
    own ReturnConsumedCapacity by operation."""

    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    units: dict[tuple[str, str, str, str], float] = field(default_factory=lambda: defaultdict(float))
    moto_units: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def minus(self, earlier: Tally) -> Tally:
        return Tally(
            self.calls - earlier.calls, _minus(self.units, earlier.units), _minus(self.moto_units, earlier.moto_units)
        )

    def copy(self) -> Tally:
        return Tally(Counter(self.calls), defaultdict(float, self.units), defaultdict(float, self.moto_units))


def _minus(later: dict[K, float], earlier: dict[K, float]) -> dict[K, float]:
    return defaultdict(
        float, {key: amount - earlier.get(key, 0.0) for key, amount in later.items() if amount != earlier.get(key, 0.0)}
    )


class Meter:
    """The proxy: `url` to point functions at; `snapshot()` the counts so far."""

    def __init__(self, upstream: str, host: str = "127.0.0.1") -> None:
        self.upstream = urlsplit(upstream)
        self._tally = Tally()
        self._lock = threading.Lock()
        self._tables: dict[str, Table] = {}
        self._local = threading.local()
        self._dynamodb = aws_client("dynamodb", upstream)
        meter = self

        class Handler(_Handler):
            owner = meter

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="aws-meter", daemon=True)

    def start(self) -> Meter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def point(self, functions: dict[str, Any]) -> None:
        """Sends each function's AWS calls through the meter, named by its
        logical id: before its first invocation starts a sandbox."""
        for logical_id, function in functions.items():
            function.environment["AWS_ENDPOINT_URL"] = self.url
            function.environment["AWS_SDK_UA_APP_ID"] = logical_id

    def snapshot(self) -> Tally:
        with self._lock:
            return self._tally.copy()

    # ------------------------------------------------------------ forwarding

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(str(self.upstream.hostname), self.upstream.port, timeout=300)
            self._local.connection = connection
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
        except (http.client.HTTPException, OSError):
            connection.close()  # a kept-alive connection the server closed: once more, afresh
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
        return response.status, response.getheaders(), response.read()

    def exchange(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """Forwards one call, counting it."""
        function = match.group(1) if (match := APP_ID.search(headers.get("User-Agent", ""))) else "-"
        service = match.group(1) if (match := CREDENTIAL.search(headers.get("Authorization", ""))) else "-"
        target = headers.get("X-Amz-Target", "")
        operation = target.rpartition(".")[2] if target else f"{method} {path.split('?', maxsplit=1)[0]}"
        if service == "dynamodb" and (operation in READS or operation in WRITES):
            status, response_headers, answer = self._dynamodb_call(function, operation, method, path, headers, body)
        else:
            status, response_headers, answer = self.forward(method, path, headers, body)
        with self._lock:
            self._tally.calls[(function, service, operation)] += 1
        return status, response_headers, answer

    # ------------------------------------------------------------ DynamoDB

    def _dynamodb_call(
        self, function: str, operation: str, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> Response:
        params = json.loads(body or b"{}")
        before = self._before(operation, params)
        asked_capacity = "ReturnConsumedCapacity" in params
        if not asked_capacity:
            params["ReturnConsumedCapacity"] = "TOTAL"
            body = json.dumps(params).encode()
            headers = {**headers, "Content-Length": str(len(body))}
        status, response_headers, answer = self.forward(method, path, headers, body)
        result = json.loads(answer or b"{}")
        units = (
            self._read_units(operation, params, result, status)
            if operation in READS
            else self._write_units(operation, params, result, status, before)
        )
        moto = _moto_units(result.get("ConsumedCapacity"))
        if not asked_capacity and "ConsumedCapacity" in result:
            del result["ConsumedCapacity"]
            answer = json.dumps(result).encode()
            # The checksum DynamoDB sends and botocore verifies, of the answer as it now is.
            response_headers = [
                (name, str(zlib.crc32(answer)) if name.lower() == "x-amz-crc32" else value)
                for name, value in response_headers
            ]
        with self._lock:
            for (table, kind), amount in units.items():
                self._tally.units[(function, operation, table, kind)] += amount
            self._tally.moto_units[operation] += moto
        return status, response_headers, answer

    def table(self, name: str) -> Table:
        if name not in self._tables:
            description = self._dynamodb.describe_table(TableName=name)["Table"]
            self._tables[name] = Table(
                keys=tuple(key["AttributeName"] for key in description["KeySchema"]),
                indexes=tuple(
                    capacity.Index.from_description(index) for index in description.get("GlobalSecondaryIndexes", [])
                ),
            )
        return self._tables[name]

    def _key(self, table: str, item: capacity.Item) -> capacity.Item:
        return {name: item[name] for name in self.table(table).keys}

    def _items(self, keys: list[tuple[str, capacity.Item]]) -> dict[tuple[str, str], capacity.Item]:
        """The stored items of these keys, read consistently, uncounted."""
        found: dict[tuple[str, str], capacity.Item] = {}
        unique = list({(table, json.dumps(key, sort_keys=True)): (table, key) for table, key in keys}.values())
        for start in range(0, len(unique), 100):
            request: dict[str, Any] = {}
            for table, key in unique[start : start + 100]:
                request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
            while request:
                answer = self._dynamodb.batch_get_item(RequestItems=request)
                for table, items in answer["Responses"].items():
                    for item in items:
                        found[(table, json.dumps(self._key(table, item), sort_keys=True))] = item
                request = answer.get("UnprocessedKeys") or {}
        return found

    def _write_keys(self, operation: str, params: dict[str, Any]) -> list[tuple[str, capacity.Item]]:
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], params["Key"])]
        if operation == "PutItem":
            return [(params["TableName"], self._key(params["TableName"], params["Item"]))]
        keys = []
        if operation == "BatchWriteItem":
            for table, requests_ in params["RequestItems"].items():
                for request in requests_:
                    if "PutRequest" in request:
                        keys.append((table, self._key(table, request["PutRequest"]["Item"])))
                    else:
                        keys.append((table, request["DeleteRequest"]["Key"]))
        if operation == "TransactWriteItems":
            for entry in params["TransactItems"]:
                ((kind, action),) = entry.items()
                key = self._key(action["TableName"], action["Item"]) if kind == "Put" else action["Key"]
                keys.append((action["TableName"], key))
        return keys

    def _before(self, operation: str, params: dict[str, Any]) -> dict[tuple[str, str], capacity.Item]:
        return self._items(self._write_keys(operation, params)) if operation in WRITES else {}

    def _write_units(
        self,
        operation: str,
        params: dict[str, Any],
        result: dict[str, Any],
        status: int,
        before: dict[tuple[str, str], capacity.Item],
    ) -> dict[tuple[str, str], float]:
        units: dict[tuple[str, str], float] = defaultdict(float)
        keys = self._write_keys(operation, params)
        unprocessed = {
            (
                table,
                json.dumps(
                    self._key(table, r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"]), sort_keys=True
                ),
            )
            for table, requests_ in (result.get("UnprocessedItems") or {}).items()
            for r in requests_
        }
        after = self._items(keys)
        transactional = operation == "TransactWriteItems"
        kinds = [next(iter(entry)) for entry in params["TransactItems"]] if transactional else ["write"] * len(keys)
        for (table, key), kind in zip(keys, kinds, strict=True):
            ref = (table, json.dumps(key, sort_keys=True))
            if ref in unprocessed:
                continue
            old, new = before.get(ref), after.get(ref)
            if kind == "ConditionCheck":
                new = old
            units[(table, "write")] += capacity.write_units(
                capacity.item_size(old), capacity.item_size(new), transactional
            )
            if status == 200 and kind != "ConditionCheck":
                described = self.table(table)
                for index in described.indexes:
                    units[(f"{table}.{index.name}", "index write")] += index.write_units(old, new, described.keys)
        return units

    def _read_units(
        self, operation: str, params: dict[str, Any], result: dict[str, Any], status: int
    ) -> dict[tuple[str, str], float]:
        units: dict[tuple[str, str], float] = defaultdict(float)
        if status != 200:
            return units
        if operation == "GetItem":
            table = params["TableName"]
            item = result.get("Item")
            if "ProjectionExpression" in params and item:
                item = self._items([(table, params["Key"])]).get((table, json.dumps(params["Key"], sort_keys=True)))
            consistency = "strong" if params.get("ConsistentRead") else "eventual"
            units[(table, "read")] += capacity.read_units(capacity.item_size(item), consistency)
        elif operation == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                returned = result.get("Responses", {}).get(table, [])
                if "ProjectionExpression" in request and returned:
                    found = self._items([(table, self._key(table, item)) for item in returned])
                    returned = list(found.values())
                unprocessed = len((result.get("UnprocessedKeys") or {}).get(table, {}).get("Keys", []))
                consistency = "strong" if request.get("ConsistentRead") else "eventual"
                sizes = [capacity.item_size(item) for item in returned]
                sizes += [0] * (len(request["Keys"]) - unprocessed - len(returned))  # absent: the smallest read
                units[(table, "read")] += sum(capacity.read_units(size, consistency) for size in sizes)
        elif operation in ("Query", "Scan"):
            table = params["TableName"] + (f".{params['IndexName']}" if "IndexName" in params else "")
            items = result.get("Items", [])
            if {"ProjectionExpression", "FilterExpression"} & params.keys() or params.get("Select") == "COUNT":
                items = self._whole_page(operation, params)
            consistency = "strong" if params.get("ConsistentRead") else "eventual"
            units[(table, "read")] += capacity.read_units(sum(map(capacity.item_size, items)), consistency)
        elif operation == "TransactGetItems":
            for entry, response in zip(params["TransactItems"], result.get("Responses", []), strict=False):
                item = response.get("Item")
                get = entry["Get"]
                if "ProjectionExpression" in get and item:
                    item = self._items([(get["TableName"], get["Key"])]).get(
                        (get["TableName"], json.dumps(get["Key"], sort_keys=True))
                    )
                units[(get["TableName"], "read")] += capacity.read_units(capacity.item_size(item), "transactional")
        return units

    def _whole_page(self, operation: str, params: dict[str, Any]) -> list[capacity.Item]:
        """The items a Query or Scan read: the same page asked for again with
        neither projection nor filter (a Limit counts items before the filter)."""
        again = {
            name: value
            for name, value in params.items()
            if name not in ("ProjectionExpression", "FilterExpression", "Select", "ReturnConsumedCapacity")
        }
        used = set(PLACEHOLDER.findall(again.get("KeyConditionExpression", "")))
        for name in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            kept = {placeholder: value for placeholder, value in again.get(name, {}).items() if placeholder in used}
            if kept:
                again[name] = kept
            else:
                again.pop(name, None)
        call = self._dynamodb.query if operation == "Query" else self._dynamodb.scan
        return list(call(**again).get("Items", []))


def _moto_units(consumed: Any) -> float:
    if isinstance(consumed, dict):
        return float(consumed.get("CapacityUnits", 0))
    if isinstance(consumed, list):
        return sum(float(entry.get("CapacityUnits", 0)) for entry in consumed)
    return 0.0


class _Handler(BaseHTTPRequestHandler):
    owner: Meter
    protocol_version = "HTTP/1.1"

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name: value for name, value in self.headers.items() if name.lower() != "connection"}
        status, response_headers, answer = self.owner.exchange(self.command, self.path, headers, body)
        self.send_response_only(status)
        for name, value in response_headers:
            if name.lower() not in ("connection", "transfer-encoding", "content-length", "server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _relay  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass
