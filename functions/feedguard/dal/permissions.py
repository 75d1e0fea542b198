"""Feed roles: one item per (feed name, key), read with the feed's item in
one BatchGet on every feed-scoped request (dal.feeds.access), carrying the
id of the feed it was granted on, and listed by key through the by_member
index. A role left from a deleted feed of the same name counts for nothing
(and its feed's purge deletes it)."""

from __future__ import annotations

from pynamodb.exceptions import DeleteError
from pynamodb.expressions.condition import Condition

from feedguard import clock
from feedguard.dal import conditions
from feedguard.dal.models import PERMISSION_SK_PREFIX, FeedPermission
from feedguard.dal.pages import Page, collect
from feedguard.domain import Feed, FeedRole
from feedguard.ids import FEED_ID_PREFIX


def _sk(key_id: str) -> str:
    return f"{PERMISSION_SK_PREFIX}{key_id}"


def _member(key_id: str) -> str:
    return f"key#{key_id}"


def as_role(item: FeedPermission) -> FeedRole:
    """The domain's role of a role's item."""
    return FeedRole(
        feed=item.feed, key_id=item.key_id, role=item.role, granted_at=item.granted_at, granted_on=item.granted_on
    )


def role_of(feed: Feed, key_id: str) -> str | None:
    """The key's role on `feed` (one consistent GetItem)."""
    try:
        permission = FeedPermission.get(feed.feed, _sk(key_id), consistent_read=True)
    except FeedPermission.DoesNotExist:
        return None
    return permission.role if permission.granted_on == feed.feed_id else None


def grant(feed: Feed, key_id: str, role: str) -> FeedRole:
    """Gives the key `role` on `feed`, replacing any role it had under the
    feed's name (its own, or one left from a deleted feed of that name)."""
    item = FeedPermission(
        feed=feed.feed,
        sk=_sk(key_id),
        member=_member(key_id),
        key_id=key_id,
        role=role,
        granted_at=clock.iso(clock.now()),
        feed_id=feed.id,
    )
    item.save()
    return as_role(item)


def _granted_on(feed: Feed) -> Condition:
    if feed.feed_id.startswith(FEED_ID_PREFIX):
        return FeedPermission.feed_id == feed.feed_id
    legacy: Condition = FeedPermission.sk.exists() & FeedPermission.feed_id.does_not_exist()
    return legacy


def revoke(feed: Feed, key_id: str) -> bool:
    """True when there was a role on this feed to revoke."""
    try:
        FeedPermission(feed=feed.feed, sk=_sk(key_id)).delete(condition=_granted_on(feed))
    except DeleteError as error:
        if conditions.failed(error):
            return False
        raise
    return True


def feeds_of_key(key_id: str) -> list[FeedRole]:
    return [as_role(item) for item in FeedPermission.by_member.query(_member(key_id))]


def revoke_all_of_key(key_id: str) -> None:
    with FeedPermission.batch_write() as batch:
        for permission in FeedPermission.by_member.query(_member(key_id)):
            batch.delete(FeedPermission(feed=permission.feed, sk=permission.sk))


def list_page(feed: Feed, limit: int, cursor: str | None) -> Page[FeedRole]:
    """The roles granted on `feed` (a role left from a deleted feed of the
    same name is filtered out until the purge deletes it)."""
    page = collect(
        lambda **kwargs: FeedPermission.query(
            feed.feed,
            FeedPermission.sk.startswith(PERMISSION_SK_PREFIX),
            filter_condition=_granted_on(feed),
            **kwargs,
        ),
        limit,
        cursor,
    )
    return Page([as_role(item) for item in page.items], page.next_cursor)
