"""The installed `feedguard` command, run as a CI job runs it (a subprocess,
FEEDGUARD_URL and FEEDGUARD_KEY in its environment, no terminal), against
the local stack: import, scan, check with its exit codes, triage, VEX."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
import requests

from infra.template import Template
from tests.integration.conftest import RunningStack
from tests.support import CLEAN, LODASH, LOG4J

FEED = "cli-gate"
SARIF_SCHEMA = Path(__file__).resolve().parent.parent / "unit" / "cli" / "sarif-schema-2.1.0.json"


def executable() -> str:
    """The console script pip installed beside this interpreter (make's .venv)."""
    beside = Path(sys.executable).parent / "feedguard"
    found = str(beside) if beside.exists() else shutil.which("feedguard")
    assert found, "the feedguard command is not installed: make installs it with pip install -e ./cli"
    return found


@dataclass
class Ran:
    code: int
    out: str
    err: str


Feedguard = Callable[..., Ran]


@pytest.fixture(scope="module")
def feedguard(stack: RunningStack) -> Feedguard:
    """Runs `feedguard ARGS` with the admin key; `key=` to use another."""
    command = executable()

    def run(*args: str, key: str | None = None, cwd: Path | None = None) -> Ran:
        env = {**os.environ, "FEEDGUARD_URL": stack.api, "FEEDGUARD_KEY": key or stack.admin_key}
        done = subprocess.run(  # noqa: S603 - our own command, arguments of the tests
            [command, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180, check=False
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(scope="module")
def feed(stack: RunningStack) -> str:
    """A feed of its own with the stack's fake OSS Index attached, empty."""
    api, admin = stack.api, stack.headers()
    ossindex = requests.get(f"{stack.control}/status", timeout=10).json()["ossindex"]
    source = requests.post(
        f"{api}/sources",
        json={"name": "cli-source", "kind": "ossindex", "url": ossindex, "token": "local-fake-token"},
        headers=admin,
        timeout=10,
    )
    assert source.status_code == 201, source.text
    assert requests.post(f"{api}/feeds", json={"name": FEED}, headers=admin, timeout=10).status_code == 201
    attached = requests.put(f"{api}/feeds/{FEED}/sources/{source.json()['id']}", headers=admin, timeout=10)
    assert attached.status_code == 200
    return FEED


@pytest.fixture(scope="module")
def imported(feedguard: Feedguard, feed: str, tmp_path_factory: pytest.TempPathFactory) -> Ran:
    """`feedguard import` of a file of purls, one of them invalid, then
    `feedguard scan --wait`: the feed holds log4j and lodash, scanned."""
    file = tmp_path_factory.mktemp("cli") / "purls.txt"
    file.write_text(f"# the service's packages\n{LOG4J}\n{LODASH}\npkg:npm/left-pad\n")
    ran = feedguard("import", "--feed", feed, str(file))
    assert ran.code == 0, ran.err
    scanned = feedguard("scan", "--feed", feed, "--wait", "--interval", "0.5")
    assert scanned.code == 0, scanned.err
    assert "succeeded" in scanned.out
    # off a terminal, plain progress lines and no bar
    assert "\r" not in scanned.err
    assert "packages, succeeded" in scanned.err
    return ran


def test_import_prints_added_existing_and_each_rejection(imported: Ran) -> None:
    lines = imported.out.splitlines()
    assert lines[0] == "added 2, existing 0, rejected 1"
    assert lines[1].startswith("rejected: pkg:npm/left-pad: ")
    assert any(line.startswith("scan queued: ") for line in lines)


def test_a_blocked_purl_exits_1(feedguard: Feedguard, imported: Ran) -> None:
    ran = feedguard("check", "--feed", FEED, LOG4J)
    assert ran.code == 1, ran.err
    assert "CVE-2021-44228" in ran.out
    assert "Policy failed" in ran.out


def test_a_clean_purl_exits_0(feedguard: Feedguard, imported: Ran) -> None:
    ran = feedguard("check", "--feed", FEED, CLEAN)
    assert ran.code == 0, ran.err
    assert CLEAN in ran.out


def test_a_bad_key_exits_3_without_showing_it(feedguard: Feedguard, feed: str) -> None:
    wrong = "fgk_not_a_key_of_this_stack_0123456789"
    ran = feedguard("check", "--feed", feed, CLEAN, "--debug", key=wrong)
    assert ran.code == 3
    assert "401" in ran.err
    assert wrong not in ran.out + ran.err


def test_an_unknown_feed_exits_3(feedguard: Feedguard, stack: RunningStack) -> None:
    ran = feedguard("check", "--feed", "no-such-feed", CLEAN)
    assert ran.code == 3
    assert "404" in ran.err


def test_a_missing_bom_exits_2(feedguard: Feedguard, feed: str, tmp_path: Path) -> None:
    ran = feedguard("check", "--feed", feed, "--bom", str(tmp_path / "bom.json"))
    assert ran.code == 2
    assert "bom.json: no such file" in ran.err


def test_an_unreachable_service_exits_3(feedguard: Feedguard, stack: RunningStack) -> None:
    env = {**os.environ, "FEEDGUARD_URL": "http://127.0.0.1:9", "FEEDGUARD_KEY": stack.admin_key}
    done = subprocess.run(  # noqa: S603
        [executable(), "check", "--feed", FEED, CLEAN, "--retries", "1", "--timeout", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert "could not be reached" in done.stderr
    assert stack.admin_key not in done.stdout + done.stderr


def test_a_bom_checked_as_sarif_is_valid_and_fails_on_log4j(
    feedguard: Feedguard, imported: Ran, tmp_path: Path
) -> None:
    bom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": [
            {"name": "log4j-core", "purl": LOG4J, "components": [{"name": "lodash", "purl": CLEAN}]},
            {"name": "internal-tool", "version": "1.0"},
        ],
    }
    (tmp_path / "bom.json").write_text(json.dumps(bom, indent=2))
    ran = feedguard(
        "check", "--feed", FEED, "--bom", "bom.json", "--format", "sarif", "-o", "feedguard.sarif", cwd=tmp_path
    )
    assert ran.code == 1, ran.err
    assert "skipped: components[1] (internal-tool 1.0) has no purl" in ran.err
    document = json.loads((tmp_path / "feedguard.sarif").read_text())
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(document)
    results = document["runs"][0]["results"]
    assert {result["ruleId"] for result in results} == {"CVE-2021-44228", "CVE-2021-45046", "CVE-2021-45105"}
    assert {result["level"] for result in results} == {"error"}
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {"bom.json"}
    assert ran.out.startswith("PURL")  # and the table for the log


def test_assessing_every_finding_of_a_package_lets_it_pass(feedguard: Feedguard, imported: Ran) -> None:
    # Given log4j's findings, listed by the CLI
    listed = feedguard("vulns", "--feed", FEED, "--package", LOG4J, "--format", "json")
    assert listed.code == 0, listed.err
    scores = {finding["id"]: f"{finding['cvss_score']:.1f}" for finding in json.loads(listed.out)}
    ids = list(scores)
    assert "CVE-2021-44228" in ids
    # When all are assessed Ignore in one command (the bulk route), and one of them again with If-Match
    bulk = feedguard("assess", "--feed", FEED, *ids, "--type", "ignore", "--comment", "not reachable")
    assert bulk.code == 0, bulk.err
    assert bulk.out == f"assessed {len(ids)} as ignore\n"
    # And one of them once more, at its current version; then again at that version, now stale
    listed = feedguard("vulns", "--feed", FEED, "--package", LOG4J, "--format", "json")
    version = next(f["assessment"]["version"] for f in json.loads(listed.out) if f["id"] == "CVE-2021-44228")
    again = ["assess", "--feed", FEED, "CVE-2021-44228", "--type", "ignore", "--if-match", str(version)]
    once = feedguard(*again)
    assert once.code == 0, once.err
    assert int(once.out.rsplit("version ", 1)[1]) > version
    stale = feedguard(*again)
    assert stale.code == 1
    assert "412" in stale.err
    # Then the check passes, and the table shows the vulnerabilities as assessed
    ran = feedguard("check", "--feed", FEED, LOG4J)
    assert ran.code == 0, ran.out + ran.err
    described = [line.split()[-4:] for line in ran.out.splitlines() if "CVE-2021-" in line]
    assert sorted(described) == sorted([vid, score, "assessed", "allow"] for vid, score in scores.items())


def test_vex_exports_the_feeds_decisions(feedguard: Feedguard, imported: Ran, tmp_path: Path) -> None:
    routes = {(route.method, route.path) for route in Template.load().routes()}
    if ("GET", "/feeds/{feed}/vex") not in routes:
        pytest.skip("template.yaml serves no GET /feeds/{feed}/vex yet")
    ran = feedguard("vex", "--feed", FEED, "--format", "openvex")
    assert ran.code == 0, ran.err
    assert "statements" in json.loads(ran.out)
    out = tmp_path / "cli-gate.cdx.json"
    ran = feedguard("vex", "--feed", FEED, "--format", "cyclonedx", "-o", str(out))
    assert ran.code == 0, ran.err
    document = json.loads(out.read_text())
    assert document["bomFormat"] == "CycloneDX"
    assert "CVE-2021-44228" in {vulnerability["id"] for vulnerability in document["vulnerabilities"]}
