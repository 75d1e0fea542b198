"""Sources of kind osv: no token, no secret, a default URL, tested with one
free querybatch of one query when saved."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from feedguard.dal import sources as source_store
from handlers import sources
from infra.fake_ossindex import Fault
from infra.fake_osv import FakeOsv
from tests.support import request
from tests.unit.conftest import GuideSession
from tests.unit.test_sources import TOKEN, stored_secrets


@pytest.fixture
def osv_guide(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOsv]:
    """The fake OSV answering the tests of sources saved at any URL."""
    service = FakeOsv()
    session = GuideSession(service)
    monkeypatch.setattr(sources, "probe_session", lambda: session)
    yield service
    session.close()


def new_osv(**overrides: Any) -> dict[str, Any]:
    status, answer = request(sources, "POST", "/sources", body={"name": "osv", "kind": "osv", **overrides})
    assert status == 201, answer
    return dict(answer)


def test_an_osv_source_needs_no_token_and_stores_no_secret(aws: Any, osv_guide: FakeOsv) -> None:
    created = new_osv()
    assert (created["kind"], created["url"], created["token_set"]) == ("osv", "https://api.osv.dev", False)
    assert (created["auth"], created["username"], created["warnings"]) == (None, None, [])
    assert created["health"]["last_success_at"] == created["created_at"]
    assert stored_secrets() == []
    # The test was one querybatch of one query
    assert (osv_guide.stats()["batch_requests"], osv_guide.stats()["queries_asked"]) == (1, 1)
    listed = request(sources, "GET", "/sources")[1]["items"]
    assert [(s["kind"], s["name"]) for s in listed] == [("osv", "osv")]


def test_a_source_that_names_no_kind_is_still_ossindex(aws: Any, guide: Any) -> None:
    status, created = request(sources, "POST", "/sources", body={"name": "g", "token": TOKEN})
    assert (status, created["kind"], created["token_set"]) == (201, "ossindex", True)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"token": TOKEN}, "token"),
        ({"auth": "bearer"}, "auth"),
        ({"auth": "basic", "username": "me@example.com"}, "auth, username"),
    ],
)
def test_credentials_for_an_osv_source_are_422_and_nothing_is_stored(
    aws: Any, osv_guide: FakeOsv, body: dict[str, Any], named: str
) -> None:
    status, answer = request(sources, "POST", "/sources", body={"name": "osv", "kind": "osv", **body})
    assert status == 422
    assert named in answer["message"]
    assert TOKEN not in str(answer)
    assert request(sources, "GET", "/sources")[1]["items"] == []
    assert osv_guide.stats()["requests"] == 0


def test_an_ossindex_source_without_a_token_is_422(aws: Any, guide: Any) -> None:
    status, answer = request(sources, "POST", "/sources", body={"name": "g", "kind": "ossindex"})
    assert (status, answer["message"]) == (422, "An ossindex source needs a token.")


@pytest.mark.parametrize("status", [400, 404])
def test_an_osv_source_answering_4xx_is_422_and_nothing_is_stored(aws: Any, osv_guide: FakeOsv, status: int) -> None:
    osv_guide.add_fault(Fault(status=status))
    answer_status, answer = request(sources, "POST", "/sources", body={"name": "osv", "kind": "osv"})
    assert answer_status == 422
    assert answer["details"] == [{"status": status, "reason": f"OSV answered {status}."}]
    assert request(sources, "GET", "/sources")[1]["items"] == []


def test_an_osv_source_that_cannot_answer_now_is_saved_with_a_warning(aws: Any, osv_guide: FakeOsv) -> None:
    osv_guide.add_fault(Fault(status=503, times=5))
    created = new_osv()
    assert len(created["warnings"]) == 1
    assert created["health"]["last_error"]["status"] == 503


def test_a_patch_of_an_osv_source_takes_a_name_or_url_and_refuses_credentials(aws: Any, osv_guide: FakeOsv) -> None:
    created = new_osv(url="https://osv.example.com")
    status, renamed = request(sources, "PATCH", f"/sources/{created['id']}", body={"name": "renamed"})
    assert (status, renamed["name"], osv_guide.stats()["requests"]) == (200, "renamed", 1)
    status, moved = request(sources, "PATCH", f"/sources/{created['id']}", body={"url": None})
    assert (status, moved["url"], osv_guide.stats()["requests"]) == (200, "https://api.osv.dev", 2)
    for body in ({"token": TOKEN}, {"auth": "basic", "username": "me@example.com"}):
        status, answer = request(sources, "PATCH", f"/sources/{created['id']}", body=body)
        assert status == 422, answer
    assert stored_secrets() == []


def test_an_osv_source_is_deleted_without_a_secret_to_remove(aws: Any, osv_guide: FakeOsv) -> None:
    created = new_osv()
    assert request(sources, "DELETE", f"/sources/{created['id']}")[0] == 204
    assert request(sources, "GET", "/sources")[1]["items"] == []
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == [] or stored_secrets() == []


def test_both_kinds_can_be_listed_together(aws: Any, osv_guide: FakeOsv) -> None:
    source_store.create("src-guide", {"name": "guide", "url": "https://api.guide.sonatype.com"}, TOKEN)
    new_osv()
    assert sorted(s["kind"] for s in request(sources, "GET", "/sources")[1]["items"]) == ["ossindex", "osv"]
