"""Lambda event filtering (FilterCriteria), the subset of EventBridge pattern
syntax that event source mappings accept: literal values, prefix, suffix,
exists, anything-but and numeric comparisons; several filters are ORed."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

_MISSING = object()

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def matches_any(filters: tuple[dict[str, Any], ...] | list[dict[str, Any]], record: dict[str, Any]) -> bool:
    """No filters lets every record through, as an event source mapping does."""
    return not filters or any(matches(pattern, record) for pattern in filters)


def matches(pattern: dict[str, Any], value: Any) -> bool:
    if not isinstance(pattern, dict):
        raise ValueError("a filter pattern is a JSON object")
    for key, expected in pattern.items():
        actual = value.get(key, _MISSING) if isinstance(value, dict) else _MISSING
        if isinstance(expected, dict):
            if actual is _MISSING or not matches(expected, actual):
                return False
        elif isinstance(expected, list):
            if not _matches_list(expected, actual):
                return False
        else:
            raise ValueError(f"filter values must be objects or arrays, not {expected!r}")
    return True


def _matches_list(matchers: list[Any], actual: Any) -> bool:
    candidates = actual if isinstance(actual, list) else [actual]
    return any(_matches_one(matcher, candidate) for matcher in matchers for candidate in candidates)


def _matches_one(matcher: Any, actual: Any) -> bool:
    if not isinstance(matcher, dict):
        return actual is not _MISSING and actual == matcher
    ((operator_name, operand),) = matcher.items()
    if operator_name == "exists":
        return (actual is not _MISSING) == bool(operand)
    if actual is _MISSING:
        return False
    if operator_name == "prefix":
        return isinstance(actual, str) and actual.startswith(operand)
    if operator_name == "suffix":
        return isinstance(actual, str) and actual.endswith(operand)
    if operator_name == "anything-but":
        excluded = operand if isinstance(operand, list) else [operand]
        return actual not in excluded
    if operator_name == "numeric":
        return _numeric(operand, actual)
    raise ValueError(f"unsupported filter operator {operator_name}")


def _numeric(conditions: list[Any], actual: Any) -> bool:
    try:
        number = float(actual)
    except (TypeError, ValueError):
        return False
    pairs = zip(conditions[::2], conditions[1::2], strict=True)
    return all(_COMPARE[comparison](number, float(bound)) for comparison, bound in pairs)
