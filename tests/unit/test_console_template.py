"""The console's distribution, read from template.yaml: every API route
reaches API Gateway through a cache behaviour of its own kind, the console's
files reach the bucket, and the bucket is CloudFront's alone. A route added
to the template without a behaviour fails here, not as the console's 403 on
AWS."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra.template import Template

TEMPLATE = Template.load()
RESOURCES: dict[str, Any] = TEMPLATE.resources
DISTRIBUTION: dict[str, Any] = RESOURCES["ConsoleDistribution"]["Properties"]["DistributionConfig"]
BEHAVIOURS: list[dict[str, Any]] = DISTRIBUTION["CacheBehaviors"]
ORIGINS = {origin["Id"]: origin for origin in DISTRIBUTION["Origins"]}
API_ID, _ = TEMPLATE.api()

# AWS's managed policies, by the IDs CloudFront documents for them.
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# CloudFront's default quota of cache behaviours per distribution (its quotas page; adjustable).
BEHAVIOUR_QUOTA = 75

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# What the bundle serves (console/dist): index.html at / and hashed assets under the console's prefix.
BUNDLE_PATHS = ["/", "/index.html", "/console/assets/index-3b9f1c2e.js", "/console/assets/index-0a7d4e11.css"]


def matches(pattern: str, path: str) -> bool:
    """CloudFront's path pattern: `*` is any run of characters (slashes too),
    `?` one character, everything else literal and case-sensitive."""
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.fullmatch(regex, path) is not None


def behaviour_for(path: str, behaviours: list[dict[str, Any]] = BEHAVIOURS) -> dict[str, Any]:
    """The behaviour CloudFront picks: the first whose pattern matches, else the default."""
    return next(
        (behaviour for behaviour in behaviours if matches(behaviour["PathPattern"], path)),
        DISTRIBUTION["DefaultCacheBehavior"],
    )


def request_path(route_path: str) -> str:
    """A path a client sends for a route: each {parameter} filled in."""
    return re.sub(r"\{[^}]+\}", "x1", route_path)


def _ref(value: Any) -> str | None:
    return value.get("Ref") if isinstance(value, dict) else None


def test_the_path_matcher_reads_patterns_as_cloudfront_does() -> None:
    assert matches("/feeds*", "/feeds")
    assert matches("/feeds*", "/feeds/x1/vulnerabilities/x1/assessment")
    assert matches("/health", "/health")
    assert not matches("/health", "/health/x")
    assert not matches("/feeds*", "/Feeds")
    assert matches("/a?c", "/abc")
    assert not matches("/a.c", "/abc")


@pytest.mark.parametrize("route", TEMPLATE.routes(), ids=lambda route: f"{route.method} {route.path}")
def test_every_api_route_goes_to_api_gateway_uncached_with_every_viewer_header(route: Any) -> None:
    # Given a route of the template's Api events, as a client requests it
    behaviour = behaviour_for(request_path(route.path))
    # Then a behaviour of the API's kind takes it
    assert behaviour is not DISTRIBUTION["DefaultCacheBehavior"], f"{route.path} would reach the console's bucket"
    assert behaviour["TargetOriginId"] == "Api"
    assert route.method in behaviour["AllowedMethods"]
    assert behaviour["CachePolicyId"] == CACHING_DISABLED
    # Authorization (cache disabled), If-Match and every query string; Host stays API Gateway's own
    assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST_HEADER


def test_a_route_without_a_behaviour_would_be_caught() -> None:
    # Given a route nobody wrote a behaviour for / Then it falls to the console's bucket
    assert behaviour_for("/reports/x1") is DISTRIBUTION["DefaultCacheBehavior"]


@pytest.mark.parametrize("path", BUNDLE_PATHS)
def test_the_console_bundle_is_served_from_the_bucket(path: str) -> None:
    behaviour = behaviour_for(path)
    assert behaviour is DISTRIBUTION["DefaultCacheBehavior"]
    assert behaviour["TargetOriginId"] == "ConsoleBucket"
    assert behaviour["CachePolicyId"] == CACHING_OPTIMIZED


def test_no_route_lives_under_the_consoles_own_prefix() -> None:
    assert not [route for route in TEMPLATE.routes() if route.path.startswith("/console")]
    assert DISTRIBUTION["DefaultRootObject"] == "index.html"


def test_every_api_behaviour_takes_every_method_and_goes_to_the_api() -> None:
    for behaviour in BEHAVIOURS:
        assert behaviour["TargetOriginId"] == "Api", behaviour["PathPattern"]
        assert set(behaviour["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
        assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert len(BEHAVIOURS) <= BEHAVIOUR_QUOTA


def test_the_api_origin_is_the_templates_api_stage_over_https() -> None:
    origin = ORIGINS["Api"]
    assert origin["DomainName"] == {"Fn::Sub": f"${{{API_ID}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}"}
    stage = _ref(RESOURCES[API_ID]["Properties"]["StageName"])
    assert origin["OriginPath"] == {"Fn::Sub": f"/${{{stage}}}"}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]


def test_viewers_use_https_and_modern_http() -> None:
    assert DISTRIBUTION["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert DISTRIBUTION["HttpVersion"] == "http2and3"
    with_domain, default = DISTRIBUTION["ViewerCertificate"]["Fn::If"][1:]
    assert with_domain["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert default == {"CloudFrontDefaultCertificate": True}


def test_the_security_headers_are_on_the_console_and_on_every_api_behaviour() -> None:
    for behaviour in [DISTRIBUTION["DefaultCacheBehavior"], *BEHAVIOURS]:
        assert _ref(behaviour["ResponseHeadersPolicyId"]) == "ConsoleResponseHeadersPolicy"
    config = RESOURCES["ConsoleResponseHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
    headers = config["SecurityHeadersConfig"]
    assert headers["ContentSecurityPolicy"] == {"ContentSecurityPolicy": CSP, "Override": True}
    assert headers["StrictTransportSecurity"] == {
        "AccessControlMaxAgeSec": 63072000,
        "IncludeSubdomains": True,
        "Preload": True,
        "Override": True,
    }
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert headers["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}


def test_the_bucket_is_private_and_read_only_by_this_distribution() -> None:
    bucket = RESOURCES["ConsoleBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    origin = ORIGINS["ConsoleBucket"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]}
    access = RESOURCES["ConsoleOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert (access["SigningBehavior"], access["SigningProtocol"]) == ("always", "sigv4")
    statements = RESOURCES["ConsoleBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (insecure,) = [s for s in statements if s["Effect"] == "Deny"]
    assert insecure["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for allowed in [s for s in statements if s["Effect"] == "Allow"]:
        assert allowed["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        source = allowed["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
        assert source.endswith(":distribution/${ConsoleDistribution}")


def test_the_outputs_name_what_make_deploy_console_reads() -> None:
    assert {"ConsoleUrl", "ConsoleBucketName", "ConsoleDistributionId"} <= TEMPLATE.document["Outputs"].keys()
