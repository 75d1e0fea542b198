"""The README's walkthrough, over HTTP on the local stack: a source, a feed,
the attachment, a CycloneDX import, and a key scoped to that feed."""

from __future__ import annotations

import requests

from tests.integration.conftest import RunningStack

BOM = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "components": [
        {
            "name": "log4j-core",
            "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            "components": [{"name": "lodash", "purl": "pkg:npm/lodash@4.17.20"}],
        },
        {"name": "internal-tool", "version": "1.0"},
    ],
}


def test_source_feed_attachment_and_bom_import(stack: RunningStack) -> None:
    api, admin = stack.api, stack.headers()
    ossindex = requests.get(f"{stack.control}/status", timeout=10).json()["ossindex"]
    source = requests.post(
        f"{api}/sources",
        json={"name": "guide", "kind": "ossindex", "url": ossindex, "token": "local-fake-token"},
        headers=admin,
        timeout=10,
    )
    assert source.status_code == 201, source.text
    assert "local-fake-token" not in source.text
    source_id = source.json()["id"]
    assert requests.post(f"{api}/feeds", json={"name": "walkthrough"}, headers=admin, timeout=10).status_code == 201
    attached = requests.put(f"{api}/feeds/walkthrough/sources/{source_id}", headers=admin, timeout=10)
    assert attached.status_code == 200
    imported = requests.post(f"{api}/feeds/walkthrough/packages", json=BOM, headers=admin, timeout=30)
    assert imported.status_code == 200, imported.text
    result = imported.json()
    assert (result["added"], result["existing"], len(result["rejected"])) == (2, 0, 1)
    assert result["scan_id"]
    listed = requests.get(f"{api}/feeds/walkthrough/packages", headers=admin, timeout=10).json()
    assert sorted(p["purl"] for p in listed["items"]) == [
        "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
        "pkg:npm/lodash@4.17.20",
    ]
    feed = requests.get(f"{api}/feeds/walkthrough", headers=admin, timeout=10).json()
    assert feed["sources"] == [source_id]


def test_a_key_sees_only_the_feeds_it_has_a_role_on(stack: RunningStack) -> None:
    api, admin = stack.api, stack.headers()
    for name in ("scoped-a", "scoped-b"):
        requests.post(f"{api}/feeds", json={"name": name}, headers=admin, timeout=10)
    bot = requests.post(f"{api}/api-keys", json={"name": "scoped-bot"}, headers=admin, timeout=10).json()
    granted = requests.put(
        f"{api}/feeds/scoped-a/permissions/{bot['id']}", json={"role": "viewer"}, headers=admin, timeout=10
    )
    assert granted.status_code == 200
    as_bot = stack.headers(bot["key"])
    names = [feed["name"] for feed in requests.get(f"{api}/feeds", headers=as_bot, timeout=10).json()["items"]]
    assert names == ["scoped-a"]
    assert requests.get(f"{api}/feeds/scoped-b", headers=as_bot, timeout=10).status_code == 404
    refused = requests.post(
        f"{api}/feeds/scoped-a/packages", json={"purls": ["pkg:npm/a@1"]}, headers=as_bot, timeout=10
    )
    assert refused.status_code == 403


def test_every_management_route_answers_over_http(stack: RunningStack) -> None:
    api, admin = stack.api, stack.headers()

    def call(method: str, path: str, expected: int, **kwargs: object) -> requests.Response:
        response = requests.request(method, f"{api}{path}", headers=admin, timeout=30, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == expected, (method, path, response.text)
        return response

    ossindex = requests.get(f"{stack.control}/status", timeout=10).json()["ossindex"]
    tour = {"name": "tour", "kind": "ossindex", "url": ossindex, "token": "local-fake-token"}
    source = call("POST", "/sources", 201, json=tour).json()["id"]
    call("GET", "/sources", 200)
    call("GET", f"/sources/{source}", 200)
    call("PATCH", f"/sources/{source}", 200, json={"token": "local-fake-token", "name": "tour-source"})
    call("POST", "/assessment-types", 201, json={"name": "Tour Type", "effect": "warn", "expiration_days": 7})
    call("GET", "/assessment-types", 200)
    call("GET", "/assessment-types/tour-type", 200)
    call("PATCH", "/assessment-types/tour-type", 200, json={"effect": "block"})
    call("DELETE", "/assessment-types/tour-type", 204)
    call("POST", "/feeds", 201, json={"name": "tour", "unassessed_effect": "warn"})
    call("GET", "/feeds", 200)
    call("GET", "/feeds/tour", 200)
    call("PATCH", "/feeds/tour", 200, json={"description": "the tour"})
    call("PUT", f"/feeds/tour/sources/{source}", 200)
    bot = call("POST", "/api-keys", 201, json={"name": "tour-bot"}).json()["id"]
    call("PUT", f"/feeds/tour/permissions/{bot}", 200, json={"role": "manager"})
    call("GET", "/feeds/tour/permissions", 200)
    call("DELETE", f"/feeds/tour/permissions/{bot}", 204)
    call("POST", "/feeds/tour/packages", 200, json={"purls": ["pkg:npm/lodash@4.17.20"]})
    call("GET", "/feeds/tour/packages", 200)
    call("DELETE", "/feeds/tour/packages", 204, params={"purl": "pkg:npm/lodash@4.17.20"})
    call("DELETE", f"/feeds/tour/sources/{source}", 204)
    call("DELETE", f"/sources/{source}", 204)
    call("DELETE", "/feeds/tour", 204)
    call("GET", "/feeds/tour", 404)


def test_a_wrong_token_is_422_and_a_402_is_saved_with_a_warning(stack: RunningStack) -> None:
    api, admin = stack.api, stack.headers()
    ossindex = requests.get(f"{stack.control}/status", timeout=10).json()["ossindex"]
    body = {"name": "checked", "kind": "ossindex", "url": ossindex}
    before = requests.get(f"{api}/sources", headers=admin, params={"limit": "100"}, timeout=10).json()["items"]
    # A token the fake OSS Index refuses (401, as the real one does)
    refused = requests.post(f"{api}/sources", json={**body, "token": "not-the-token"}, headers=admin, timeout=30)
    assert refused.status_code == 422, refused.text
    assert refused.json()["details"] == [{"status": 401, "reason": "OSS Index answered 401: the token was refused."}]
    after = requests.get(f"{api}/sources", headers=admin, params={"limit": "100"}, timeout=10).json()["items"]
    assert after == before
    # Credits exhausted: saved, with a warning, and the health says so
    control = f"{stack.control}/ossindex"
    assert requests.post(f"{control}/faults", json={"status": 402}, timeout=10).status_code == 200
    saved = requests.post(f"{api}/sources", json={**body, "token": "local-fake-token"}, headers=admin, timeout=30)
    assert saved.status_code == 201, saved.text
    assert saved.json()["warnings"] == [
        "The source answered 402: its credits are exhausted, so scans of it fail until they are topped up."
    ]
    source = saved.json()["id"]
    health = requests.get(f"{api}/sources/{source}", headers=admin, timeout=10).json()["health"]
    assert (health["credits_exhausted"], health["last_error"]["status"]) == (True, 402)
    # A new token that works clears it
    fixed = requests.patch(f"{api}/sources/{source}", json={"token": "local-fake-token"}, headers=admin, timeout=30)
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["health"]["credits_exhausted"] is False
    assert fixed.json()["health"]["last_error"] is None
    assert requests.delete(f"{api}/sources/{source}", headers=admin, timeout=10).status_code == 204
