"""`feedguard import`, `scan`, `vulns`, `assess` and `vex` against a mocked
HTTP layer."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import responses
from responses import matchers

from tests.unit.cli.conftest import URL, Ran, sent

Feedguard = Callable[..., Ran]
PACKAGES = f"{URL}/feeds/payments/packages"


def imported(request: Any) -> tuple[int, dict[str, str], str]:
    """The packages route: every purl with 'bad' in it rejected, every one
    ending in .0 already there, the rest added."""
    purls = json.loads(request.body)["purls"]
    rejected = [{"purl": purl, "message": "The purl has no version."} for purl in purls if "bad" in purl]
    existing = sum(purl.endswith(".0") for purl in purls)
    body = {"added": len(purls) - len(rejected) - existing, "existing": existing, "rejected": rejected}
    return 200, {}, json.dumps({**body, "scan_id": "s01"})


def test_import_sends_more_than_10000_purls_in_several_calls(
    feedguard: Feedguard, api: responses.RequestsMock, tmp_path: Path
) -> None:
    # Given a file of 25,001 purls, a comment and a blank line
    purls = [f"pkg:npm/p{index}@1.{index}" for index in range(25_001)]
    file = tmp_path / "purls.txt"
    file.write_text("# our packages\n\n" + "\n".join(purls) + "\n")
    api.add_callback(responses.POST, PACKAGES, callback=imported)
    # When it is imported
    ran = feedguard("import", "--feed", "payments", str(file))
    # Then three calls of 10,000, 10,000 and 5,001, in order, and the totals
    assert ran.code == 0, ran.err
    bodies = [json.loads(request.body)["purls"] for request in sent(api)]
    assert [len(body) for body in bodies] == [10_000, 10_000, 5_001]
    assert [purl for body in bodies for purl in body] == purls
    assert "added 25000, existing 1, rejected 0" in ran.out
    assert "scan queued: s01" in ran.out
    # And off a terminal, no progress bar
    assert "\r" not in ran.err


def test_import_of_a_bom_prints_each_rejection_with_its_reason(
    feedguard: Feedguard, api: responses.RequestsMock, tmp_path: Path
) -> None:
    file = tmp_path / "bom.json"
    file.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "components": [
                    {"name": "a", "purl": "pkg:npm/a@1.0.0"},
                    {"name": "b", "purl": "pkg:npm/bad", "components": [{"name": "c", "purl": "pkg:npm/c@2.1"}]},
                    {"name": "internal-tool", "version": "1.0"},
                ],
            }
        )
    )
    api.add_callback(responses.POST, PACKAGES, callback=imported)
    ran = feedguard("import", "--feed", "payments", str(file))
    assert ran.code == 0, ran.err
    assert json.loads(sent(api)[0].body) == {"purls": ["pkg:npm/a@1.0.0", "pkg:npm/bad", "pkg:npm/c@2.1"]}
    assert ran.out.splitlines()[:3] == [
        "added 1, existing 1, rejected 2",
        "rejected: The component at components[2] (internal-tool 1.0) has no purl.",
        "rejected: pkg:npm/bad: The purl has no version.",
    ]


def test_import_shows_a_progress_bar_on_a_terminal(
    feedguard: Feedguard, api: responses.RequestsMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "purls.txt"
    file.write_text("\n".join(f"pkg:npm/p{index}@1.{index}" for index in range(15_000)))
    api.add_callback(responses.POST, PACKAGES, callback=imported)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    ran = feedguard("import", "--feed", "payments", str(file))
    assert ran.code == 0
    assert "\r\x1b[2Kimporting into payments [" in ran.err
    assert "] 10000/15000 packages" in ran.err
    assert ran.err.endswith("] 15000/15000 packages\n")


@pytest.mark.parametrize(("content", "message"), [(None, "no such file"), ("\n# nothing\n", "no packages in it")])
def test_import_of_a_missing_or_empty_file_exits_2(
    feedguard: Feedguard, api: responses.RequestsMock, tmp_path: Path, content: str | None, message: str
) -> None:
    file = tmp_path / "purls.txt"
    if content is not None:
        file.write_text(content)
    ran = feedguard("import", "--feed", "payments", str(file))
    assert (ran.code, message in ran.err, len(api.calls)) == (2, True, 0)


def test_import_into_a_feed_the_key_cannot_manage_exits_3(
    feedguard: Feedguard, api: responses.RequestsMock, tmp_path: Path
) -> None:
    file = tmp_path / "purls.txt"
    file.write_text("pkg:npm/a@1.0.1\n")
    api.post(PACKAGES, status=403, json={"message": "Your role on feed payments is viewer."})
    ran = feedguard("import", "--feed", "payments", str(file))
    assert ran.code == 3
    assert "403: Your role on feed payments is viewer." in ran.err


def scan_state(status: str, scanned: int, total: int, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "id": "s01",
        "status": status,
        "feed": "payments",
        "packages_total": total,
        "packages_scanned": scanned,
        "requests_made": 1,
        "cache_hits": 0,
        "findings_new": 2,
        "errors": errors or [],
        "started_at": "2026-12-07T01:00:00Z",
        "finished_at": None,
    }


def test_scan_without_wait_starts_it_and_exits_0(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.post(
        f"{URL}/scans",
        status=202,
        json={"id": "s01", "status": "queued"},
        match=[matchers.json_params_matcher({"feed": "payments", "refresh": True})],
    )
    ran = feedguard("scan", "--feed", "payments", "--refresh")
    assert (ran.code, ran.out) == (0, "scan s01 queued\n")


def test_scan_wait_follows_it_with_a_line_per_change_off_a_terminal(
    feedguard: Feedguard, api: responses.RequestsMock, waits: list[float]
) -> None:
    # Given a scan that is queued, then runs, then succeeds
    api.post(f"{URL}/scans", status=202, json={"id": "s01", "status": "queued"})
    for state in (
        scan_state("queued", 0, 0),
        scan_state("running", 1, 3),
        scan_state("running", 1, 3),
        scan_state("succeeded", 3, 3),
    ):
        api.get(f"{URL}/scans/s01", json=state)
    # When it is started with --wait
    ran = feedguard("scan", "--feed", "payments", "--wait", "--interval", "0.5")
    # Then exit 0, a plain line per change, and its figures at the end
    assert ran.code == 0, ran.err
    assert ran.err.splitlines() == [
        "scan s01 queued",
        "scan s01: 0/0 packages, queued",
        "scan s01: 1/3 packages, running",
        "scan s01: 3/3 packages, succeeded",
    ]
    assert ran.out == "scan s01 succeeded: 3/3 packages, 1 requests, 0 cache hits, 2 new findings\n"
    assert waits == [0.5, 0.5, 0.5]


def test_scan_wait_draws_a_bar_on_a_terminal(
    feedguard: Feedguard, api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.post(f"{URL}/scans", status=202, json={"id": "s01", "status": "queued"})
    api.get(f"{URL}/scans/s01", json=scan_state("running", 1, 4))
    api.get(f"{URL}/scans/s01", json=scan_state("succeeded", 4, 4))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    ran = feedguard("scan", "--feed", "payments", "--wait")
    assert ran.code == 0
    assert "\r\x1b[2Kscan s01 [#######-----------------------] 1/4 packages, running" in ran.err
    assert "[##############################] 4/4 packages, succeeded\n" in ran.err


def test_a_failed_scan_exits_1_with_its_errors(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.post(f"{URL}/scans", status=202, json={"id": "s01", "status": "queued"})
    errors = [{"source": "guide", "message": "OSS Index answered 401: the token was refused."}]
    api.get(f"{URL}/scans/s01", json=scan_state("failed", 0, 2, errors))
    ran = feedguard("scan", "--feed", "payments", "--wait")
    assert ran.code == 1
    assert "scan s01 failed" in ran.out
    assert "error: guide: OSS Index answered 401: the token was refused." in ran.err


def test_a_partial_scan_exits_0_and_shows_its_errors(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.post(f"{URL}/scans", status=202, json={"id": "s01", "status": "queued"})
    errors = [{"source": "guide", "message": "OSS Index did not answer for 1 of 2 packages."}]
    api.get(f"{URL}/scans/s01", json=scan_state("partial", 2, 2, errors))
    ran = feedguard("scan", "--feed", "payments", "--wait")
    assert ran.code == 0
    assert "did not answer for 1 of 2 packages" in ran.err


def test_a_scan_already_running_is_followed(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.post(
        f"{URL}/scans",
        status=409,
        json={"message": "A scan of feed payments is running.", "details": [{"id": "s00"}]},
    )
    api.get(f"{URL}/scans/s00", json={**scan_state("succeeded", 2, 2), "id": "s00"})
    ran = feedguard("scan", "--feed", "payments", "--wait")
    assert ran.code == 0, ran.err
    assert "a scan is already queued or running: s00" in ran.err
    assert "scan s00 succeeded" in ran.out


def test_a_refused_refresh_exits_1(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.post(f"{URL}/scans", status=409, json={"message": "A refresh is allowed once an hour."})
    ran = feedguard("scan", "--feed", "payments", "--refresh")
    assert ran.code == 1
    assert "409: A refresh is allowed once an hour." in ran.err


def test_waiting_longer_than_the_wait_timeout_exits_3(
    feedguard: Feedguard, api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.post(f"{URL}/scans", status=202, json={"id": "s01", "status": "queued"})
    api.get(f"{URL}/scans/s01", json=scan_state("running", 0, 2))
    clock = iter(range(0, 10_000, 100))
    monkeypatch.setattr("feedguard_cli.main.time.monotonic", lambda: float(next(clock)))
    ran = feedguard("scan", "--feed", "payments", "--wait", "--wait-timeout", "250")
    assert ran.code == 3
    assert "did not end within 250 s" in ran.err


def finding(vid: str, score: float | None, status: str = "unassessed") -> dict[str, Any]:
    assessment = {"type": "ignore", "expires_at": "2027-03-01T00:00:00Z"} if status == "assessed" else None
    return {
        "id": vid,
        "title": f"[{vid}] a flaw",
        "cvss_score": score,
        "severity": "critical",
        "packages": ["pkg:npm/a@1.0.0"],
        "status": status,
        "effect": "allow" if assessment else "block",
        "assessment": assessment,
    }


def test_vulns_pages_through_every_cursor_with_the_filters(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    route = f"{URL}/feeds/payments/vulnerabilities"
    first = {"status": "unassessed", "min_cvss": "7.0", "limit": "500"}
    api.get(
        route,
        json={"items": [finding("CVE-1", 9.8)], "next_cursor": "c1"},
        match=[matchers.query_param_matcher(first)],
    )
    api.get(
        route,
        json={"items": [finding("CVE-2", None)], "next_cursor": None},
        match=[matchers.query_param_matcher({**first, "cursor": "c1"})],
    )
    ran = feedguard("vulns", "--feed", "payments", "--status", "unassessed", "--min-cvss", "7", "--format", "json")
    assert ran.code == 0, ran.err
    assert [item["id"] for item in json.loads(ran.out)] == ["CVE-1", "CVE-2"]


def test_vulns_table_shows_status_effect_and_expiry(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.get(
        f"{URL}/feeds/payments/vulnerabilities",
        json={"items": [finding("CVE-1", 9.8), finding("CVE-2", None, "assessed")], "next_cursor": None},
    )
    ran = feedguard("vulns", "--feed", "payments")
    lines = ran.out.splitlines()
    assert lines[0].split() == ["ID", "CVSS", "SEVERITY", "STATUS", "EFFECT", "EXPIRES", "PACKAGES", "TITLE"]
    assert lines[1].split()[:6] == ["CVE-1", "9.8", "critical", "unassessed", "block", "-"]
    assert lines[2].split()[:7] == ["CVE-2", "-", "critical", "assessed", "(ignore)", "allow", "2027-03-01"]
    assert "2 findings in feed payments" in ran.err


def test_vulns_with_a_filter_the_service_refuses_exits_2(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.get(
        f"{URL}/feeds/payments/vulnerabilities",
        status=422,
        json={"message": "Invalid query.", "details": [{"field": "package", "message": "not a purl"}]},
    )
    ran = feedguard("vulns", "--feed", "payments", "--package", "lodash")
    assert ran.code == 2
    assert "package: not a purl" in ran.err


ASSESSED = {
    "type": "ignore",
    "effect": "allow",
    "comment": "not reachable",
    "assessed_by": "ci-bot",
    "assessed_at": "2026-12-07T01:00:00Z",
    "expires_at": "2027-03-31T00:00:00Z",
    "version": 4,
}


def test_assess_one_id_puts_with_if_match(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.put(
        f"{URL}/feeds/payments/vulnerabilities/sonatype-2021-4682%2Fx/assessment",
        json=ASSESSED,
        match=[
            matchers.json_params_matcher(
                {"type": "ignore", "comment": "not reachable", "expires_at": "2027-03-31T00:00:00Z"}
            ),
            matchers.header_matcher({"If-Match": "3"}),
        ],
    )
    ran = feedguard(
        "assess",
        "--feed",
        "payments",
        "sonatype-2021-4682/x",
        "--type",
        "ignore",
        "--comment",
        "not reachable",
        "--expires",
        "2027-03-31",
        "--if-match",
        "3",
    )
    assert ran.code == 0, ran.err
    assert ran.out == ("sonatype-2021-4682/x: ignore (allow) by ci-bot, expires 2027-03-31T00:00:00Z, version 4\n")


@pytest.mark.parametrize(
    ("given", "sent_as"),
    [
        ("never", None),
        ("2027-03-31T12:30:00+02:00", "2027-03-31T10:30:00Z"),
        ("2027-03-31T12:30:00", "2027-03-31T12:30:00Z"),
    ],
)
def test_assess_expiry_forms(
    feedguard: Feedguard, api: responses.RequestsMock, given: str, sent_as: str | None
) -> None:
    api.put(
        f"{URL}/feeds/payments/vulnerabilities/CVE-1/assessment",
        json=ASSESSED,
        match=[matchers.json_params_matcher({"type": "ignore", "expires_at": sent_as})],
    )
    assert feedguard("assess", "--feed", "payments", "CVE-1", "--type", "ignore", "--expires", given).code == 0


def test_assess_without_expires_leaves_the_type_default(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.put(
        f"{URL}/feeds/payments/vulnerabilities/CVE-1/assessment",
        json=ASSESSED,
        match=[matchers.json_params_matcher({"type": "ignore"})],
    )
    assert feedguard("assess", "--feed", "payments", "CVE-1", "--type", "ignore").code == 0


def test_assess_a_stale_version_exits_1(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.put(
        f"{URL}/feeds/payments/vulnerabilities/CVE-1/assessment",
        status=412,
        json={"message": "The assessment is at version 5, not 3."},
    )
    ran = feedguard("assess", "--feed", "payments", "CVE-1", "--type", "ignore", "--if-match", "3")
    assert ran.code == 1
    assert "412: The assessment is at version 5, not 3." in ran.err


def test_assess_an_invalid_type_or_date_exits_2(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.put(
        f"{URL}/feeds/payments/vulnerabilities/CVE-1/assessment",
        status=422,
        json={"message": "Unknown assessment type: ignored."},
    )
    assert feedguard("assess", "--feed", "payments", "CVE-1", "--type", "ignored").code == 2
    ran = feedguard("assess", "--feed", "payments", "CVE-1", "--type", "ignore", "--expires", "next week")
    assert ran.code == 2
    assert "'next week' is not a date" in ran.err
    assert len(api.calls) == 1


def test_assess_several_ids_uses_the_bulk_route_100_at_a_time(
    feedguard: Feedguard, api: responses.RequestsMock
) -> None:
    # Given 250 ids, two of which are not findings of the feed
    ids = [f"CVE-2021-{index:05d}" for index in range(250)]

    def bulk(request: Any) -> tuple[int, dict[str, str], str]:
        asked = json.loads(request.body)["vulnerability_ids"]
        missing = [vid for vid in asked if vid in ("CVE-2021-00007", "CVE-2021-00200")]
        return 200, {}, json.dumps({"assessed": len(asked) - len(missing), "missing": missing})

    api.add_callback(responses.POST, f"{URL}/feeds/payments/assessments", callback=bulk)
    # When they are assessed
    ran = feedguard("assess", "--feed", "payments", *ids, "--type", "caution", "--comment", "triage")
    # Then three calls of 100, 100 and 50, each with the type and comment, and exit 1 naming the missing
    bodies = [json.loads(request.body) for request in sent(api)]
    assert [len(body["vulnerability_ids"]) for body in bodies] == [100, 100, 50]
    assert [vid for body in bodies for vid in body["vulnerability_ids"]] == ids
    assert all((body["type"], body["comment"]) == ("caution", "triage") for body in bodies)
    assert ran.code == 1
    assert ran.out == "assessed 248 as caution\n"
    assert "missing: CVE-2021-00007 is not a finding of feed payments" in ran.err
    assert "missing: CVE-2021-00200" in ran.err


def test_assess_if_match_with_several_ids_exits_2(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    ran = feedguard("assess", "--feed", "payments", "CVE-1", "CVE-2", "--type", "ignore", "--if-match", "1")
    assert ran.code == 2
    assert "--if-match applies to one ID" in ran.err
    assert not api.calls


VEX = b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "vulnerabilities": [{"id": "CVE-2021-44228"}]}'


def test_vex_writes_the_body_to_stdout_as_served(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.get(
        f"{URL}/feeds/payments/vex",
        body=VEX,
        content_type="application/vnd.cyclonedx+json",
        match=[matchers.query_param_matcher({"format": "cyclonedx"})],
    )
    ran = feedguard("vex", "--feed", "payments", "--format", "cyclonedx")
    assert ran.code == 0, ran.err
    assert ran.out.encode() == VEX


def test_vex_to_a_file(feedguard: Feedguard, api: responses.RequestsMock, tmp_path: Path) -> None:
    body = b'{"@context": "https://openvex.dev/ns/v0.2.0", "statements": []}'
    api.get(f"{URL}/feeds/payments/vex", body=body, match=[matchers.query_param_matcher({"format": "openvex"})])
    out = tmp_path / "payments.openvex.json"
    ran = feedguard("vex", "--feed", "payments", "--format", "openvex", "-o", str(out))
    assert ran.code == 0, ran.err
    assert out.read_bytes() == body
    assert ran.out == ""
    assert f"openvex VEX of feed payments written to {out} ({len(body)} bytes)" in ran.err


def test_vex_of_an_unknown_feed_exits_3_and_a_bad_format_2(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.get(f"{URL}/feeds/nope/vex", status=404, json={"message": "No feed named nope."})
    ran = feedguard("vex", "--feed", "nope", "--format", "openvex")
    assert (ran.code, "404: No feed named nope." in ran.err) == (3, True)
    assert feedguard("vex", "--feed", "nope", "--format", "spdx").code == 2
    assert len(api.calls) == 1


def test_the_feed_can_come_from_the_environment(
    feedguard: Feedguard, api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.get(f"{URL}/feeds/payments/vulnerabilities", json={"items": [], "next_cursor": None})
    monkeypatch.setenv("FEEDGUARD_FEED", "payments")
    assert feedguard("vulns").code == 0


def cyclonedx_page(serial: str, purls: list[str], ids: list[str]) -> dict[str, Any]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial,
        "version": 1,
        "metadata": {"timestamp": "2026-12-07T01:00:00Z"},
        "components": [{"type": "library", "bom-ref": purl, "purl": purl, "name": purl} for purl in purls],
        "vulnerabilities": [{"id": vid, "affects": [{"ref": purls[0]}]} for vid in ids],
    }


def test_vex_of_several_pages_follows_the_links_and_merges_them(
    feedguard: Feedguard, api: responses.RequestsMock, tmp_path: Path
) -> None:
    # Given an export in three pages, linked by Link rel=next relative to the request
    route = f"{URL}/feeds/payments/vex"
    pages = [
        cyclonedx_page("urn:uuid:1", ["pkg:npm/a@1.0.0", "pkg:npm/b@1.0.0"], ["CVE-1", "CVE-2"]),
        cyclonedx_page("urn:uuid:2", ["pkg:npm/b@1.0.0"], ["CVE-3"]),
        cyclonedx_page("urn:uuid:3", ["pkg:npm/0@1.0.0"], ["CVE-4"]),
    ]
    for number, page in enumerate(pages):
        query = {"format": "cyclonedx"} | ({"cursor": f"c{number}"} if number else {})
        last = number == len(pages) - 1
        api.get(
            route,
            json=page,
            headers={} if last else {"Link": f'<vex?format=cyclonedx&cursor=c{number + 1}>; rel="next"'},
            match=[matchers.query_param_matcher(query)],
        )
    out = tmp_path / "vex.json"
    # When it is exported
    ran = feedguard("vex", "--feed", "payments", "--format", "cyclonedx", "-o", str(out))
    # Then one document: the first page's header, every vulnerability in order, every component once
    assert ran.code == 0, ran.err
    assert "3 pages merged" in ran.err
    document = json.loads(out.read_text())
    assert document["serialNumber"] == "urn:uuid:1"
    assert [v["id"] for v in document["vulnerabilities"]] == ["CVE-1", "CVE-2", "CVE-3", "CVE-4"]
    assert [c["bom-ref"] for c in document["components"]] == ["pkg:npm/0@1.0.0", "pkg:npm/a@1.0.0", "pkg:npm/b@1.0.0"]
    assert all(call.request.headers["Authorization"].startswith("Bearer ") for call in api.calls)


def test_vex_openvex_pages_merge_their_statements(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    route = f"{URL}/feeds/payments/vex"
    first = {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:uuid:1", "statements": [{"n": 1}]}
    second = {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:uuid:2", "statements": [{"n": 2}, {"n": 3}]}
    api.get(
        route,
        json=first,
        headers={"Link": '<vex?format=openvex&cursor=x>; rel="next"'},
        match=[matchers.query_param_matcher({"format": "openvex"})],
    )
    api.get(route, json=second, match=[matchers.query_param_matcher({"format": "openvex", "cursor": "x"})])
    ran = feedguard("vex", "--feed", "payments", "--format", "openvex")
    assert ran.code == 0, ran.err
    document = json.loads(ran.out)
    assert (document["@id"], document["statements"]) == ("urn:uuid:1", [{"n": 1}, {"n": 2}, {"n": 3}])


def test_vex_never_follows_a_link_to_another_host(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.get(
        f"{URL}/feeds/payments/vex",
        json={"statements": []},
        headers={"Link": '<https://elsewhere.example.test/feeds/payments/vex?cursor=x>; rel="next"'},
    )
    ran = feedguard("vex", "--feed", "payments", "--format", "openvex")
    assert ran.code == 3
    assert "https://elsewhere.example.test/feeds/payments/vex, not under the service's URL" in ran.err
    assert len(api.calls) == 1  # the key went nowhere else


def test_vex_stops_on_a_link_back_to_a_page_it_had(feedguard: Feedguard, api: responses.RequestsMock) -> None:
    api.get(
        f"{URL}/feeds/payments/vex",
        json={"statements": []},
        headers={"Link": '<vex?format=openvex&cursor=same>; rel="next"'},
    )
    ran = feedguard("vex", "--feed", "payments", "--format", "openvex")
    assert ran.code == 3
    assert "a page it sent already" in ran.err
    assert len(api.calls) == 2


def test_vex_pages_under_a_stage_path_are_followed(
    feedguard: Feedguard, api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the API under a stage path, as API Gateway serves it
    base = "https://api.example.test/Prod"
    monkeypatch.setenv("FEEDGUARD_URL", base + "/")
    api.get(
        f"{base}/feeds/payments/vex",
        json={"statements": [{"n": 1}]},
        headers={"Link": '<vex?format=openvex&cursor=x>; rel="next"'},
        match=[matchers.query_param_matcher({"format": "openvex"})],
    )
    api.get(
        f"{base}/feeds/payments/vex",
        json={"statements": [{"n": 2}]},
        match=[matchers.query_param_matcher({"format": "openvex", "cursor": "x"})],
    )
    ran = feedguard("vex", "--feed", "payments", "--format", "openvex")
    assert ran.code == 0, ran.err
    assert json.loads(ran.out)["statements"] == [{"n": 1}, {"n": 2}]
