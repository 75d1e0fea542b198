"""Who is calling, and what they may do. Every feed-scoped route checks its
role here, so the rule lives in one place."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from feedguard.errors import Forbidden, NotFound, Unauthorized


class Role(IntEnum):
    viewer = 1
    assessor = 2
    manager = 3


ROLE_NAMES = tuple(role.name for role in Role)


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    is_admin: bool

    @classmethod
    def from_authorizer(cls, context: dict[str, Any] | None) -> Principal:
        """Reads what handlers.authorizer put in requestContext.authorizer."""
        if not context or not context.get("key_id"):
            raise Unauthorized("Missing or unknown API key.")
        return cls(
            key_id=str(context["key_id"]),
            name=str(context.get("key_name") or context["key_id"]),
            is_admin=str(context.get("admin", "false")).lower() == "true",
        )


ADMIN_ID = "admin"


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("Only the admin key may do this.")


def require_role(principal: Principal, feed: str, needed: Role, found: bool, role: str | None) -> None:
    """404 when the feed does not exist or the key has no role on it (the two
    look the same, so feed names do not leak); 403 when the role is too small.

    `found` and `role` are what the data layer read of the feed named `feed`
    and of the key's role on it (dal.feeds.access: one round trip), passed in
    so this rule stays testable without AWS."""
    if principal.is_admin:
        if not found:
            raise NotFound(f"There is no feed named {feed}.")
        return
    if not found or role is None:
        raise NotFound(f"There is no feed named {feed}.")
    if Role[role] < needed:
        raise Forbidden(f"Your role on feed {feed} is {role}; this needs {needed.name}.")
