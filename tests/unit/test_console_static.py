"""The console on the API's port, as CloudFront serves it: index.html at `/`,
the assets under `/console/`, the rest from the API, and the template's
response headers policy on everything."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from infra.apigw import GatewayAnswer
from infra.console_static import BUILD_COMMAND, ConsoleSite, Distribution, ResponseHeadersPolicy
from infra.template import Template

INDEX = b"<!doctype html><title>feedguard</title><script type=module src=/console/assets/app-1a2b.js></script>"
SCRIPT = b"console.log('feedguard')"
POLICY_TEMPLATE = """
Resources:
  ConsoleResponseHeadersPolicy:
    Type: AWS::CloudFront::ResponseHeadersPolicy
    Properties:
      ResponseHeadersPolicyConfig:
        Name: !Sub "${AWS::StackName}-console"
        SecurityHeadersConfig:
          ContentSecurityPolicy:
            ContentSecurityPolicy: "default-src 'self'; frame-ancestors 'none'"
            Override: true
          StrictTransportSecurity:
            AccessControlMaxAgeSec: 63072000
            IncludeSubdomains: true
            Preload: false
            Override: true
          ContentTypeOptions:
            Override: true
          FrameOptions:
            FrameOption: DENY
            Override: true
          ReferrerPolicy:
            ReferrerPolicy: no-referrer
            Override: false
"""
POLICY_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
]


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A built console, and a file beside it that must never be served."""
    root = tmp_path / "dist"
    (root / "console" / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "console" / "assets" / "app-1a2b.js").write_bytes(SCRIPT)
    (root / "console" / "assets" / "app-1a2b.css").write_text("body{}")
    (root / "console" / "site.webmanifest").write_text("{}")
    (tmp_path / "secret.txt").write_text("not for the browser")
    (root / "console" / "assets" / "link.txt").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def policy(tmp_path: Path) -> ResponseHeadersPolicy:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(POLICY_TEMPLATE))
    found = ResponseHeadersPolicy.from_template(Template.load(path))
    assert found is not None
    return found


def header(answer: GatewayAnswer, name: str) -> str | None:
    values = [value for key, value in answer.headers if key.lower() == name.lower()]
    assert len(values) <= 1, answer.headers
    return values[0] if values else None


def message(answer: GatewayAnswer) -> str:
    assert header(answer, "Content-Type") == "application/json"
    body = json.loads(answer.body)
    assert list(body) == ["message"]
    return str(body["message"])


# ------------------------------------------------------------ the policy


def test_the_policy_gives_the_headers_cloudfront_adds(policy: ResponseHeadersPolicy) -> None:
    # Given the template fixture's policy, When it is read, Then it names each security header
    assert [(entry.name, entry.value) for entry in policy.headers] == POLICY_HEADERS


def test_an_overriding_header_replaces_the_origins_and_another_only_fills_a_gap(
    policy: ResponseHeadersPolicy,
) -> None:
    # Given an origin that sent its own X-Frame-Options and Referrer-Policy
    origin = [("Content-Type", "application/json"), ("x-frame-options", "SAMEORIGIN"), ("Referrer-Policy", "origin")]

    # When the policy is applied
    headers = policy.apply(origin)

    # Then X-Frame-Options (Override: true) is the policy's, Referrer-Policy (Override: false) the origin's
    assert ("X-Frame-Options", "DENY") in headers
    assert ("x-frame-options", "SAMEORIGIN") not in headers
    assert ("Referrer-Policy", "origin") in headers
    assert [name for name, _ in headers].count("Referrer-Policy") == 1
    assert ("Content-Type", "application/json") in headers


def test_custom_and_removed_headers_apply_too() -> None:
    policy = ResponseHeadersPolicy.from_config(
        {
            "CustomHeadersConfig": {
                "Items": [{"Header": "Permissions-Policy", "Value": "camera=()", "Override": True}]
            },
            "RemoveHeadersConfig": {"Items": [{"Header": "Server"}]},
        }
    )
    assert policy.apply([("server", "origin"), ("ETag", '"1"')]) == [
        ("ETag", '"1"'),
        ("Permissions-Policy", "camera=()"),
    ]


def test_a_setting_the_local_stack_cannot_emulate_is_refused_not_ignored() -> None:
    with pytest.raises(ValueError, match="PermissionsPolicy"):
        ResponseHeadersPolicy.from_config({"SecurityHeadersConfig": {"PermissionsPolicy": {"Override": True}}})


def test_a_template_without_the_policy_gives_none(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text("Resources: {}\n")
    assert ResponseHeadersPolicy.from_template(Template.load(path)) is None


# ------------------------------------------------------------ the console's files


@pytest.mark.parametrize("path", ["/", "/index.html", "/?from=bookmark"])
def test_the_root_and_index_html_answer_the_console_revalidated_at_each_load(dist: Path, path: str) -> None:
    answer = ConsoleSite(dist).answer("GET", path)
    assert answer is not None
    assert (answer.status, answer.body) == (200, INDEX)
    assert header(answer, "Content-Type") == "text/html; charset=utf-8"
    assert header(answer, "Cache-Control") == "no-cache"


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/console/assets/app-1a2b.js", "text/javascript; charset=utf-8", SCRIPT),
        ("/console/assets/app-1a2b.css", "text/css; charset=utf-8", b"body{}"),
    ],
)
def test_a_hashed_asset_answers_with_its_type_cached_for_a_year(
    dist: Path, path: str, content_type: str, body: bytes
) -> None:
    answer = ConsoleSite(dist).answer("HEAD", path)
    assert answer is not None
    assert (answer.status, answer.body) == (200, body)
    assert header(answer, "Content-Type") == content_type
    assert header(answer, "Cache-Control") == "public, max-age=31536000, immutable"


def test_a_file_outside_the_hashed_assets_is_revalidated_as_the_deploy_uploads_it(dist: Path) -> None:
    answer = ConsoleSite(dist).answer("GET", "/console/site.webmanifest")
    assert answer is not None
    assert (answer.status, answer.body) == (200, b"{}")
    assert header(answer, "Content-Type") == "application/manifest+json"
    assert header(answer, "Cache-Control") == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/console/assets/app-0000.js",
        "/console/assets/",
        "/console/assets",
        "/console/",
        "/console/../../secret.txt",
        "/console/%2e%2e/%2e%2e/secret.txt",
        "/console/assets/..%2f..%2f..%2fsecret.txt",
        "/console/assets//app-1a2b.js",
        "/console/assets/%5c..%5csecret.txt",
        "/console/assets/link.txt",
        "/console/%00",
    ],
)
def test_a_missing_asset_or_a_path_out_of_the_console_is_a_404_in_the_apis_shape(dist: Path, path: str) -> None:
    answer = ConsoleSite(dist).answer("GET", path)
    assert answer is not None
    assert answer.status == 404
    assert message(answer).startswith("The console has no file ")
    assert b"not for the browser" not in answer.body


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/health"), ("GET", "/feeds/demo"), ("GET", "/console"), ("POST", "/"), ("DELETE", "/console/x")],
)
def test_every_other_request_belongs_to_the_api(dist: Path, method: str, path: str) -> None:
    assert ConsoleSite(dist).answer(method, path) is None


def test_an_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    # Given no console/dist
    site = ConsoleSite(tmp_path / "dist")

    # When a person opens the console, Then a 503 names the build command
    answer = site.answer("GET", "/")
    assert answer is not None
    assert answer.status == 503
    assert BUILD_COMMAND in message(answer)
    assert not site.built()
    asset = site.answer("GET", "/console/assets/app.js")
    assert asset is not None
    assert asset.status == 404


# ------------------------------------------------------------ the distribution


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> GatewayAnswer:
        self.requests.append((method, raw_path))
        return GatewayAnswer(401, [("Content-Type", "application/json")], b'{"message": "Missing or unknown API key."}')


def test_the_policy_covers_the_console_and_the_api(dist: Path, policy: ResponseHeadersPolicy) -> None:
    api = FakeApi()
    distribution = Distribution(api, ConsoleSite(dist), policy)

    page = distribution.handle("GET", "/", [], b"", "127.0.0.1")
    missing = distribution.handle("GET", "/console/assets/gone.js", [], b"", "127.0.0.1")
    from_api = distribution.handle("GET", "/feeds/demo", [], b"", "127.0.0.1")

    assert api.requests == [("GET", "/feeds/demo")]
    assert (page.status, missing.status, from_api.status) == (200, 404, 401)
    for answer in (page, missing, from_api):
        for name, value in POLICY_HEADERS:
            assert header(answer, name) == value


def test_without_a_policy_the_answers_are_the_origins(dist: Path) -> None:
    answer = Distribution(FakeApi(), ConsoleSite(dist), None).handle("GET", "/health", [], b"", "127.0.0.1")
    assert answer.headers == [("Content-Type", "application/json")]
