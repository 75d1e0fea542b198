"""DynamoDB's JSON written and read as it is, for the item operations.

botocore serializes a request by walking the operation's input shape
member by member, and parses an answer by walking its output shape, though
both are already JSON in DynamoDB's form: strings, numbers as strings,
booleans, lists and maps (this service stores no binary). Measured
(docs/performance.md): a scan worker's 25-item BatchWriteItem spent
0.25-0.41 ms in the walk against 0.07-0.12 ms for json.dumps, and parsing
100 items took 1.3-1.7 ms against 0.14 ms for json.loads; the coordinator's
planning parsed 18,000 package rows at 11 ms per 1,000, two thirds of its
CPU.

For the operations in DIRECT only, this sends json.dumps of the caller's
parameters as the body, and gives back json.loads of a successful answer.
Everything else stays botocore's: endpoint, headers, signing, retries and
errors, through botocore's documented events. What JSON cannot say as
botocore would (bytes, which botocore sends as base64; anything not plain
JSON) and an answer holding binary values (botocore decodes them) take
botocore's own path, whole.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

# Operations on items, whose input and output hold no timestamp and no blob
# but binary attribute values.
DIRECT = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
# Where the request context carries the body between the two events.
BODY = "feedguard_direct_body"
# An answer holding these carries binary values, which botocore decodes.
BINARY = (b'"B":', b'"BS":')


def install(client: Any) -> None:
    """Registers the direct path on one botocore DynamoDB client: the body
    goes in before any other handler of the call sees the request, and the
    answer is read after every other handler of its parse saw it whole.
    Only on a client that does not validate parameters, as PynamoDB makes
    it: one that does would refuse the stand-in, every call."""
    events = client.meta.events
    for operation in sorted(DIRECT):
        events.register_last(f"provide-client-params.dynamodb.{operation}", _serialize)
        events.register_first(f"before-call.dynamodb.{operation}", _send_serialized)
        events.register_last(f"before-parse.dynamodb.{operation}", _parse)


def _serialize(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> dict[str, Any] | None:
    """The body, stashed in the request context, and in place of the
    parameters a stand-in naming the same tables (all that endpoint
    resolution reads of them), cheap for botocore to serialize. None: the
    parameters go botocore's way."""
    for name in model.idempotent_members:  # as botocore fills them, in the caller's parameters
        if name not in params:
            params[name] = str(uuid.uuid4())
    try:
        body = json.dumps(params, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    context[BODY] = body.encode()
    return _naming_tables(params)


def _naming_tables(params: dict[str, Any]) -> dict[str, Any]:
    stand_in: dict[str, Any] = {}
    if "TableName" in params:
        stand_in["TableName"] = params["TableName"]
    if "RequestItems" in params:
        stand_in["RequestItems"] = {name: {} for name in params["RequestItems"]}
    if "TransactItems" in params:
        # One entry per action and table, in the order of their first use:
        # endpoint resolution reads the first table named (botocore finds the
        # names with a JMESPath search over every entry, 2 ms for 100).
        entries = {
            (action, request.get("TableName")): None
            for item in params["TransactItems"]
            for action, request in item.items()
        }
        stand_in["TransactItems"] = [{action: {"TableName": table}} for action, table in entries]
    return stand_in


def _send_serialized(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """Puts the stashed body in the request, before it is signed."""
    body = context.pop(BODY, None)
    if body is not None:
        params["body"] = body


def _parse(
    operation_model: Any, response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """A successful answer's body, read by json.loads; botocore's parser
    then sees an empty one and adds only the response's metadata. A body
    that is not JSON is left to botocore's parser, to refuse as it does."""
    body = response_dict.get("body")
    if (
        response_dict.get("status_code", 500) >= 300
        or not isinstance(body, bytes)
        or not body
        or any(marker in body for marker in BINARY)
    ):
        return
    try:
        answer = json.loads(body)
    except ValueError:
        return
    if isinstance(answer, dict):
        customized_response_dict.update(answer)
        response_dict["body"] = b"{}"
