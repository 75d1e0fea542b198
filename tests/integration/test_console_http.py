"""The console on the local stack's port, over HTTP as a browser fetches it:
the page, its assets, and the API beside them, all with the security headers
of template.yaml's ConsoleResponseHeadersPolicy."""

from __future__ import annotations

import http.client
from pathlib import Path
from urllib.parse import urlsplit

import requests

from infra.console_static import ResponseHeadersPolicy
from infra.template import Template
from tests.integration.conftest import start_stack, stop_stack

INDEX = b"<!doctype html><title>feedguard</title><script type=module src=/console/assets/app-1a2b.js></script>"
SCRIPT = b"console.log('feedguard')"


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """A GET of the path exactly as written: requests would normalise `..` away."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_console_is_served_beside_the_api_with_the_templates_security_headers(tmp_path: Path) -> None:
    # Given a built console (a tiny fake one) with a file beside it that must stay private
    dist = tmp_path / "dist"
    (dist / "console" / "assets").mkdir(parents=True)
    (dist / "index.html").write_bytes(INDEX)
    (dist / "console" / "assets" / "app-1a2b.js").write_bytes(SCRIPT)
    (tmp_path / "private.txt").write_text("not for the browser")
    policy = ResponseHeadersPolicy.from_template(Template.load())
    assert policy is not None, "template.yaml declares no ConsoleResponseHeadersPolicy"
    expected = {header.name: header.value for header in policy.headers}
    assert "Content-Security-Policy" in expected

    # And the local stack pointed at it
    stack = start_stack(FEEDGUARD_CONSOLE_DIR=str(dist), FEEDGUARD_SEED="0", FEEDGUARD_SCHEDULE_RATE="off")
    try:
        # When a browser opens the console and loads its script
        page = requests.get(f"{stack.api}/", timeout=10)
        script = requests.get(f"{stack.api}/console/assets/app-1a2b.js", timeout=10)
        head = requests.head(f"{stack.api}/index.html", timeout=10)
        missing = requests.get(f"{stack.api}/console/assets/app-0000.js", timeout=10)
        # and calls the API on the same origin
        unauthorised = requests.get(f"{stack.api}/api-keys", timeout=10)
        keys = requests.get(f"{stack.api}/api-keys", headers=stack.headers(), timeout=10)

        # Then the page and the script come from the build, cached as the deploy caches them
        assert (page.status_code, page.content) == (200, INDEX)
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert page.headers["Cache-Control"] == "no-cache"
        assert (script.status_code, script.content) == (200, SCRIPT)
        assert script.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert script.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert (head.status_code, head.content, head.headers["Content-Length"]) == (200, b"", str(len(INDEX)))
        assert missing.status_code == 404
        assert missing.json() == {"message": "The console has no file /console/assets/app-0000.js."}
        # And the API answers as before
        assert unauthorised.status_code == 401
        assert keys.status_code == 200
        assert "items" in keys.json()
        # And every answer carries the template's security headers, once
        for answer in (page, script, head, missing, unauthorised, keys):
            for name, value in expected.items():
                assert answer.headers[name] == value, (answer.url, name)

        # And no path leaves the console's folder
        for path in ("/console/../../private.txt", "/console/%2e%2e/%2e%2e/private.txt"):
            status, body = raw_get(stack.api, path)
            assert status == 404
            assert b"not for the browser" not in body

        # When the build disappears, Then the page says how to build it, and the API is unaffected
        (dist / "index.html").unlink()
        unbuilt = requests.get(f"{stack.api}/", timeout=10)
        assert unbuilt.status_code == 503
        assert "npm --prefix console run build" in unbuilt.json()["message"]
        assert requests.get(f"{stack.api}/health", timeout=10).status_code == 200
    finally:
        assert stop_stack(stack) == 0, stack.log.read_text()[-3000:]
