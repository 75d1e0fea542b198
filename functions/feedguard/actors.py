"""Who made a change, as the history and an assessment record it: `id` is
the key's id, which never changes and is never given to another key, and
`name` the name the key had at the time (names are not unique, and a key
deleted and made again under its name is another key).

The system acts under ids of its own, which no key can have (key ids are
`k` and random letters) and names no key may take (POST /api-keys answers
422): `scanner` records what scans find (detected, reopened, withdrawn),
`auto` what rules do on their own (a type's auto-assess range, an
assessment's expiry), and `admin` is the admin key. Entries written before
ids were recorded have none (null in GET .../history)."""

from __future__ import annotations

from dataclasses import dataclass

from feedguard.access import ADMIN_ID, Principal


@dataclass(frozen=True)
class Actor:
    id: str
    name: str


ADMIN = Actor(ADMIN_ID, "admin")
AUTO = Actor("auto", "auto")
SCANNER = Actor("scanner", "scanner")

# Names no key may take: the system's actors, and `system` and `feedguard`
# (expiries were recorded under the latter before they were `auto`'s).
RESERVED_NAMES = frozenset({ADMIN.name, AUTO.name, SCANNER.name, "system", "feedguard"})


def of(principal: Principal) -> Actor:
    """The calling key as an actor (the admin key is ADMIN)."""
    return Actor(principal.key_id, principal.name)


def is_reserved(name: str) -> bool:
    """Whether `name` is one of the system's, whatever its case and surrounding spaces."""
    return name.strip().casefold() in RESERVED_NAMES
