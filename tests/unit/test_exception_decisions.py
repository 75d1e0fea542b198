"""Package exceptions among a feed's decisions (feedguard.decisions): they
are items of the assessments table, so every reader of assessments skips
them (a key condition where one can, else a filter on `entity`), and they
are a decision kind of their own: stale when they match no package of the
feed, expiring, and warned of once by the hourly sweep."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from feedguard import clock, decisions
from feedguard.actors import Actor
from feedguard.dal import assessments as assessment_store
from feedguard.dal import exceptions as exception_store
from feedguard.dal import feeds as feed_store
from feedguard.dal import history, permissions
from feedguard.dal.models import Assessment, ExceptionItem
from feedguard.exceptions import PackageException
from handlers import decisions as decisions_handler
from tests.support import counted_dynamodb_calls, key_caller, request
from tests.unit import builders
from tests.unit.builders import a_finding

ALICE = Actor("kalice", "alice")
PATH = "/feeds/demo/decisions"
VIEWER = key_caller("kviewer", "viewer")


@pytest.fixture
def feed(aws: Any) -> str:
    builders.a_feed("demo", ["pkg:npm/lodash@4.17.20", "pkg:npm/%40acme/widgets@1.0.0"])
    permissions.grant(feed_store.require("demo"), "kviewer", "viewer")
    return "demo"


def an_exception(
    purl: str,
    expires_in: timedelta | None = None,
    versions: str | None = None,
    vulnerability_ids: list[str] | None = None,
    feed: str = "demo",
) -> PackageException:
    return exception_store.create(
        feed,
        purl=purl,
        versions=versions,
        vulnerability_ids=vulnerability_ids,
        type_id="ignore",
        effect="allow",
        comment="c",
        expires_at=clock.now() + expires_in if expires_in is not None else None,
        actor=ALICE,
    )


def assess(vulnerability_id: str, expires_in: timedelta | None = None) -> None:
    expires = clock.now() + expires_in if expires_in is not None else None
    assessment_store.assess(
        "demo", vulnerability_id, type_id="ignore", effect="allow", comment="c", expires_at=expires, actor=ALICE
    )


def listed(state: str, **query: str) -> tuple[int, Any]:
    return request(decisions_handler, "GET", PATH, query={"state": state, **query}, caller=VIEWER)


def assessments_listed(answer: Any) -> list[str]:
    return [item["vulnerability_id"] for item in answer["items"] if item["kind"] == "assessment"]


# ---------------------------------------------------------------- the bug: exceptions read as assessments


def test_an_exception_is_never_listed_or_warned_as_an_assessment(feed: str) -> None:
    a_finding(feed, "CVE-A", "pkg:npm/lodash@4.17.20")
    assess("CVE-A", timedelta(days=3))
    an_exception("pkg:npm/left-pad", timedelta(days=2))  # matches no package, expires soon
    an_exception("pkg:npm/lodash")  # matches, never expires
    status, answer = listed("stale")
    assert status == 200, answer
    assert assessments_listed(answer) == []
    status, answer = listed("expiring")
    assert status == 200, answer
    assert assessments_listed(answer) == ["CVE-A"]
    result = decisions.warn_expiring(clock.now(), 7)
    assert result.failed == []
    assert Assessment.get(feed, "CVE-A").warned_at is not None
    # No assessment's warning was attempted on an exception's key, nor written to its history
    assert [e for e in history.entries(feed, "#exception#") if e.action == "expiring"] == []
    for item in ExceptionItem.query(feed, ExceptionItem.key.startswith("#exception#")):
        assert "version" not in item.attribute_values


def test_a_stale_page_of_assessments_reads_no_exception(feed: str) -> None:
    for n in range(3):
        an_exception(f"pkg:npm/gone-{n}")
    with counted_dynamodb_calls() as counted:
        status, answer = listed("stale")
    assert status == 200
    assert assessments_listed(answer) == []
    # The assessments' Query starts after the exceptions' keys: it reads none, and no BatchGet of findings follows
    assert Assessment.query(feed, Assessment.vulnerability_id >= "$").total_count == 0
    assert counted["Query"] >= 1
