"""PynamoDB models for every table of template.yaml.

Only the modules of feedguard.dal use these; nothing above the data-access
layer touches PynamoDB or boto3's DynamoDB client. Table names come from the
environment template.yaml sets; the endpoint follows botocore's
AWS_ENDPOINT_URL_DYNAMODB (or AWS_ENDPOINT_URL), which is how the same code
runs against moto. tests/unit/test_template_agreement.py checks that each
model's keys and indexes are the template's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.connection import Connection
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from feedguard.domain import ALL_FEEDS_SCOPE
from feedguard.settings import table_name

REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class _Meta:
    region = REGION
    # Lambda's own retries are the outer loop; keep the client's short.
    max_retry_attempts = 4
    connect_timeout_seconds = 5
    read_timeout_seconds = 10


@cache
def connection() -> Connection:
    """The process's connection for what is not one model's: write
    transactions (pynamodb.transactions takes a Connection) and the calls
    dal.batching and the scan planning send in DynamoDB's own form. Each
    model keeps the connection PynamoDB makes for it, with its own botocore
    client, built on the model's first call: a process makes one client per
    model it uses, plus this one (docs/architecture.md, "Connections")."""
    return Connection(
        region=REGION,
        max_retry_attempts=_Meta.max_retry_attempts,
        connect_timeout_seconds=_Meta.connect_timeout_seconds,
        read_timeout_seconds=_Meta.read_timeout_seconds,
    )


class Stored(Model):
    """The base of every model."""


# ---------------------------------------------------------------- keys


class ApiKeysByEntity(GlobalSecondaryIndex["ApiKey"]):
    class Meta:
        index_name = "by_entity"
        projection = AllProjection()

    entity = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class ApiKey(Stored):
    class Meta(_Meta):
        table_name = table_name("KEYS_TABLE")

    id = UnicodeAttribute(hash_key=True)
    entity = UnicodeAttribute(default="api-key")
    name = UnicodeAttribute()
    key_hash = UnicodeAttribute()
    created_at = UnicodeAttribute()

    by_entity = ApiKeysByEntity()


# ---------------------------------------------------------------- sources


class SourcesByEntity(GlobalSecondaryIndex["Source"]):
    class Meta:
        index_name = "by_entity"
        projection = AllProjection()

    entity = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class Source(Stored):
    """A vulnerability source. The token is in Secrets Manager (`secret_name`), never here.
    `source_kind`: ossindex or osv; an osv source has no token, so no secret."""

    class Meta(_Meta):
        table_name = table_name("SOURCES_TABLE")

    id = UnicodeAttribute(hash_key=True)
    entity = UnicodeAttribute(default="source")
    name = UnicodeAttribute()
    source_kind = UnicodeAttribute(default="ossindex")
    url = UnicodeAttribute()
    auth = UnicodeAttribute(default="bearer")
    username = UnicodeAttribute(null=True)
    secret_name = UnicodeAttribute(null=True)  # none: a source without a token (osv)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    # Health (feedguard.source_health): what the source last answered a
    # credential test, a scan or the gate. The message is feedguard's own
    # short sentence, never what the source answered.
    last_success_at = UnicodeAttribute(null=True)
    last_error_at = UnicodeAttribute(null=True)
    last_error_status = NumberAttribute(null=True)  # none: no answer at all
    last_error_message = UnicodeAttribute(null=True)
    credits_exhausted = BooleanAttribute(null=True)

    by_entity = SourcesByEntity()


# ---------------------------------------------------------------- assessment types


class AssessmentTypesByEntity(GlobalSecondaryIndex["AssessmentTypeItem"]):
    class Meta:
        index_name = "by_entity"
        projection = AllProjection()

    entity = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class AssessmentTypeItem(Stored):
    """A custom assessment type; the built-ins live in code (feedguard.domain)."""

    class Meta(_Meta):
        table_name = table_name("ASSESSMENT_TYPES_TABLE")

    id = UnicodeAttribute(hash_key=True)
    entity = UnicodeAttribute(default="assessment-type")
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    effect = UnicodeAttribute()
    expiration_days = NumberAttribute(null=True)
    color = UnicodeAttribute(null=True)
    auto_assess_min = NumberAttribute(null=True)
    auto_assess_max = NumberAttribute(null=True)
    vex_status = UnicodeAttribute(null=True)  # an OpenVEX status, for VEX exports
    vex_justification = UnicodeAttribute(null=True)  # an OpenVEX justification (only with not_affected)
    created_at = UnicodeAttribute()

    by_entity = AssessmentTypesByEntity()


# ---------------------------------------------------------------- feeds, permissions, attachments

FEED_SK = "#feed"
FEED_ID_SK = "#id"
PERMISSION_SK_PREFIX = "perm#"
ATTACHMENT_SK_PREFIX = "source#"


class FeedsByEntity(GlobalSecondaryIndex["Feed"]):
    class Meta:
        index_name = "by_entity"
        projection = AllProjection()

    entity = UnicodeAttribute(hash_key=True)
    feed = UnicodeAttribute(range_key=True)


class FeedItemsByMember(GlobalSecondaryIndex[Any]):
    """Permissions by key (`key#<id>`) and attachments by source (`source#<id>`)."""

    class Meta:
        index_name = "by_member"
        projection = AllProjection()

    member = UnicodeAttribute(hash_key=True)
    feed = UnicodeAttribute(range_key=True)


class Feed(Stored):
    """A feed as the API names it: keyed by its name, which its deletion
    frees at once. Everything the feed owns is keyed by its `id`."""

    class Meta(_Meta):
        table_name = table_name("FEEDS_TABLE")

    feed = UnicodeAttribute(hash_key=True)  # the feed's name
    sk = UnicodeAttribute(range_key=True, default=FEED_SK)
    entity = UnicodeAttribute(default="feed")
    # Immutable (feedguard.ids.new_feed_id); none on feeds made before feeds
    # had ids, whose name is their id (feed_id).
    id = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    unassessed_effect = UnicodeAttribute(default="block")
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    # When the last fully successful scan of every package of the feed started:
    # packages present then count as scanned at that time without a write each.
    scanned_at = UnicodeAttribute(null=True)
    # Package rows whose reported vulnerabilities changed, and packages
    # removed, counted as they happen; and that count when the findings were
    # last checked against the packages (recording.withdraw_unreported).
    # Equal: no finding can need withdrawing or a package taken off.
    package_changes = NumberAttribute(null=True)
    findings_checked = NumberAttribute(null=True)

    by_entity = FeedsByEntity()

    @property
    def feed_id(self) -> str:
        """What the feed's rows are keyed by: its id (its name, for a feed
        made before feeds had ids: "f_" starts no name, so no id is one)."""
        return self.id or self.feed


class FeedIdItem(Stored):
    """The item of a feed's id: the name it was created with (an id's name
    never changes), so that what knows only the id (a scan, an event) finds
    the feed's item. Written with the feed, deleted last by its purge."""

    class Meta(_Meta):
        table_name = table_name("FEEDS_TABLE")

    feed = UnicodeAttribute(hash_key=True)  # the feed's id
    sk = UnicodeAttribute(range_key=True, default=FEED_ID_SK)
    name = UnicodeAttribute()
    created_at = UnicodeAttribute()
    deleted_at = UnicodeAttribute(null=True)  # the feed is deleted, its rows being purged


class FeedPermission(Stored):
    """One key's role on one feed, keyed by the feed's name so that one
    BatchGet reads it with the feed (dal.feeds.access); it counts only while
    `feed_id` is the id of the feed of that name."""

    class Meta(_Meta):
        table_name = table_name("FEEDS_TABLE")

    feed = UnicodeAttribute(hash_key=True)  # the feed's name
    sk = UnicodeAttribute(range_key=True)  # perm#<key id>
    member = UnicodeAttribute()  # key#<key id>
    key_id = UnicodeAttribute()
    role = UnicodeAttribute()
    granted_at = UnicodeAttribute()
    # The id of the feed it was granted on; none on roles granted before
    # feeds had ids (granted on the feed whose id is its name).
    feed_id = UnicodeAttribute(null=True)

    by_member = FeedItemsByMember()

    @property
    def granted_on(self) -> str:
        return self.feed_id or self.feed


class FeedAttachment(Stored):
    """A vulnerability source attached to a feed."""

    class Meta(_Meta):
        table_name = table_name("FEEDS_TABLE")

    feed = UnicodeAttribute(hash_key=True)  # the feed's id
    sk = UnicodeAttribute(range_key=True)  # source#<source id>
    member = UnicodeAttribute()  # source#<source id>
    source_id = UnicodeAttribute()
    attached_at = UnicodeAttribute()

    by_member = FeedItemsByMember()


# ---------------------------------------------------------------- packages


class PackagesByPurl(GlobalSecondaryIndex["Package"]):
    class Meta:
        index_name = "by_purl"
        projection = KeysOnlyProjection()

    purl = UnicodeAttribute(hash_key=True)
    feed = UnicodeAttribute(range_key=True)


class Package(Stored):
    class Meta(_Meta):
        table_name = table_name("PACKAGES_TABLE")

    feed = UnicodeAttribute(hash_key=True)  # the feed's id
    purl = UnicodeAttribute(range_key=True)
    added_at = UnicodeAttribute()
    last_scanned_at = UnicodeAttribute(null=True)
    # The vulnerabilities last reported for this purl: the gate reads them
    # with the package, then batch-reads the findings.
    vulnerability_ids = UnicodeSetAttribute(null=True)

    by_purl = PackagesByPurl()


# ---------------------------------------------------------------- vulnerabilities


class Vulnerability(Stored):
    """What OSS Index says of one vulnerability id, stored once for every feed."""

    class Meta(_Meta):
        table_name = table_name("VULNERABILITIES_TABLE")

    id = UnicodeAttribute(hash_key=True)
    display_name = UnicodeAttribute(null=True)
    title = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    cvss_score = NumberAttribute(null=True)
    cvss_vector = UnicodeAttribute(null=True)
    cwe = UnicodeAttribute(null=True)
    cve = UnicodeAttribute(null=True)
    reference = UnicodeAttribute(null=True)
    external_references = ListAttribute(of=UnicodeAttribute, null=True)
    aliases = UnicodeSetAttribute(null=True)  # the other ids the source knows it by
    # Hash of the fields above: a rescan rewrites the item only when it changes.
    fingerprint = UnicodeAttribute()
    updated_at = UnicodeAttribute()


# ---------------------------------------------------------------- findings


class FindingsByStatus(GlobalSecondaryIndex["Finding"]):
    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    feed_status = UnicodeAttribute(hash_key=True)
    score_key = UnicodeAttribute(range_key=True)


class FindingsByScore(GlobalSecondaryIndex["Finding"]):
    class Meta:
        index_name = "by_score"
        projection = AllProjection()

    feed = UnicodeAttribute(hash_key=True)
    score_key = UnicodeAttribute(range_key=True)


class FindingsByVulnerability(GlobalSecondaryIndex["Finding"]):
    """Which feeds (ids) have a finding of a vulnerability id: the feeds a
    key may see are then kept (GET /vulnerabilities?id=). Keys only, so only
    a finding's creation and deletion write to it, never its status changes;
    both attributes are the table's own keys: every finding is in it at once,
    no backfill."""

    class Meta:
        index_name = "by_vulnerability"
        projection = KeysOnlyProjection()

    vulnerability_id = UnicodeAttribute(hash_key=True)
    feed = UnicodeAttribute(range_key=True)


class Finding(Stored):
    """One vulnerability reported for one or more packages of a feed."""

    class Meta(_Meta):
        table_name = table_name("FINDINGS_TABLE")

    feed = UnicodeAttribute(hash_key=True)  # the feed's id
    vulnerability_id = UnicodeAttribute(range_key=True)
    packages = UnicodeSetAttribute()
    status = UnicodeAttribute(default="unassessed")
    feed_status = UnicodeAttribute()  # <feed id>#<status>
    score_key = UnicodeAttribute()  # zero-padded tenths of the CVSS score
    cvss_score = NumberAttribute(null=True)
    title = UnicodeAttribute(null=True)
    display_name = UnicodeAttribute(null=True)
    cve = UnicodeAttribute(null=True)
    # The severity band at each detection, so a rise can reopen an assessment.
    severity_band = UnicodeAttribute()
    first_seen = UnicodeAttribute()
    last_seen = UnicodeAttribute()
    # "<scan id>#<batch>" that created it: a redelivery of that batch counts it
    # as new again (its first delivery may have failed before being counted).
    detected_in = UnicodeAttribute(null=True)
    withdrawn_at = UnicodeAttribute(null=True)
    # The expiry of the assessment in force (epoch seconds), copied here in the
    # assessment's transaction, so status filters can tell expired at read time.
    assessment_expires_ttl = NumberAttribute(null=True)
    # The band the assessment in force recorded, copied here in the same way: a
    # scan reads the assessment only when it reports a band above this one.
    assessment_band = UnicodeAttribute(null=True)
    # The highest version any assessment of this finding has had: kept when
    # the assessment is removed or expires, so the next one's version is
    # higher and an If-Match held from before is stale (no ABA).
    assessment_version = NumberAttribute(null=True)
    # Its other ids, each with a FindingAlias item naming this one (none on
    # findings stored before aliases were kept: their id is their only one).
    aliases = UnicodeSetAttribute(null=True)
    # The ids it was stored under before merges (their history is its own).
    merged_from = UnicodeSetAttribute(null=True)
    # Set only on FindingAlias items, which a read by key may return: see there.
    alias_of = UnicodeAttribute(null=True)
    # The versions that fix it, per package, where a source knows them (OSV):
    # JSON {purl: [version, ...]}; none when no source named any.
    fixed_versions = UnicodeAttribute(null=True)

    by_status = FindingsByStatus()
    by_score = FindingsByScore()
    by_vulnerability = FindingsByVulnerability()

    @staticmethod
    def fixed_printed(fixed: Mapping[str, Sequence[str]]) -> str | None:
        """`fixed_versions` as stored: sorted JSON, none when empty."""
        return json.dumps({p: list(v) for p, v in sorted(fixed.items())}, separators=(",", ":")) if fixed else None

    def fixed_by_package(self) -> dict[str, list[str]]:
        """`fixed_versions` read: purl -> the versions that fix it there."""
        return dict(json.loads(self.fixed_versions)) if self.fixed_versions else {}

    def fixed_versions_of(self, purl: str) -> tuple[str, ...]:
        return tuple(self.fixed_by_package().get(purl, ()))

    @classmethod
    def status_change(cls, feed: str, status: str) -> list[Action]:
        """A status and the by_status index key move together, always."""
        return [cls.status.set(status), cls.feed_status.set(cls.status_key(feed, status))]

    @staticmethod
    def status_key(feed: str, status: str) -> str:
        """The by_status index's hash key of a feed's findings in `status`."""
        return f"{feed}#{status}"


class FindingAlias(Stored):
    """Another id of a finding of the feed: (feed, alias) -> the finding's
    canonical id. In the findings table, keyed like a finding, so a read by
    any id is one GetItem (or BatchGet key) that returns either the finding
    or this pointer, and a pointer costs one more read of the finding. It
    has no `feed_status` or `score_key`, so it is in neither index; Queries
    of the table by feed filter it out (`alias_of` absent)."""

    class Meta(_Meta):
        table_name = table_name("FINDINGS_TABLE")

    feed = UnicodeAttribute(hash_key=True)  # the feed's id
    vulnerability_id = UnicodeAttribute(range_key=True)  # the alias
    alias_of = UnicodeAttribute()  # the finding's canonical id


# ---------------------------------------------------------------- assessments


class AssessmentsByType(GlobalSecondaryIndex["Assessment"]):
    class Meta:
        index_name = "by_type"
        projection = IncludeProjection(["expires_ttl"])

    type = UnicodeAttribute(hash_key=True)
    vulnerability_id = UnicodeAttribute(range_key=True)


class AssessmentsByExpiry(GlobalSecondaryIndex["Assessment"]):
    """A feed's assessments that expire, soonest first (sparse: one that
    never expires has no expires_at). GET …/decisions?state=expiring and the
    expiry warnings (feedguard.decisions) read it, a Query each."""

    class Meta:
        index_name = "by_expiry"
        projection = AllProjection()

    feed = UnicodeAttribute(hash_key=True)
    expires_at = UnicodeAttribute(range_key=True)


class Assessment(Stored):
    """The assessment in force for one finding. DynamoDB's TTL deletes it at
    `expires_ttl`; the stream carries that deletion to the expiry function."""

    class Meta(_Meta):
        table_name = table_name("ASSESSMENTS_TABLE")

    feed = UnicodeAttribute(hash_key=True)  # the feed's id
    vulnerability_id = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute()
    effect = UnicodeAttribute()
    comment = UnicodeAttribute(null=True)
    assessed_by = UnicodeAttribute()  # the key's name when it assessed
    assessed_by_id = UnicodeAttribute(null=True)  # its id (none on assessments made before ids were kept)
    assessed_at = UnicodeAttribute()
    expires_at = UnicodeAttribute(null=True)
    expires_ttl = NumberAttribute(null=True)  # epoch seconds of expires_at
    severity_band = UnicodeAttribute(null=True)  # the finding's band when assessed
    # Only ever grows per finding, across removals and expiries: dal.assessments
    # writes the next one, conditional on the one read (If-Match compares it).
    version = NumberAttribute(default=1)
    # When the `expiring` warning of this version was recorded (feedguard.decisions):
    # absent until then, and again on every new version (dal.assessments writes none).
    warned_at = UnicodeAttribute(null=True)

    by_type = AssessmentsByType()
    by_expiry = AssessmentsByExpiry()


# ---------------------------------------------------------------- package exceptions

# Exceptions share the assessments table, keyed by the feed's id: their sort
# key starts with `#`, which begins no vulnerability id, so a BatchGet of
# assessments never meets one, and one Query (`begins_with`) reads a feed's
# exceptions. They share its TTL, its stream (dal.exceptions.record_expired),
# its by_type index (a type an exception uses is in use) and the purge.
EXCEPTION_KEY_PREFIX = "#exception#"
# The least sort key above every `#…` key: a Query of a feed's assessments
# with `vulnerability_id >= ASSESSMENT_KEY_FLOOR` reads no exception (ids
# begin with a letter or digit, after `$` in byte order).
ASSESSMENT_KEY_FLOOR = "$"


class ExceptionItem(Stored):
    """A package exception (feedguard.exceptions): a decision for the
    packages its pattern and range match, for the vulnerabilities it lists
    (none listed: all). DynamoDB's TTL deletes it at `expires_ttl`."""

    class Meta(_Meta):
        table_name = table_name("ASSESSMENTS_TABLE")

    feed = UnicodeAttribute(hash_key=True)  # the feed's id
    key = UnicodeAttribute(range_key=True, attr_name="vulnerability_id")  # #exception#<id>
    # Tells the expiry stream an exception from an assessment.
    entity = UnicodeAttribute(default="exception")
    id = UnicodeAttribute()
    purl = UnicodeAttribute()  # the pattern, canonical: pkg:npm/lodash, pkg:npm/%40acme/*
    versions = UnicodeAttribute(null=True)  # a vers range; none: every version
    vulnerability_ids = ListAttribute(of=UnicodeAttribute, null=True)  # none: every vulnerability
    type = UnicodeAttribute()
    effect = UnicodeAttribute()
    comment = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute()  # the key's name when it made it
    created_by_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = UnicodeAttribute(null=True)
    expires_ttl = NumberAttribute(null=True)  # epoch seconds of expires_at
    # When its `exception_expiring` warning was recorded (feedguard.decisions); an
    # exception never changes, so one warning is all it gets.
    warned_at = UnicodeAttribute(null=True)

    @staticmethod
    def key_of(exception_id: str) -> str:
        return f"{EXCEPTION_KEY_PREFIX}{exception_id}"


class DecisionsByExpiry(GlobalSecondaryIndex["DecisionItem"]):
    class Meta:
        index_name = "by_expiry"
        projection = AllProjection()

    feed = UnicodeAttribute(hash_key=True)
    expires_at = UnicodeAttribute(range_key=True)


class DecisionItem(Stored):
    """An item of the assessments table read through `by_expiry` as either
    kind, an assessment or a package exception (`entity`): every attribute
    of both, so that one Query of the index answers for both kinds
    (dal.decisions.expiring, .due), told apart by `entity`. Never written;
    not in ALL_MODELS, as its table is Assessment's."""

    class Meta(_Meta):
        table_name = table_name("ASSESSMENTS_TABLE")

    feed = UnicodeAttribute(hash_key=True)
    vulnerability_id = UnicodeAttribute(range_key=True)  # an exception's #exception#<id>
    entity = UnicodeAttribute(null=True)  # "exception"; none on assessments
    type = UnicodeAttribute()
    effect = UnicodeAttribute()
    comment = UnicodeAttribute(null=True)
    expires_at = UnicodeAttribute(null=True)
    expires_ttl = NumberAttribute(null=True)
    warned_at = UnicodeAttribute(null=True)
    # an assessment's
    assessed_by = UnicodeAttribute(null=True)
    assessed_by_id = UnicodeAttribute(null=True)
    assessed_at = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)
    # an exception's
    id = UnicodeAttribute(null=True)
    purl = UnicodeAttribute(null=True)
    versions = UnicodeAttribute(null=True)
    vulnerability_ids = ListAttribute(of=UnicodeAttribute, null=True)
    created_by = UnicodeAttribute(null=True)
    created_by_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)

    by_expiry = DecisionsByExpiry()


# ---------------------------------------------------------------- history


class HistoryEntry(Stored):
    """Append-only: one entry per change of a finding, oldest first."""

    class Meta(_Meta):
        table_name = table_name("HISTORY_TABLE")

    finding = UnicodeAttribute(hash_key=True)  # <feed id>#<vulnerability id>
    seq = UnicodeAttribute(range_key=True)  # <at>#<unique suffix>
    at = UnicodeAttribute()
    actor = UnicodeAttribute()  # the key's name at the time (feedguard.actors)
    actor_id = UnicodeAttribute(null=True)  # its id; none on entries written before ids were kept
    action = UnicodeAttribute()
    type = UnicodeAttribute(null=True)
    comment = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    expires_at = UnicodeAttribute(null=True)  # of an `assessed` entry's assessment, for its event


# ---------------------------------------------------------------- OSS Index answer cache


class CachedAnswer(Stored):
    """One source's answer for one purl, vulnerabilities or none; TTL 24 hours."""

    class Meta(_Meta):
        table_name = table_name("ANSWER_CACHE_TABLE")

    source_id = UnicodeAttribute(hash_key=True)
    purl = UnicodeAttribute(range_key=True)
    answer = UnicodeAttribute()  # the component report entry, as JSON
    fetched_at = UnicodeAttribute()
    expires_ttl = NumberAttribute()


# ---------------------------------------------------------------- gate budgets


class LookupBudget(Stored):
    """Coordinates one key's gate checks looked up inline on one UTC day."""

    class Meta(_Meta):
        table_name = table_name("LOOKUP_BUDGETS_TABLE")

    budget = UnicodeAttribute(hash_key=True)  # <key id>#<YYYY-MM-DD>
    coordinates = NumberAttribute(default=0)
    expires_ttl = NumberAttribute()  # epoch seconds: the end of the next day


# ---------------------------------------------------------------- scans

SCAN_SK = "#scan"


class ScansByEntity(GlobalSecondaryIndex["Scan"]):
    class Meta:
        index_name = "by_entity"
        projection = AllProjection()

    entity = UnicodeAttribute(hash_key=True)
    scan_id = UnicodeAttribute(range_key=True)


class ScansByScope(GlobalSecondaryIndex["Scan"]):
    class Meta:
        index_name = "by_scope"
        projection = AllProjection()

    scope = UnicodeAttribute(hash_key=True)
    scan_id = UnicodeAttribute(range_key=True)


class Scan(Stored):
    class Meta(_Meta):
        table_name = table_name("SCANS_TABLE")

    scan_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=SCAN_SK)
    entity = UnicodeAttribute(default="scan")
    scope = UnicodeAttribute(default=ALL_FEEDS_SCOPE)  # a feed's id, or * for every feed
    feed_name = UnicodeAttribute(null=True)  # the name of the feed of `scope` (none: every feed, or made before ids)
    status = UnicodeAttribute(default="queued")
    trigger = UnicodeAttribute(default="api")
    refresh_cache = BooleanAttribute(default=False)  # ask OSS Index even when an answer is cached
    packages_total = NumberAttribute(default=0)
    packages_scanned = NumberAttribute(default=0)
    requests_made = NumberAttribute(default=0)  # every source's requests
    osv_requests = NumberAttribute(default=0)  # of those, OSV's (querybatch pages and record fetches)
    cache_hits = NumberAttribute(default=0)
    findings_new = NumberAttribute(default=0)
    batches_total = NumberAttribute(default=0)
    batches_done = NumberAttribute(default=0)
    batches_failed = NumberAttribute(default=0)
    # Batches counted, kept since the scan was created (absent on scans
    # created before it was), and batches_total - 1, written with the total
    # (absent on scans planned before it was): a count can then tell, by a
    # condition, that it was not the last, without reading the scan back.
    # The last batch's count, made without that condition, leaves the counter
    # one short; it is read by that condition only.
    batches_counted = NumberAttribute(null=True)
    batches_before_last = NumberAttribute(null=True)
    # {"source", "message"} as JSON: a set, so the same error from many batches is one
    error_set = UnicodeSetAttribute(null=True)
    # Sources that refused this scan (401/403/402): their other batches skip the call.
    stopped_sources = UnicodeSetAttribute(null=True)
    # The feeds (ids) this scan covers completely; only they can have findings withdrawn.
    covered_feeds = UnicodeSetAttribute(null=True)
    started_at = UnicodeAttribute(null=True)
    # When its last batch went on the queue: a retried request for the scan stops there.
    planned_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)

    by_entity = ScansByEntity()
    by_scope = ScansByScope()


class ScanBatchMarker(Stored):
    """Written once when a batch of a scan is done, so a redelivered SQS
    message never counts twice."""

    class Meta(_Meta):
        table_name = table_name("SCANS_TABLE")

    scan_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # batch#<n>
    done_at = UnicodeAttribute()


ALL_MODELS: tuple[type[Model], ...] = (
    ApiKey,
    Source,
    AssessmentTypeItem,
    Feed,
    FeedIdItem,
    FeedPermission,
    FeedAttachment,
    Package,
    Vulnerability,
    Finding,
    FindingAlias,
    Assessment,
    ExceptionItem,
    HistoryEntry,
    CachedAnswer,
    LookupBudget,
    Scan,
    ScanBatchMarker,
)
