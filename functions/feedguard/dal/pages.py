"""Cursor pagination over Query results.

A cursor is the DynamoDB key to resume after, as url-safe base64 JSON: opaque to
clients, and harmless if forged because every list fixes its partition key in
the Query itself."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from feedguard.errors import InvalidInput

T = TypeVar("T")
Key = dict[str, dict[str, Any]]

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(key: Key | None) -> str | None:
    if not key:
        return None
    raw = json.dumps(key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Key | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key: Any = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput("The cursor is not one this API gave out.") from None
    valid = (
        isinstance(key, dict)
        and bool(key)
        and all(isinstance(name, str) and isinstance(value, dict) and len(value) == 1 for name, value in key.items())
    )
    if not valid:
        raise InvalidInput("The cursor is not one this API gave out.")
    return cast(Key, key)


def collect(query: Callable[..., Iterator[T]], limit: int, cursor: str | None) -> Page[T]:
    """Run `query(limit=..., page_size=..., last_evaluated_key=...)` for one page.

    One item more than asked is read, so the last page has no cursor that
    leads to an empty page."""
    results: Any = query(limit=limit, page_size=limit + 1, last_evaluated_key=decode_cursor(cursor))
    items = list(results)
    next_key = results.last_evaluated_key if len(items) == limit else None
    return Page(items=items, next_cursor=encode_cursor(next_key))
