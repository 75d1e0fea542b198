"""Feeds, their sources, permissions and packages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from feedguard import clock, feed_purge
from feedguard.dal import feeds as feed_store
from feedguard.dal import history, purge
from feedguard.dal.models import (
    SCAN_SK,
    Assessment,
    FeedAttachment,
    FeedIdItem,
    FeedPermission,
    Finding,
    HistoryEntry,
    Package,
    Scan,
)
from handlers import feed_purge as feed_purge_handler
from handlers import feeds, findings, keys, scans, sources
from infra.pollers import SqsPoller
from infra.template import Template
from tests.support import LambdaContext, dynamodb_hook, key_caller, request


def a_feed(name: str = "payments", **body: Any) -> dict[str, Any]:
    status, answer = request(feeds, "POST", "/feeds", body={"name": name, **body})
    assert status == 201, answer
    return dict(answer)


def a_source() -> str:
    status, answer = request(sources, "POST", "/sources", body={"name": "guide", "kind": "ossindex", "token": "t0ken"})
    assert status == 201
    return str(answer["id"])


def a_key(name: str = "bot") -> str:
    status, answer = request(keys, "POST", "/api-keys", body={"name": name})
    assert status == 201
    return str(answer["id"])


def queued_batches(aws: Any) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    answer = sqs.receive_message(QueueUrl=aws.queue_urls["ScanQueue"], MaxNumberOfMessages=10)
    return [json.loads(message["Body"]) for message in answer.get("Messages", [])]


def test_a_feed_blocks_unassessed_findings_by_default(aws: Any) -> None:
    created = a_feed(description="Payment services")
    assert created["unassessed_effect"] == "block"
    assert created["sources"] == []
    assert created["counts"] == {"unassessed": 0, "assessed": 0, "expired": 0}


@pytest.mark.parametrize("name", ["Payments", "-payments", "pay ments", "a" * 65, "", "pay/ments"])
def test_feed_names_follow_the_pattern(aws: Any, name: str) -> None:
    assert request(feeds, "POST", "/feeds", body={"name": name})[0] == 422
    assert request(feeds, "GET", "/feeds")[1]["items"] == []


def test_a_feed_name_is_taken_once(aws: Any) -> None:
    a_feed()
    assert request(feeds, "POST", "/feeds", body={"name": "payments"})[0] == 409


def test_a_key_lists_only_the_feeds_it_has_a_role_on(aws: Any) -> None:
    for name in ("alpha", "beta", "gamma"):
        a_feed(name)
    bot = a_key()
    request(feeds, "PUT", f"/feeds/beta/permissions/{bot}", body={"role": "viewer"})
    request(feeds, "PUT", f"/feeds/gamma/permissions/{bot}", body={"role": "assessor"})
    listed = request(feeds, "GET", "/feeds", caller=key_caller(bot))[1]["items"]
    assert [(feed["name"], feed["role"]) for feed in listed] == [("beta", "viewer"), ("gamma", "assessor")]
    assert [feed["name"] for feed in request(feeds, "GET", "/feeds")[1]["items"]] == ["alpha", "beta", "gamma"]
    assert request(feeds, "GET", "/feeds/alpha", caller=key_caller(bot))[0] == 404


def test_feed_lists_page_with_a_cursor(aws: Any) -> None:
    for n in range(5):
        a_feed(f"feed-{n}")
    first = request(feeds, "GET", "/feeds", query={"limit": "3"})[1]
    second = request(feeds, "GET", "/feeds", query={"limit": "3", "cursor": first["next_cursor"]})[1]
    assert [f["name"] for f in first["items"] + second["items"]] == [f"feed-{n}" for n in range(5)]
    assert second["next_cursor"] is None


def test_patch_changes_description_and_effect_only(aws: Any) -> None:
    a_feed()
    status, changed = request(feeds, "PATCH", "/feeds/payments", body={"unassessed_effect": "warn"})
    assert (status, changed["unassessed_effect"]) == (200, "warn")
    assert request(feeds, "PATCH", "/feeds/payments", body={"name": "other"})[0] == 422
    assert request(feeds, "PATCH", "/feeds/payments", body={"unassessed_effect": "deny"})[0] == 422
    assert request(feeds, "GET", "/feeds/payments")[1]["unassessed_effect"] == "warn"


def test_attaching_is_idempotent_and_detaching_an_unattached_source_is_404(aws: Any) -> None:
    a_feed()
    source = a_source()
    first = request(feeds, "PUT", f"/feeds/payments/sources/{source}")
    again = request(feeds, "PUT", f"/feeds/payments/sources/{source}")
    assert first == again
    assert first[0] == 200
    assert request(feeds, "GET", "/feeds/payments")[1]["sources"] == [source]
    assert request(feeds, "PUT", "/feeds/payments/sources/src-nope")[0] == 404
    assert request(feeds, "DELETE", f"/feeds/payments/sources/{source}")[0] == 204
    assert request(feeds, "DELETE", f"/feeds/payments/sources/{source}")[0] == 404


def test_permissions_are_granted_listed_and_revoked(aws: Any) -> None:
    a_feed()
    bot = a_key()
    status, granted = request(feeds, "PUT", f"/feeds/payments/permissions/{bot}", body={"role": "assessor"})
    assert (status, granted["key_id"], granted["role"]) == (200, bot, "assessor")
    assert request(feeds, "PUT", f"/feeds/payments/permissions/{bot}", body={"role": "owner"})[0] == 422
    assert request(feeds, "PUT", "/feeds/payments/permissions/knope", body={"role": "viewer"})[0] == 404
    listed = request(feeds, "GET", "/feeds/payments/permissions")[1]["items"]
    assert [(p["key_id"], p["role"]) for p in listed] == [(bot, "assessor")]
    assert request(feeds, "DELETE", f"/feeds/payments/permissions/{bot}")[0] == 204
    assert request(feeds, "DELETE", f"/feeds/payments/permissions/{bot}")[0] == 404
    assert request(feeds, "GET", "/feeds/payments", caller=key_caller(bot))[0] == 404


def test_adding_packages_counts_exactly_even_with_repeats(aws: Any) -> None:
    a_feed()
    body = {
        "purls": [
            "pkg:npm/lodash@4.17.20",
            "pkg:NPM/lodash@4.17.20?x=1",
            "pkg:npm/lodash@4.17.20",
            "pkg:pypi/requests@2.19.1",
            "pkg:npm/left-pad",
        ]
    }
    status, answer = request(feeds, "POST", "/feeds/payments/packages", body=body)
    assert status == 200
    assert (answer["added"], answer["existing"]) == (2, 0)
    assert answer["rejected"] == [{"purl": "pkg:npm/left-pad", "message": answer["rejected"][0]["message"]}]
    status, again = request(
        feeds, "POST", "/feeds/payments/packages", body={"purls": ["pkg:npm/lodash@4.17.20", "pkg:npm/axios@0.21.0"]}
    )
    assert (again["added"], again["existing"]) == (1, 1)
    listed = request(feeds, "GET", "/feeds/payments/packages")[1]["items"]
    assert [p["purl"] for p in listed] == ["pkg:npm/axios@0.21.0", "pkg:npm/lodash@4.17.20", "pkg:pypi/requests@2.19.1"]
    assert all(p["last_scanned_at"] is None and p["verdict"] is None for p in listed)


def test_new_packages_are_queued_for_scanning_when_a_source_is_attached(aws: Any) -> None:
    feed_id = a_feed()["id"]
    assert request(feeds, "POST", "/feeds/payments/packages", body={"purls": ["pkg:npm/a@1"]})[1]["scan_id"] is None
    assert queued_batches(aws) == []
    source = a_source()
    request(feeds, "PUT", f"/feeds/payments/sources/{source}")
    answer = request(feeds, "POST", "/feeds/payments/packages", body={"purls": ["pkg:npm/a@1", "pkg:npm/b@1"]})[1]
    (batch,) = queued_batches(aws)
    assert (batch["scan_id"], batch["source_id"]) == (answer["scan_id"], source)
    assert batch["packages"] == {"pkg:npm/b@1": {feed_id: None}}  # in this feed, never scanned


def test_a_cyclonedx_bom_is_imported(aws: Any) -> None:
    a_feed()
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "components": [{"name": "lodash", "purl": "pkg:npm/lodash@4.17.20", "components": [{"name": "x"}]}],
    }
    answer = request(feeds, "POST", "/feeds/payments/packages", body=bom)[1]
    assert (answer["added"], len(answer["rejected"])) == (1, 1)


def test_a_rejected_import_changes_nothing(aws: Any) -> None:
    a_feed()
    assert request(feeds, "POST", "/feeds/payments/packages", body={"purls": ["pkg:npm/a@1"] * 10_001})[0] == 422
    assert request(feeds, "POST", "/feeds/payments/packages", raw_body='{"purls": [')[0] == 400
    assert request(feeds, "GET", "/feeds/payments/packages")[1]["items"] == []


def test_the_verdict_of_a_scanned_package_is_its_strongest_finding(aws: Any) -> None:
    feed_id = a_feed(unassessed_effect="warn")["id"]
    now = clock.iso(clock.now())
    Package(
        feed=feed_id,
        purl="pkg:npm/lodash@4.17.20",
        added_at=now,
        last_scanned_at=now,
        vulnerability_ids={"CVE-A", "CVE-B"},
    ).save()
    Package(feed=feed_id, purl="pkg:npm/lodash@4.17.21", added_at=now, last_scanned_at=now).save()
    for vid, status in (("CVE-A", "assessed"), ("CVE-B", "unassessed")):
        Finding(
            feed=feed_id,
            vulnerability_id=vid,
            packages={"pkg:npm/lodash@4.17.20"},
            status=status,
            feed_status=f"{feed_id}#{status}",
            score_key="070",
            severity_band="high",
            first_seen=now,
            last_seen=now,
        ).save()
    Assessment(
        feed=feed_id, vulnerability_id="CVE-A", type="ignore", effect="allow", assessed_by="a", assessed_at=now
    ).save()
    verdicts = {p["purl"]: p["verdict"] for p in request(feeds, "GET", "/feeds/payments/packages")[1]["items"]}
    assert verdicts == {"pkg:npm/lodash@4.17.20": "warn", "pkg:npm/lodash@4.17.21": "allow"}


def test_deleting_a_package_takes_it_off_its_findings(aws: Any) -> None:
    feed_id = a_feed()["id"]
    now = clock.iso(clock.now())
    Package(feed=feed_id, purl="pkg:npm/lodash@4.17.20", added_at=now, vulnerability_ids={"CVE-A"}).save()
    Finding(
        feed=feed_id,
        vulnerability_id="CVE-A",
        packages={"pkg:npm/lodash@4.17.20", "pkg:npm/x@1"},
        feed_status=f"{feed_id}#unassessed",
        score_key="070",
        severity_band="high",
        first_seen=now,
        last_seen=now,
    ).save()
    assert request(feeds, "DELETE", "/feeds/payments/packages", query={"purl": "pkg:NPM/lodash@4.17.20"})[0] == 204
    assert Finding.get(feed_id, "CVE-A").packages == {"pkg:npm/x@1"}
    assert request(feeds, "DELETE", "/feeds/payments/packages", query={"purl": "pkg:npm/lodash@4.17.20"})[0] == 404
    assert request(feeds, "DELETE", "/feeds/payments/packages", query={"purl": "lodash"})[0] == 422
    assert request(feeds, "DELETE", "/feeds/payments/packages")[0] == 422


def a_feed_with_everything(name: str = "payments") -> tuple[str, str, str]:
    """A feed with a viewer, a source, 60 packages, an assessed finding, its
    history and a finished scan: its id, the viewer's key id and the source's id."""
    feed_id = a_feed(name)["id"]
    bot = a_key()
    source = a_source()
    request(feeds, "PUT", f"/feeds/{name}/permissions/{bot}", body={"role": "viewer"})
    request(feeds, "PUT", f"/feeds/{name}/sources/{source}")
    request(feeds, "POST", f"/feeds/{name}/packages", body={"purls": [f"pkg:npm/p{n}@1" for n in range(60)]})
    now = clock.iso(clock.now())
    Finding(
        feed=feed_id,
        vulnerability_id="CVE-A",
        packages={"pkg:npm/p1@1"},
        feed_status=f"{feed_id}#assessed",
        status="assessed",
        score_key="070",
        severity_band="high",
        first_seen=now,
        last_seen=now,
    ).save()
    Assessment(
        feed=feed_id, vulnerability_id="CVE-A", type="ignore", effect="allow", assessed_by="a", assessed_at=now
    ).save()
    HistoryEntry(finding=f"{feed_id}#CVE-A", seq=f"{now}#1", at=now, actor="a", action="assessed").save()
    for scan in Scan.by_scope.query(feed_id):  # the scan of the added packages, ended
        scan.update(actions=[Scan.status.set("succeeded")])
    return feed_id, bot, source


def rows_of(feed_id: str, name: str = "payments") -> dict[str, int]:
    """Every row keyed by the feed's id (or its roles, under its name, granted on it)."""
    roles = [p for p in FeedPermission.query(name) if p.sk.startswith("perm#") and p.granted_on == feed_id]
    return {
        "roles": len(roles),
        "attachments": len(list(FeedAttachment.query(feed_id))),
        "id": len(list(FeedIdItem.query(feed_id))),
        "packages": len(list(Package.query(feed_id))),
        "findings": len(list(Finding.query(feed_id))),
        "assessments": len(list(Assessment.query(feed_id))),
        "scans": len(list(Scan.by_scope.query(feed_id))),
    }


@pytest.fixture(autouse=True)
def purges_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The purge's first message is visible at once, not after 30 seconds."""
    monkeypatch.setattr(feed_purge, "FIRST_DELAY_SECONDS", 0)


class Timing(LambdaContext):
    """An invocation with `seconds` left, less by one at each question."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def get_remaining_time_in_millis(self) -> int:
        self.seconds -= 1
        return int(self.seconds * 1000)


def purge_messages(aws: Any) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = aws.queue_urls["FeedPurgeQueue"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [
        {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"], "eventSource": "aws:sqs"}
        for m in messages
    ]


def run_purges(aws: Any, seconds: float | None = None) -> int:
    """Hands the purge queue's messages to the purge function, as its SQS
    mapping would, until none is left, each invocation with `seconds` left
    (None: plenty); how many invocations it took."""
    invocations = 0
    while records := purge_messages(aws):
        assert invocations < 20, "the purge does not end"
        for record in records:
            context = LambdaContext() if seconds is None else Timing(seconds)
            answer = feed_purge_handler.handler({"Records": [record]}, context)
            assert answer == {"batchItemFailures": []}
            invocations += 1
    return invocations


def test_deleting_a_feed_removes_what_it_owns_and_keeps_the_history(aws: Any) -> None:
    feed_id, bot, source = a_feed_with_everything()
    assert request(feeds, "DELETE", "/feeds/payments")[0] == 204
    assert request(feeds, "GET", "/feeds/payments")[0] == 404
    assert run_purges(aws) == 1
    assert set(rows_of(feed_id).values()) == {0}
    assert request(feeds, "GET", "/feeds", caller=key_caller(bot))[1]["items"] == []
    assert [entry.action for entry in history.entries(feed_id, "CVE-A")] == ["assessed"]
    assert request(sources, "DELETE", f"/sources/{source}")[0] == 204  # no longer in use


def test_a_feed_made_under_a_deleted_feeds_name_sees_nothing_of_it(aws: Any) -> None:
    """Issue 27, finding 7: a key granted on a re-created feed read the old
    feed's assessment comments and scans, keyed by the name."""
    old_id, bot, _ = a_feed_with_everything("reuse")
    assert request(feeds, "DELETE", "/feeds/reuse")[0] == 204
    run_purges(aws)
    # A new feed of the same name, the old feed's viewer granted on it again
    new = a_feed("reuse")
    assert new["id"] != old_id
    assert request(feeds, "PUT", f"/feeds/reuse/permissions/{bot}", body={"role": "viewer"})[0] == 200
    viewer = key_caller(bot)
    detail = request(feeds, "GET", "/feeds/reuse", caller=viewer)[1]
    assert (detail["id"], detail["sources"], detail["last_scan"]) == (new["id"], [], None)
    assert detail["counts"] == {"unassessed": 0, "assessed": 0, "expired": 0}
    assert request(feeds, "GET", "/feeds/reuse/packages", caller=viewer)[1]["items"] == []
    assert request(findings, "GET", "/feeds/reuse/vulnerabilities", caller=viewer)[1]["items"] == []
    assert request(findings, "GET", "/feeds/reuse/vulnerabilities/CVE-A", caller=viewer)[0] == 404
    assert request(findings, "GET", "/feeds/reuse/vulnerabilities/CVE-A/history", caller=viewer)[0] == 404
    assert request(findings, "GET", "/feeds/reuse/vulnerabilities/CVE-A/history")[0] == 404  # the admin too
    assert request(scans, "GET", "/scans", query={"feed": "reuse"})[1]["items"] == []
    assert [p["key_id"] for p in request(feeds, "GET", "/feeds/reuse/permissions")[1]["items"]] == [bot]
    # The old feed's history stays, for the admin, by its id
    old_history = request(findings, "GET", f"/feeds/{old_id}/vulnerabilities/CVE-A/history")[1]["items"]
    assert [entry["action"] for entry in old_history] == ["assessed"]
    assert request(findings, "GET", f"/feeds/{old_id}/vulnerabilities/CVE-A/history", caller=viewer)[0] == 404


def test_a_role_left_from_a_deleted_feed_counts_for_nothing(aws: Any) -> None:
    # Given a role on a deleted feed whose purge has not reached its roles yet
    old_id, bot, _ = a_feed_with_everything("reuse")
    old = feed_store.require("reuse")
    feed_store.delete(old)
    assert rows_of(old_id, "reuse")["roles"] == 1
    # When a feed is made again under its name
    new_id = a_feed("reuse")["id"]
    # Then the key has no role on it, sees it nowhere, and the purge leaves the new feed's roles alone
    viewer = key_caller(bot)
    assert request(feeds, "GET", "/feeds/reuse", caller=viewer)[0] == 404
    assert request(feeds, "GET", "/feeds", caller=viewer)[1]["items"] == []
    assert request(feeds, "GET", "/feeds/reuse/permissions")[1]["items"] == []
    other = a_key("other")
    request(feeds, "PUT", f"/feeds/reuse/permissions/{other}", body={"role": "viewer"})
    purge.run(old_id, "reuse", None, lambda: 1.0)
    assert rows_of(old_id, "reuse") == dict.fromkeys(rows_of(old_id, "reuse"), 0)
    assert rows_of(new_id, "reuse")["roles"] == 1


def test_a_purge_cut_short_continues_and_leaves_no_row(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a deleted feed of 2,500 packages, purged 1,000 rows a step
    feed_id, _, _ = a_feed_with_everything()
    with Package.batch_write() as batch:
        for n in range(2500):
            batch.save(Package(feed=feed_id, purl=f"pkg:npm/many{n}@1", added_at=clock.iso(clock.now())))
    assert request(feeds, "DELETE", "/feeds/payments")[0] == 204
    # When each invocation has time for a few steps only (it is asked before each, one second less each time)
    monkeypatch.setattr(feed_purge_handler, "MARGIN_SECONDS", 0)
    invocations = run_purges(aws, seconds=3)
    # Then each continued where the last stopped, until nothing was left
    assert invocations > 1
    assert set(rows_of(feed_id).values()) == {0}
    # And a message delivered again changes nothing and fails nothing
    feed_purge.request(feed_id, "payments", "packages", delay=0)
    assert run_purges(aws) == 1


def test_a_purge_waits_for_a_running_scan_of_the_feed(aws: Any) -> None:
    feed_id, _, _ = a_feed_with_everything()
    scan = next(iter(Scan.by_scope.query(feed_id)))
    scan.update(actions=[Scan.status.set("running")])
    assert request(feeds, "DELETE", "/feeds/payments")[0] == 204
    (record,) = purge_messages(aws)
    outcome = feed_purge_handler.purge_feed(json.loads(record["body"]), LambdaContext())
    assert outcome is not None
    assert (outcome.phase, outcome.wait, outcome.deleted) == ("scans", True, 0)
    assert rows_of(feed_id)["packages"] == 60
    scan.update(actions=[Scan.status.set("succeeded")])
    feed_purge.request(feed_id, "payments", "scans", delay=0)
    run_purges(aws)
    assert set(rows_of(feed_id).values()) == {0}


def test_the_local_stack_runs_the_purge_from_the_template(aws: Any) -> None:
    # The template's mapping of the purge queue, as the local stack's pollers read it
    (mapping,) = [m for m in Template.load().sqs_mappings() if m.function == "FeedPurgeFunction"]
    assert (mapping.queue, mapping.batch_size, mapping.report_failures) == ("FeedPurgeQueue", 1, True)
    feed_id, _, _ = a_feed_with_everything()
    assert request(feeds, "DELETE", "/feeds/payments")[0] == 204

    class InProcess:
        name = "feedguard-test-FeedPurgeFunction"

        def invoke(self, event: dict[str, Any], trigger: str, record_event: bool = True) -> Any:
            return feed_purge_handler.handler(event, LambdaContext())

    poller = SqsPoller(mapping, InProcess(), aws, None, number=0)  # type: ignore[arg-type]
    poller.tick()
    poller.settled()
    assert set(rows_of(feed_id).values()) == {0}


def test_a_purge_of_a_feed_that_was_not_deleted_is_dropped(aws: Any) -> None:
    feed_id = a_feed()["id"]
    feed_purge.request(feed_id, "payments", delay=0)
    run_purges(aws)
    assert request(feeds, "GET", "/feeds/payments")[1]["id"] == feed_id


def test_resolving_the_feed_and_the_role_is_one_round_trip(aws: Any) -> None:
    a_feed()
    bot = a_key()
    request(feeds, "PUT", f"/feeds/payments/permissions/{bot}", body={"role": "manager"})
    feeds_table = aws.table_names["FeedsTable"]
    calls: list[str] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if params.get("TableName") == feeds_table or feeds_table in params.get("RequestItems", {}):
            calls.append(model.name)

    with dynamodb_hook("provide-client-params.dynamodb", record):
        assert request(feeds, "GET", "/feeds/payments/packages", caller=key_caller(bot))[0] == 200
    assert calls == ["BatchGetItem"]


# ---------------------------------------------------------------- last_scan


def a_scan(
    scope: str,
    seconds_after_the_feed: float,
    feed_created_at: str,
    status: str = "succeeded",
    covered: set[str] | None = None,
    trigger: str = "api",
    name: str = "payments",
) -> str:
    """A scan record whose id says it was created `seconds_after_the_feed`
    after `feed_created_at` (negative: before the feed existed)."""
    ms = int((clock.parse_iso(feed_created_at).timestamp() + seconds_after_the_feed) * 1000)
    scan_id = f"s{ms:012x}{len(scope):08x}"
    finished = status not in ("queued", "running")
    Scan(
        scan_id=scan_id,
        sk=SCAN_SK,
        scope=scope,
        feed_name=None if scope == "*" else name,
        trigger=trigger,
        status=status,
        started_at=clock.iso(datetime.fromtimestamp(ms / 1000, UTC)),
        finished_at=clock.iso(datetime.fromtimestamp(ms / 1000 + 1, UTC)) if finished else None,
        covered_feeds=covered,
    ).save()
    return scan_id


def last_scan(name: str = "payments", caller: dict[str, str] | None = None) -> Any:
    status, answer = request(feeds, "GET", f"/feeds/{name}", caller=caller)
    assert status == 200, answer
    return answer["last_scan"]


def test_a_new_feed_has_no_last_scan(aws: Any) -> None:
    assert a_feed()["last_scan"] is None
    assert last_scan() is None


def test_last_scan_is_the_feeds_newest_scan_with_its_status_and_end(aws: Any) -> None:
    # Given a feed scanned once, then scanned again (still running)
    feed = a_feed()
    created, feed_id = feed["created_at"], feed["id"]
    a_scan(feed_id, 1, created, trigger="packages")
    running = a_scan(feed_id, 5, created, status="running")
    a_scan("f_elsewhere", 9, created, name="elsewhere")  # another feed's scan does not count
    # When the feed is read, by the admin and by a viewer
    viewer = a_key()
    request(feeds, "PUT", f"/feeds/payments/permissions/{viewer}", body={"role": "viewer"})
    # Then its last scan is the running one, not finished yet
    expected = {
        "id": running,
        "status": "running",
        "started_at": clock.iso(clock.parse_iso(created) + timedelta(seconds=5)),
        "finished_at": None,
        "feed": "payments",
        "trigger": "api",
    }
    assert last_scan() == expected
    assert last_scan(caller=key_caller(viewer)) == expected


def test_a_scan_of_every_feed_counts_when_it_covered_the_feed(aws: Any) -> None:
    feed = a_feed()
    created, feed_id = feed["created_at"], feed["id"]
    own = a_scan(feed_id, 1, created)
    # Given a newer scan of every feed that did not cover this one: the feed's own scan stays the last
    a_scan("*", 2, created, covered={"f_elsewhere"})
    assert last_scan()["id"] == own
    # When a newer scan of every feed covers it, that one is
    every = a_scan("*", 3, created, status="partial", covered={feed_id, "f_elsewhere"}, trigger="schedule")
    assert last_scan() == {
        "id": every,
        "status": "partial",
        "started_at": clock.iso(clock.parse_iso(created) + timedelta(seconds=3)),
        "finished_at": clock.iso(clock.parse_iso(created) + timedelta(seconds=4)),
        "feed": None,
        "trigger": "schedule",
    }
    # And a newer scan of the feed alone takes over again
    newest = a_scan(feed_id, 4, created, status="queued")
    assert last_scan()["id"] == newest


def test_a_queued_scan_of_every_feed_counts_for_feeds_with_a_source(aws: Any) -> None:
    # Given two feeds, one with a source attached, and a scan of every feed not planned yet
    created = a_feed()["created_at"]
    a_feed("unsourced")
    request(feeds, "PUT", f"/feeds/payments/sources/{a_source()}")
    queued = a_scan("*", 2, created, status="queued")
    # Then it is the last scan of the feed its planning will include, and of no other
    assert (last_scan()["id"], last_scan()["status"]) == (queued, "queued")
    assert last_scan("unsourced") is None


def test_scans_of_a_deleted_feed_of_the_same_name_are_not_its_own(aws: Any) -> None:
    # Given scans of deleted feeds of this name: one with an id, one made before feeds had ids (keyed by the name)
    created = a_feed()["created_at"]
    for old in ("f_0123456789ab01234567", "payments"):
        a_scan(old, -60, created)
        a_scan("*", -30, created, covered={old})
    # Then the feed has no last scan
    assert last_scan() is None


def test_last_scan_costs_two_one_item_queries_of_the_scans_index(aws: Any) -> None:
    # Given a feed with many scans, its own and of every feed
    feed = a_feed()
    created, feed_id = feed["created_at"], feed["id"]
    for n in range(30):
        a_scan(feed_id, n, created)
        a_scan("*", n + 0.5, created, covered={feed_id})
    scans_table = aws.table_names["ScansTable"]
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if params.get("TableName") == scans_table:
            calls.append({"operation": model.name, "index": params.get("IndexName"), "limit": params.get("Limit")})

    # When the feed is read
    with dynamodb_hook("provide-client-params.dynamodb", record):
        last = last_scan()
    # Then the last scan came from two Queries of one item each on by_scope, no Scan
    assert last["feed"] is None
    assert calls == [{"operation": "Query", "index": "by_scope", "limit": 1}] * 2


def test_the_openapi_document_describes_last_scan() -> None:
    from handlers import meta

    schemas = json.loads(meta.openapi_json())["components"]["schemas"]
    assert "last_scan" in schemas["FeedDetail"]["required"]
    assert schemas["FeedDetail"]["properties"]["last_scan"]["description"]
    last = schemas["LastScan"]
    assert set(last["required"]) == {"id", "status", "started_at", "finished_at", "feed", "trigger"}
    assert all(field.get("description") for field in last["properties"].values())
