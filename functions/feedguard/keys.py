"""API keys: how they look, how they are hashed, how a presented one is read.

A key is `fgk_<id>_<secret>`. The id is public and names the stored item, so
the authorizer finds it with one consistent GetItem; only the SHA-256 of the
whole key is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from feedguard.ids import new_id

PREFIX = "fgk_"


@dataclass(frozen=True)
class IssuedKey:
    id: str
    key: str
    key_hash: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def issue() -> IssuedKey:
    key_id = new_id("k")
    key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return IssuedKey(id=key_id, key=key, key_hash=hash_key(key))


def key_id_of(key: str) -> str | None:
    """The id inside a presented key, or None when it is not shaped like ours."""
    if not key.startswith(PREFIX):
        return None
    key_id, separator, secret = key[len(PREFIX) :].partition("_")
    if not separator or not key_id.isalnum() or not secret:
        return None
    return key_id


def matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(key), stored_hash)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
