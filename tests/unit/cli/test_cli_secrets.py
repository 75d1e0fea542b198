"""The API key never appears in anything feedguard prints: not in errors,
not on connection failures, not in a --debug traceback, not in --help."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
import responses

from feedguard_cli.client import Client
from tests.unit.cli.conftest import KEY, URL, Ran

Feedguard = Callable[..., Ran]
CHECK = f"{URL}/feeds/payments/check"
PURL = "pkg:npm/lodash@4.17.21"
OTHER_KEY = "fgk_given_as_an_option_9876543210"


def assert_secret(ran: Ran) -> None:
    assert KEY not in ran.both
    assert OTHER_KEY not in ran.both
    assert KEY[-12:] not in ran.both  # not even a part of it


@pytest.mark.parametrize("how", ["env", "option"])
def test_a_connection_error_does_not_show_the_key(feedguard: Feedguard, api: responses.RequestsMock, how: str) -> None:
    api.post(CHECK, body=requests.ConnectionError(f"Max retries exceeded with url: {URL}/feeds/payments/check"))
    args = ["check", "--feed", "payments", PURL, "--debug"] + (["--key", OTHER_KEY] if how == "option" else [])
    ran = feedguard(*args)
    assert ran.code == 3
    assert "could not be reached" in ran.err
    assert_secret(ran)


def test_a_timeout_does_not_show_the_key(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.post(CHECK, body=requests.ReadTimeout("Read timed out. (read timeout=60)"))
    ran = feedguard("check", "--feed", "payments", PURL, "--retries", "0")
    assert ran.code == 3
    assert "timed out" in ran.err
    assert_secret(ran)


def test_a_service_that_echoes_the_key_is_redacted(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.post(CHECK, status=401, json={"message": f"Unknown key {KEY}.", "details": [f"Bearer {KEY}"]})
    ran = feedguard("check", "--feed", "payments", PURL)
    assert ran.code == 3
    assert "401: Unknown key ***." in ran.err
    assert_secret(ran)


def test_an_unexpected_answer_with_debug_shows_a_traceback_without_the_key(
    feedguard: Feedguard, api: responses.RequestsMock
) -> None:
    # Given a service answering 200 without the contract's results
    api.post(CHECK, json={"verdicts": []})
    # When a check is run with --debug
    ran = feedguard("check", "--feed", "payments", PURL, "--debug", "--key", OTHER_KEY)
    # Then exit 3 with the traceback and the error, and no key
    assert ran.code == 3
    assert "Traceback (most recent call last)" in ran.err
    assert "feedguard: unexpected error: KeyError: 'results'" in ran.err
    assert_secret(ran)


def test_an_exception_carrying_the_key_is_redacted_with_and_without_debug(
    feedguard: Feedguard, monkeypatch: pytest.MonkeyPatch
) -> None:
    def leaky(self: Client, *args: object, **kwargs: object) -> None:
        raise RuntimeError(f"header Authorization: Bearer {self.key}")

    monkeypatch.setattr(Client, "request", leaky)
    for debug in ([], ["--debug"]):
        ran = feedguard("check", "--feed", "payments", PURL, "--key", OTHER_KEY, *debug)
        assert ran.code == 3
        assert "Bearer ***" in ran.err
        assert_secret(ran)


@pytest.mark.parametrize("bad", [f"{KEY}\nX-Injected: 1", f"{KEY} extra", f"{KEY}\x07", f"{KEY}é"])
def test_a_key_no_header_can_carry_exits_2_without_showing_it(
    feedguard: Feedguard, api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("FEEDGUARD_KEY", bad)
    ran = feedguard("check", "--feed", "payments", PURL, "--debug")
    assert ran.code == 2
    assert "characters an HTTP header cannot carry" in ran.err
    assert_secret(ran)
    assert not api.calls


def test_a_trailing_newline_of_a_key_read_from_a_file_is_dropped(
    feedguard: Feedguard, api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.post(CHECK, json={"results": [{"purl": PURL, "verdict": "allow", "scanned": True, "vulnerabilities": []}]})
    monkeypatch.setenv("FEEDGUARD_KEY", KEY + "\n")
    assert feedguard("check", "--feed", "payments", PURL).code == 0
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("command", [[], ["check"], ["import"], ["scan"], ["vulns"], ["assess"], ["vex"]])
def test_help_never_shows_the_key(feedguard: Feedguard, command: list[str]) -> None:
    ran = feedguard(*command, "--help")
    assert ran.code == 0
    assert "Exit codes:" in ran.out
    assert "Examples:" in ran.out
    assert_secret(ran)
