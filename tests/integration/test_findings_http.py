"""Listing a feed's findings over HTTP on the local stack: by severity band,
by package, least severe first, and cursors that continue only their list."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.integration.conftest import RunningStack
from tests.integration.test_scans_http import add, setup_feed
from tests.support import LODASH, LOG4J

FEED = "filtered"


@pytest.fixture(scope="module")
def scanned(stack: RunningStack) -> str:
    """A feed whose scan found log4j's three findings (10.0, 9.0, 5.9) and lodash's two (7.2, 5.3)."""
    setup_feed(stack, FEED)
    assert add(stack, FEED, [LOG4J, LODASH])["findings_new"] == 5
    return FEED


def listed(stack: RunningStack, **params: Any) -> requests.Response:
    return requests.get(f"{stack.api}/feeds/{FEED}/vulnerabilities", params=params, headers=stack.headers(), timeout=10)


def ids(stack: RunningStack, **params: Any) -> list[str]:
    answer = listed(stack, **params)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def test_severity_package_and_order_narrow_and_sort_the_list(stack: RunningStack, scanned: str) -> None:
    assert ids(stack, severity="critical") == ["CVE-2021-44228", "CVE-2021-45046"]
    assert ids(stack, severity="medium", order="asc") == ["CVE-2020-28500", "CVE-2021-45105"]
    # A purl as a BOM may write it matches the canonical one the finding holds
    assert ids(stack, package="pkg:NPM/lodash@4.17.20?repository_url=x") == ["CVE-2021-23337", "CVE-2020-28500"]
    assert ids(stack, package=LOG4J, severity="medium", status="unassessed") == ["CVE-2021-45105"]
    assert ids(stack, severity="low") == []


def test_asc_pages_with_cursors_and_a_desc_cursor_is_refused_with_asc(stack: RunningStack, scanned: str) -> None:
    # When the list is read least severe first, two a page
    seen, cursor = [], None
    while True:
        page = listed(stack, order="asc", limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [(item["id"], item["cvss_score"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    # Then every finding comes once, in rising score
    assert [score for _, score in seen] == [5.3, 5.9, 7.2, 9.0, 10.0]
    # And a cursor of the default (desc) list does not continue an asc one
    desc_cursor = listed(stack, limit=2).json()["next_cursor"]
    refused = listed(stack, order="asc", limit=2, cursor=desc_cursor)
    assert refused.status_code == 422
    assert refused.json()["details"][0]["loc"] == ["query", "cursor"]
    assert listed(stack, limit=2, cursor=desc_cursor).status_code == 200


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"severity": "urgent"}, ["query", "severity"]),
        ({"order": "random"}, ["query", "order"]),
        ({"package": "pkg:npm/lodash"}, ["query", "package"]),
    ],
)
def test_invalid_filters_are_422_naming_them(
    stack: RunningStack, scanned: str, params: dict[str, str], where: list[str]
) -> None:
    answer = listed(stack, **params)
    assert answer.status_code == 422
    assert set(answer.json()) == {"message", "details"}
    assert answer.json()["details"][0]["loc"] == where
