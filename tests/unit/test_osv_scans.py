"""Scans with an OSV source, alone and beside OSS Index: coordinator,
queue, workers, moto, and both fakes on loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from feedguard import clock, gate
from feedguard.dal import answers
from feedguard.dal import feeds as feed_store
from feedguard.dal import sources as source_store
from feedguard.dal.models import CachedAnswer, Finding, Package, Vulnerability
from feedguard.lookups import RECORD_KEY
from infra.fake_ossindex import FakeOssIndex, Fault
from infra.fake_osv import FakeOsv
from tests.support import LODASH, LOG4J, OSV_SCAN_FAULTS, ScanFault
from tests.unit.builders import a_feed
from tests.unit.test_scanner import a_source, errors, scan

JINJA = "pkg:pypi/jinja2@2.4.1"


@pytest.fixture(autouse=True)
def _no_backoff_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("feedguard.ossindex.time.sleep", lambda seconds: None)
    monkeypatch.setattr("feedguard.osv.time.sleep", lambda seconds: None)


def an_osv_source(url: str, name: str = "osv") -> str:
    return source_store.create(f"src-{name}", {"name": name, "source_kind": "osv", "url": url}, None).id


def test_an_osv_scan_records_findings_with_fixed_versions_and_drops_withdrawn_records(
    aws: Any, osv_fake: tuple[FakeOsv, str]
) -> None:
    service, url = osv_fake
    a_feed("demo", [LODASH, LOG4J, JINJA, "pkg:npm/left-pad@1.0.0"], [an_osv_source(url)])
    done = scan(aws, "demo")
    # One querybatch, one follow-up page (lodash's third id), one GET per distinct id
    stats = service.stats()
    assert (stats["batch_requests"], stats["pages"], stats["record_requests"]) == (2, 1, 5)
    assert (done.status, done.packages_scanned, done.requests_made, done.osv_requests) == ("succeeded", 4, 7, 7)
    assert done.findings_new == 4  # the withdrawn record is no finding
    # Keyed by their CVEs (docs/data-model.md, "Aliases"), each GHSA id an alias item
    assert Finding.count("demo", filter_condition=Finding.alias_of.does_not_exist()) == 4
    injection = Finding.get("demo", "CVE-2021-23337")
    assert (injection.aliases, float(injection.cvss_score), injection.severity_band) == (
        {"GHSA-35jh-r3h4-6jhm"},
        7.2,
        "high",
    )
    assert Finding.get("demo", "GHSA-35jh-r3h4-6jhm").alias_of == "CVE-2021-23337"
    assert injection.fixed_by_package() == {LODASH: ["4.17.21"]}
    assert Finding.get("demo", "CVE-2021-44228").fixed_by_package() == {LOG4J: ["2.15.0", "2.12.2"]}
    assert float(Vulnerability.get("GHSA-462w-v97r-4m45").cvss_score) == 5.1  # CVSS v4
    assert Package.get("demo", LODASH).vulnerability_ids == {
        "GHSA-35jh-r3h4-6jhm",
        "GHSA-29mw-wpgm-hmr9",
        "CVE-2021-23337",
        "CVE-2020-28500",
    }


def test_a_second_scan_is_answered_by_the_cache_and_records_are_fetched_once_per_id(
    aws: Any, osv_fake: tuple[FakeOsv, str]
) -> None:
    service, url = osv_fake
    source = an_osv_source(url)
    # Two feeds on the one source: lodash's records are asked once
    a_feed("one", [LODASH, LOG4J], [source])
    a_feed("two", [LODASH], [source])
    scan(aws)
    cold = service.stats()
    assert cold["record_requests"] == 4
    again = scan(aws)
    assert service.stats()["record_requests"] == cold["record_requests"]
    assert service.stats()["batch_requests"] == cold["batch_requests"]
    assert (again.status, again.requests_made, again.cache_hits) == ("succeeded", 0, 2)
    # The answer cache holds each purl's ids and each record under its id
    cached = answers.cached(source, [LODASH, RECORD_KEY + "GHSA-35jh-r3h4-6jhm"], clock.now())
    assert cached[LODASH] == {"ids": ["GHSA-35jh-r3h4-6jhm", "GHSA-29mw-wpgm-hmr9", "FGDEMO-2026-0001"]}
    assert "versions" not in cached[RECORD_KEY + "GHSA-35jh-r3h4-6jhm"]["affected"][0]
    assert CachedAnswer.count(source) == 2 + 4


def test_a_feed_with_both_sources_hears_from_both_and_the_scan_counts_requests_per_kind(
    aws: Any, oss: tuple[FakeOssIndex, str], osv_fake: tuple[FakeOsv, str]
) -> None:
    a_feed("demo", [LODASH, LOG4J], [a_source(oss[1]), an_osv_source(osv_fake[1])])
    done = scan(aws, "demo")
    assert done.status == "succeeded"
    found = {finding.vulnerability_id for finding in Finding.query("demo") if finding.alias_of is None}
    # OSS Index's CVE and OSV's GHSA naming one flaw are one finding, under the CVE
    assert {"CVE-2021-44228", "CVE-2021-23337"} <= found
    assert not {"GHSA-35jh-r3h4-6jhm", "GHSA-jfh8-c2jp-5v3q"} & found
    assert Finding.get("demo", "CVE-2021-23337").aliases == {"GHSA-35jh-r3h4-6jhm"}
    row = Package.get("demo", LODASH).vulnerability_ids
    assert {"CVE-2021-23337", "GHSA-35jh-r3h4-6jhm"} <= row  # one row, both sources' ids
    assert (int(done.requests_made) - int(done.osv_requests), int(done.osv_requests)) == (1, 2 + 4)
    # A rescan keeps both: neither source's answer overwrites the other's
    again = scan(aws, "demo", refresh=True)
    assert again.status == "succeeded"
    assert Package.get("demo", LODASH).vulnerability_ids == row
    again_found = {
        finding.vulnerability_id
        for finding in Finding.query("demo")
        if finding.alias_of is None and finding.status != "withdrawn"
    }
    assert again_found == found


def test_an_osv_fault_fails_the_batch_and_is_reported_with_the_source(aws: Any, osv_fake: tuple[FakeOsv, str]) -> None:
    service, url = osv_fake
    source = an_osv_source(url)
    a_feed("demo", [LODASH], [source])
    service.add_fault(Fault(status=400, body='{"code":3,"message":"error in query at index 0"}'))
    done = scan(aws, "demo")
    assert (done.status, done.batches_failed) == ("failed", 1)
    assert errors(done) == ["osv: OSV answered 400."]
    assert source_store.get(source).last_error_status == 400
    assert Finding.count("demo") == 0


def test_an_osv_503_is_retried_and_the_scan_succeeds(aws: Any, osv_fake: tuple[FakeOsv, str]) -> None:
    service, url = osv_fake
    a_feed("demo", [LOG4J], [an_osv_source(url)])
    service.add_fault(Fault(status=503, times=2))
    done = scan(aws, "demo")
    assert (done.status, int(done.osv_requests)) == ("succeeded", 2 + 1 + 1)


def test_an_osv_only_feed_is_batched_1000_purls_at_a_time(aws: Any, osv_fake: tuple[FakeOsv, str]) -> None:
    service, url = osv_fake
    a_feed("big", [f"pkg:npm/package-{n}@1.0.0" for n in range(1500)], [an_osv_source(url)])
    done = scan(aws, "big")
    assert (done.status, done.batches_total, service.stats()["batch_requests"]) == ("succeeded", 2, 2)


def test_the_gate_looks_up_an_unscanned_purl_in_osv_with_its_fixed_versions(
    aws: Any, osv_fake: tuple[FakeOsv, str]
) -> None:
    a_feed("demo", [], [an_osv_source(osv_fake[1])])
    (result,) = gate.check(feed_store.require("demo"), [LODASH], clock.now())
    assert result.scanned
    by_id = {v["id"]: v for v in result.vulnerabilities}
    # Named as its finding would be: by its CVE, the GHSA among its aliases
    assert by_id["CVE-2021-23337"]["fixed_versions"] == ["4.17.21"]
    assert by_id["CVE-2021-23337"]["aliases"] == ["GHSA-35jh-r3h4-6jhm"]
    assert "FGDEMO-2026-0001" not in by_id


def test_the_gate_shows_the_fixed_versions_a_scan_recorded(aws: Any, osv_fake: tuple[FakeOsv, str]) -> None:
    a_feed("demo", [LODASH], [an_osv_source(osv_fake[1])])
    scan(aws, "demo")
    (result,) = gate.check(feed_store.require("demo"), [LODASH], clock.now())
    assert {v["id"]: v["fixed_versions"] for v in result.vulnerabilities} == {
        "CVE-2021-23337": ["4.17.21"],
        "CVE-2020-28500": ["4.17.21"],
    }
    assert json.dumps(result.vulnerabilities)  # plain JSON


@pytest.mark.parametrize("case", OSV_SCAN_FAULTS, ids=lambda case: case.name)
def test_osv_faults_end_the_scan_with_the_right_status_and_lose_nothing(
    aws: Any, osv_fake: tuple[FakeOsv, str], monkeypatch: pytest.MonkeyPatch, case: ScanFault
) -> None:
    # (tests/integration/test_osv_http.py runs the same cases through the local stack)
    fault = Fault(**case.fault)
    if fault.latency_ms:
        monkeypatch.setattr("feedguard.osv.REQUEST_TIMEOUT", 0.5)
    service, url = osv_fake
    source = an_osv_source(url)
    a_feed("demo", [LOG4J, LODASH], [source])
    scan(aws, "demo")
    before = sorted((f.vulnerability_id, f.status) for f in Finding.query("demo"))
    service.add_fault(fault)
    done = scan(aws, "demo", refresh=True)
    assert done.status == case.status
    assert errors(done) == ([f"osv: {case.error}"] if case.error else [])
    assert sorted((f.vulnerability_id, f.status) for f in Finding.query("demo")) == before


def test_a_refresh_scan_fetches_each_record_again_but_once(aws: Any, osv_fake: tuple[FakeOsv, str]) -> None:
    service, url = osv_fake
    service.vulnerable_share = 1.0  # every package lists made-up records, shared across packages
    a_feed("big", [f"pkg:npm/package-{n}@1.0.0" for n in range(1500)], [an_osv_source(url)])
    cold = scan(aws, "big")
    distinct = Vulnerability.count()
    assert (cold.status, service.stats()["record_requests"]) == ("succeeded", distinct)
    fetched = service.stats()["record_requests"]
    refreshed = scan(aws, "big", refresh=True)
    # Two batches list most of the same records: the second reads what the first fetched
    assert (refreshed.status, service.stats()["record_requests"] - fetched) == ("succeeded", distinct)
