"""The local stack's control server (loopback only): what ran, and knobs for
tests and developers. It is not part of the API and has no AWS counterpart.

GET  /status                     addresses and functions
GET  /invocations?function=X     recent invocations (API events are not kept)
POST /schedules/<name>/fire      fire a schedule now; {"ok": bool}
POST /ttl/sweep                  run DynamoDB's TTL deletion now
GET  /events                     the events published on the template's buses
GET  /ossindex                   the fake OSS Index's counters
POST /ossindex/faults            queue a fault (infra.fake_ossindex.Fault fields)
PUT  /ossindex/latency           {"ms": n}
PUT  /ossindex/vulnerable        {"share": x}: that share of packages the fake
                                 does not know is reported with made-up vulnerabilities
POST /ossindex/reset             clear faults, latency and counters
GET  /osv, POST /osv/faults, PUT /osv/latency, PUT /osv/vulnerable, POST /osv/reset
                                 the same for the fake OSV (infra.fake_osv); its
                                 counters add batch_requests, record_requests, pages
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from infra.fake_ossindex import FakeOssIndexProcess, Fault, vulnerable_share

if TYPE_CHECKING:
    from infra.stack import LocalStack


def _route(stack: LocalStack, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    parts = [part for part in path.split("/") if part]
    if method == "GET" and parts == ["status"]:
        return 200, {
            "api": stack.api_url,
            "moto": stack.moto_url,
            "ossindex": stack.ossindex_url,
            "osv": stack.osv_url,
            "functions": sorted(stack.functions),
            "schedules": sorted(stack.schedulers),
        }
    if method == "GET" and parts == ["invocations"]:
        wanted = query.get("function", [None])[0]
        invocations = [
            asdict(invocation)
            for name, function in stack.functions.items()
            if wanted in (None, name)
            for invocation in list(function.log)
        ]
        invocations.sort(key=lambda invocation: invocation["started_at"])
        return 200, {"items": invocations}
    if method == "POST" and len(parts) == 3 and parts[0] == "schedules" and parts[2] == "fire":
        scheduler = stack.schedulers.get(parts[1])
        if scheduler is None:
            return 404, {"message": f"no schedule named {parts[1]}"}
        return 200, {"ok": scheduler.fire()}
    if method == "POST" and parts == ["ttl", "sweep"]:
        assert stack.ttl_sweeper is not None
        stack.ttl_sweeper.sweep_all()
        return 200, {"deleted": stack.ttl_sweeper.deleted}
    if method == "GET" and parts == ["events"]:
        return 200, {"items": stack.recorded_events()}
    if parts[:1] in (["ossindex"], ["osv"]):
        return _fake(stack.fake_osv if parts[0] == "osv" else stack.fake_ossindex, method, parts[1:], body)
    return 404, {"message": "no such control route"}


def _fake(fake: FakeOssIndexProcess, method: str, rest: list[str], body: Any) -> tuple[int, Any]:
    """The knobs of one fake source (OSS Index or OSV), alike."""
    if method == "GET" and rest == []:
        return 200, fake.stats()
    if method == "POST" and rest == ["faults"]:
        fake.add_fault(Fault(**(body or {})))
        return 200, fake.stats()
    if method == "PUT" and rest == ["latency"]:
        fake.latency_ms = int((body or {}).get("ms", 0))
        return 200, fake.stats()
    if method == "PUT" and rest == ["vulnerable"]:
        try:
            fake.vulnerable_share = vulnerable_share((body or {}).get("share"))
        except ValueError as error:
            return 400, {"message": str(error)}
        return 200, fake.stats()
    if method == "POST" and rest == ["reset"]:
        fake.reset()
        return 200, fake.stats()
    return 404, {"message": "no such control route"}


def serve(stack: LocalStack, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def _any(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else None
                status, answer = _route(stack, self.command, split.path, parse_qs(split.query), body)
            except (ValueError, TypeError) as error:
                status, answer = 400, {"message": str(error)}
            payload = json.dumps(answer, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _any  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="control", daemon=True).start()
    return server
