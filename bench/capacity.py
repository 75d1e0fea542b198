"""What DynamoDB bills for an item, computed as its documentation says
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
and read-write-operations.html):

- an item's size is the sum, over its attributes, of the UTF-8 bytes of the
  name and the size of the value: a string its UTF-8 bytes, a number one byte
  per two significant digits plus one, a binary its raw bytes, a boolean or
  null one byte, a list or map 3 bytes plus its elements' sizes plus one byte
  per element, a set the sum of its elements;
- a read costs one unit per 4 KB (rounded up) when strongly consistent, half
  of that when eventually consistent, twice that in a transaction. GetItem and
  BatchGetItem round each item up; Query and Scan round the total of every
  item they read (before any filter, whatever the projection) once;
- a write costs one unit per 1 KB (rounded up) of the larger of the item
  before and after it, twice that in a transaction; a global secondary index
  costs the writes of its own entries (index and table keys plus projected
  attributes): one to add or remove one, one to change one's projected
  attributes, two when its index key changes (delete and add).

Sizes are of DynamoDB's JSON form ({"S": "…"}, {"N": "…"}, …), as on the wire.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
# Every item is stored with 100 bytes of overhead (indexing), in tables and indexes alike.
STORAGE_OVERHEAD_BYTES = 100

Item = dict[str, dict[str, Any]]


def number_size(text: str) -> int:
    """One byte per two significant digits, plus one (leading and trailing zeros trimmed)."""
    mantissa = text.lstrip("+-").lower().split("e")[0]
    digits = mantissa.replace(".", "").strip("0")  # 1000 and 0.001 have one significant digit
    return math.ceil(len(digits) / 2) + 1 if digits else 1


def value_size(value: dict[str, Any]) -> int:
    """The size of one attribute value in DynamoDB's JSON form, without its name."""
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode("utf-8"))
    if kind == "N":
        return number_size(content)
    if kind == "B":
        return len(_raw(content))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(element.encode("utf-8")) for element in content)
    if kind == "NS":
        return sum(number_size(element) for element in content)
    if kind == "BS":
        return sum(len(_raw(element)) for element in content)
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in content)
    if kind == "M":
        return 3 + sum(len(name.encode("utf-8")) + value_size(element) + 1 for name, element in content.items())
    raise ValueError(f"not a DynamoDB attribute value: {kind}")


def _raw(content: str | bytes) -> bytes:
    return content if isinstance(content, bytes) else base64.b64decode(content)


def item_size(item: Item | None) -> int:
    """The size of an item: its attributes' names and values."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + value_size(value) for name, value in item.items())


def read_units(size: int, consistency: str) -> float:
    """One read of `size` bytes: `consistency` is "eventual", "strong" or
    "transactional". An absent item still costs the smallest read."""
    blocks = max(1, math.ceil(size / READ_UNIT_BYTES))
    return blocks * {"eventual": 0.5, "strong": 1.0, "transactional": 2.0}[consistency]


def write_units(before: int, after: int, transactional: bool = False) -> int:
    """One write: the larger of the item before and after, 1 KB a unit (at least one)."""
    units = max(1, math.ceil(max(before, after) / WRITE_UNIT_BYTES))
    return units * 2 if transactional else units


def storage_bytes(item: Item) -> int:
    """What an item adds to the table's billed storage."""
    return item_size(item) + STORAGE_OVERHEAD_BYTES


@dataclass(frozen=True)
class Index:
    """A global secondary index: its key attributes, and what it projects."""

    name: str
    keys: tuple[str, ...]
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    included: tuple[str, ...] = ()

    @classmethod
    def from_description(cls, description: dict[str, Any]) -> Index:
        projection = description.get("Projection", {})
        return cls(
            name=description["IndexName"],
            keys=tuple(key["AttributeName"] for key in description["KeySchema"]),
            projection=projection.get("ProjectionType", "ALL"),
            included=tuple(projection.get("NonKeyAttributes", ())),
        )

    def entry(self, item: Item | None, table_keys: tuple[str, ...]) -> Item | None:
        """The index's entry for an item; None when the item lacks an index key (sparse)."""
        if not item or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        names = {*self.keys, *table_keys, *(self.included if self.projection == "INCLUDE" else ())}
        return {name: value for name, value in item.items() if name in names}

    def write_units(self, before: Item | None, after: Item | None, table_keys: tuple[str, ...]) -> int:
        """The index's writes for one change of an item, from its entry before and after."""
        old, new = self.entry(before, table_keys), self.entry(after, table_keys)
        if old is None and new is None:
            return 0
        if old is None or new is None:
            return write_units(0, item_size(old or new))
        if any(old[key] != new[key] for key in self.keys):
            return write_units(0, item_size(old)) + write_units(0, item_size(new))
        return 0 if old == new else write_units(0, item_size(new))
