"""The one change made to moto, for a correctness gap (docs/local-stack.md
lists it with its test). moto answers each request on the caller's thread
(the server's, one per connection, or the client's under mock_aws) and keeps
DynamoDB's state in plain Python objects without a lock: a TransactWriteItems
checks its conditions and writes while other requests write too (two
transactions on one item both succeed), and it deep-copies each table it
touches while others change it ("dictionary changed size during iteration",
a 500). DynamoDB's requests are atomic and its transactions serializable, so
DynamoDB's requests here run one at a time, through the handler moto's
DynamoDB routes its URL to (its `url_paths`, which both the server and
mock_aws read)."""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodb import urls

DYNAMODB_REQUESTS = threading.Lock()


def apply() -> None:
    """Idempotent: DynamoDB's requests, from any client, one at a time."""
    for path, handler in urls.url_paths.items():
        if not getattr(handler, "serialised", False):
            urls.url_paths[path] = _one_at_a_time(handler)


def _one_at_a_time(handler: Any) -> Any:
    def dynamodb_request(*args: Any, **kwargs: Any) -> Any:
        with DYNAMODB_REQUESTS:
            return handler(*args, **kwargs)

    dynamodb_request.serialised = True  # type: ignore[attr-defined]
    return dynamodb_request
