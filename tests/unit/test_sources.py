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
