"""make bench's capacity arithmetic (bench/capacity.py) against the figures
DynamoDB's documentation gives (CapacityUnitCalculations.html,
read-write-operations.html)."""

from __future__ import annotations

import pytest

from bench import capacity


def string_item(total: int) -> capacity.Item:
    """An item of exactly `total` bytes: attribute `p` holding a string."""
    return {"p": {"S": "x" * (total - 1)}}


def test_an_item_is_its_attribute_names_and_values():
    item = {
        "feed": {"S": "web"},  # 4 + 3
        "purl": {"S": "pkg:npm/é@1"},  # 4 + 12 (é is two bytes in UTF-8)
        "score": {"N": "7.50"},  # 5 + (2 significant digits: 1 byte) + 1
        "ok": {"BOOL": True},  # 2 + 1
        "gone": {"NULL": True},  # 4 + 1
        "ids": {"SS": ["CVE-1", "CVE-22"]},  # 3 + 5 + 6
        "refs": {"L": [{"S": "ab"}, {"N": "100"}]},  # 4 + 3 + (2 + 1) + (2 + 1)
        "meta": {"M": {"k": {"S": "v"}}},  # 4 + 3 + (1 + 1 + 1)
    }
    assert capacity.item_size(item) == 7 + 16 + 7 + 3 + 5 + 14 + 13 + 10


@pytest.mark.parametrize(
    ("number", "size"),
    [("0", 1), ("7", 2), ("12", 2), ("123", 3), ("1000", 2), ("-12.5", 3), ("0.001", 2), ("1E+5", 2)],
)
def test_a_number_is_one_byte_per_two_significant_digits_plus_one(number, size):
    assert capacity.value_size({"N": number}) == size


def test_a_read_is_rounded_up_to_4_kb_and_halved_when_eventually_consistent():
    assert capacity.item_size(string_item(4096)) == 4096
    assert capacity.read_units(4096, "eventual") == 0.5
    assert capacity.read_units(4096, "strong") == 1
    assert capacity.read_units(4096, "transactional") == 2
    assert capacity.read_units(4097, "strong") == 2
    # The documentation's example: an 8 KB item is 2 strongly consistent units,
    # 1 eventually consistent, 4 transactional.
    assert [capacity.read_units(8192, c) for c in ("strong", "eventual", "transactional")] == [2, 1, 4]
    # A read of an item that is not there still costs the smallest read.
    assert capacity.read_units(0, "eventual") == 0.5


def test_batch_get_rounds_each_item_and_query_rounds_the_total():
    # BatchGetItem of a 1.5 KB and a 6.5 KB item is 12 KB (4 KB + 8 KB), not 8 KB.
    sizes = [1536, 6656]
    assert sum(capacity.read_units(size, "strong") for size in sizes) == 3
    # Query: all items read are one read, the total rounded up once.
    assert capacity.read_units(sum(sizes), "strong") == 2


def test_a_write_is_1_kb_units_of_the_larger_image_doubled_in_a_transaction():
    assert capacity.write_units(0, 1024) == 1
    assert capacity.write_units(0, 1025) == 2
    assert capacity.write_units(3000, 500) == 3  # an update shrinking a 3 KB item
    assert capacity.write_units(0, 0) == 1  # deleting an absent item
    assert capacity.write_units(0, 500, transactional=True) == 2


def test_a_global_secondary_index_writes_only_entries_that_change():
    index = capacity.Index("by_purl", keys=("purl", "feed"), projection="KEYS_ONLY")
    table_keys = ("feed", "purl")
    row = {"feed": {"S": "web"}, "purl": {"S": "pkg:npm/a@1"}, "vulnerability_ids": {"SS": ["CVE-1"]}}
    assert index.write_units(None, row, table_keys) == 1  # added
    assert index.write_units(row, None, table_keys) == 1  # removed
    # A non-projected attribute changed: the keys-only entry did not.
    assert index.write_units(row, {**row, "vulnerability_ids": {"SS": ["CVE-2"]}}, table_keys) == 0

    status = capacity.Index("by_status", keys=("feed_status", "score_key"), projection="ALL")
    finding = {"feed": {"S": "web"}, "vulnerability_id": {"S": "CVE-1"}, "feed_status": {"S": "web#unassessed"}}
    finding |= {"score_key": {"S": "072"}}
    moved = {**finding, "feed_status": {"S": "web#assessed"}}
    assert status.write_units(finding, moved, ("feed", "vulnerability_id")) == 2  # its key moved: delete + add
    assert status.write_units(finding, {**finding, "title": {"S": "t"}}, ("feed", "vulnerability_id")) == 1
    # Sparse: an item without the index key has no entry.
    assert status.write_units({"feed": {"S": "web"}}, {"feed": {"S": "web"}, "x": {"N": "1"}}, ("feed",)) == 0
