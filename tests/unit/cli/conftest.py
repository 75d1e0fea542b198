"""The CLI against a mocked HTTP layer (the `responses` library): each test
runs `feedguard` in-process as a user would type it and reads its exit
code, standard output and standard error."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import responses

from feedguard_cli import main as cli_main

URL = "https://feedguard.example.test"
KEY = "fgk_unit_SECRET-key-0123456789"


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """The mocked service; a request nobody registered fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pause the CLI takes (retries, polling), instead of taking it."""
    paused: list[float] = []
    monkeypatch.setattr("feedguard_cli.client.time.sleep", paused.append)
    return paused


@pytest.fixture
def feedguard(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], waits: list[float]
) -> Callable[..., Ran]:
    """Runs `feedguard ARGS` with FEEDGUARD_URL and FEEDGUARD_KEY set."""
    monkeypatch.setenv("FEEDGUARD_URL", URL)
    monkeypatch.setenv("FEEDGUARD_KEY", KEY)
    monkeypatch.delenv("FEEDGUARD_FEED", raising=False)

    def run(*args: str) -> Ran:
        capsys.readouterr()
        code = cli_main.main(list(args))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def vulnerability(vid: str, effect: str, score: float | None = 9.8, status: str = "unassessed") -> dict[str, Any]:
    return {"id": vid, "title": f"[{vid}] a flaw", "cvss_score": score, "status": status, "effect": effect}


def verdicts(table: dict[str, list[dict[str, Any]]]) -> Callable[[Any], tuple[int, dict[str, str], str]]:
    """A gate answering, for each purl asked, its vulnerabilities in `table`
    (none when absent), in the order asked."""
    order = ("allow", "warn", "block")

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        results = []
        for purl in json.loads(request.body)["purls"]:
            found = table.get(purl, [])
            verdict = max((v["effect"] for v in found), key=order.index, default="allow")
            results.append({"purl": purl, "verdict": verdict, "scanned": True, "vulnerabilities": found})
        return 200, {}, json.dumps({"results": results})

    return answer


def sent(api: responses.RequestsMock, method: str | None = None) -> list[Any]:
    return [call.request for call in api.calls if method is None or call.request.method == method]
