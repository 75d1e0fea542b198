"""Package exceptions: patterns, vers ranges (univers), precedence and
expiry (pure), and the routes that make, list, read and delete them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedguard import clock
from feedguard import exceptions as rules
from feedguard.dal import exceptions as exception_store
from feedguard.dal import feeds as feed_store
from feedguard.dal import history, permissions
from feedguard.dal.models import ExceptionItem
from feedguard.exceptions import PackageException
from handlers import exceptions as routes
from tests.support import key_caller, request
from tests.unit import builders

ALICE = key_caller("kalice", "alice")
VIEWER = key_caller("kviewer", "vera")
NOW = clock.parse_iso("2026-12-07T12:00:00Z")


def an_exception(purl: str, **fields: Any) -> PackageException:
    made = PackageException(
        feed="demo",
        id=fields.pop("id", "ex_0001"),
        purl=rules.parse_pattern(purl).text,
        versions=None,
        vulnerability_ids=None,
        type="ignore",
        effect="allow",
        comment=None,
        created_by="alice",
        created_by_id="kalice",
        created_at="2026-12-01T00:00:00Z",
        expires_at=None,
    )
    return replace(made, **fields)


# ---------------------------------------------------------------- patterns and ranges (no AWS)


@pytest.mark.parametrize(
    ("pattern", "purl", "expected"),
    [
        ("pkg:npm/lodash", "pkg:npm/lodash@4.17.20", True),
        ("pkg:npm/lodash", "pkg:npm/lodash-es@4.17.20", False),
        ("pkg:npm/lodash*", "pkg:npm/lodash-es@4.17.20", True),
        ("pkg:npm/%40acme/*", "pkg:npm/%40acme/widgets@1.0.0", True),
        ("pkg:npm/@acme/*", "pkg:npm/%40acme/widgets@1.0.0", True),
        ("pkg:npm/%40ACME/*", "pkg:npm/%40acme/widgets@1.0.0", True),  # npm scopes are lowercase
        ("pkg:npm/%40acme/*", "pkg:npm/%40acme-evil/widgets@1.0.0", False),
        ("pkg:npm/%40acme/*", "pkg:npm/widgets@1.0.0", False),
        ("pkg:npm/*", "pkg:npm/%40acme/widgets@1.0.0", False),  # no namespace is not any namespace
        ("pkg:maven/org.apache.logging.log4j/log4j-*", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", True),
        ("pkg:maven/org.apache.logging.log4j/log4j-*", "pkg:maven/org.apache.logging/log4j-core@2.14.1", False),
        ("pkg:maven/org.apache.logging.log4j/log4j-api", "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", False),
        ("pkg:pypi/Django_Rest*", "pkg:pypi/django-rest-framework@3.0.0", True),  # pypi names normalised
        ("pkg:npm/lodash", "pkg:pypi/lodash@4.17.20", False),
        ("pkg:golang/github.com/acme/*", "pkg:golang/github.com/acme/sub/pkg@v1.0.0", False),
    ],
)
def test_a_pattern_matches_the_versionless_purl_with_a_trailing_wildcard_only(
    pattern: str, purl: str, expected: bool
) -> None:
    assert rules.matches(an_exception(pattern), purl) is expected


@pytest.mark.parametrize(
    ("versions", "purl", "expected"),
    [
        ("vers:npm/<4.17.21", "pkg:npm/lodash@4.17.20", True),
        ("vers:npm/<4.17.21", "pkg:npm/lodash@4.17.21", False),
        ("vers:npm/>=4.0.0|<4.17.21", "pkg:npm/lodash@3.10.1", False),
        ("vers:npm/*", "pkg:npm/lodash@0.0.1", True),
        ("vers:npm/<4.17.21", "pkg:npm/lodash@not-a-version", False),  # unreadable: not in the range
        ("vers:npm/<4.17.21", "pkg:npm/lodash", False),  # no version: never in a range
    ],
)
def test_versions_are_compared_by_univers(versions: str, purl: str, expected: bool) -> None:
    exception = an_exception(
        "pkg:npm/lodash", versions=rules.parse_versions(versions, rules.parse_pattern("pkg:npm/lodash"))
    )
    assert rules.matches(exception, purl) is expected


def test_maven_ranges_compare_maven_versions() -> None:
    pattern = rules.parse_pattern("pkg:maven/org.apache.logging.log4j/log4j-core")
    versions = rules.parse_versions("vers:maven/>=2.0.0|<2.15.0", pattern)
    exception = an_exception(pattern.text, versions=versions)
    assert rules.matches(exception, "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1")
    assert not rules.matches(exception, "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1")


def test_a_pattern_without_a_range_matches_a_package_without_a_version() -> None:
    assert rules.matches(an_exception("pkg:npm/lodash"), "pkg:npm/lodash")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("pkg:npm/lodash@4.17.20", "no version"),
        ("npm/lodash", "starts with pkg:"),
        ("pkg:npm/lo*dash", "trailing"),
        ("pkg:npm/*lodash", "trailing"),
        ("pkg:npm/%40ac*/widgets", "namespace"),
        ("pkg:npm/lodash?repository_url=x", "qualifiers"),
        ("pkg:npm/lodash#sub", "qualifiers"),
        ("pkg:nosuchtype/lodash", "not one feedguard scans"),
        ("pkg:", "Not a purl pattern"),
    ],
)
def test_invalid_patterns_say_why(pattern: str, reason: str) -> None:
    with pytest.raises(rules.InvalidException, match=reason):
        rules.parse_pattern(pattern)


@pytest.mark.parametrize(
    ("versions", "reason"),
    [
        ("vers:pypi/<1.0", "scheme is pypi"),
        ("vers:npm/<<1", "Unknown comparator"),
        ("npm/<1", "vers:"),
        ("vers:npm/", "no version range"),
        ("vers:nosuch/<1", "unknown versioning scheme"),
        ("vers:nuget/g", "Not a vers range"),  # univers raises its own exception classes too
        ("vers:rpm/^|*nbpi7v,vs,!n>3c", "Not a vers range"),
    ],
)
def test_invalid_ranges_say_why(versions: str, reason: str) -> None:
    scheme = versions.removeprefix("vers:").partition("/")[0]
    kind = scheme if scheme in ("nuget", "rpm") else "npm"
    with pytest.raises(rules.InvalidException, match=reason):
        rules.parse_versions(versions, rules.parse_pattern(f"pkg:{kind}/lodash"))


def test_the_most_specific_exception_decides_then_the_latest() -> None:
    purl = "pkg:npm/%40acme/widgets@1.2.0"
    every = an_exception("pkg:npm/%40acme/*", id="ex_05", type="blocked", effect="block")
    ranged = an_exception("pkg:npm/%40acme/*", id="ex_04", versions="vers:npm/<2.0.0", type="caution", effect="warn")
    exact = an_exception("pkg:npm/%40acme/widgets", id="ex_03")
    listed = an_exception("pkg:npm/%40acme/*", id="ex_02", vulnerability_ids=("CVE-1",), type="caution", effect="warn")
    assert rules.deciding([every, ranged], purl, "CVE-1", NOW) == ranged  # a range over every version
    assert rules.deciding([every, ranged, exact], purl, "CVE-1", NOW) == exact  # an exact name over a wildcard
    assert rules.deciding([every, ranged, exact, listed], purl, "CVE-1", NOW) == listed  # listed ids over all
    assert rules.deciding([every, ranged, exact, listed], purl, "CVE-2", NOW) == exact  # listed ids cover theirs only
    narrower = an_exception("pkg:npm/%40acme/wid*", id="ex_01")
    assert rules.deciding([every, narrower], purl, "CVE-1", NOW) == narrower  # a longer prefix over a shorter
    later = replace(exact, id="ex_09", type="blocked", effect="block")
    assert rules.deciding([exact, later], purl, "CVE-2", NOW) == later  # equals: the latest made


def test_expiry_is_exact_at_read_time() -> None:
    exception = an_exception("pkg:npm/lodash", expires_at="2026-12-07T12:00:00Z")
    purl = "pkg:npm/lodash@4.17.20"
    assert rules.deciding([exception], purl, "CVE-1", NOW - timedelta(seconds=1)) == exception
    assert rules.deciding([exception], purl, "CVE-1", NOW) is None
    assert rules.for_package([exception], purl, NOW) == []


# ---------------------------------------------------------------- the routes


@pytest.fixture
def feed(aws: Any) -> None:
    builders.a_feed("demo")
    current = feed_store.require("demo")
    permissions.grant(current, "kalice", "assessor")
    permissions.grant(current, "kviewer", "viewer")


def post(body: dict[str, Any], caller: dict[str, str] = ALICE) -> tuple[int, Any]:
    return request(routes, "POST", "/feeds/demo/exceptions", body=body, caller=caller)


LODASH = {
    "purl": "pkg:npm/lodash",
    "versions": "vers:npm/<4.17.21",
    "vulnerability_ids": ["CVE-2021-23337"],
    "type": "ignore",
    "comment": "Never given user input.",
    "expires_at": "2099-01-01T00:00:00Z",
}


def test_an_exception_is_made_read_listed_and_deleted(feed: None) -> None:
    status, made = post(LODASH)
    assert status == 201, made
    assert made["id"].startswith("ex_")
    assert {k: made[k] for k in LODASH} == LODASH
    assert (made["effect"], made["created_by"], made["created_by_id"], made["expired"]) == (
        "allow",
        "alice",
        "kalice",
        False,
    )
    assert request(routes, "GET", f"/feeds/demo/exceptions/{made['id']}", caller=VIEWER) == (200, made)
    status, listed = request(routes, "GET", "/feeds/demo/exceptions", caller=VIEWER)
    assert (status, listed) == (200, {"items": [made], "next_cursor": None})
    status, _ = request(routes, "DELETE", f"/feeds/demo/exceptions/{made['id']}", caller=ALICE)
    assert status == 204
    assert request(routes, "GET", f"/feeds/demo/exceptions/{made['id']}", caller=VIEWER)[0] == 404
    assert request(routes, "DELETE", f"/feeds/demo/exceptions/{made['id']}", caller=ALICE)[0] == 404
    # The feed's stream and the listed vulnerability's history record both
    for stream in (exception_store.FEED_STREAM, "CVE-2021-23337"):
        assert [(e.action, e.actor_id) for e in history.entries("demo", stream)] == [
            ("exception_created", "kalice"),
            ("exception_deleted", "kalice"),
        ]


def test_the_type_gives_the_default_expiry_and_the_pattern_is_stored_canonical(feed: None) -> None:
    status, made = post({"purl": "pkg:npm/@ACME/*", "type": "caution"})
    assert status == 201, made
    assert (made["purl"], made["versions"], made["vulnerability_ids"], made["effect"]) == (
        "pkg:npm/%40acme/*",
        None,
        None,
        "warn",
    )
    expires = clock.parse_iso(made["expires_at"])
    assert timedelta(days=89, hours=23) < expires - clock.now() <= timedelta(days=90)
    stored = ExceptionItem.get("demo", ExceptionItem.key_of(made["id"]))
    assert stored.expires_ttl == int(expires.timestamp())  # TTL deletes it at its expiry
    # An exception for every vulnerability is recorded in the feed's stream only
    assert [e.action for e in history.entries("demo", exception_store.FEED_STREAM)] == ["exception_created"]
    assert post({"purl": "pkg:npm/lodash", "type": "ignore", "expires_at": None})[1]["expires_at"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**LODASH, "purl": "pkg:npm/lodash@4.17.20"}, "purl"),
        ({**LODASH, "purl": "pkg:npm/lo*sh"}, "purl"),
        ({**LODASH, "versions": "vers:pypi/<1"}, "versions"),
        ({**LODASH, "versions": "vers:npm/<<1"}, "versions"),
        ({**LODASH, "type": "no-such-type"}, "type"),
        ({**LODASH, "type": "unassessed"}, "type"),
        ({**LODASH, "expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({**LODASH, "expires_at": "tomorrow"}, "expires_at"),
        ({**LODASH, "vulnerability_ids": []}, "vulnerability_ids"),
        ({**LODASH, "vulnerability_ids": ["CVE-1"] * 51}, "vulnerability_ids"),
        ({**LODASH, "colour": "red"}, "colour"),
        ({k: v for k, v in LODASH.items() if k != "purl"}, "purl"),
    ],
)
def test_invalid_exceptions_are_422_naming_the_field_and_change_nothing(
    feed: None, body: dict[str, Any], field: str
) -> None:
    status, answer = post(body)
    assert status == 422, answer
    assert field in str(answer["details"])
    assert exception_store.of_feed("demo") == []


def test_viewers_may_not_make_or_delete_exceptions(feed: None) -> None:
    assert post(LODASH, caller=VIEWER)[0] == 403
    made = post(LODASH)[1]
    assert request(routes, "DELETE", f"/feeds/demo/exceptions/{made['id']}", caller=VIEWER)[0] == 403
    stranger = key_caller("kstranger")
    assert request(routes, "GET", "/feeds/demo/exceptions", caller=stranger)[0] == 404


def test_the_list_pages_by_cursor(feed: None) -> None:
    made = [post({**LODASH, "comment": str(n)})[1]["id"] for n in range(3)]
    status, first = request(routes, "GET", "/feeds/demo/exceptions", query={"limit": "2"}, caller=VIEWER)
    assert status == 200
    assert first["next_cursor"]
    rest = request(
        routes, "GET", "/feeds/demo/exceptions", query={"limit": "2", "cursor": first["next_cursor"]}, caller=VIEWER
    )[1]
    assert [e["id"] for e in first["items"] + rest["items"]] == made
    assert rest["next_cursor"] is None


def test_an_expired_exception_is_listed_as_expired(feed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    made = post({**LODASH, "expires_at": clock.iso(clock.now() + timedelta(hours=1))})[1]
    later = clock.now() + timedelta(hours=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert request(routes, "GET", f"/feeds/demo/exceptions/{made['id']}", caller=VIEWER)[1]["expired"] is True


def test_a_type_an_exception_uses_is_in_use(feed: None) -> None:
    from handlers import assessment_types

    assert (
        request(assessment_types, "POST", "/assessment-types", body={"name": "Vendor fix", "effect": "warn"})[0] == 201
    )
    made = post({"purl": "pkg:npm/lodash", "type": "vendor-fix"})[1]
    assert made["effect"] == "warn"
    assert request(assessment_types, "DELETE", "/assessment-types/vendor-fix")[0] == 409
    assert request(routes, "DELETE", f"/feeds/demo/exceptions/{made['id']}", caller=ALICE)[0] == 204
    assert request(assessment_types, "DELETE", "/assessment-types/vendor-fix")[0] == 204


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.builds(
            lambda kind, rest: f"pkg:{kind}/{rest}",
            st.sampled_from(["npm", "maven", "pypi", "golang", "nuget", "x"]),
            st.text(alphabet="abc@%40/*?#._-:~ 1AZ", max_size=30),
        ),
    )
)
def test_any_pattern_is_read_or_refused_with_a_reason(text: str) -> None:
    try:
        pattern = rules.parse_pattern(text)
    except rules.InvalidException as error:
        reason = str(error)
    else:
        reason = None
    if reason is not None:
        assert reason.endswith(".")
        return
    # What is taken reads back as written, and matching with it never fails
    assert rules.parse_pattern(pattern.text) == pattern
    rules.matches(an_exception(pattern.text), "pkg:npm/%40acme/x@1.0.0")


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    versions=st.builds(
        lambda scheme, rest: f"vers:{scheme}/{rest}",
        st.sampled_from(["npm", "maven", "pypi", "golang", "nuget", "gem", "rpm", "cargo", "composer"]),
        st.text(alphabet="<>=!|*.,0123456789-+~^[]()ab% v", max_size=24),
    ),
    version=st.text(alphabet="0123456789.-+abv", max_size=10),
)
def test_any_range_is_read_or_refused_and_any_version_compares(versions: str, version: str) -> None:
    kind = versions.removeprefix("vers:").partition("/")[0]
    pattern = rules.parse_pattern(f"pkg:{kind}/x")
    try:
        written = rules.parse_versions(versions, pattern)
    except rules.InvalidException as error:
        reason = str(error)
    else:
        reason = None
    if reason is not None:
        assert reason.endswith(".")
        return
    assert isinstance(rules.in_range(written, version), bool)


def test_a_deleted_feeds_purge_deletes_its_exceptions_with_its_assessments(feed: None) -> None:
    from feedguard.dal import purge

    post(LODASH)
    post({"purl": "pkg:npm/%40acme/*", "type": "caution"})
    # The purge's assessments phase deletes every item of the feed's key in the table
    purge.STEPS["assessments"]("demo", "demo")
    assert exception_store.of_feed("demo", consistent=True) == []
