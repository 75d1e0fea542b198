"""The OSV client against the fake OSV on loopback, and its conversion of
records into the domain's reports."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from feedguard import ossindex, osv
from infra.fake_ossindex import Fault
from infra.fake_osv import FakeOsv
from infra.osv_data import RECORDS

LODASH = "pkg:npm/lodash@4.17.20"
LOG4J = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
JINJA = "pkg:pypi/jinja2@2.4.1"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(url: str, sleeps: Sleeps | None = None, **options: Any) -> osv.Client:
    return osv.Client(url, sleep=sleeps if sleeps is not None else Sleeps(), **options)


def test_a_query_follows_its_page_tokens_resending_only_the_paged_queries(osv_fake: tuple[FakeOsv, str]) -> None:
    service, url = osv_fake
    # Given lodash with three records, two a page, and log4j with one
    found = client(url).query([LODASH, LOG4J, "pkg:npm/left-pad@1.0.0"])
    assert found[LODASH] == ("GHSA-35jh-r3h4-6jhm", "GHSA-29mw-wpgm-hmr9", "FGDEMO-2026-0001")
    assert found[LOG4J] == ("GHSA-jfh8-c2jp-5v3q",)
    assert found["pkg:npm/left-pad@1.0.0"] == ()  # `{}`: no vulns key
    stats = service.stats()
    # Then one batch of three queries and one follow-up of lodash alone
    assert (stats["batch_requests"], stats["queries_asked"], stats["pages"]) == (2, 4, 1)


def test_queries_go_1000_a_batch_and_versionless_purls_are_never_sent(osv_fake: tuple[FakeOsv, str]) -> None:
    service, url = osv_fake
    service.page_size = 1000
    purls = [f"pkg:npm/p{n}@1.0.0" for n in range(2500)]
    asker = client(url)
    found = asker.query([*purls, *purls[:10], "pkg:npm/lodash", "pkg:npm/%40acme/thing"])
    assert len(found) == 2500
    assert "pkg:npm/lodash" not in found
    stats = service.stats()
    assert (stats["batch_requests"], stats["queries_asked"]) == (3, 2500)  # ceil(2500 / 1000)
    assert asker.usage.batches == 3


def test_records_convert_with_scores_from_vectors_aliases_cwe_and_fixed_versions(
    osv_fake: tuple[FakeOsv, str],
) -> None:
    _, url = osv_fake
    asker = client(url)
    records = [asker.record(vid) for vid in asker.query([LODASH])[LODASH]]
    report = osv.report(LODASH, records)
    by_id = {v.id: v for v in report.vulnerabilities}
    # The withdrawn record is not reported
    assert set(by_id) == {"GHSA-35jh-r3h4-6jhm", "GHSA-29mw-wpgm-hmr9"}
    injection = by_id["GHSA-35jh-r3h4-6jhm"]
    assert (injection.cvss_score, injection.cvss_vector) == (7.2, "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H")
    assert (injection.cve, injection.aliases, injection.cwe) == ("CVE-2021-23337", ("CVE-2021-23337",), "CWE-77")
    assert injection.title == "Command Injection in lodash"
    assert injection.reference == "https://osv.dev/vulnerability/GHSA-35jh-r3h4-6jhm"
    assert injection.external_references == ("https://nvd.nist.gov/vuln/detail/CVE-2021-23337",)
    assert report.fixed_versions == {"GHSA-35jh-r3h4-6jhm": ("4.17.21",), "GHSA-29mw-wpgm-hmr9": ("4.17.21",)}
    assert asker.usage.records == 3


def test_a_cvss_v4_vector_is_scored_and_a_bad_vector_ignored() -> None:
    jinja = osv.vulnerability(RECORDS["GHSA-462w-v97r-4m45"])
    assert (jinja.cvss_score, jinja.cvss_vector) == (
        5.1,
        "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N",
    )
    assert osv.score("CVSS_V3", "CVSS:3.1/AV:X/not-a-vector") is None
    assert osv.score("CVSS_V3", "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") is None  # no 3.0/3.1 prefix
    assert osv.score("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P") == 7.5
    assert osv.score("Ubuntu", "high") is None


def test_the_highest_score_wins_and_affected_severity_counts() -> None:
    record = copy.deepcopy(RECORDS["GHSA-35jh-r3h4-6jhm"])
    record["severity"] = [
        {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:P/I:P/A:P"},
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"},
    ]
    assert osv.vulnerability(record).cvss_score == 7.5
    record["severity"] = []
    record["affected"][0]["severity"] = [{"type": "CVSS_V3", "score": "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]
    assert osv.vulnerability(record).cvss_score == 9.8


def test_a_title_falls_back_to_the_first_line_of_details_and_no_cve_without_one() -> None:
    record = {"id": "PYSEC-2019-217", "modified": "2026-01-01T00:00:00Z", "details": "\nFirst line.\nMore."}
    found = osv.vulnerability(record)
    assert (found.title, found.cve, found.cvss_score, found.aliases) == ("First line.", None, None, ())


def test_fixed_versions_come_from_the_purls_own_package_only() -> None:
    log4j = RECORDS["GHSA-jfh8-c2jp-5v3q"]
    assert osv.fixed_versions(log4j, LOG4J) == ("2.15.0", "2.12.2")
    assert osv.fixed_versions(log4j, "pkg:maven/org.apache.logging.log4j/log4j-api@2.14.1") == ()
    assert osv.fixed_versions(RECORDS["GHSA-462w-v97r-4m45"], "pkg:pypi/Jinja2@2.4.1") == ("2.10.1",)
    assert osv.fixed_versions(log4j, "pkg:conan/openssl@3.0.0") == ()


def test_the_cache_keeps_a_trimmed_record_that_converts_alike() -> None:
    record = {**RECORDS["GHSA-35jh-r3h4-6jhm"]}
    record["affected"] = [{**record["affected"][0], "versions": [f"4.{n}.0" for n in range(5000)]}]
    trimmed = osv.trimmed(record)
    assert "versions" not in trimmed["affected"][0]
    assert osv.report(LODASH, [trimmed]) == osv.report(LODASH, [record])


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_honouring_retry_after(osv_fake: tuple[FakeOsv, str], status: int) -> None:
    service, url = osv_fake
    service.add_fault(Fault(status=status, retry_after="2", times=2))
    sleeps = Sleeps()
    asker = client(url, sleeps)
    assert asker.query([LOG4J])[LOG4J] == ("GHSA-jfh8-c2jp-5v3q",)
    assert sleeps == [2.0, 2.0]
    assert (asker.usage.requests, asker.usage.retries) == (3, 2)


def test_a_service_that_stays_down_is_unavailable_after_bounded_attempts(osv_fake: tuple[FakeOsv, str]) -> None:
    service, url = osv_fake
    service.add_fault(Fault(status=503, times=10))
    with pytest.raises(ossindex.Unavailable) as raised:
        client(url, max_attempts=3).query([LOG4J])
    assert (raised.value.message, raised.value.status) == ("OSV answered 503 after 3 attempts", 503)


def test_a_reset_connection_is_retried(osv_fake: tuple[FakeOsv, str]) -> None:
    service, url = osv_fake
    service.add_fault(Fault(reset=True))
    asker = client(url)
    assert asker.query([LOG4J])[LOG4J] == ("GHSA-jfh8-c2jp-5v3q",)
    assert asker.usage.retries == 1


def test_a_timeout_is_retried_then_reported(osv_fake: tuple[FakeOsv, str]) -> None:
    service, url = osv_fake
    service.add_fault(Fault(latency_ms=500, times=2))
    with pytest.raises(ossindex.Unavailable, match="could not be reached"):
        client(url, timeout=0.1, max_attempts=2).query([LOG4J])


def test_another_4xx_fails_at_once_naming_the_status_not_the_body(osv_fake: tuple[FakeOsv, str]) -> None:
    service, url = osv_fake
    service.add_fault(Fault(status=400, body='{"code":3,"message":"error in query at index 0: secret"}'))
    sleeps = Sleeps()
    with pytest.raises(ossindex.OssIndexError) as raised:
        client(url, sleeps).query([LOG4J])
    assert (raised.value.message, raised.value.status, sleeps) == ("OSV answered 400", 400, [])
    assert "secret" not in raised.value.message
    assert "secret" in (raised.value.detail or "")


def test_an_unknown_record_is_an_error_not_an_empty_answer(osv_fake: tuple[FakeOsv, str]) -> None:
    _, url = osv_fake
    with pytest.raises(ossindex.OssIndexError, match="OSV answered 404"):
        client(url).record("GHSA-0000-0000-0000")


@pytest.mark.parametrize(
    "body",
    ["not json", '{"results": 3}', '{"results": []}', '{"results": [{"vulns": [{"modified": "x"}]}]}'],
)
def test_a_malformed_body_is_an_error(osv_fake: tuple[FakeOsv, str], body: str) -> None:
    service, url = osv_fake
    service.add_fault(Fault(body=body))
    with pytest.raises(ossindex.MalformedAnswer):
        client(url).query([LOG4J])


def test_a_redirect_is_never_followed(osv_fake: tuple[FakeOsv, str]) -> None:
    service, url = osv_fake
    service.add_fault(Fault(status=302))
    with pytest.raises(ossindex.Redirected):
        client(url).query([LOG4J])


def test_aliases_count_in_a_fingerprint_only_when_a_record_has_some() -> None:
    import hashlib
    import json
    from dataclasses import asdict, replace

    from feedguard.findings_plan import fingerprint

    injection = osv.vulnerability(RECORDS["GHSA-35jh-r3h4-6jhm"])
    assert fingerprint(injection) != fingerprint(replace(injection, aliases=("CVE-2021-23337", "GHSA-other")))
    # Without aliases, the fingerprint is the one computed before the field existed
    bare = replace(injection, aliases=())
    before = {name: value for name, value in asdict(bare).items() if name != "aliases"}
    payload = json.dumps(before, sort_keys=True, separators=(",", ":")).encode()
    assert fingerprint(bare) == hashlib.sha256(payload).hexdigest()


def test_reports_of_two_sources_merge_by_id_preferring_the_scored_one() -> None:
    from dataclasses import replace

    from feedguard.domain import Report
    from feedguard.lookups import merged

    injection = osv.vulnerability(RECORDS["GHSA-35jh-r3h4-6jhm"])
    unscored = replace(injection, cvss_score=None, cvss_vector=None)
    other = osv.vulnerability(RECORDS["GHSA-29mw-wpgm-hmr9"])
    together = merged(
        [
            Report((unscored,)),
            Report((injection, other), fixed_versions={injection.id: ("4.17.21",)}),
        ]
    )
    assert together.vulnerabilities == (injection, other)
    assert together.fixed_versions == {injection.id: ("4.17.21",)}
