"""Feed roles: one item per (feed, key), read with one GetItem on every
feed-scoped request, and listed by key through the by_member index."""

from __future__ import annotations

from pynamodb.exceptions import DeleteError, DoesNotExist

from feedguard import clock
from feedguard.dal import conditions
from feedguard.dal.models import PERMISSION_SK_PREFIX, FeedPermission
from feedguard.dal.pages import Page, collect


def _sk(key_id: str) -> str:
    return f"{PERMISSION_SK_PREFIX}{key_id}"


def _member(key_id: str) -> str:
    return f"key#{key_id}"


def role_of(feed: str, key_id: str) -> str | None:
    try:
        return FeedPermission.get(feed, _sk(key_id), consistent_read=True).role
    except DoesNotExist:
        return None


def grant(feed: str, key_id: str, role: str) -> FeedPermission:
    item = FeedPermission(
        feed=feed,
        sk=_sk(key_id),
        member=_member(key_id),
        key_id=key_id,
        role=role,
        granted_at=clock.iso(clock.now()),
    )
    item.save()
    return item


def revoke(feed: str, key_id: str) -> bool:
    """True when there was a role to revoke."""
    try:
        FeedPermission(feed=feed, sk=_sk(key_id)).delete(condition=FeedPermission.sk.exists())
    except DeleteError as error:
        if conditions.failed(error):
            return False
        raise
    return True


def feeds_of_key(key_id: str) -> list[FeedPermission]:
    return list(FeedPermission.by_member.query(_member(key_id)))


def revoke_all_of_key(key_id: str) -> None:
    with FeedPermission.batch_write() as batch:
        for permission in FeedPermission.by_member.query(_member(key_id)):
            batch.delete(FeedPermission(feed=permission.feed, sk=permission.sk))


def list_page(feed: str, limit: int, cursor: str | None) -> Page[FeedPermission]:
    return collect(
        lambda **kwargs: FeedPermission.query(feed, FeedPermission.sk.startswith(PERMISSION_SK_PREFIX), **kwargs),
        limit,
        cursor,
    )
