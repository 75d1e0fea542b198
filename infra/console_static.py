"""CloudFront in front of the console's bucket and the API, emulated.

A deployment serves the built console (console/dist) from S3 and every other
path from API Gateway, on one origin, and adds the security headers of
template.yaml's ConsoleResponseHeadersPolicy to both. Locally the API's port
does the same: `/` and `/index.html` answer console/dist/index.html,
`/console/...` the files under console/dist/console/, anything else goes to
the API Gateway emulator. Files are read at each request, so a rebuild shows
on reload.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from infra.apigw import Frontend, GatewayAnswer
from infra.deploy_console import CONTENT_TYPES, HASHED_PREFIX, IMMUTABLE, REVALIDATE
from infra.template import ROOT, Template

log = logging.getLogger("feedguard.local")

DEFAULT_CONSOLE_DIR = ROOT / "console" / "dist"
POLICY_ID = "ConsoleResponseHeadersPolicy"
ASSETS_PREFIX = "/console/"
BUILD_COMMAND = "npm --prefix console run build"


def _object_headers(key: str) -> list[tuple[str, str]]:
    """The Content-Type and Cache-Control make deploy-console gives the bucket's object `key`."""
    content_type = CONTENT_TYPES.get(Path(key).suffix.lower(), "application/octet-stream")
    return [
        ("Content-Type", content_type),
        ("Cache-Control", IMMUTABLE if key.startswith(HASHED_PREFIX) else REVALIDATE),
    ]


# ------------------------------------------------------------ response headers policy


@dataclass(frozen=True)
class PolicyHeader:
    name: str
    value: str
    override: bool  # replace the origin's header of that name; else only add it when the origin sent none


@dataclass(frozen=True)
class ResponseHeadersPolicy:
    """The headers an AWS::CloudFront::ResponseHeadersPolicy adds or removes.

    CorsConfig and ServerTimingHeadersConfig are not emulated: the console
    and the API share an origin, so no request is cross-origin."""

    headers: tuple[PolicyHeader, ...] = ()
    removed: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ResponseHeadersPolicy:
        """From a ResponseHeadersPolicyConfig, as CloudFormation spells it."""
        headers = [
            *_security_headers(config.get("SecurityHeadersConfig") or {}),
            *(
                PolicyHeader(str(item["Header"]), str(item["Value"]), _flag(item.get("Override")))
                for item in (config.get("CustomHeadersConfig") or {}).get("Items", [])
            ),
        ]
        removed = tuple(str(item["Header"]) for item in (config.get("RemoveHeadersConfig") or {}).get("Items", []))
        return cls(tuple(headers), removed)

    @classmethod
    def from_template(
        cls, template: Template, resolve: Callable[[Any], Any] = lambda value: value
    ) -> ResponseHeadersPolicy | None:
        """The template's ConsoleResponseHeadersPolicy; None when it declares none."""
        resource = template.resources.get(POLICY_ID)
        if resource is None:
            return None
        if resource.get("Type") != "AWS::CloudFront::ResponseHeadersPolicy":
            raise ValueError(f"{POLICY_ID} must be an AWS::CloudFront::ResponseHeadersPolicy")
        config = resolve(resource.get("Properties", {}).get("ResponseHeadersPolicyConfig", {}))
        return cls.from_config(config)

    def apply(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        removed = {name.lower() for name in self.removed}
        answer = [(name, value) for name, value in headers if name.lower() not in removed]
        for header in self.headers:
            present = any(name.lower() == header.name.lower() for name, _ in answer)
            if present and not header.override:
                continue
            answer = [(name, value) for name, value in answer if name.lower() != header.name.lower()]
            answer.append((header.name, header.value))
        return answer


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _security_headers(config: dict[str, Any]) -> list[PolicyHeader]:
    known = {
        "ContentSecurityPolicy",
        "StrictTransportSecurity",
        "ContentTypeOptions",
        "FrameOptions",
        "ReferrerPolicy",
        "XSSProtection",
    }
    unknown = set(config) - known
    if unknown:
        raise ValueError(f"SecurityHeadersConfig has settings the local stack does not know: {sorted(unknown)}")
    headers = []
    if "ContentSecurityPolicy" in config:
        csp = config["ContentSecurityPolicy"]
        headers.append(
            PolicyHeader("Content-Security-Policy", str(csp["ContentSecurityPolicy"]), _flag(csp.get("Override")))
        )
    if "StrictTransportSecurity" in config:
        hsts = config["StrictTransportSecurity"]
        value = f"max-age={int(hsts['AccessControlMaxAgeSec'])}"
        if _flag(hsts.get("IncludeSubdomains")):
            value += "; includeSubDomains"
        if _flag(hsts.get("Preload")):
            value += "; preload"
        headers.append(PolicyHeader("Strict-Transport-Security", value, _flag(hsts.get("Override"))))
    if "ContentTypeOptions" in config:
        options = config["ContentTypeOptions"]
        headers.append(PolicyHeader("X-Content-Type-Options", "nosniff", _flag(options.get("Override"))))
    if "FrameOptions" in config:
        frame = config["FrameOptions"]
        headers.append(PolicyHeader("X-Frame-Options", str(frame["FrameOption"]), _flag(frame.get("Override"))))
    if "ReferrerPolicy" in config:
        referrer = config["ReferrerPolicy"]
        headers.append(
            PolicyHeader("Referrer-Policy", str(referrer["ReferrerPolicy"]), _flag(referrer.get("Override")))
        )
    if "XSSProtection" in config:
        xss = config["XSSProtection"]
        value = "1" if _flag(xss.get("Protection")) else "0"
        if value == "1" and _flag(xss.get("ModeBlock")):
            value += "; mode=block"
        elif value == "1" and xss.get("ReportUri"):
            value += f"; report={xss['ReportUri']}"
        headers.append(PolicyHeader("X-XSS-Protection", value, _flag(xss.get("Override"))))
    return headers


# ------------------------------------------------------------ the console's files


def _message(status: int, message: str) -> GatewayAnswer:
    """An answer in the API's error shape."""
    body = json.dumps({"message": message}).encode()
    return GatewayAnswer(status, [("Content-Type", "application/json")], body)


class ConsoleSite:
    """The console's bucket: index.html at `/` and the assets under `/console/`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def built(self) -> bool:
        return (self.root / "index.html").is_file()

    def answer(self, method: str, raw_path: str) -> GatewayAnswer | None:
        """The console's answer, or None for a request that belongs to the API."""
        if method not in ("GET", "HEAD"):
            return None
        path = urlsplit(raw_path).path
        if path in ("/", "/index.html"):
            return self._index()
        if path.startswith(ASSETS_PREFIX):
            return self._asset(path)
        return None

    def _index(self) -> GatewayAnswer:
        try:
            body = (self.root / "index.html").read_bytes()
        except OSError:
            return _message(
                503,
                f"The console is not built: run `{BUILD_COMMAND}` (make dev does it) and reload. "
                f"No index.html in {self.root}.",
            )
        return GatewayAnswer(200, _object_headers("index.html"), body)

    def _asset(self, path: str) -> GatewayAnswer:
        missing = _message(404, f"The console has no file {path}.")
        parts = unquote(path.removeprefix(ASSETS_PREFIX)).split("/")
        if any(part in ("", ".", "..") or "\\" in part or "\x00" in part for part in parts):
            return missing
        base = (self.root / "console").resolve()
        candidate = base.joinpath(*parts).resolve()
        if not candidate.is_relative_to(base) or not candidate.is_file():
            return missing
        try:
            body = candidate.read_bytes()
        except OSError:
            return missing
        return GatewayAnswer(200, _object_headers(candidate.relative_to(self.root.resolve()).as_posix()), body)


class Distribution:
    """CloudFront's behaviours: the console's paths from its bucket, the rest
    from the API, the response headers policy on both."""

    def __init__(self, api: Frontend, console: ConsoleSite, policy: ResponseHeadersPolicy | None) -> None:
        self.api = api
        self.console = console
        if policy is None:
            log.warning("template.yaml declares no %s: responses carry no security headers", POLICY_ID)
        self.policy = policy or ResponseHeadersPolicy()

    def handle(
        self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes, source_ip: str
    ) -> GatewayAnswer:
        answer = self.console.answer(method, raw_path)
        if answer is None:
            answer = self.api.handle(method, raw_path, headers, body, source_ip)
        answer.headers = self.policy.apply(answer.headers)
        return answer


def main() -> None:
    """`python -m infra.console_static`: the headers the policy adds, as JSON,
    so the console's browser tests expect what the template says."""
    policy = ResponseHeadersPolicy.from_template(Template.load()) or ResponseHeadersPolicy()
    print(json.dumps({header.name: header.value for header in policy.headers}, indent=2))


if __name__ == "__main__":
    main()
