"""A feed's packages: canonical purls, added in batches, listed by Query."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import UpdateError

from feedguard import clock, domain
from feedguard.dal import batching, conditions
from feedguard.dal.feeds import note_package_changes
from feedguard.dal.models import Finding, Package
from feedguard.dal.pages import Page, collect
from feedguard.domain import Feed
from feedguard.errors import NotFound


@dataclass(frozen=True)
class Added:
    new: list[str]
    existing: int


def add(feed: str, purls: list[str]) -> Added:
    """Adds the purls the feed does not have yet. `purls` may repeat; each
    distinct purl counts once, as added or as existing.

    BatchGet first (100 a call) to tell new from existing, then BatchWrite the
    new ones (25 a call). Two imports racing on the same new purl may both
    count it as added; the stored result is the same."""
    distinct = list(dict.fromkeys(purls))
    present = {item.purl for item in batching.read(Package, [(feed, purl) for purl in distinct], attributes=["purl"])}
    new = [purl for purl in distinct if purl not in present]
    now = clock.iso(clock.now())
    batching.write(Package, puts=[Package(feed=feed, purl=purl, added_at=now) for purl in new])
    return Added(new=new, existing=len(distinct) - len(new))


def as_package(item: Package) -> domain.Package:
    """The domain's package of a package's row."""
    return domain.Package(
        feed=item.feed,
        purl=item.purl,
        added_at=item.added_at,
        last_scanned_at=item.last_scanned_at,
        vulnerability_ids=frozenset(item.vulnerability_ids or ()),
    )


def last_scanned(package: domain.Package, feed: Feed) -> str | None:
    """When the package's answer was last confirmed: its own stamp (written
    when a scan changed its answer, or scanned it alone), or the start of the
    feed's last fully successful whole-feed scan if it was in the feed then.
    Strictly before: timestamps are whole seconds, and a package added in the
    second the scan started may have missed its plan."""
    covered = feed.scanned_at if feed.scanned_at and package.added_at < feed.scanned_at else None
    return max((at for at in (package.last_scanned_at, covered) if at), default=None)


def scanned(feed: Feed, purls: list[str]) -> dict[str, frozenset[str]]:
    """Of `purls` (distinct), those the feed has and has scanned, with the
    vulnerabilities last reported for each: one round trip of BatchGets."""
    found = (as_package(item) for item in batching.read(Package, [(feed.feed_id, purl) for purl in purls]))
    return {package.purl: package.vulnerability_ids for package in found if last_scanned(package, feed)}


def list_page(feed: str, limit: int, cursor: str | None) -> Page[domain.Package]:
    page = collect(lambda **kwargs: Package.query(feed, **kwargs), limit, cursor)
    return Page([as_package(item) for item in page.items], page.next_cursor)


def remove(feed: str, purl: str, name: str) -> None:
    """Deletes the package of the feed of id `feed` (named `name`) and takes
    it off the findings that listed it."""
    try:
        package = Package.get(feed, purl, consistent_read=True)
    except Package.DoesNotExist:
        raise NotFound(f"Feed {name} has no package {purl}.") from None
    note_package_changes(feed, 1)
    package.delete(condition=Package.purl.exists())
    for vulnerability_id in package.vulnerability_ids or ():
        try:
            Finding(feed=feed, vulnerability_id=vulnerability_id).update(
                actions=[Finding.packages.delete({purl})],
                # Not an alias item: package rows hold every id and alias, and the finding is under one of them.
                condition=Finding.vulnerability_id.exists() & Finding.alias_of.does_not_exist(),
            )
        except UpdateError as error:
            if not conditions.failed(error):
                raise
    note_package_changes(feed, 1)


def purls_after(feed: str, after: str | None, limit: int) -> tuple[list[str], bool]:
    """Up to `limit` of the feed's purls after `after` (None: from the
    first), in purl order, and whether more follow: one Query of the keys
    only (stale package exceptions, feedguard.decisions)."""
    results = Package.query(
        feed,
        limit=limit,
        page_size=limit,
        attributes_to_get=[Package.feed.attr_name, Package.purl.attr_name],
        last_evaluated_key={"feed": {"S": feed}, "purl": {"S": after}} if after else None,
    )
    purls = [package.purl for package in results]
    return purls, results.last_evaluated_key is not None
