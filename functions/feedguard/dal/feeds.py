"""Feeds, their attached sources, and what deleting a feed removes. Every
read is a GetItem, a BatchGet or a Query."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DoesNotExist, PutError, QueryError, UpdateError

from feedguard import clock
from feedguard.dal import batching, conditions
from feedguard.dal.models import (
    ATTACHMENT_SK_PREFIX,
    FEED_SK,
    Assessment,
    Feed,
    FeedAttachment,
    FeedPermission,
    Finding,
    Package,
    connection,
)
from feedguard.dal.pages import Page, collect
from feedguard.errors import Conflict, NotFound

ENTITY = "feed"
STATUSES = ("unassessed", "assessed", "expired")


def get(name: str) -> Feed | None:
    try:
        return Feed.get(name, FEED_SK, consistent_read=True)
    except DoesNotExist:
        return None


def require(name: str) -> Feed:
    feed = get(name)
    if feed is None:
        raise NotFound(f"There is no feed named {name}.")
    return feed


def exists(name: str) -> bool:
    return get(name) is not None


def create(name: str, description: str | None, unassessed_effect: str) -> Feed:
    feed = Feed(
        feed=name,
        sk=FEED_SK,
        description=description,
        unassessed_effect=unassessed_effect,
        created_at=clock.iso(clock.now()),
    )
    try:
        feed.save(condition=Feed.feed.does_not_exist())
    except PutError as error:
        if conditions.failed(error):
            raise Conflict(f"A feed named {name} exists already.") from None
        raise
    return feed


def update(feed: Feed, changes: dict[str, Any]) -> Feed:
    for name, value in changes.items():
        setattr(feed, name, value)
    feed.updated_at = clock.iso(clock.now())
    feed.save(condition=Feed.feed.exists())
    return feed


def all_feeds() -> Iterator[Feed]:
    return Feed.by_entity.query(ENTITY)


def list_all(limit: int, cursor: str | None) -> Page[Feed]:
    return collect(lambda **kwargs: Feed.by_entity.query(ENTITY, **kwargs), limit, cursor)


def list_for_key(key_id: str, limit: int, cursor: str | None) -> tuple[Page[Feed], dict[str, str]]:
    """The feeds a key has a role on, and its role on each."""
    page = collect(
        lambda **kwargs: FeedPermission.by_member.query(f"key#{key_id}", **kwargs),
        limit,
        cursor,
    )
    roles = {permission.feed: permission.role for permission in page.items}
    feeds = batching.read(Feed, [(name, FEED_SK) for name in roles])
    feeds.sort(key=lambda feed: feed.feed)
    return Page(feeds, page.next_cursor), roles


def attached_source_ids(name: str) -> list[str]:
    return [
        attachment.source_id
        for attachment in FeedAttachment.query(name, FeedAttachment.sk.startswith(ATTACHMENT_SK_PREFIX))
    ]


def attach(name: str, source_id: str) -> FeedAttachment:
    """Idempotent: attaching again keeps the first attachment."""
    sk = f"{ATTACHMENT_SK_PREFIX}{source_id}"
    try:
        return FeedAttachment.get(name, sk, consistent_read=True)
    except DoesNotExist:
        pass
    attachment = FeedAttachment(
        feed=name, sk=sk, member=f"source#{source_id}", source_id=source_id, attached_at=clock.iso(clock.now())
    )
    attachment.save()
    return attachment


def detach(name: str, source_id: str) -> None:
    try:
        FeedAttachment(feed=name, sk=f"{ATTACHMENT_SK_PREFIX}{source_id}").delete(condition=FeedAttachment.sk.exists())
    except Exception as error:
        if conditions.failed(error):
            raise NotFound(f"Source {source_id} is not attached to feed {name}.") from None
        raise


def mark_scanned(name: str, started_at: str) -> None:
    """A scan that started at `started_at` asked about every package the feed
    had then, and succeeded. An older scan finishing late changes nothing."""
    try:
        Feed(feed=name).update(
            actions=[Feed.scanned_at.set(started_at)],
            condition=Feed.feed.exists() & (Feed.scanned_at.does_not_exist() | (Feed.scanned_at < started_at)),
        )
    except UpdateError as error:
        if not conditions.failed(error):
            raise


def note_package_changes(name: str, count: int) -> None:
    """`count` of the feed's package rows changed what they report, or were
    removed: its findings need checking against its packages again. Called
    once the change is written: a check that read the count before then
    does not pass for one that saw the change. A change cut short before it
    is counted must be counted some other way: a removal counts before it
    deletes too, and a scan whose batch failed counts its feeds once
    (scanner.finish)."""
    try:
        Feed(feed=name).update(actions=[Feed.package_changes.add(count)], condition=Feed.feed.exists())
    except UpdateError as error:
        if not conditions.failed(error):  # the feed is gone: nothing to check
            raise


def findings_to_check(name: str) -> int | None:
    """The feed's count of package changes when its findings need checking
    against its packages; None when no package changed since they last were
    (or the feed is gone)."""
    try:
        feed = Feed.get(name, FEED_SK, consistent_read=True)
    except DoesNotExist:
        return None
    changes = int(feed.package_changes or 0)
    if feed.findings_checked is not None and int(feed.findings_checked) >= changes:
        return None
    return changes


def findings_checked(name: str, changes: int) -> None:
    """The findings were checked against the packages as they were after
    `changes` changes; a later count stays to be checked."""
    try:
        Feed(feed=name).update(
            actions=[Feed.findings_checked.set(changes)],
            condition=Feed.feed.exists() & (Feed.findings_checked.does_not_exist() | (Feed.findings_checked < changes)),
        )
    except UpdateError as error:
        if not conditions.failed(error):
            raise


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


def package_states(name: str) -> Iterator[PackageState]:
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
        "ExpressionAttributeValues": {":feed": {"S": name}},
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


def counts_by_status(name: str) -> dict[str, int]:
    """Findings by stored status: one COUNT Query per status."""
    return {status: Finding.by_status.count(Finding.status_key(name, status)) for status in STATUSES}


def delete(name: str) -> None:
    """The feed, its permissions, attachments, packages, findings and
    assessments; the history stays. The feed item goes first, so the feed is
    gone for every caller at once."""
    require(name).delete(condition=Feed.feed.exists())
    members = [item for item in FeedPermission.query(name) if item.sk != FEED_SK]
    batching.write(FeedPermission, deletes=members)
    batching.write(Package, deletes=list(Package.query(name, attributes_to_get=["feed", "purl"])))
    batching.write(Finding, deletes=list(Finding.query(name, attributes_to_get=["feed", "vulnerability_id"])))
    batching.write(Assessment, deletes=list(Assessment.query(name, attributes_to_get=["feed", "vulnerability_id"])))
