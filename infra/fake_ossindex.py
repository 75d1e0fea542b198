"""A fake Sonatype OSS Index / Guide on loopback, for the local stack and tests.

It behaves like the real component-report API: authentication is required
(Bearer token, or Basic username:token), at most 128 coordinates a request,
one versionless coordinate fails the whole request with 400, and every
answered entry names the coordinates it answers. Faults can be queued from
the control server (or from tests) to play a rate-limited, broken or
metered-out service.

The local stack runs it in a process of its own (`FakeOssIndexProcess`): in
the stack's process, every answer waited for the GIL behind moto, so a
request the fake delayed 100 ms took about 135 ms while a scan kept moto
busy. A real OSS Index is not slowed down by the caller's emulators. The
stack controls it through `CONTROL` paths of the same server; unit tests
serve a `FakeOssIndex` in their own process.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import requests.adapters
from requests.structures import CaseInsensitiveDict

from infra.ossindex_data import COMPONENTS, GUIDE, made_up_vulnerabilities

MAX_COORDINATES = 128
PATHS = ("/api/v3/component-report", "/api/v3/authorized/component-report")


@dataclass
class Fault:
    """The next `times` requests answer this instead of the truth."""

    status: int = 200
    body: str | None = None
    retry_after: str | None = None
    latency_ms: int = 0
    # Answer only the first N entries (the real service may answer fewer than asked).
    answer_only: int | None = None
    # Close the connection without answering, as a reset or a crashed proxy does.
    reset: bool = False
    times: int = 1


class Reset(Exception):
    """The fake drops this connection without a word."""


@dataclass
class FakeOssIndex:
    tokens: set[str] = field(default_factory=lambda: {"local-fake-token"})
    latency_ms: int = 0
    # The share of packages it does not know that it reports vulnerable, with
    # made-up vulnerabilities (ossindex_data.made_up_vulnerabilities): 0 by
    # default, so a package not in ossindex_data is clean, as it is in the
    # demo; benchmarks set it so a scan of made-up packages finds something.
    vulnerable_share: float = 0.0
    faults: deque[Fault] = field(default_factory=deque)
    requests: int = 0
    coordinates_asked: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    # time.monotonic() of the first request's arrival and the last answer, and
    # the time requests spent in here in all: how busy a scan kept the service.
    first_request_at: float | None = None
    last_answer_at: float | None = None
    request_seconds: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.faults.clear()
            self.latency_ms = 0
            self.vulnerable_share = 0.0
            self.requests = self.coordinates_asked = self.max_in_flight = 0
            self.first_request_at = self.last_answer_at = None
            self.request_seconds = 0.0

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "coordinates_asked": self.coordinates_asked,
                "max_in_flight": self.max_in_flight,
                "faults_queued": len(self.faults),
                "latency_ms": self.latency_ms,
                "vulnerable_share": self.vulnerable_share,
                "first_request_at": self.first_request_at,
                "last_answer_at": self.last_answer_at,
                "request_seconds": self.request_seconds,
            }

    def _next_fault(self) -> Fault | None:
        with self._lock:
            if not self.faults:
                return None
            fault = self.faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self.faults.popleft()
            return fault

    def authorized(self, header: str | None) -> bool:
        if not header:
            return False
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "bearer":
            return credentials.strip() in self.tokens
        if scheme.lower() == "basic":
            try:
                _, _, token = base64.b64decode(credentials.strip()).decode().partition(":")
            except ValueError:
                return False
            return token in self.tokens
        return False

    def answer(
        self, method: str, path: str, authorization: str | None, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        arrived = time.monotonic()
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.first_request_at is None:
                self.first_request_at = arrived
        try:
            return self._answer(method, path, authorization, body)
        finally:
            answered = time.monotonic()
            with self._lock:
                self.in_flight -= 1
                self.last_answer_at = answered
                self.request_seconds += answered - arrived

    def _answer(
        self, method: str, path: str, authorization: str | None, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        fault = self._next_fault()
        delay = (fault.latency_ms if fault and fault.latency_ms else self.latency_ms) / 1000
        if delay:
            # Not time.sleep: tests that skip the client's backoff patch that one.
            threading.Event().wait(delay)
        if method != "POST" or path.split("?", maxsplit=1)[0] not in PATHS:
            return _error(404, "Not Found")
        if not self.authorized(authorization):
            return _error(401, "Unauthorized")
        if fault and fault.reset:
            raise Reset
        if fault and fault.status != 200:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            payload = (
                fault.body if fault.body is not None else json.dumps({"code": fault.status, "message": "fault"})
            ).encode()
            return fault.status, {"Content-Type": "application/json", **headers}, payload
        try:
            request = json.loads(body)
            coordinates = request["coordinates"]
            if not isinstance(coordinates, list) or not all(isinstance(c, str) for c in coordinates):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return _error(400, "Invalid request")
        if len(coordinates) > MAX_COORDINATES:
            return _error(400, "Request for too many components")
        normalized = [_normalize(coordinate) for coordinate in coordinates]
        if any("@" not in coordinate.rsplit("/", 1)[-1] for coordinate in normalized):
            return _error(400, "Missing coordinates version")
        with self._lock:
            self.coordinates_asked += len(coordinates)
        entries = [_report(coordinate, self.vulnerable_share) for coordinate in dict.fromkeys(normalized)]
        if fault and fault.answer_only is not None:
            entries = entries[: fault.answer_only]
        payload = (fault.body if fault and fault.body is not None else json.dumps(entries)).encode()
        return 200, {"Content-Type": "application/vnd.ossindex.component-report.v1+json"}, payload


def _normalize(coordinate: str) -> str:
    """What OSS Index answers as `coordinates`: type lowercased, qualifiers dropped."""
    purl = coordinate.split("?", 1)[0].split("#", 1)[0]
    if not purl.startswith("pkg:"):
        purl = "pkg:" + purl
    kind, _, rest = purl[len("pkg:") :].partition("/")
    return f"pkg:{kind.lower()}/{rest}"


def _report(coordinates: str, vulnerable_share: float = 0.0) -> dict[str, Any]:
    known = COMPONENTS.get(coordinates) or COMPONENTS.get(coordinates.lower())
    description, vulnerabilities = known if known else (None, [])
    if known is None and vulnerable_share > 0:
        # The same answer for the same package every time, whoever asks.
        draw = int.from_bytes(hashlib.sha256(coordinates.encode()).digest()[:8], "big") / 2**64
        if draw < vulnerable_share:
            vulnerabilities = made_up_vulnerabilities(coordinates)
    entry: dict[str, Any] = {"coordinates": coordinates}
    if description is not None:
        entry["description"] = description
    entry["reference"] = f"{GUIDE}/component/{quote(coordinates, safe='')}"
    entry["vulnerabilities"] = vulnerabilities
    return entry


def _error(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps({"code": status, "message": message}).encode()


def vulnerable_share(value: Any) -> float:
    """A share of packages to report vulnerable, as the control servers take
    it; ValueError for anything but a number from 0 to 1."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise ValueError("share is a number from 0 to 1")
    return float(value)


# Paths of the fake's own server that control it, for the process that started it.
CONTROL = "/__fake__/"


def control(fake: FakeOssIndex, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """stats (GET), faults (POST a Fault's fields), latency (PUT {"ms": n}),
    vulnerable (PUT {"share": x}), reset (POST)."""
    try:
        data = json.loads(body) if body else {}
        if (method, path) == ("POST", "faults"):
            fake.add_fault(Fault(**data))
        elif (method, path) == ("PUT", "latency"):
            fake.latency_ms = int(data["ms"])
        elif (method, path) == ("PUT", "vulnerable"):
            fake.vulnerable_share = vulnerable_share(data.get("share"))
        elif (method, path) == ("POST", "reset"):
            fake.reset()
        elif (method, path) != ("GET", "stats"):
            return 404, {"message": f"no control {method} {path}"}
    except (ValueError, KeyError, TypeError) as error:
        return 400, {"message": f"bad control {method} {path}: {error}"}
    return 200, fake.stats()


def serve(fake: FakeOssIndex, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes
        server_version = "feedguard-fake-ossindex"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            try:
                if self.path.startswith(CONTROL):
                    status, answer = control(fake, self.command, self.path.removeprefix(CONTROL), body)
                    headers, payload = {"Content-Type": "application/json"}, json.dumps(answer).encode()
                else:
                    status, headers, payload = fake.answer(
                        self.command, self.path, self.headers.get("Authorization"), body
                    )
            except Reset:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up waiting (its timeout)

        do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="fake-ossindex", daemon=True).start()
    return server


class FakeOssIndexProcess:
    """A FakeOssIndex served by a process of its own, controlled as if it
    were here: `latency_ms`, `add_fault`, `reset`, `stats`."""

    def __init__(self, module: str = "infra.fake_ossindex") -> None:
        self.module = module  # infra.fake_osv serves a FakeOsv the same way
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.session = requests.Session()

    def start(self, host: str, port: int) -> None:
        root = Path(__file__).resolve().parent.parent
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        self.url = f"http://{host}:{port}"
        self.process = subprocess.Popen([sys.executable, "-m", self.module, host, str(port)], env=env)  # noqa: S603 - our own interpreter and module
        deadline = time.monotonic() + 30
        while True:
            try:
                self.stats()
                return
            except requests.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.module} did not start on {self.url}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.session.close()

    def _call(self, method: str, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.session.request(method, f"{self.url}{CONTROL}{name}", json=body, timeout=10)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    @property
    def latency_ms(self) -> int:
        return int(self.stats()["latency_ms"])

    @latency_ms.setter
    def latency_ms(self, value: int) -> None:
        self._call("PUT", "latency", {"ms": value})

    @property
    def vulnerable_share(self) -> float:
        return float(self.stats()["vulnerable_share"])

    @vulnerable_share.setter
    def vulnerable_share(self, value: float) -> None:
        self._call("PUT", "vulnerable", {"share": value})

    def add_fault(self, fault: Fault) -> None:
        self._call("POST", "faults", asdict(fault))

    def reset(self) -> None:
        self._call("POST", "reset")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")


class InProcessAdapter(requests.adapters.BaseAdapter):
    """A requests transport to a FakeOssIndex in this process, for unit
    tests, where the network is off: a session mounts it for a public
    source's URL, and the client's requests, headers and auth as sent, get
    the fake's answers (a `reset` fault is a connection error)."""

    def __init__(self, fake: FakeOssIndex) -> None:
        super().__init__()
        self.fake = fake

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        body = request.body or b""
        parts = urlsplit(request.url or "")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            status, headers, payload = self.fake.answer(
                request.method or "GET",
                path,
                request.headers.get("Authorization"),
                body.encode() if isinstance(body, str) else body,
            )
        except Reset:
            raise requests.ConnectionError("the fake OSS Index reset the connection", request=request) from None
        response = requests.Response()
        response.status_code = status
        response.reason = HTTPStatus(status).phrase
        response.headers = CaseInsensitiveDict(headers)
        response._content = payload
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        return


def main() -> None:
    """python -m infra.fake_ossindex HOST PORT: serves until terminated, or
    until the process that started it dies."""
    from infra.sandbox import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group; the stack stops us itself
    die_with_parent()
    server = serve(FakeOssIndex(), sys.argv[1], int(sys.argv[2]))
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    while not stopped.wait(0.5):
        pass
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
