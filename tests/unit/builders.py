"""Test data written straight through the models (imported by tests only,
after tests/conftest.py has set the table names)."""

from __future__ import annotations

from feedguard import clock
from feedguard.dal.models import Feed, FeedAttachment, Package


def a_feed(name: str, purls: list[str], sources: list[str]) -> None:
    """A feed with these packages and these sources attached."""
    now = clock.iso(clock.now())
    Feed(feed=name, created_at=now).save()
    for source in sources:
        FeedAttachment(
            feed=name, sk=f"source#{source}", member=f"source#{source}", source_id=source, attached_at=now
        ).save()
    with Package.batch_write() as batch:
        for purl in purls:
            batch.save(Package(feed=name, purl=purl, added_at=now))
