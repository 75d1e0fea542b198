"""Identifiers that sort by creation time, so a Query on an id range key lists
in creation order without a separate timestamp index."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    """`prefix` + 12 hex digits of milliseconds since the epoch + 8 random hex digits."""
    return f"{prefix}{int(time.time() * 1000):012x}{secrets.token_hex(4)}"
