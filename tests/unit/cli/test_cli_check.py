"""`feedguard check`: chunking, BOM reading, exit codes and retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
import responses

from tests.unit.cli.conftest import URL, Ran, sent, verdicts, vulnerability

LOG4J = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
LODASH = "pkg:npm/lodash@4.17.20"
CLEAN = "pkg:npm/lodash@4.17.21"
CHECK = f"{URL}/feeds/payments/check"
GATE = {
    LOG4J: [vulnerability("CVE-2021-44228", "block", 10.0)],
    LODASH: [vulnerability("CVE-2021-23337", "warn", 7.2, "assessed")],
}

Feedguard = Callable[..., Ran]


@pytest.fixture
def gate(api: responses.RequestsMock) -> responses.RequestsMock:
    api.add_callback(responses.POST, CHECK, callback=verdicts(GATE))
    return api


def bom(tmp_path: Path, components: list[dict[str, object]]) -> Path:
    file = tmp_path / "bom.json"
    file.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": components}, indent=2))
    return file


def test_only_allowed_packages_exit_0_with_a_table(feedguard: Feedguard, gate: responses.RequestsMock) -> None:
    # Given a purl the gate allows / When it is checked
    ran = feedguard("check", "--feed", "payments", CLEAN)
    # Then exit 0, and the table names it and its verdict
    assert ran.code == 0, ran.err
    assert CLEAN in ran.out
    assert "allow" in ran.out
    assert "Policy passed" in ran.out
    assert gate.calls[0].request.headers["Authorization"] == "Bearer fgk_unit_SECRET-key-0123456789"


def test_a_blocked_package_exits_1_and_lists_its_vulnerabilities(feedguard: Feedguard, gate: object) -> None:
    ran = feedguard("check", "--feed", "payments", CLEAN, LOG4J)
    assert ran.code == 1
    line = next(line for line in ran.out.splitlines() if line.startswith(LOG4J))
    assert "block" in line
    assert line.split()[1:] == ["block", "CVE-2021-44228", "10.0", "unassessed", "block"]
    assert "Policy failed" in ran.out


def test_warn_passes_unless_fail_on_warn(feedguard: Feedguard, gate: object) -> None:
    assert feedguard("check", "--feed", "payments", LODASH).code == 0
    assert feedguard("check", "--feed", "payments", LODASH, "--fail-on", "warn").code == 1


def test_more_than_128_purls_go_in_several_calls_in_order(feedguard: Feedguard, gate: responses.RequestsMock) -> None:
    # Given 300 purls
    purls = [f"pkg:npm/package-{index}@1.0.{index}" for index in range(300)]
    # When they are checked
    ran = feedguard("check", "--feed", "payments", "--format", "json", *purls)
    # Then three calls of 128, 128 and 44, in order, and the results in that order
    assert ran.code == 0, ran.err
    bodies = [json.loads(request.body)["purls"] for request in sent(gate, "POST")]
    assert [len(body) for body in bodies] == [128, 128, 44]
    assert [purl for body in bodies for purl in body] == purls
    assert [result["purl"] for result in json.loads(ran.out)["results"]] == purls


def test_a_bom_gives_every_component_nested_ones_too_and_names_those_without_purl(
    feedguard: Feedguard, gate: responses.RequestsMock, tmp_path: Path
) -> None:
    # Given a BOM with nested components, a repeated purl and one without any
    file = bom(
        tmp_path,
        [
            {"name": "log4j-core", "purl": LOG4J, "components": [{"name": "lodash", "purl": LODASH}]},
            {"name": "internal-tool", "version": "1.0"},
            {"name": "log4j-core again", "purl": LOG4J},
        ],
    )
    # When it is checked
    ran = feedguard("check", "--feed", "payments", "--bom", str(file))
    # Then both purls are asked once, in order, and the component without purl is reported as skipped
    assert ran.code == 1
    assert json.loads(sent(gate, "POST")[0].body) == {"purls": [LOG4J, LODASH]}
    assert "skipped: components[1] (internal-tool 1.0) has no purl" in ran.err


def test_an_invalid_purl_exits_2_naming_it_before_any_call(feedguard: Feedguard, gate: responses.RequestsMock) -> None:
    ran = feedguard("check", "--feed", "payments", CLEAN, "pkg:npm/left-pad", "lodash@1.0.0")
    assert ran.code == 2
    assert "'pkg:npm/left-pad' has no version" in ran.err
    assert "'lodash@1.0.0' does not start with pkg:" in ran.err
    assert not gate.calls


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"bomFormat": "SPDX"}', "not a CycloneDX JSON BOM"),
        ('{"bomFormat": "CycloneDX", "components": {"name": "x"}}', "components must be an array"),
        ('{"bomFormat": "CycloneDX", "components": [{"purl": 42}]}', "components[0].purl is not a string"),
    ],
)
def test_an_unreadable_bom_exits_2_naming_the_file(
    feedguard: Feedguard, gate: responses.RequestsMock, tmp_path: Path, content: str | None, message: str
) -> None:
    file = tmp_path / "bom.json"
    if content is not None:
        file.write_text(content)
    ran = feedguard("check", "--feed", "payments", "--bom", str(file))
    assert ran.code == 2
    assert str(file) in ran.err
    assert message in ran.err
    assert not gate.calls


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--feed", "payments"],
        ["check", "--feed", "payments", CLEAN, "--bom", "bom.json"],
        ["check", CLEAN],
        ["check", "--feed", "payments", CLEAN, "--format", "xml"],
        ["check", "--feed", "payments", CLEAN, "--fail-on", "allow"],
        ["checks", "--feed", "payments"],
    ],
)
def test_bad_usage_exits_2(feedguard: Feedguard, gate: responses.RequestsMock, args: list[str]) -> None:
    ran = feedguard(*args)
    assert ran.code == 2
    assert "Error" in ran.err
    assert not gate.calls


def test_the_service_refusing_a_purl_exits_2_naming_it(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.post(
        CHECK,
        status=422,
        json={
            "message": "1 of the purls cannot be checked.",
            "details": [{"purl": "pkg:github/a/b@1", "message": "OSS Index does not know the type github."}],
        },
    )
    ran = feedguard("check", "--feed", "payments", "pkg:github/a/b@1")
    assert ran.code == 2
    assert "422: 1 of the purls cannot be checked." in ran.err
    assert "pkg:github/a/b@1: OSS Index does not know the type github." in ran.err


@pytest.mark.parametrize("status", [401, 403, 404, 500])
def test_a_service_that_cannot_answer_exits_3(
    feedguard: Feedguard, api: responses.RequestsMock, status: int, waits: list[float]
) -> None:
    api.post(CHECK, status=status, json={"message": "No."})
    ran = feedguard("check", "--feed", "payments", CLEAN)
    assert ran.code == 3
    assert f"answered {status}: No." in ran.err
    assert len(api.calls) == 1  # none of these is retried
    assert not waits


def test_429_and_503_are_retried_honouring_retry_after(
    feedguard: Feedguard, api: responses.RequestsMock, waits: list[float]
) -> None:
    # Given a service that throttles, then is unavailable, then answers
    api.post(CHECK, status=429, headers={"Retry-After": "7"}, json={"message": "Slow down."})
    api.post(CHECK, status=503, headers={"Retry-After": "600"}, json={"message": "Busy."})
    api.add_callback(responses.POST, CHECK, callback=verdicts(GATE))
    # When a purl is checked
    ran = feedguard("check", "--feed", "payments", CLEAN)
    # Then it gets its answer, having waited 7 s, then the bound of 30 s rather than 600
    assert ran.code == 0, ran.err
    assert waits == [7.0, 30.0]
    assert len(api.calls) == 3


def test_retry_after_as_an_http_date_is_honoured(
    feedguard: Feedguard, api: responses.RequestsMock, waits: list[float]
) -> None:
    api.post(CHECK, status=502, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    api.add_callback(responses.POST, CHECK, callback=verdicts(GATE))
    assert feedguard("check", "--feed", "payments", CLEAN).code == 0
    assert waits == [0.0]  # a date in the past: at once


def test_5xx_after_every_retry_exits_3(feedguard: Feedguard, api: responses.RequestsMock, waits: list[float]) -> None:
    api.post(CHECK, status=504, json={"message": "Endpoint request timed out"})
    ran = feedguard("check", "--feed", "payments", CLEAN)
    assert ran.code == 3
    assert "504: Endpoint request timed out (after 5 attempts)" in ran.err
    assert len(api.calls) == 5
    assert len(waits) == 4
    assert all(0 < wait <= 30 for wait in waits)


def test_retries_are_bounded_by_the_option(
    feedguard: Feedguard, api: responses.RequestsMock, waits: list[float]
) -> None:
    api.post(CHECK, status=429, json={"message": "Slow down."})
    assert feedguard("check", "--feed", "payments", CLEAN, "--retries", "1").code == 3
    assert len(api.calls) == 2


def test_an_unreachable_service_is_retried_then_exits_3(
    feedguard: Feedguard, api: responses.RequestsMock, waits: list[float]
) -> None:
    api.post(CHECK, body=requests.ConnectionError("Connection refused"))
    ran = feedguard("check", "--feed", "payments", CLEAN)
    assert ran.code == 3
    assert "could not be reached" in ran.err
    assert "after 5 attempts" in ran.err
    assert len(api.calls) == 5


def test_a_connection_error_then_an_answer_succeeds(
    feedguard: Feedguard, api: responses.RequestsMock, waits: list[float]
) -> None:
    api.post(CHECK, body=requests.ConnectionError("reset"))
    api.add_callback(responses.POST, CHECK, callback=verdicts(GATE))
    assert feedguard("check", "--feed", "payments", LOG4J).code == 1
    assert len(waits) == 1


def test_output_file_gets_the_report_and_stdout_the_table(feedguard: Feedguard, gate: object, tmp_path: Path) -> None:
    report = tmp_path / "feedguard.sarif"
    ran = feedguard("check", "--feed", "payments", LOG4J, "--format", "sarif", "-o", str(report))
    assert ran.code == 1
    assert json.loads(report.read_text())["version"] == "2.1.0"
    assert ran.out.startswith("PURL")
    assert f"sarif report written to {report}" in ran.err


def test_no_url_or_no_key_exits_2(feedguard: Feedguard, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEEDGUARD_URL")
    ran = feedguard("check", "--feed", "payments", CLEAN)
    assert (ran.code, "set FEEDGUARD_URL or pass --url" in ran.err) == (2, True)
    monkeypatch.setenv("FEEDGUARD_URL", URL)
    monkeypatch.delenv("FEEDGUARD_KEY")
    ran = feedguard("check", "--feed", "payments", CLEAN)
    assert (ran.code, "set FEEDGUARD_KEY or pass --key" in ran.err) == (2, True)


def test_url_and_key_options_override_the_environment(
    feedguard: Feedguard, api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.add_callback(responses.POST, "https://other.example.test/Prod/feeds/payments/check", callback=verdicts({}))
    ran = feedguard(
        "check", "--feed", "payments", CLEAN, "--url", "https://other.example.test/Prod/", "--key", "fgk_other"
    )
    assert ran.code == 0, ran.err
    assert api.calls[0].request.headers["Authorization"] == "Bearer fgk_other"


def test_feed_names_and_ids_are_url_encoded(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.add_callback(responses.POST, f"{URL}/feeds/a%2Fb%3Fc/check", callback=verdicts({}))
    assert feedguard("check", "--feed", "a/b?c", CLEAN).code == 0


def test_a_bom_without_components_has_nothing_to_fail(
    feedguard: Feedguard, gate: responses.RequestsMock, tmp_path: Path
) -> None:
    ran = feedguard("check", "--feed", "payments", "--bom", str(bom(tmp_path, [])))
    assert ran.code == 0, ran.err
    assert "0 packages checked against feed payments" in ran.out
    assert not gate.calls
