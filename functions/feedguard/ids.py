"""Identifiers that sort by creation time, so a Query on an id range key lists
in creation order without a separate timestamp index."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    """`prefix` + 12 hex digits of milliseconds since the epoch + 8 random hex digits."""
    return f"{prefix}{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


# A feed's id: no feed name can start so (names are [a-z0-9._-]), so an id is
# never a name. Feeds made before feeds had ids have none: their name is
# their id, and every row of theirs is keyed by it (domain.Feed.feed_id).
FEED_ID_PREFIX = "f_"


def new_feed_id() -> str:
    return new_id(FEED_ID_PREFIX)
