"""Vulnerability sources: the token lives in Secrets Manager only."""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest

from feedguard.settings import settings
from handlers import feeds, sources
from tests.support import key_caller, request

TOKEN = "sonatype_pat_S3CR3T-0123456789abcdef"
NEW_TOKEN = "sonatype_pat_R0T4T3D-fedcba9876543210"


def new_source(**overrides: Any) -> dict[str, Any]:
    body = {"name": "guide", "kind": "ossindex", "token": TOKEN, **overrides}
    status, answer = request(sources, "POST", "/sources", body=body)
    assert status == 201, answer
    return dict(answer)


def everything_stored(aws: Any) -> str:
    dynamodb = boto3.client("dynamodb")
    return json.dumps([dynamodb.scan(TableName=name)["Items"] for name in aws.table_names.values()])


def test_a_source_gets_the_default_url_and_its_token_goes_to_secrets_manager(aws: Any) -> None:
    created = new_source()
    assert created["url"] == "https://api.guide.sonatype.com"
    assert (created["kind"], created["auth"], created["token_set"]) == ("ossindex", "bearer", True)
    assert "token" not in created
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=f"{settings().source_secret_prefix}{created['id']}"
    )
    assert secret["SecretString"] == TOKEN
    assert TOKEN not in everything_stored(aws)


def test_a_new_token_replaces_the_secrets_value(aws: Any) -> None:
    created = new_source()
    status, updated = request(
        sources, "PATCH", f"/sources/{created['id']}", body={"token": NEW_TOKEN, "name": "renamed"}
    )
    assert (status, updated["name"]) == (200, "renamed")
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=f"{settings().source_secret_prefix}{created['id']}"
    )
    assert secret["SecretString"] == NEW_TOKEN


def test_basic_auth_needs_a_username(aws: Any) -> None:
    status, answer = request(
        sources, "POST", "/sources", body={"name": "g", "kind": "ossindex", "auth": "basic", "token": TOKEN}
    )
    assert status == 422
    assert "username" in answer["message"]
    created = new_source(auth="basic", username="me@example.com")
    assert created["username"] == "me@example.com"
    status, _ = request(sources, "PATCH", f"/sources/{created['id']}", body={"username": None})
    assert status == 422


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"auth": "basic", "username": "me:you@example.com"}, "username"),
        ({"auth": "basic", "username": "me\u0000@example.com"}, "username"),
        ({"token": "two words"}, "token"),
        ({"token": "tökén"}, "token"),
        ({"token": "line\nbreak"}, "token"),
    ],
)
def test_a_username_or_token_no_header_can_carry_is_422_and_never_echoed(
    aws: Any, fields: dict[str, str], named: str
) -> None:
    # Given a username with a colon or a control character, or a token that is not visible ASCII
    body = {"name": "g", "kind": "ossindex", "token": TOKEN, **fields}

    # When a source is created with it
    status, answer = request(sources, "POST", "/sources", body=body)

    # Then it is refused by the field it names, nothing is stored, and the token is not repeated
    assert status == 422, answer
    assert answer["details"][0]["loc"] == ["body", named]
    assert fields.get("token", TOKEN) not in json.dumps(answer)
    assert request(sources, "GET", "/sources")[1]["items"] == []


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://ossindex.sonatype.org", True),
        ("https://api.guide.sonatype.com/", True),
        ("http://127.0.0.1:9000", False),
        ("ftp://example.com", False),
        ("file:///etc/passwd", False),
        ("https://user:pass@example.com", False),
        ("https://", False),
    ],
)
def test_only_https_urls_by_default(aws: Any, url: str, allowed: bool) -> None:
    status, _ = request(sources, "POST", "/sources", body={"name": "g", "kind": "ossindex", "url": url, "token": TOKEN})
    assert status == (201 if allowed else 422)


def test_http_is_allowed_where_the_deployment_allows_it(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDGUARD_ALLOW_HTTP_SOURCES", "1")
    settings.cache_clear()
    try:
        assert new_source(url="http://127.0.0.1:9000")["url"] == "http://127.0.0.1:9000"
        status, _ = request(
            sources, "POST", "/sources", body={"name": "g", "kind": "ossindex", "url": "ftp://x", "token": TOKEN}
        )
        assert status == 422
    finally:
        settings.cache_clear()


def test_any_key_may_read_sources_but_only_the_admin_change_them(aws: Any) -> None:
    created = new_source()
    someone = key_caller("k1")
    assert request(sources, "GET", "/sources", caller=someone)[0] == 200
    assert request(sources, "GET", f"/sources/{created['id']}", caller=someone)[0] == 200
    assert (
        request(sources, "POST", "/sources", body={"name": "x", "kind": "ossindex", "token": "t"}, caller=someone)[0]
        == 403
    )
    assert request(sources, "PATCH", f"/sources/{created['id']}", body={"name": "x"}, caller=someone)[0] == 403
    assert request(sources, "DELETE", f"/sources/{created['id']}", caller=someone)[0] == 403


def test_delete_is_409_while_a_feed_uses_the_source_and_then_removes_the_secret(aws: Any) -> None:
    created = new_source()
    request(feeds, "POST", "/feeds", body={"name": "payments"})
    request(feeds, "PUT", f"/feeds/payments/sources/{created['id']}")
    status, answer = request(sources, "DELETE", f"/sources/{created['id']}")
    assert status == 409
    assert answer["details"] == ["payments"]
    request(feeds, "DELETE", f"/feeds/payments/sources/{created['id']}")
    assert request(sources, "DELETE", f"/sources/{created['id']}")[0] == 204
    assert request(sources, "GET", f"/sources/{created['id']}")[0] == 404
    secrets = boto3.client("secretsmanager").list_secrets()["SecretList"]
    assert all("DeletedDate" in secret for secret in secrets if created["id"] in secret["Name"])


@pytest.mark.parametrize(
    "body",
    [
        {"name": "g", "kind": "nvd", "token": TOKEN},
        {"name": "g", "kind": "ossindex"},
        {"name": "g", "kind": "ossindex", "token": ""},
        {"name": "g", "kind": "ossindex", "token": 5},
        {"name": "g", "kind": "ossindex", "token": TOKEN, "auth": "digest"},
        {"name": "", "kind": "ossindex", "token": TOKEN},
    ],
)
def test_invalid_sources_are_422_and_nothing_is_stored(aws: Any, body: dict[str, Any]) -> None:
    status, answer = request(sources, "POST", "/sources", body=body)
    assert status == 422
    assert TOKEN not in json.dumps(answer)
    assert boto3.client("secretsmanager").list_secrets()["SecretList"] == [] or all(
        "sources" not in secret["Name"] for secret in boto3.client("secretsmanager").list_secrets()["SecretList"]
    )
    assert request(sources, "GET", "/sources")[1]["items"] == []


def test_tokens_never_reach_a_log_line_or_a_response(
    aws: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given DEBUG logging everywhere
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    caplog.set_level(logging.DEBUG)
    for name in ("feedguard", "botocore", "boto3", "pynamodb", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    # When a source is created, read, rotated, refused and deleted
    answers = []
    created = new_source()
    answers.append(created)
    answers.append(request(sources, "GET", f"/sources/{created['id']}")[1])
    answers.append(request(sources, "PATCH", f"/sources/{created['id']}", body={"token": NEW_TOKEN})[1])
    answers.append(request(sources, "PATCH", f"/sources/{created['id']}", body={"token": NEW_TOKEN, "auth": 3})[1])
    answers.append(request(sources, "POST", "/sources", body={"name": "g", "kind": "nvd", "token": TOKEN})[1])
    answers.append(request(sources, "DELETE", f"/sources/{created['id']}")[1])
    # Then neither token appears in any response, log line or table
    captured = capsys.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert "source created" in logs
    for token in (TOKEN, NEW_TOKEN):
        assert token not in json.dumps(answers)
        assert token not in logs
        assert token not in everything_stored(aws)


@pytest.fixture
def public_only(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A deployment that allows only public sources (the template's default)."""
    monkeypatch.setenv("FEEDGUARD_ALLOW_PRIVATE_SOURCES", "0")
    settings.cache_clear()
    yield
    settings.cache_clear()


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1",
        "https://127.0.0.1:8443",
        "https://[::1]",
        "https://169.254.169.254",  # the instance metadata service
        "https://[fe80::1%25eth0]",
        "https://10.0.0.5",
        "https://172.16.0.1",
        "https://192.168.1.1",
        "https://100.64.0.1",
        "https://0.0.0.0",
        "https://[::ffff:127.0.0.1]",
        "https://2130706433",  # 127.0.0.1 as one number, which the resolver reads
        "https://127.1",
        "https://0x7f.0.0.1",
        "https://localhost",
        "https://LOCALHOST.",
        "https://api.localhost",
    ],
)
def test_a_source_on_a_private_host_is_refused_unless_the_deployment_allows_it(
    aws: Any, public_only: Any, url: str
) -> None:
    # When the admin creates a source there, or moves one there
    status, answer = request(
        sources, "POST", "/sources", body={"name": "g", "kind": "ossindex", "url": url, "token": TOKEN}
    )
    assert status == 422, answer
    assert "public" in answer["message"]
    created = new_source()
    status, _ = request(sources, "PATCH", f"/sources/{created['id']}", body={"url": url})
    assert status == 422
    # Then nothing is stored
    assert [s["url"] for s in request(sources, "GET", "/sources")[1]["items"]] == ["https://api.guide.sonatype.com"]


@pytest.mark.parametrize(
    "url", ["https://example.com:0", "https://example.com:65536", "https://example.com:abc", "https://example.com:"]
)
def test_a_source_url_with_an_invalid_port_is_refused(aws: Any, url: str) -> None:
    status, answer = request(
        sources, "POST", "/sources", body={"name": "g", "kind": "ossindex", "url": url, "token": TOKEN}
    )
    assert status == 422, answer
    assert "port" in answer["message"]


@pytest.mark.parametrize("url", ["https://8.8.8.8", "https://example.com:8443", "https://[2606:4700::1111]"])
def test_public_hosts_and_valid_ports_are_accepted(aws: Any, public_only: Any, url: str) -> None:
    assert new_source(url=url)["url"] == url


def test_a_private_host_is_accepted_where_the_deployment_allows_it(aws: Any) -> None:
    # The unit tests run as the local stack does: FEEDGUARD_ALLOW_PRIVATE_SOURCES=1
    assert new_source(url="https://127.0.0.1:8443")["url"] == "https://127.0.0.1:8443"


def test_a_feeds_manager_sees_a_short_reason_for_a_sources_failure_never_its_body(
    aws: Any, oss: tuple[Any, str]
) -> None:
    from feedguard.dal import feeds as feed_store
    from feedguard.dal import permissions
    from feedguard.dal import scans as scan_store
    from handlers import scans
    from infra.fake_ossindex import Fault
    from tests.unit.builders import a_feed
    from tests.unit.test_scanner import LODASH, a_source, scan

    # Given a scan whose source answered an error page, and a scan recorded
    # before sources' bodies stopped being quoted
    service, url = oss
    a_feed("demo", [LODASH], [a_source(url)])
    permissions.grant(feed_store.require("demo"), "kmanager", "manager")
    service.add_fault(Fault(status=500, body="<html>Internal page of some host: db=10.0.0.7</html>"))
    done = scan(aws, "demo")
    legacy = scan_store.create("s-legacy", "demo", "api", False)
    scan_store.count_batch(
        legacy.scan_id,
        0,
        scan_store.BatchOutcome(
            failed=True,
            error_source="src-guide",
            error_message="guide: OSS Index answered 500: <html>db=10.0.0.7</html>.",
        ),
    )
    # When the feed's manager reads the scans, and the admin does
    manager = request(scans, "GET", "/scans", query={"feed": "demo"}, caller=key_caller("kmanager"))[1]
    one = request(scans, "GET", f"/scans/{done.scan_id}", caller=key_caller("kmanager"))[1]
    admin = request(scans, "GET", "/scans", query={"feed": "demo"})[1]
    # Then the manager sees the reason, never the body
    messages = sorted(e["message"] for s in manager["items"] for e in s["errors"])
    assert messages == ["guide: OSS Index answered 500.", "guide: OSS Index answered 500."]
    assert [e["message"] for e in one["errors"]] == ["guide: OSS Index answered 500."]
    assert "10.0.0.7" not in json.dumps(manager) + json.dumps(one)
    # and the admin sees the new scan's reason as is; only a record from before quotes a body
    assert "10.0.0.7" not in json.dumps([s for s in admin["items"] if s["id"] == done.scan_id])


# ---------------------------------------------------------------- the credential test


def stored_secrets() -> list[str]:
    listed = boto3.client("secretsmanager").list_secrets()["SecretList"]
    return [s["Name"] for s in listed if s["Name"].startswith(settings().source_secret_prefix)]


def test_a_source_is_saved_after_one_request_of_one_coordinate_answered(aws: Any, guide: Any) -> None:
    created = new_source()
    assert created["warnings"] == []
    assert created["health"]["last_success_at"] == created["created_at"]
    assert (created["health"]["last_error"], created["health"]["credits_exhausted"]) == (None, False)
    assert (guide.stats()["requests"], guide.stats()["coordinates_asked"]) == (1, 1)
    assert request(sources, "GET", f"/sources/{created['id']}")[1]["health"] == created["health"]


@pytest.mark.parametrize(("status", "auth"), [(401, "bearer"), (403, "bearer"), (401, "basic")])
def test_a_token_the_source_refuses_is_422_and_nothing_is_stored(aws: Any, guide: Any, status: int, auth: str) -> None:
    from infra.fake_ossindex import Fault

    guide.tokens = {"the-right-token"}
    if status != 401:
        guide.tokens = {TOKEN}
        guide.add_fault(Fault(status=status))
    body = {"name": "guide", "kind": "ossindex", "token": TOKEN, "auth": auth, "username": "me@example.com"}
    answered, answer = request(sources, "POST", "/sources", body=body)
    assert answered == 422, answer
    assert answer["message"] == (
        f"The source refused the credentials (OSS Index answered {status}: the token was refused); nothing was saved."
    )
    assert answer["details"] == [{"status": status, "reason": f"OSS Index answered {status}: the token was refused."}]
    assert request(sources, "GET", "/sources")[1]["items"] == []
    assert stored_secrets() == []
    assert TOKEN not in json.dumps(answer)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"status": 301}, "OSS Index answered 301, a redirect, which sources do not follow; check the source's URL"),
        ({"status": 404, "body": "<html>not here</html>"}, "OSS Index answered 404"),
        ({"body": "<html>a login page</html>"}, "OSS Index answered a body that is not JSON"),
    ],
)
def test_a_source_not_answering_as_oss_index_is_422_and_nothing_is_stored(
    aws: Any, guide: Any, fault: dict[str, Any], reason: str
) -> None:
    from infra.fake_ossindex import Fault

    guide.add_fault(Fault(**fault))
    status, answer = request(sources, "POST", "/sources", body={"name": "g", "kind": "ossindex", "token": TOKEN})
    assert status == 422, answer
    assert answer["message"] == f"The source cannot be used as set ({reason}); check its URL. Nothing was saved."
    assert "<html" not in json.dumps(answer)
    assert (request(sources, "GET", "/sources")[1]["items"], stored_secrets()) == ([], [])


def test_credits_exhausted_saves_the_source_with_a_warning_and_its_health_says_so(aws: Any, guide: Any) -> None:
    from infra.fake_ossindex import Fault

    guide.add_fault(Fault(status=402))
    created = new_source()
    assert created["warnings"] == [
        "The source answered 402: its credits are exhausted, so scans of it fail until they are topped up."
    ]
    assert created["health"] == {
        "last_success_at": None,
        "last_error": {
            "at": created["created_at"],
            "status": 402,
            "message": "OSS Index answered 402: credits exhausted.",
        },
        "credits_exhausted": True,
    }
    assert stored_secrets() == [f"{settings().source_secret_prefix}{created['id']}"]
    # A viewer sees the same health
    viewer = request(sources, "GET", f"/sources/{created['id']}", caller=key_caller("kviewer"))[1]
    assert viewer["health"] == created["health"]
    assert "warnings" not in viewer


@pytest.mark.parametrize(
    ("fault", "reason", "status"),
    [
        ({"status": 503, "times": 2}, "OSS Index answered 503 after 2 attempts", 503),
        ({"reset": True, "times": 2}, "OSS Index could not be reached (ConnectionError) after 2 attempts", None),
        ({"status": 500}, "OSS Index answered 500", 500),
    ],
)
def test_a_source_that_cannot_answer_now_is_saved_with_a_warning(
    aws: Any, guide: Any, monkeypatch: pytest.MonkeyPatch, fault: dict[str, Any], reason: str, status: int | None
) -> None:
    from infra.fake_ossindex import Fault

    monkeypatch.setattr("feedguard.ossindex.time.sleep", lambda seconds: None)
    guide.add_fault(Fault(**fault))
    created = new_source()
    assert created["warnings"] == [
        f"The credentials could not be tested ({reason}); the source is saved and scans will try it."
    ]
    assert created["health"]["last_error"] == {"at": created["created_at"], "status": status, "message": f"{reason}."}
    assert created["health"]["credits_exhausted"] is False


def test_a_patch_tests_a_new_token_and_keeps_the_old_one_when_it_is_refused(aws: Any, guide: Any) -> None:
    created = new_source()
    guide.tokens = {TOKEN}
    status, answer = request(sources, "PATCH", f"/sources/{created['id']}", body={"token": NEW_TOKEN})
    assert status == 422, answer
    secret = boto3.client("secretsmanager").get_secret_value(
        SecretId=f"{settings().source_secret_prefix}{created['id']}"
    )
    assert secret["SecretString"] == TOKEN
    guide.tokens = {TOKEN, NEW_TOKEN}
    status, updated = request(sources, "PATCH", f"/sources/{created['id']}", body={"token": NEW_TOKEN})
    assert (status, updated["warnings"]) == (200, [])


def test_a_patch_of_the_url_or_auth_tests_them_with_the_stored_token(aws: Any, guide: Any) -> None:
    created = new_source()
    guide.tokens = {TOKEN}
    assert (
        request(sources, "PATCH", f"/sources/{created['id']}", body={"url": "https://ossindex.sonatype.org"})[0] == 200
    )
    guide.tokens = {"another-token"}
    status, answer = request(
        sources, "PATCH", f"/sources/{created['id']}", body={"auth": "basic", "username": "me@example.com"}
    )
    assert status == 422, answer
    assert request(sources, "GET", f"/sources/{created['id']}")[1]["auth"] == "bearer"  # nothing changed


def test_a_patch_of_the_name_alone_sends_nothing_to_the_source(aws: Any, guide: Any) -> None:
    created = new_source()
    asked = guide.stats()["requests"]
    status, updated = request(sources, "PATCH", f"/sources/{created['id']}", body={"name": "renamed"})
    assert (status, updated["name"], updated["warnings"]) == (200, "renamed", [])
    assert guide.stats()["requests"] == asked


def test_new_credentials_that_work_clear_the_errors_of_the_old(aws: Any, guide: Any) -> None:
    from infra.fake_ossindex import Fault

    guide.add_fault(Fault(status=402))
    created = new_source()
    status, updated = request(sources, "PATCH", f"/sources/{created['id']}", body={"token": NEW_TOKEN})
    assert status == 200
    assert updated["health"] == {
        "last_success_at": updated["updated_at"],
        "last_error": None,
        "credits_exhausted": False,
    }
