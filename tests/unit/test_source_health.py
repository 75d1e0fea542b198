"""A source's health as scans and the gate's inline lookups record it: last
success, last error (when, status, feedguard's short reason), credits
exhausted; at most one UpdateItem of the source per batch, shown on
GET /sources/{id} to every key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from feedguard import source_health
from handlers import gate, sources
from infra.fake_ossindex import FakeOssIndex, Fault
from tests.support import CLEAN, LODASH, LOG4J, dynamodb_hook, key_caller, request
from tests.unit.builders import a_feed
from tests.unit.test_scanner import a_source, scan


@pytest.fixture(autouse=True)
def _no_backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("feedguard.ossindex.time.sleep", lambda seconds: None)


def health(source_id: str, caller: dict[str, str] | None = None) -> dict[str, Any]:
    status, answer = request(sources, "GET", f"/sources/{source_id}", caller=caller)
    assert status == 200, answer
    return dict(answer["health"])


def test_a_scan_that_meets_a_402_records_it_and_the_next_answer_clears_the_credits_flag(
    aws: Any, oss: tuple[FakeOssIndex, str]
) -> None:
    service, url = oss
    source = a_source(url)
    a_feed("demo", [LOG4J, LODASH], [source])
    assert health(source) == {"last_success_at": None, "last_error": None, "credits_exhausted": False}
    service.add_fault(Fault(status=402))
    done = scan(aws, "demo")
    assert done.status == "failed"
    recorded = health(source)
    assert recorded["credits_exhausted"] is True
    assert recorded["last_error"] == {
        "at": recorded["last_error"]["at"],
        "status": 402,
        "message": "OSS Index answered 402: credits exhausted.",
    }
    assert recorded["last_success_at"] is None
    # When credits are back, the next scan's answer records a success
    assert scan(aws, "demo", refresh=True).status == "succeeded"
    again = health(source)
    assert again["credits_exhausted"] is False
    assert again["last_success_at"] is not None
    assert again["last_success_at"] >= recorded["last_error"]["at"]
    assert again["last_error"] == recorded["last_error"]  # the last error stays, with its time


def test_a_non_admin_sees_the_short_reason_never_the_sources_body(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    source = a_source(url)
    a_feed("demo", [LOG4J], [source])
    service.add_fault(Fault(status=418, body="<html>internal page, secret hostnames</html>"))
    scan(aws, "demo")
    seen = health(source, caller=key_caller("kviewer"))
    assert seen["last_error"]["message"] == "OSS Index answered 418."
    assert seen["last_error"]["status"] == 418
    assert "internal page" not in json.dumps(health(source))  # nor does the admin: the body is in the log only


def test_a_scan_of_many_batches_writes_the_sources_health_once(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    _, url = oss
    source = a_source(url)
    a_feed("big", [f"pkg:npm/made-up-{n}@1.0.0" for n in range(301)], [source])
    writes: list[str] = []

    def count(**kwargs: Any) -> None:
        if kwargs["params"]["TableName"].endswith("SourcesTable"):
            writes.append(kwargs["model"].name)

    with dynamodb_hook("provide-client-params.dynamodb.UpdateItem", count):
        done = scan(aws, "big")
    assert (done.status, done.batches_total) == ("succeeded", 3)
    assert len(writes) == 1  # the first batch's success; the next two within the minute write nothing
    assert health(source)["last_success_at"] is not None
    # And a batch answered from the cache writes nothing
    with dynamodb_hook("provide-client-params.dynamodb.UpdateItem", count):
        scan(aws, "big")
    assert len(writes) == 1


def test_every_error_is_written_and_the_next_success_at_once(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from feedguard import ossindex
    from feedguard.dal import sources as source_store

    source_store.create("src-x", {"name": "x", "url": "https://x.example", "auth": "bearer"}, "t")
    written: list[dict[str, Any]] = []
    real = source_store.record_health

    def record(source_id: str, fields: dict[str, Any]) -> None:
        written.append(fields)
        real(source_id, fields)

    monkeypatch.setattr(source_store, "record_health", record)
    recorder = source_health.Recorder()
    unavailable = ossindex.Unavailable("OSS Index answered 503 after 5 attempts", status=503)
    recorder.succeeded("src-x")
    recorder.succeeded("src-x")  # within the minute: not written
    recorder.failed("src-x", unavailable)
    recorder.failed("src-x", unavailable)
    recorder.succeeded("src-x")  # after an error: at once
    assert [sorted(fields) for fields in written] == [
        ["credits_exhausted", "last_success_at"],
        ["last_error_at", "last_error_message", "last_error_status"],
        ["last_error_at", "last_error_message", "last_error_status"],
        ["credits_exhausted", "last_success_at"],
    ]
    assert source_store.get("src-x").last_error_status == 503


def test_health_of_a_source_deleted_meanwhile_is_not_written(aws: Any) -> None:
    from feedguard.dal import sources as source_store
    from feedguard.dal.models import Source

    source_health.Recorder().succeeded("src-gone")
    assert list(Source.scan()) == []
    source_store.record_health("src-gone", source_health.success_fields("2026-01-01T00:00:00Z"))
    assert list(Source.scan()) == []


def test_the_gates_inline_lookup_records_the_sources_health(aws: Any, oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    source = a_source(url)
    a_feed("demo", [], [source])
    service.add_fault(Fault(status=401))
    status, answer = request(gate, "POST", "/feeds/demo/check", body={"purls": [CLEAN]})
    assert status == 200, answer
    assert answer["results"][0]["scanned"] is False
    refused = health(source)["last_error"]
    assert (refused["status"], refused["message"]) == (401, "OSS Index answered 401: the token was refused.")
    status, answer = request(gate, "POST", "/feeds/demo/check", body={"purls": [CLEAN]})
    assert answer["results"][0]["scanned"] is True
    assert health(source)["last_success_at"] >= refused["at"]
