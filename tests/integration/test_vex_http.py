"""GET /feeds/{feed}/vex over HTTP on the local stack: the seeded demo feed
and a feed of our own, in both formats, each answer validated against the
official CycloneDX 1.6 and OpenVEX 0.2.0 schemas."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.integration.conftest import RunningStack, wait_for
from tests.integration.test_scans_http import add, setup_feed
from tests.support import LODASH, LOG4J
from tests.vex_schemas import cyclonedx_problems, openvex_problems

FEED = "vex-http"


def a_key(stack: RunningStack, name: str, feed: str | None = None) -> str:
    """A new key's secret, a viewer of `feed` when one is named."""
    created = requests.post(f"{stack.api}/api-keys", json={"name": name}, headers=stack.headers(), timeout=10).json()
    if feed:
        granted = requests.put(
            f"{stack.api}/feeds/{feed}/permissions/{created['id']}",
            json={"role": "viewer"},
            headers=stack.headers(),
            timeout=10,
        )
        assert granted.status_code == 200, granted.text
    return str(created["key"])


def finding_ids(stack: RunningStack, feed: str) -> list[str]:
    answer = requests.get(
        f"{stack.api}/feeds/{feed}/vulnerabilities", params={"limit": 500}, headers=stack.headers(), timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["next_cursor"] is None
    return sorted(item["id"] for item in answer.json()["items"])


def exported(stack: RunningStack, feed: str, format_: str, key: str | None = None) -> list[requests.Response]:
    """Every page of the feed's export, following the Link headers."""
    url, pages = f"{stack.api}/feeds/{feed}/vex?format={format_}", []
    while url:
        answer = requests.get(url, headers=stack.headers(key), timeout=60)
        pages.append(answer)
        url = requests.compat.urljoin(url, answer.links["next"]["url"]) if "next" in answer.links else ""
    return pages


def valid(stack: RunningStack, feed: str, key: str | None = None) -> dict[str, dict[str, Any]]:
    """The feed's export in each format, each page valid; {format: {vulnerability id: entry}}."""
    entries: dict[str, dict[str, Any]] = {"cyclonedx": {}, "openvex": {}}
    for page in exported(stack, feed, "cyclonedx", key):
        assert page.status_code == 200, page.text
        assert page.headers["Content-Type"].startswith("application/vnd.cyclonedx+json")
        assert cyclonedx_problems(page.text) is None, cyclonedx_problems(page.text)
        entries["cyclonedx"].update({v["id"]: v for v in page.json()["vulnerabilities"]})
    for page in exported(stack, feed, "openvex", key):
        assert page.status_code == 200, page.text
        assert openvex_problems(page.json()) == []
        entries["openvex"].update({s["vulnerability"]["name"]: s for s in page.json()["statements"]})
    return entries


def test_the_demo_feeds_viewer_exports_every_finding_in_both_formats(stack: RunningStack) -> None:
    # Given the seeded demo feed, once its scan has recorded findings, and a viewer of it
    ids = wait_for(lambda: finding_ids(stack, "demo"), timeout=90)
    viewer = a_key(stack, "vex-demo-viewer", "demo")
    # When the viewer exports it in both formats
    entries = valid(stack, "demo", viewer)
    # Then each holds every finding of the feed
    assert sorted(entries["cyclonedx"]) == sorted(entries["openvex"]) == ids


@pytest.fixture(scope="module")
def assessed(stack: RunningStack) -> str:
    """A feed of log4j and lodash, scanned, with Log4Shell assessed Ignore and one of lodash's Blocked."""
    setup_feed(stack, FEED)
    assert add(stack, FEED, [LOG4J, LODASH])["findings_new"] == 5
    for vulnerability_id, type_id in (("CVE-2021-44228", "ignore"), ("CVE-2021-23337", "blocked")):
        answer = requests.put(
            f"{stack.api}/feeds/{FEED}/vulnerabilities/{vulnerability_id}/assessment",
            json={"type": type_id, "comment": "checked in staging"},
            headers=stack.headers(),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
    return FEED


def test_assessments_reach_both_formats_as_the_types_map_them(stack: RunningStack, assessed: str) -> None:
    entries = valid(stack, assessed)
    cyclonedx, openvex = entries["cyclonedx"], entries["openvex"]
    assert len(cyclonedx) == len(openvex) == 5
    # Ignore: not affected, the vulnerable code not in the execute path
    assert openvex["CVE-2021-44228"]["status"] == "not_affected"
    assert openvex["CVE-2021-44228"]["justification"] == "vulnerable_code_not_in_execute_path"
    assert openvex["CVE-2021-44228"]["status_notes"] == "checked in staging"
    assert cyclonedx["CVE-2021-44228"]["analysis"]["state"] == "not_affected"
    assert cyclonedx["CVE-2021-44228"]["analysis"]["justification"] == "code_not_reachable"
    assert cyclonedx["CVE-2021-44228"]["affects"] == [{"ref": LOG4J}]
    # Blocked: affected, update
    assert openvex["CVE-2021-23337"]["status"] == "affected"
    assert openvex["CVE-2021-23337"]["action_statement"].startswith("Do not use this package")
    assert cyclonedx["CVE-2021-23337"]["analysis"]["response"] == ["update"]
    # The rest: under investigation
    others = set(openvex) - {"CVE-2021-44228", "CVE-2021-23337"}
    assert {openvex[i]["status"] for i in others} == {"under_investigation"}
    assert {cyclonedx[i]["analysis"]["state"] for i in others} == {"in_triage"}


def test_an_outsider_gets_404_and_an_unknown_format_422(stack: RunningStack, assessed: str) -> None:
    outsider = a_key(stack, "vex-outsider")
    refused = requests.get(f"{stack.api}/feeds/{assessed}/vex", headers=stack.headers(outsider), timeout=10)
    assert refused.status_code == 404
    assert "CVE-" not in refused.text
    unknown = requests.get(f"{stack.api}/feeds/{assessed}/vex?format=spdx", headers=stack.headers(), timeout=10)
    assert unknown.status_code == 422
    assert unknown.json()["details"][0]["loc"] == ["query", "format"]
