"""Feeds, their attached sources, and what deleting a feed removes. Every
read is a GetItem, a BatchGet or a Query."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist, QueryError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition

from feedguard import clock, domain
from feedguard.dal import batching, conditions, transactions
from feedguard.dal.models import (
    ATTACHMENT_SK_PREFIX,
    FEED_ID_SK,
    FEED_SK,
    PERMISSION_SK_PREFIX,
    Feed,
    FeedAttachment,
    FeedIdItem,
    FeedPermission,
    Finding,
    Package,
    connection,
)
from feedguard.dal.pages import Page, collect
from feedguard.errors import Conflict, NotFound
from feedguard.ids import FEED_ID_PREFIX, new_feed_id

ENTITY = "feed"
STATUSES = ("unassessed", "assessed", "expired")


def as_feed(item: Feed) -> domain.Feed:
    """The domain's feed of a feed's item."""
    return domain.Feed(
        feed=item.feed,
        id=item.id,
        description=item.description,
        unassessed_effect=item.unassessed_effect,
        created_at=item.created_at,
        updated_at=item.updated_at,
        scanned_at=item.scanned_at,
        package_changes=None if item.package_changes is None else int(item.package_changes),
        findings_checked=None if item.findings_checked is None else int(item.findings_checked),
    )


def get(name: str) -> domain.Feed | None:
    try:
        return as_feed(Feed.get(name, FEED_SK, consistent_read=True))
    except DoesNotExist:
        return None


def require(name: str) -> domain.Feed:
    feed = get(name)
    if feed is None:
        raise NotFound(f"There is no feed named {name}.")
    return feed


def exists(name: str) -> bool:
    return get(name) is not None


def access(name: str, key_id: str | None) -> tuple[domain.Feed | None, str | None]:
    """The feed named `name` and, for a key (None: the admin), its role on
    that feed: one consistent BatchGetItem of the feed's item and the role's,
    both keyed by the name. A role counts only when it was granted on this
    feed's id: one left from a deleted feed of that name is no role."""
    if key_id is None:
        return get(name), None
    keys = [
        {"feed": {"S": name}, "sk": {"S": FEED_SK}},
        {"feed": {"S": name}, "sk": {"S": f"{PERMISSION_SK_PREFIX}{key_id}"}},
    ]
    found = batching.read_serialized(Feed, keys, consistent=True)
    feed: domain.Feed | None = None
    role: FeedPermission | None = None
    for item in found:
        if item["sk"]["S"] == FEED_SK:
            feed = as_feed(Feed.from_raw_data(item))
        else:
            role = FeedPermission.from_raw_data(item)
    if feed is None or role is None or role.granted_on != feed.feed_id:
        return feed, None
    return feed, role.role


def name_of(feed_id: str) -> str | None:
    """The name of the feed of `feed_id` (None: no such id, or purged). A
    feed made before feeds had ids is its own name. An id's name never
    changes, so each process asks once."""
    if not feed_id.startswith(FEED_ID_PREFIX):
        return feed_id
    known = _names.get(feed_id)
    if known is not None:
        return known
    try:
        name = FeedIdItem.get(feed_id, FEED_ID_SK, consistent_read=True).name
    except DoesNotExist:
        return None
    _names[feed_id] = name
    return name


_names: dict[str, str] = {}


def is_feed(feed_id: str) -> Condition:
    """On the item of a feed's name: it is still the feed of `feed_id` (not
    deleted, nor another feed made since under its name)."""
    if feed_id.startswith(FEED_ID_PREFIX):
        same: Condition = Feed.id == feed_id
        return same
    legacy: Condition = Feed.feed.exists() & Feed.id.does_not_exist()
    return legacy


def create(name: str, description: str | None, unassessed_effect: str) -> domain.Feed:
    """The feed's item, under its name, and its id's item, together."""
    now = clock.iso(clock.now())
    feed = Feed(
        feed=name,
        sk=FEED_SK,
        id=new_feed_id(),
        description=description,
        unassessed_effect=unassessed_effect,
        created_at=now,
    )
    id_item = FeedIdItem(feed=feed.id, sk=FEED_ID_SK, name=name, created_at=now)
    try:
        with transactions.write() as transaction:
            transaction.save(feed, condition=Feed.feed.does_not_exist())
            transaction.save(id_item, condition=FeedIdItem.feed.does_not_exist())
    except TransactWriteError as error:
        if conditions.failed_in_transaction(error, 0):
            raise Conflict(f"A feed named {name} exists already.") from None
        raise
    return as_feed(feed)


def update(feed: domain.Feed, changes: dict[str, Any]) -> domain.Feed:
    """Changes the named attributes only (a scan counts on the same item),
    on condition that it is still this feed; the feed as it is then."""
    item = Feed(feed=feed.feed, sk=FEED_SK)
    actions = [getattr(Feed, name).set(value) for name, value in changes.items() if value is not None]
    actions += [getattr(Feed, name).remove() for name, value in changes.items() if value is None]
    actions.append(Feed.updated_at.set(clock.iso(clock.now())))
    try:
        item.update(actions=actions, condition=is_feed(feed.feed_id))  # ALL_NEW: the item as written
    except UpdateError as error:
        if conditions.failed(error):
            raise NotFound(f"There is no feed named {feed.feed}.") from None
        raise
    return as_feed(item)


def all_feeds() -> Iterator[domain.Feed]:
    return (as_feed(item) for item in Feed.by_entity.query(ENTITY))


def list_all(limit: int, cursor: str | None) -> Page[domain.Feed]:
    page = collect(lambda **kwargs: Feed.by_entity.query(ENTITY, **kwargs), limit, cursor)
    return Page([as_feed(item) for item in page.items], page.next_cursor)


def list_for_key(key_id: str, limit: int, cursor: str | None) -> tuple[Page[domain.Feed], dict[str, str]]:
    """The feeds a key has a role on, and its role on each (a role left from
    a deleted feed of the same name is none)."""
    page = collect(
        lambda **kwargs: FeedPermission.by_member.query(f"key#{key_id}", **kwargs),
        limit,
        cursor,
    )
    granted = {permission.feed: permission for permission in page.items}
    feeds = [
        as_feed(feed)
        for feed in batching.read(Feed, [(name, FEED_SK) for name in granted])
        if granted[feed.feed].granted_on == feed.feed_id
    ]
    feeds.sort(key=lambda feed: feed.feed)
    return Page(feeds, page.next_cursor), {feed.feed: granted[feed.feed].role for feed in feeds}


def attached_source_ids(feed_id: str) -> list[str]:
    return [
        attachment.source_id
        for attachment in FeedAttachment.query(feed_id, FeedAttachment.sk.startswith(ATTACHMENT_SK_PREFIX))
    ]


def attach(feed_id: str, source_id: str) -> FeedAttachment:
    """Idempotent: attaching again keeps the first attachment."""
    sk = f"{ATTACHMENT_SK_PREFIX}{source_id}"
    try:
        return FeedAttachment.get(feed_id, sk, consistent_read=True)
    except DoesNotExist:
        pass
    attachment = FeedAttachment(
        feed=feed_id, sk=sk, member=f"source#{source_id}", source_id=source_id, attached_at=clock.iso(clock.now())
    )
    attachment.save()
    return attachment


def detach(feed_id: str, source_id: str, name: str) -> None:
    try:
        FeedAttachment(feed=feed_id, sk=f"{ATTACHMENT_SK_PREFIX}{source_id}").delete(
            condition=FeedAttachment.sk.exists()
        )
    except Exception as error:
        if conditions.failed(error):
            raise NotFound(f"Source {source_id} is not attached to feed {name}.") from None
        raise


def _update_feed(feed_id: str, actions: list[Any], condition: Condition | None = None) -> None:
    """An update of the item of the feed of `feed_id` by what knows only its
    id (a scan); nothing when the feed is gone."""
    name = name_of(feed_id)
    if name is None:
        return
    guard = is_feed(feed_id) if condition is None else is_feed(feed_id) & condition
    try:
        Feed(feed=name, sk=FEED_SK).update(actions=actions, condition=guard)
    except UpdateError as error:
        if not conditions.failed(error):
            raise


def mark_scanned(feed_id: str, started_at: str) -> None:
    """A scan that started at `started_at` asked about every package the feed
    had then, and succeeded. An older scan finishing late changes nothing."""
    _update_feed(
        feed_id,
        [Feed.scanned_at.set(started_at)],
        Feed.scanned_at.does_not_exist() | (Feed.scanned_at < started_at),
    )


def note_package_changes(feed_id: str, count: int) -> None:
    """`count` of the feed's package rows changed what they report, or were
    removed: its findings need checking against its packages again. Called
    once the change is written: a check that read the count before then
    does not pass for one that saw the change. A change cut short before it
    is counted must be counted some other way: a removal counts before it
    deletes too, and a scan whose batch failed counts its feeds once
    (scanner.finish)."""
    _update_feed(feed_id, [Feed.package_changes.add(count)])


def findings_to_check(feed_id: str) -> int | None:
    """The feed's count of package changes when its findings need checking
    against its packages; None when no package changed since they last were
    (or the feed is gone)."""
    name = name_of(feed_id)
    feed = get(name) if name is not None else None
    if feed is None or feed.feed_id != feed_id:
        return None
    changes = int(feed.package_changes or 0)
    if feed.findings_checked is not None and int(feed.findings_checked) >= changes:
        return None
    return changes


def findings_checked(feed_id: str, changes: int) -> None:
    """The findings were checked against the packages as they were after
    `changes` changes; a later count stays to be checked."""
    _update_feed(
        feed_id,
        [Feed.findings_checked.set(changes)],
        Feed.findings_checked.does_not_exist() | (Feed.findings_checked < changes),
    )


# Rows a page when a scan reads a feed: far smaller than DynamoDB's 1 MB
# pages (about 10,000 rows), so the first batches go on the queue sooner,
# and a page read ahead holds up the sends less. The first five batches of
# a scan of 3 feeds went out 0.13-0.25 s after planning began with pages
# of 2,500, 0.05-0.1 s with pages of 1,000.
PLAN_PAGE_SIZE = 1000
PLANNED = ["purl", "vulnerability_ids", "last_scanned_at"]


class PackageState(NamedTuple):
    """What planning a scan reads of a package row."""

    purl: str
    vulnerability_ids: frozenset[str]
    scanned: bool


def package_states(feed_id: str) -> Iterator[PackageState]:
    """The feed's packages in purl order. The first page is asked for at
    once, before the first row is wanted (a scan starts every feed's), and
    each next page while the current one is used. Read straight from
    DynamoDB's answer, only the attributes planning uses: parsing whole rows
    and building a PynamoDB model of each took half of the planning of a
    scan of 18,000 rows (a projection costs the same read capacity)."""
    projected = {f"#a{n}": attribute for n, attribute in enumerate(PLANNED)}
    asked: dict[str, Any] = {
        "TableName": Package.Meta.table_name,
        "KeyConditionExpression": "#feed = :feed",
        "ExpressionAttributeNames": {"#feed": Package.feed.attr_name, **projected},
        "ExpressionAttributeValues": {":feed": {"S": feed_id}},
        "ProjectionExpression": ", ".join(projected),
        "Limit": PLAN_PAGE_SIZE,
    }

    def page(start: dict[str, Any] | None) -> dict[str, Any]:
        try:
            return connection().dispatch("Query", {**asked, **({"ExclusiveStartKey": start} if start else {})})
        except (BotoCoreError, ClientError) as error:  # as PynamoDB's own query says it
            raise QueryError(f"Failed to query items: {error}", error) from error

    ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan-page")
    return _states(ahead, ahead.submit(page, None), page)


def _states(
    ahead: ThreadPoolExecutor, first: Future[dict[str, Any]], page: Callable[[dict[str, Any]], dict[str, Any]]
) -> Iterator[PackageState]:
    with ahead:
        answer = first.result()
        while True:
            start = answer.get("LastEvaluatedKey")
            following = ahead.submit(page, start) if start else None
            for item in answer.get("Items", ()):
                ids = item.get("vulnerability_ids", {}).get("SS", ())
                yield PackageState(item["purl"]["S"], frozenset(ids), bool(item.get("last_scanned_at", {}).get("S")))
            if following is None:
                return
            answer = following.result()


def counts_by_status(feed_id: str) -> dict[str, int]:
    """Findings by stored status: one COUNT Query per status."""
    return {status: Finding.by_status.count(Finding.status_key(feed_id, status)) for status in STATUSES}


def deleted(feed_id: str, name: str) -> bool:
    """Whether the feed of `feed_id` (named `name`) is deleted: its id's
    item says so, or is gone (purged); for a feed made before feeds had
    ids, no feed of its name is, or one of another id."""
    if feed_id.startswith(FEED_ID_PREFIX):
        try:
            return FeedIdItem.get(feed_id, FEED_ID_SK, consistent_read=True).deleted_at is not None
        except DoesNotExist:
            return True
    current = get(name)
    return current is None or current.feed_id != feed_id


def delete(feed: domain.Feed) -> None:
    """Frees the feed's name at once: its item goes, and its id's item is
    marked deleted, in one transaction, on condition that the name is still
    this feed's. What the id owns is then purged (dal.purge); its history
    stays, keyed by the id."""
    now = clock.iso(clock.now())
    try:
        with transactions.write() as transaction:
            transaction.delete(Feed(feed=feed.feed, sk=FEED_SK), condition=is_feed(feed.feed_id))
            if feed.id is not None:
                transaction.update(
                    FeedIdItem(feed=feed.id, sk=FEED_ID_SK),
                    actions=[FeedIdItem.deleted_at.set(now)],
                    condition=FeedIdItem.feed.exists(),
                )
    except TransactWriteError as error:
        if conditions.failed_in_transaction(error, 0):
            raise NotFound(f"There is no feed named {feed.feed}.") from None
        raise
