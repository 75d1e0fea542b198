"""Across feeds over HTTP on the local stack (issue 28, part 5): three
feeds scanned by the fake OSS Index, a key with a role on two of them;
GET /vulnerabilities by id and by status answers for those two only, and
POST /assessments assesses where the key is an assessor, refusing the rest."""

from __future__ import annotations

import requests

from tests.integration.conftest import RunningStack
from tests.integration.test_scans_http import finished, history, setup_feed

LODASH = "pkg:npm/lodash@4.17.20"
CVE = "CVE-2021-23337"


def test_a_key_triages_across_the_feeds_it_has_a_role_on(stack: RunningStack) -> None:
    api, admin = stack.api, stack.headers()
    names = ["across-one", "across-two", "across-three"]
    for name in names:
        setup_feed(stack, name)
        added = requests.post(f"{api}/feeds/{name}/packages", json={"purls": [LODASH]}, headers=admin, timeout=30)
        finished(stack, added.json()["scan_id"])
    key = requests.post(f"{api}/api-keys", json={"name": "triager"}, headers=admin, timeout=10).json()
    for name, role in (("across-one", "assessor"), ("across-two", "viewer")):
        granted = requests.put(
            f"{api}/feeds/{name}/permissions/{key['id']}", json={"role": role}, headers=admin, timeout=10
        )
        assert granted.status_code == 200, granted.text
    triager = stack.headers(key["key"])

    # By id: the two feeds it has a role on, with its role, status and packages
    answer = requests.get(f"{api}/vulnerabilities", params={"id": CVE}, headers=triager, timeout=10)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["feed"], i["role"], i["status"], i["packages"]) for i in items] == [
        ("across-one", "assessor", "unassessed", [LODASH]),
        ("across-two", "viewer", "unassessed", [LODASH]),
    ]
    # The admin sees every feed with it (other tests' feeds too)
    everyone = requests.get(f"{api}/vulnerabilities", params={"id": CVE, "limit": 500}, headers=admin, timeout=10)
    assert set(names) <= {item["feed"] for item in everyone.json()["items"]}

    # By status, paged: its two feeds only, most severe first
    listed, cursor = [], None
    while True:
        params = {"status": "unassessed", "min_cvss": 5, "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = requests.get(f"{api}/vulnerabilities", params=params, headers=triager, timeout=10).json()
        listed += [(item["cvss_score"], item["feed"], item["id"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert {feed for _, feed, _ in listed} == {"across-one", "across-two"}
    assert listed == sorted(listed, key=lambda row: (-row[0], row[1], row[2]))
    assert all(score >= 5 for score, _, _ in listed)
    assert ("across-one", CVE) in [(feed, vid) for _, feed, vid in listed]

    # Assessing in the three: written where it is an assessor, refused elsewhere
    body = {"feeds": names, "vulnerability_ids": [CVE, "CVE-0000-0000"], "type": "caution", "comment": "triaged"}
    assessed = requests.post(f"{api}/assessments", json=body, headers=triager, timeout=30)
    assert assessed.status_code == 200, assessed.text
    assert assessed.json() == {
        "assessed": [{"feed": "across-one", "vulnerability_id": CVE, "version": 1}],
        "refused": [
            {"feed": "across-two", "reason": "Your role on feed across-two is viewer; this needs assessor."},
            {"feed": "across-three", "reason": "There is no feed named across-three."},
        ],
        "not_found": [{"feed": "across-one", "vulnerability_id": "CVE-0000-0000"}],
        "failed": [],
    }
    assert history(stack, "across-one", CVE) == ["detected", "assessed"]
    assert history(stack, "across-two", CVE) == ["detected"]
    assert history(stack, "across-three", CVE) == ["detected"]
    after = requests.get(f"{api}/vulnerabilities", params={"id": CVE}, headers=triager, timeout=10).json()["items"]
    assert [(i["feed"], i["status"], (i["assessment"] or {}).get("version")) for i in after] == [
        ("across-one", "assessed", 1),
        ("across-two", "unassessed", None),
    ]


def test_invalid_requests_are_422_and_change_nothing(stack: RunningStack) -> None:
    api, admin = stack.api, stack.headers()
    for params in ({}, {"id": CVE, "status": "unassessed"}, {"id": CVE, "min_cvss": 9}, {"status": "x"}):
        answer = requests.get(f"{api}/vulnerabilities", params=params, headers=admin, timeout=10)
        assert answer.status_code == 422, (params, answer.text)
        assert set(answer.json()) <= {"message", "details"}
    forged = requests.get(
        f"{api}/vulnerabilities",
        params={"status": "unassessed", "cursor": "eyJmZWVkIjp7IlMiOiJ4In19"},
        headers=admin,
        timeout=10,
    )
    assert forged.status_code == 422, forged.text
    for body in (
        {"feeds": ["x"], "vulnerability_ids": [CVE], "type": "no-such-type"},
        {"feeds": ["x"] * 51, "vulnerability_ids": [CVE], "type": "ignore"},
        {"feeds": ["x"], "vulnerability_ids": [CVE], "type": "ignore", "expires_at": "2001-01-01T00:00:00Z"},
    ):
        answer = requests.post(f"{api}/assessments", json=body, headers=admin, timeout=10)
        assert answer.status_code == 422, (body, answer.text)
