"""POST /scans (issue 27, finding 1): one scan of a feed at a time, and a
refresh (every package asked again, each a paid coordinate) once an hour per
feed for its managers; the admin refreshes at will."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import boto3
import pytest

from feedguard import clock
from feedguard.dal import feeds as feed_store
from feedguard.dal import permissions
from feedguard.dal import scans as scan_store
from handlers import scans
from tests.support import key_caller, request
from tests.unit.builders import a_feed

MANAGER = key_caller("kmanager", "release-bot")


@pytest.fixture
def feed(aws: Any) -> str:
    a_feed("demo", ["pkg:npm/lodash@4.17.20"], ["src-guide"])
    permissions.grant(feed_store.require("demo"), "kmanager", "manager")
    return "demo"


def requested(aws: Any) -> int:
    """Scan requests waiting on the scan request queue."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=aws.queue_urls["ScanRequestQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def finish(scan_id: str) -> None:
    """The coordinator found nothing to ask: the scan succeeded."""
    scan = scan_store.get(scan_id)
    assert scan is not None
    scan_store.set_totals(scan, 0, 0)


def start(body: dict[str, Any], caller: dict[str, str] | None = None) -> tuple[int, Any]:
    return request(scans, "POST", "/scans", body=body, caller=caller)


def test_a_scan_of_a_feed_with_one_queued_is_409_naming_it_and_changes_nothing(aws: Any, feed: str) -> None:
    # Given a scan of the feed, queued
    status, first = start({"feed": feed}, MANAGER)
    assert status == 202
    # When its manager, and the admin, ask for another
    for caller in (MANAGER, None):
        status, answer = start({"feed": feed}, caller)
        # Then each is 409, naming the queued scan, and nothing more is recorded or queued
        assert status == 409, answer
        assert answer["details"] == [{"scan_id": first["id"]}]
        assert first["id"] in answer["message"]
    assert [s.scan_id for s in scan_store.list_for_feed(feed, 10, None).items] == [first["id"]]
    assert requested(aws) == 1


def test_a_running_scan_holds_the_feed_and_a_finished_one_does_not(aws: Any, feed: str) -> None:
    first = start({"feed": feed}, MANAGER)[1]["id"]
    scan = scan_store.get(first)
    assert scan is not None
    scan_store.mark_running(scan, {feed})
    assert start({"feed": feed}, MANAGER)[0] == 409
    finish(first)
    status, second = start({"feed": feed}, MANAGER)
    assert status == 202
    assert second["id"] != first


def test_another_feed_and_every_feed_are_not_held_by_a_feed_s_scan(aws: Any, feed: str) -> None:
    a_feed("other", ["pkg:npm/left-pad@1.0.0"], ["src-guide"])
    assert start({"feed": feed})[0] == 202
    assert start({"feed": "other"})[0] == 202
    status, every = start({})
    assert status == 202
    # ...but a second scan of every feed is held by the first
    status, answer = start({})
    assert (status, answer["details"]) == (409, [{"scan_id": every["id"]}])


def test_a_wedged_scan_no_longer_holds_the_feed(aws: Any, feed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a scan queued longer ago than any live scan can be (its request dead-lettered)
    first = start({"feed": feed}, MANAGER)[1]["id"]
    later = clock.now() + scan_store.WEDGED_AFTER + timedelta(minutes=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    # Then a new scan is accepted
    assert start({"feed": feed}, MANAGER)[0] == 202
    assert first


def test_a_manager_may_refresh_a_feed_once_an_hour(aws: Any, feed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a refresh by the feed's manager, finished (at a fixed moment: the
    # lock stamps the refresh with its own clock read, which a second
    # boundary could otherwise separate from this one)
    began = clock.now()
    monkeypatch.setattr(clock, "now", lambda: began)
    first = start({"feed": feed, "refresh": True}, MANAGER)
    assert first[0] == 202
    finish(first[1]["id"])
    # When the manager asks for another refresh 59 minutes later
    monkeypatch.setattr(clock, "now", lambda: began + timedelta(minutes=59))
    status, answer = start({"feed": feed, "refresh": True}, MANAGER)
    # Then it is 409, saying when one is allowed, and nothing is queued
    allowed_at = clock.iso(began + timedelta(hours=1))
    assert status == 409, answer
    assert answer["details"] == [{"refresh_allowed_at": allowed_at}]
    assert allowed_at in answer["message"]
    assert requested(aws) == 1
    # But a scan that uses the cache is allowed at once
    status, plain = start({"feed": feed}, MANAGER)
    assert status == 202
    finish(plain["id"])
    # And an hour after the first refresh, a refresh is allowed again
    monkeypatch.setattr(clock, "now", lambda: began + timedelta(hours=1))
    assert start({"feed": feed, "refresh": True}, MANAGER)[0] == 202


def test_the_admin_refreshes_at_will(aws: Any, feed: str) -> None:
    for _ in range(3):
        status, answer = start({"feed": feed, "refresh": True})
        assert status == 202, answer
        finish(answer["id"])
    # and the admin's refresh counts for the feed's managers' hour
    status, answer = start({"feed": feed, "refresh": True}, MANAGER)
    assert status == 409
    assert "refresh_allowed_at" in answer["details"][0]


def test_two_requests_at_once_start_one_scan(aws: Any, feed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two requests (two Lambda invocations: the data layer, each in a
    # thread of its own) that both read the feed's lock before either writes,
    # which a read-then-write check lets both through
    both_read = threading.Barrier(2, timeout=10)
    real_get = scan_store.ScanLock.get
    first_reads: set[int] = set()

    def get_then_wait(*args: Any, **kwargs: Any) -> Any:
        try:
            return real_get(*args, **kwargs)  # no lock yet: DoesNotExist
        finally:
            if threading.get_ident() not in first_reads:
                first_reads.add(threading.get_ident())
                both_read.wait()

    monkeypatch.setattr(scan_store.ScanLock, "get", get_then_wait)
    started: list[str] = []
    refused: list[str] = []

    def ask(scan_id: str) -> None:
        try:
            started.append(scan_store.start(scan_id, feed, "api", False, scans.REFRESH_INTERVAL).scan_id)
        except scan_store.ScanInProgress as busy:
            refused.append(busy.scan_id)

    threads = [threading.Thread(target=ask, args=(scan_id,)) for scan_id in ("s-one", "s-two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then one scan is recorded, and the other request is refused naming it
    assert len(started) == 1, (started, refused)
    assert refused == started
    assert [s.scan_id for s in scan_store.list_for_feed(feed, 10, None).items] == started


def test_a_scan_that_could_not_be_queued_fails_and_holds_the_feed_no_longer(
    aws: Any, feed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedguard import scan_queue

    def unreachable(*args: Any) -> None:
        raise ConnectionError("SQS did not answer")

    monkeypatch.setattr(scan_queue, "request_scan", unreachable)
    status, _ = start({"feed": feed}, MANAGER)
    assert status == 500
    (failed,) = scan_store.list_for_feed(feed, 10, None).items
    assert failed.status == "failed"
    monkeypatch.undo()
    assert start({"feed": feed}, MANAGER)[0] == 202
