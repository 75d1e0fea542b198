"""moto, made quicker where it spends time for nothing. The local stack runs
moto's server in one Python process, so its overheads are every test's and
every benchmark's; each change here keeps moto's answers exactly as they
were (tests/unit/test_moto_speedups.py holds them to that).

- Finding a request's backend: moto's server lists its own package
  directory (a stat per entry) and tries its URL patterns in turn on every
  request, about a millisecond, a fifth of a GetItem. The answer for a host
  never changes, so it is remembered.
- Comparing two strings: moto compares attribute values through
  `DynamoType.cast_value`, which dispatches on the type each time. A Query
  compares the hash key of every item of the table and sorts its partition
  by range key, so a Query over 6,000 of 18,000 items made about 350,000 such
  comparisons; two strings now compare as the strings they are.
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.models.dynamo_type import DynamoType
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

STRING = "S"


def apply() -> None:
    """Idempotent: the stack calls it each time it starts."""
    if getattr(DomainDispatcherApplication, "_feedguard_quick", False):
        return
    _remember_backends()
    _compare_strings_directly()
    DomainDispatcherApplication._feedguard_quick = True  # type: ignore[attr-defined]


def _remember_backends() -> None:
    lookup = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        # moto calls this under the dispatcher's lock.
        if host not in known:
            known[host] = lookup(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


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
