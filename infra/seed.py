"""make dev's seeding: a `demo` feed with both local sources (the fake OSS
Index and the fake OSV) and a few vulnerable packages, scanned, so a
newcomer sees findings, from both, with one curl.

It goes through the HTTP API as a client would. Each step names the route it
needs and is skipped while template.yaml does not serve that route yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from infra.ossindex_data import DEMO_PURLS
from infra.template import Route

DEMO_FEED = "demo"
LOCAL_SOURCE_TOKEN = "local-fake-token"  # noqa: S105 - the fake OSS Index's, not a secret


@dataclass(frozen=True)
class Step:
    description: str
    method: str
    path: str  # as template.yaml names the route
    call: Callable[[dict[str, Any]], tuple[str, Any]]  # state -> (concrete path, JSON body)


def _steps(ossindex_url: str, osv_url: str | None) -> list[Step]:
    osv_steps = [
        Step(
            "create the local OSV source",
            "POST",
            "/sources",
            lambda state: ("/sources", {"name": "local-osv", "kind": "osv", "url": osv_url}),
        ),
        Step(
            "attach the OSV source to the demo feed",
            "PUT",
            "/feeds/{feed}/sources/{source_id}",
            lambda state: (f"/feeds/{DEMO_FEED}/sources/{state['source_id']}", None),
        ),
    ]
    return [
        Step(
            "create the local OSS Index source",
            "POST",
            "/sources",
            lambda state: (
                "/sources",
                {"name": "local-ossindex", "kind": "ossindex", "url": ossindex_url, "token": LOCAL_SOURCE_TOKEN},
            ),
        ),
        Step(
            "create the demo feed",
            "POST",
            "/feeds",
            lambda state: ("/feeds", {"name": DEMO_FEED, "description": "Seeded by make dev"}),
        ),
        Step(
            "attach the source to the demo feed",
            "PUT",
            "/feeds/{feed}/sources/{source_id}",
            lambda state: (f"/feeds/{DEMO_FEED}/sources/{state['source_id']}", None),
        ),
        *(osv_steps if osv_url else []),
        Step(
            "add a few vulnerable packages",
            "POST",
            "/feeds/{feed}/packages",
            lambda state: (f"/feeds/{DEMO_FEED}/packages", {"purls": list(DEMO_PURLS)}),
        ),
        Step("scan the demo feed", "POST", "/scans", lambda state: ("/scans", {"feed": DEMO_FEED})),
    ]


def seed(api_url: str, admin_key: str, routes: list[Route], ossindex_url: str, osv_url: str | None = None) -> list[str]:
    """Runs the steps the template can serve; returns a line per step."""
    served = {(route.method, route.path) for route in routes}
    headers = {"Authorization": f"Bearer {admin_key}"}
    state: dict[str, Any] = {}
    report = []
    for step in _steps(ossindex_url, osv_url):
        if (step.method, step.path) not in served:
            report.append(f"skipped: {step.description} ({step.method} {step.path} is not served yet)")
            continue
        if "source_id" in step.path and "source_id" not in state:
            report.append(f"skipped: {step.description} (no source was created)")
            continue
        path, body = step.call(state)
        response = requests.request(step.method, api_url + path, json=body, headers=headers, timeout=30)
        if response.status_code >= 400:
            report.append(f"failed: {step.description}: {response.status_code} {response.text[:200]}")
            continue
        if step.path == "/sources":
            state["source_id"] = response.json()["id"]
        report.append(f"done: {step.description}")
    return report
