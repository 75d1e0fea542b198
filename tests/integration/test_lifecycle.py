"""make dev starts fast and stops cleanly, leaving no process behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import requests

from tests.integration.conftest import start_stack, stop_stack


def descendants(pid: int) -> set[int]:
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            children = (task / "children").read_text().split() if (task / "children").exists() else []
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    frontier.append(child)
    return found


def test_sigterm_stops_every_process_of_the_stack() -> None:
    # Given a running stack whose functions have warm sandboxes
    stack = start_stack(FEEDGUARD_SEED="0")
    requests.get(f"{stack.api}/api-keys", headers=stack.headers(), timeout=30)
    children = descendants(stack.process.pid)
    assert children, "the functions run in sandbox processes"
    # When it gets SIGTERM
    assert stop_stack(stack) == 0
    # Then it and every sandbox are gone
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists() and _not_zombie(pid)]
    assert alive == []
    assert "stopping the local stack" in stack.log.read_text()


def _not_zombie(pid: int) -> bool:
    try:
        return " Z " not in Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False


def test_the_banner_names_the_url_the_admin_key_and_a_first_curl() -> None:
    stack = start_stack(FEEDGUARD_SEED="0")
    try:
        banner = stack.log.read_text()
        assert stack.api in banner
        assert stack.admin_key in banner
        assert f'curl -s -H "Authorization: Bearer {stack.admin_key}" {stack.api}/api-keys' in banner
        # and sam local gets each function's environment, pointed at this moto server
        env = json.loads(stack.log.with_suffix(".env.json").read_text())
        assert env["KeysFunction"]["KEYS_TABLE"] == "feedguard-local-KeysTable"
        assert env["KeysFunction"]["AWS_ENDPOINT_URL"].startswith("http://host.docker.internal:")
    finally:
        stop_stack(stack)
    assert os.path.exists(stack.log)
