"""The OSS Index client against the fake OSS Index on loopback."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest

from feedguard import ossindex
from feedguard.effects import severity
from feedguard.ossindex import Client, Credentials
from infra import control
from infra.fake_ossindex import FakeOssIndex, FakeOssIndexProcess, Fault
from infra.stack import free_port

TOKEN = "local-fake-token"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client(url: str, sleeps: Sleeps | None = None, **options: Any) -> Client:
    return Client(url, Credentials(token=TOKEN), sleep=sleeps or Sleeps(), **options)


def test_reports_parse_every_field_and_absent_ones(oss: tuple[FakeOssIndex, str]) -> None:
    _, url = oss
    reports = client(url).reports(["pkg:npm/axios@0.21.0", "pkg:golang/golang.org/x/text@v0.3.7"])
    axios = reports["pkg:npm/axios@0.21.0"]
    by_id = {v.id: v for v in axios.vulnerabilities}
    assert by_id["CVE-2020-28168"].cve == "CVE-2020-28168"
    assert by_id["CVE-2020-28168"].cvss_vector.startswith("CVSS:3.0/")
    sonatype = by_id["sonatype-2021-1694"]
    assert (sonatype.cve, sonatype.description, sonatype.external_references) == (None, None, ())
    text = reports["pkg:golang/golang.org/x/text@v0.3.7"]
    assert text.description is None  # absent on the component


def test_a_purl_without_vulnerabilities_is_answered_with_none(oss: tuple[FakeOssIndex, str]) -> None:
    _, url = oss
    reports = client(url).reports(["pkg:npm/lodash@4.17.21"])
    assert reports["pkg:npm/lodash@4.17.21"].vulnerabilities == ()


def test_purls_are_deduplicated_and_sent_128_at_a_time(oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    purls = [f"pkg:npm/p{n}@1.0.0" for n in range(300)]
    reports = client(url).reports(purls + purls[:10])
    assert len(reports) == 300
    assert service.stats()["requests"] == 3  # ceil(300 / 128)
    assert service.stats()["coordinates_asked"] == 300


def test_answers_match_despite_case_and_a_missing_prefix(oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    body = (
        '[{"coordinates": "NPM/Lodash@4.17.20", "vulnerabilities": []},'
        ' {"coordinates": "pkg:npm/never-asked@1", "vulnerabilities": []}]'
    )
    service.add_fault(Fault(body=body))
    reports = client(url).reports(["pkg:npm/lodash@4.17.20"])
    assert list(reports) == ["pkg:npm/lodash@4.17.20"]


def test_an_unanswered_purl_is_absent_not_clean(oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    service.add_fault(Fault(answer_only=1))
    reports = client(url).reports(["pkg:npm/lodash@4.17.20", "pkg:npm/minimist@1.2.5"])
    assert len(reports) == 1


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retryable_answers_are_retried_with_backoff(oss: tuple[FakeOssIndex, str], status: int) -> None:
    service, url = oss
    service.add_fault(Fault(status=status, times=2))
    sleeps = Sleeps()
    used = client(url, sleeps)
    reports = used.reports(["pkg:npm/lodash@4.17.20"])
    assert len(reports) == 1
    assert len(sleeps.calls) == 2
    assert (used.usage.requests, used.usage.retries) == (3, 2)


def test_retry_after_is_honoured(oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    service.add_fault(Fault(status=429, retry_after="7"))
    sleeps = Sleeps()
    client(url, sleeps).reports(["pkg:npm/lodash@4.17.20"])
    assert sleeps.calls == [7.0]


def test_retries_are_bounded_in_attempts_and_time(oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    service.add_fault(Fault(status=503, times=100))
    sleeps = Sleeps()
    with pytest.raises(ossindex.Unavailable, match="OSS Index answered 503 after 4 attempts"):
        client(url, sleeps, max_attempts=4).reports(["pkg:npm/lodash@4.17.20"])
    assert len(sleeps.calls) == 3
    service.add_fault(Fault(status=429, retry_after="50", times=100))
    with pytest.raises(ossindex.Unavailable):
        client(url, Sleeps(), max_total_seconds=30).reports(["pkg:npm/lodash@4.17.20"])


def test_connection_errors_are_retried_then_reported() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    sleeps = Sleeps()
    with pytest.raises(ossindex.Unavailable, match="could not be reached"):
        client(closed, sleeps, max_attempts=3).reports(["pkg:npm/lodash@4.17.20"])
    assert len(sleeps.calls) == 2


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, ossindex.AuthenticationFailed, "OSS Index answered 401"),
        (403, ossindex.AuthenticationFailed, "OSS Index answered 403"),
        (402, ossindex.CreditsExhausted, "OSS Index answered 402: credits exhausted"),
        (400, ossindex.OssIndexError, "OSS Index answered 400"),
    ],
)
def test_refusals_are_not_retried(
    oss: tuple[FakeOssIndex, str], status: int, error: type[Exception], message: str
) -> None:
    service, url = oss
    service.add_fault(Fault(status=status))
    sleeps = Sleeps()
    with pytest.raises(error, match=message):
        client(url, sleeps).reports(["pkg:npm/lodash@4.17.20"])
    assert sleeps.calls == []
    assert service.stats()["requests"] == 1


def test_a_wrong_token_is_refused_by_the_service(oss: tuple[FakeOssIndex, str]) -> None:
    _, url = oss
    with pytest.raises(ossindex.AuthenticationFailed):
        Client(url, Credentials(token="wrong"), sleep=Sleeps()).reports(["pkg:npm/lodash@4.17.20"])


def test_basic_auth_sends_username_and_token(oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    seen: list[str | None] = []
    real = service.answer

    def spy(method: str, path: str, authorization: str | None, body: bytes) -> Any:
        seen.append(authorization)
        return real(method, path, authorization, body)

    service.answer = spy  # type: ignore[method-assign]
    Client(url, Credentials(token=TOKEN, auth="basic", username="me@example.com"), sleep=Sleeps()).reports(
        ["pkg:npm/a@1"]
    )
    assert seen == ["Basic " + base64.b64encode(f"me@example.com:{TOKEN}".encode()).decode()]


def test_basic_auth_sends_a_username_of_any_script_as_utf8(oss: tuple[FakeOssIndex, str]) -> None:
    # Given a username outside latin-1, which requests' own basic auth cannot encode
    service, url = oss
    seen: list[str | None] = []
    real = service.answer

    def spy(method: str, path: str, authorization: str | None, body: bytes) -> Any:
        seen.append(authorization)
        return real(method, path, authorization, body)

    service.answer = spy  # type: ignore[method-assign]

    # When the client asks
    Client(url, Credentials(token=TOKEN, auth="basic", username="жена@пример.рф"), sleep=Sleeps()).reports(
        ["pkg:npm/a@1"]
    )

    # Then the pair goes out UTF-8 encoded (RFC 7617), not as a crash
    assert seen == ["Basic " + base64.b64encode(f"жена@пример.рф:{TOKEN}".encode()).decode()]


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        '{"coordinates": "x"}',
        '[{"no": "coordinates"}]',
        '[{"coordinates": "pkg:npm/a@1", "vulnerabilities": [{"title": "no id"}]}]',
        '[{"coordinates": "pkg:npm/a@1", "vulnerabilities": [{"id": "X", "cvssScore": 42}]}]',
        "[1, 2]",
    ],
)
def test_malformed_answers_are_errors_never_empty_answers(oss: tuple[FakeOssIndex, str], body: str) -> None:
    service, url = oss
    service.add_fault(Fault(body=body))
    with pytest.raises(ossindex.MalformedAnswer):
        client(url).reports(["pkg:npm/a@1"])


def test_the_user_agent_names_feedguard_and_its_version() -> None:
    assert ossindex.USER_AGENT.startswith("feedguard/0.1.0 ")


def test_the_fake_says_how_busy_it_was_kept(oss: tuple[FakeOssIndex, str]) -> None:
    """What the bench reads: when the first request came, when the last
    answer left, and the time requests spent in the service in all."""
    service, url = oss
    service.latency_ms = 50
    client(url).reports([f"pkg:npm/p-{n}@1.0.0" for n in range(300)])  # three requests, one after another
    stats = service.stats()
    span = stats["last_answer_at"] - stats["first_request_at"]
    assert 0.15 <= stats["request_seconds"] <= span
    service.reset()
    assert (service.stats()["first_request_at"], service.stats()["request_seconds"]) == (None, 0.0)


def test_the_fake_in_a_process_of_its_own_is_controlled_as_if_it_were_here() -> None:
    """What the local stack runs: faults, latency, reset and counters through
    the fake's control paths; the process ends when stopped."""
    fake = FakeOssIndexProcess()
    fake.start("127.0.0.1", free_port())
    try:
        fake.latency_ms = 20
        fake.add_fault(Fault(status=503))
        assert fake.stats()["faults_queued"] == 1
        sleeps = Sleeps()
        reports = client(fake.url, sleeps).reports(["pkg:npm/lodash@4.17.21"])  # 503, then the answer
        assert "pkg:npm/lodash@4.17.21" in reports
        assert (fake.stats()["requests"], fake.latency_ms, len(sleeps.calls)) == (2, 20, 1)
        fake.vulnerable_share = 0.5
        assert fake.vulnerable_share == 0.5
        bad = fake.session.put(f"{fake.url}/__fake__/vulnerable", json={"share": 2}, timeout=10)
        assert (bad.status_code, fake.vulnerable_share) == (400, 0.5)
        fake.reset()
        assert (fake.stats()["requests"], fake.latency_ms, fake.vulnerable_share) == (0, 0, 0)
    finally:
        fake.stop()
    assert fake.process is not None
    assert fake.process.returncode is not None


def test_a_share_of_packages_it_does_not_know_is_reported_vulnerable_the_same_way_every_time(
    oss: tuple[FakeOssIndex, str],
) -> None:
    service, url = oss
    made_up = [f"pkg:npm/made-up-{n}@1.0.0" for n in range(1000)]
    assert not any(report.vulnerabilities for report in client(url).reports(made_up).values())  # by default
    service.vulnerable_share = 0.1
    first, again = client(url).reports(made_up), client(url).reports(made_up)
    vulnerable = {purl for purl, report in first.items() if report.vulnerabilities}
    assert 70 <= len(vulnerable) <= 130
    assert first == again
    reported = [v for purl in vulnerable for v in first[purl].vulnerabilities]
    assert all(1 <= len(first[purl].vulnerabilities) <= 3 for purl in vulnerable)
    assert len({v.id for v in reported}) == len(reported)  # each package's own
    assert {severity(v.cvss_score) for v in reported} >= {"low", "medium", "high", "critical"}
    assert any(v.cve is None for v in reported)
    assert any(v.cve for v in reported)
    # the versions of a package drawn vulnerable report the same; a package the fake knows keeps its answer
    name = next(iter(vulnerable)).rsplit("@", 1)[0]
    versions = client(url).reports([f"{name}@{n}.0.0" for n in range(2, 60)] + ["pkg:npm/lodash@4.17.21"])
    drawn = [report.vulnerabilities for report in versions.values() if report.vulnerabilities]
    assert drawn
    assert all(found == first[f"{name}@1.0.0"].vulnerabilities for found in drawn)
    assert versions["pkg:npm/lodash@4.17.21"].vulnerabilities == ()


def test_the_control_server_sets_the_share_and_refuses_one_that_is_not() -> None:
    stack: Any = SimpleNamespace(fake_ossindex=FakeOssIndex())
    assert control._route(stack, "PUT", "/ossindex/vulnerable", {}, {"share": 0.25})[0] == 200
    for bad in ({"share": 1.5}, {"share": "0.1"}, {"share": True}, {}, None):
        status, answer = control._route(stack, "PUT", "/ossindex/vulnerable", {}, bad)
        assert (status, answer["message"]) == (400, "share is a number from 0 to 1")
    assert stack.fake_ossindex.vulnerable_share == 0.25


@pytest.mark.parametrize("retry_after", ["soon", "inf", "nan", "-5", "Fri, 99 Foo 2026 99:99:99 GMT"])
def test_a_retry_after_that_is_neither_seconds_nor_a_date_gets_the_default_backoff(
    oss: tuple[FakeOssIndex, str], retry_after: str
) -> None:
    # Given OSS Index asks to retry "soon" (or other nonsense) once
    service, url = oss
    service.add_fault(Fault(status=429, retry_after=retry_after))
    sleeps = Sleeps()
    # When a report is asked, the retry waits the client's own backoff, and the answer comes
    assert "pkg:npm/lodash@4.17.21" in client(url, sleeps, base_delay=0.5).reports(["pkg:npm/lodash@4.17.21"])
    assert len(sleeps.calls) == 1
    assert 0 <= sleeps.calls[0] <= 0.5


@pytest.fixture
def redirecting(oss: tuple[FakeOssIndex, str]) -> Iterator[str]:
    """A server on loopback that answers every request with a 307 to the fake OSS Index."""
    target = oss[1] + ossindex.REPORT_PATH

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_redirect_is_never_followed_and_stops_the_source(oss: tuple[FakeOssIndex, str], redirecting: str) -> None:
    # Given a source whose URL answers 307 to another server
    service, _ = oss
    sleeps = Sleeps()
    # When a report is asked, it is an error naming the redirect, without what the source answered
    with pytest.raises(ossindex.Redirected) as raised:
        client(redirecting, sleeps).reports(["pkg:npm/lodash@4.17.20"])
    assert raised.value.stops_source
    assert raised.value.message.startswith("OSS Index answered 307, a redirect, which sources do not follow")
    assert "127.0.0.1" not in raised.value.message
    # And the coordinates and the token never reached the redirect's target
    assert service.stats()["requests"] == 0
    assert sleeps.calls == []


def test_an_error_answer_is_reported_without_its_body(oss: tuple[FakeOssIndex, str]) -> None:
    service, url = oss
    service.add_fault(Fault(status=418, body="<html>secret internal page of some other host</html>"))
    with pytest.raises(ossindex.OssIndexError) as raised:
        client(url).reports(["pkg:npm/lodash@4.17.20"])
    assert raised.value.message == "OSS Index answered 418"
    assert "secret internal page" in (raised.value.detail or "")  # for the log only


def test_a_source_at_a_private_address_is_refused_before_anything_is_sent(oss: tuple[FakeOssIndex, str]) -> None:
    # Given a deployment that allows only public sources, and a source whose name now resolves to 127.0.0.1
    service, url = oss
    named = url.replace("127.0.0.1", "localhost")
    # When a report is asked
    with pytest.raises(ossindex.PrivateAddress) as raised:
        Client(named, Credentials(token=TOKEN), sleep=Sleeps(), allow_private=False).reports(["pkg:npm/a@1.0.0"])
    # Then the connection is refused once connected, before the request is sent, and not retried
    assert raised.value.stops_source
    assert "loopback" in raised.value.message
    assert service.stats()["requests"] == 0
    # And the same session serves a deployment that allows private sources
    assert Client(url, Credentials(token=TOKEN), sleep=Sleeps(), allow_private=True).reports(["pkg:npm/a@1.0.0"])
