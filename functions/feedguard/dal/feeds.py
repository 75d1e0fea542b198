"""Feeds and their attached sources, as the scan coordinator and the feed
routes read them. Every read is a GetItem or a Query."""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.exceptions import DoesNotExist

from feedguard.dal.models import ATTACHMENT_SK_PREFIX, FEED_SK, Feed, FeedAttachment, Package

ENTITY = "feed"


def get(name: str) -> Feed | None:
    try:
        return Feed.get(name, FEED_SK, consistent_read=True)
    except DoesNotExist:
        return None


def exists(name: str) -> bool:
    return get(name) is not None


def all_feeds() -> Iterator[Feed]:
    return Feed.by_entity.query(ENTITY)


def attached_source_ids(name: str) -> list[str]:
    return [
        attachment.source_id
        for attachment in FeedAttachment.query(name, FeedAttachment.sk.startswith(ATTACHMENT_SK_PREFIX))
    ]


def package_purls(name: str) -> Iterator[str]:
    for package in Package.query(name, attributes_to_get=["purl"]):
        yield package.purl
