"""Test data written straight through the models (imported by tests only,
after tests/conftest.py has set the table names)."""

from __future__ import annotations

from feedguard import clock
from feedguard.dal import history
from feedguard.dal.models import Feed, FeedAttachment, Finding, HistoryEntry, Package
from feedguard.effects import score_key, severity


def a_feed(
    name: str,
    purls: list[str] = (),  # type: ignore[assignment]
    sources: list[str] = (),  # type: ignore[assignment]
    added_at: str | None = None,
    unassessed_effect: str = "block",
) -> Feed:
    """A feed with these packages (added now, or at `added_at`) and these
    sources attached, as made before feeds had ids: its name is its id, so
    a test keys its rows by the name (tests/unit/test_feeds.py makes feeds
    with ids through the API, as every feed is made now)."""
    now = clock.iso(clock.now())
    feed = Feed(feed=name, created_at=now, unassessed_effect=unassessed_effect)
    feed.save()
    for source in sources:
        FeedAttachment(
            feed=name, sk=f"source#{source}", member=f"source#{source}", source_id=source, attached_at=now
        ).save()
    with Package.batch_write() as batch:
        for purl in purls:
            batch.save(Package(feed=name, purl=purl, added_at=added_at or now))
    return feed


def a_finding(
    feed: str,
    vulnerability_id: str,
    *purls: str,
    status: str = "unassessed",
    cvss: float | None = 7.2,
    expires_ttl: int | None = None,
) -> Finding:
    """A finding as a scan records it, with its `detected` entry."""
    now = clock.iso(clock.now())
    finding = Finding(
        feed=feed,
        vulnerability_id=vulnerability_id,
        packages=set(purls) or {"pkg:npm/lodash@4.17.20"},
        status=status,
        feed_status=f"{feed}#{status}",
        score_key=score_key(cvss),
        cvss_score=cvss,
        title=f"[{vulnerability_id}] something bad",
        display_name=vulnerability_id,
        cve=vulnerability_id if vulnerability_id.startswith("CVE-") else None,
        severity_band=severity(cvss),
        first_seen=now,
        last_seen=now,
        assessment_expires_ttl=expires_ttl,
    )
    finding.save()
    HistoryEntry(
        finding=history.finding_key(feed, vulnerability_id),
        seq=history.seq(now, "detected"),
        at=now,
        actor="scanner",
        actor_id="scanner",
        action="detected",
    ).save()
    return finding
