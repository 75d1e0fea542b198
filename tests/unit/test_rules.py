"""Rules that need no AWS: roles, key format, cursors, ids."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feedguard import keys
from feedguard.access import Principal, Role, require_role
from feedguard.dal.pages import decode_cursor, encode_cursor
from feedguard.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from feedguard.ids import new_id

ROLES = {("payments", "k1"): "viewer", ("payments", "k2"): "assessor", ("payments", "k3"): "manager"}


def role_of(feed: str, key_id: str) -> str | None:
    return ROLES.get((feed, key_id))


def feed_exists(feed: str) -> bool:
    return feed == "payments"


@pytest.mark.parametrize(
    ("key_id", "needed", "outcome"),
    [
        ("k1", Role.viewer, None),
        ("k1", Role.assessor, Forbidden),
        ("k2", Role.assessor, None),
        ("k2", Role.manager, Forbidden),
        ("k3", Role.manager, None),
        ("k4", Role.viewer, NotFound),
    ],
)
def test_a_role_allows_what_it_names_and_less(key_id: str, needed: Role, outcome: type[Exception] | None) -> None:
    principal = Principal(key_id, key_id, is_admin=False)
    if outcome is None:
        require_role(principal, "payments", needed, feed_exists("payments"), role_of("payments", key_id))
    else:
        with pytest.raises(outcome):
            require_role(principal, "payments", needed, feed_exists("payments"), role_of("payments", key_id))


def test_a_feed_the_key_has_no_role_on_looks_like_a_missing_feed() -> None:
    principal = Principal("k1", "k1", is_admin=False)
    with pytest.raises(NotFound) as no_role:
        require_role(principal, "secret-feed", Role.viewer, True, role_of("secret-feed", "k1"))
    with pytest.raises(NotFound) as missing:
        require_role(Principal("admin", "admin", True), "secret-feed", Role.viewer, feed_exists("secret-feed"), None)
    assert no_role.value.message == missing.value.message


def test_the_admin_may_do_everything_on_an_existing_feed() -> None:
    require_role(Principal("admin", "admin", True), "payments", Role.manager, feed_exists("payments"), None)


def test_a_missing_authorizer_context_is_unauthorized() -> None:
    with pytest.raises(Unauthorized):
        Principal.from_authorizer(None)


def test_issued_keys_carry_their_id_and_match_only_their_hash() -> None:
    issued = keys.issue()
    assert keys.key_id_of(issued.key) == issued.id
    assert keys.matches(issued.key, issued.key_hash)
    assert not keys.matches(issued.key + "x", issued.key_hash)


@given(st.text())
def test_any_presented_text_is_read_without_error(text: str) -> None:
    keys.key_id_of(text)
    keys.bearer_token(text)


# The keys of this API's tables are strings and numbers: a cursor holds nothing else.
@given(st.dictionaries(st.text(min_size=1), st.sampled_from([{"S": "a"}, {"N": "1"}, {"N": "-2.5"}]), min_size=1))
def test_cursors_round_trip(key: dict[str, dict[str, str]]) -> None:
    assert decode_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize(
    "cursor",
    [
        "%%%",
        "e30",
        "W10",
        "eyJhIjogMX0",
        "bm90IGpzb24",
        encode_cursor({"a": {"B": "AA=="}}),
        encode_cursor({"a": {"N": "x"}}),
        encode_cursor({"a": {"S": 5}}),  # type: ignore[dict-item]
    ],
)
def test_foreign_cursors_are_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)


def test_ids_sort_by_creation_time() -> None:
    first = new_id("k")
    time.sleep(0.002)
    second = new_id("k")
    assert first < second
    assert len(first) == len(second) == 21
