"""Cursor pagination over Query results.

A cursor is the DynamoDB key to resume after, as url-safe base64 JSON: opaque to
clients, and harmless if forged because every list fixes its partition key in
the Query itself."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar, cast

from pynamodb.exceptions import QueryError

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
        and all(isinstance(name, str) and _is_key_value(value) for name, value in key.items())
    )
    if not valid:
        raise InvalidInput("The cursor is not one this API gave out.")
    return cast(Key, key)


def _is_key_value(value: Any) -> bool:
    """One DynamoDB key value as the API gives them out: a string, or a
    number DynamoDB could store (38 digits at most)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, text),) = value.items()
    if not isinstance(text, str):
        return False
    if kind == "S":
        return True
    return kind == "N" and re.fullmatch(r"-?[0-9]{1,38}(\.[0-9]{1,38})?", text) is not None


@cache
def _key_types() -> dict[str, set[str]]:
    """The DynamoDB types of the models' attributes, by name: what a
    cursor's key may hold (DynamoDB tells a non-key attribute itself)."""
    from feedguard.dal.models import ALL_MODELS

    types: dict[str, set[str]] = {}
    for model in ALL_MODELS:
        for attribute in model.get_attributes().values():
            types.setdefault(attribute.attr_name, set()).add(attribute.attr_type)
    return types


def _query_key(cursor: str | None) -> Key | None:
    """The cursor's key, once each attribute in it is one of the models'
    with its type: a forged cursor of the right shape with the wrong types
    would otherwise reach DynamoDB (or botocore) and fail as a 500."""
    key = decode_cursor(cursor)
    types = _key_types()
    for name, value in (key or {}).items():
        if next(iter(value)) not in types.get(name, ()):
            raise InvalidInput("The cursor is not one this API gave out.")
    return key


def collect(query: Callable[..., Iterator[T]], limit: int, cursor: str | None) -> Page[T]:
    """Run `query(limit=..., page_size=..., last_evaluated_key=...)` for one page.

    One item more than asked is read, so the last page has no cursor that
    leads to an empty page. A key DynamoDB refuses as a starting point (not
    this list's: other attributes) is the client's cursor at fault: a 422."""
    results: Any = query(limit=limit, page_size=limit + 1, last_evaluated_key=_query_key(cursor))
    try:
        items = list(results)
    except QueryError as error:
        if cursor and getattr(error, "cause_response_code", None) == "ValidationException":
            raise InvalidInput("The cursor is not one this API gave out.") from None
        raise
    next_key = results.last_evaluated_key if len(items) == limit else None
    return Page(items=items, next_cursor=encode_cursor(next_key))
