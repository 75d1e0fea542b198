"""The Sonatype OSS Index (Sonatype Guide) client: component reports for
purls. No DynamoDB here: the scanner and the gate decide what to do with the
answers.

- POST {url}/api/v3/authorized/component-report {"coordinates": [...]}, at
  most 128 a request, deduplicated; Bearer token or Basic username:token.
- Answers are matched back to the purls asked by their coordinates (a
  missing `pkg:` prefix and case differences tolerated); a purl the service
  did not answer is absent from the result, never "no vulnerabilities".
- 429, 502, 503, 504 and connection errors are retried with exponential
  backoff and full jitter, honouring Retry-After, bounded in attempts and in
  total time. 401/403 and 402 are not retried: they stop that source.
- A body that is not the expected JSON is an error, never an empty answer.
- No redirect is followed (a 3xx is an error): coordinates and the token go
  to the URL the admin set, nowhere else. Unless the deployment allows
  private sources, every connection's peer address is checked before
  anything is sent on it (PublicOnlyAdapter), whatever DNS said before.
- Error messages are the client's own short sentences: nothing the source
  answered (a body, an id) is in them, since they reach the scan's errors,
  which a feed's managers read; `detail` keeps an excerpt for the log.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import ipaddress
import math
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import requests.adapters
import urllib3
import urllib3.connection

from feedguard import __version__
from feedguard.domain import Report, Vulnerability
from feedguard.sources import not_public

MAX_COORDINATES = 128
REPORT_PATH = "/api/v3/authorized/component-report"
# What a credential test asks about: one coordinate every OSS Index knows.
PROBE_PURL = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
RETRYABLE = frozenset({429, 502, 503, 504})
USER_AGENT = f"feedguard/{__version__} (vulnerability scanner; python-requests/{requests.__version__})"


# Seconds to wait for OSS Index to connect and to answer, per attempt.
REQUEST_TIMEOUT = 10.0


class OssIndexError(Exception):
    """One sentence, naming what OSS Index did; `stops_source` when retrying
    this scan's other batches for the same source would be pointless.
    `detail`: an excerpt of what the source answered, for the log only."""

    stops_source = False

    def __init__(self, message: str, detail: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        # The HTTP status the source answered last (None: no answer at all).
        self.status = status


class AuthenticationFailed(OssIndexError):
    stops_source = True


class CreditsExhausted(OssIndexError):
    stops_source = True


class Unavailable(OssIndexError):
    """Still failing after every retry."""


class MalformedAnswer(OssIndexError):
    pass


class Redirected(OssIndexError):
    """The source answered with a redirect, which is never followed."""

    stops_source = True


class PrivateAddress(OssIndexError):
    """The source's host is at an address the deployment does not allow."""

    stops_source = True


class _RefusedPeer(Exception):
    """Raised inside urllib3 when a connection reaches a refused address;
    not an OSError, so urllib3 neither retries nor wraps it."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host} is at a {reason} address")
        self.reason = reason


def _checked(sock: socket.socket, host: str) -> socket.socket:
    peer = sock.getpeername()[0]
    reason = not_public(ipaddress.ip_address(peer.split("%", 1)[0]))
    if reason:
        sock.close()
        raise _RefusedPeer(host, reason)
    return sock


class _PublicHTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked(super()._new_conn(), self.host)


class _PublicHTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:  # before TLS: not even a handshake with a refused address
        return _checked(super()._new_conn(), self.host)


class _PublicHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class PublicOnlyAdapter(requests.adapters.HTTPAdapter):
    """Connections only to public addresses: the address checked is the one
    connected to, so a name that resolved to a public address when the source
    was saved and to 169.254.169.254 now is refused (DNS rebinding)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}


def _guard(session: requests.Session, allow_private: bool) -> None:
    """Mounts the adapter the deployment's setting asks for, once: the
    session's pooled connections survive from one client to the next."""
    wanted = requests.adapters.HTTPAdapter if allow_private else PublicOnlyAdapter
    for prefix in ("https://", "http://"):
        if type(session.get_adapter(prefix)) is not wanted:
            session.mount(prefix, wanted())


@dataclass(frozen=True)
class Credentials:
    token: str = field(repr=False)
    auth: str = "bearer"
    username: str | None = None


@dataclass(frozen=True)
class ComponentReport(Report):
    """OSS Index's component report: the domain's Report (its
    vulnerabilities), with what the answer cache keeps (`raw`)."""

    coordinates: str
    description: str | None
    reference: str | None
    vulnerabilities: tuple[Vulnerability, ...]
    raw: dict[str, Any] = field(compare=False, repr=False)


@dataclass
class Usage:
    """What the calls cost, for the scan's counters."""

    requests: int = 0
    retries: int = 0


def match_key(coordinates: str) -> str:
    """How answers are matched to questions: prefix, case and qualifiers aside."""
    text = coordinates.strip().split("?", 1)[0].split("#", 1)[0]
    if not text.lower().startswith("pkg:"):
        text = "pkg:" + text
    return text.lower()


def _optional_text(entry: dict[str, Any], name: str) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedAnswer(f"OSS Index answered a non-text {name}.", _short(repr(value)))
    return value


def parse_vulnerability(entry: Any) -> Vulnerability:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry["id"]:
        raise MalformedAnswer("OSS Index answered a vulnerability without an id.")
    score = entry.get("cvssScore")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 10):
        raise MalformedAnswer("OSS Index answered a CVSS score out of range.", _short(entry["id"]))
    references = entry.get("externalReferences") or []
    if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
        raise MalformedAnswer("OSS Index answered malformed references.", _short(entry["id"]))
    cve = _optional_text(entry, "cve")
    return Vulnerability(
        id=entry["id"],
        display_name=_optional_text(entry, "displayName"),
        title=_optional_text(entry, "title"),
        description=_optional_text(entry, "description") or None,
        cvss_score=float(score) if score is not None else None,
        cvss_vector=_optional_text(entry, "cvssVector"),
        cwe=_optional_text(entry, "cwe"),
        cve=cve,
        reference=_optional_text(entry, "reference"),
        external_references=tuple(references),
        # A sonatype-… id with a CVE: the CVE is another name of it.
        aliases=(cve,) if cve and cve != entry["id"] else (),
    )


def parse_report(entry: Any) -> ComponentReport:
    if not isinstance(entry, dict) or not isinstance(entry.get("coordinates"), str):
        raise MalformedAnswer("OSS Index answered a component without coordinates.")
    vulnerabilities = entry.get("vulnerabilities", [])
    if not isinstance(vulnerabilities, list):
        raise MalformedAnswer("OSS Index answered malformed vulnerabilities.", _short(entry["coordinates"]))
    return ComponentReport(
        coordinates=entry["coordinates"],
        description=_optional_text(entry, "description") or None,
        reference=_optional_text(entry, "reference"),
        vulnerabilities=tuple(parse_vulnerability(v) for v in vulnerabilities),
        raw=entry,
    )


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds to wait: a number of seconds or an HTTP date.
    None (the default backoff) for anything else, `soon` or `inf` among them."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if moment.tzinfo is None:  # a date without a zone (-0000) is UTC
            moment = moment.replace(tzinfo=datetime.UTC)
        return max(0.0, moment.timestamp() - time.time())
    return max(0.0, seconds) if math.isfinite(seconds) else None


class RetryingClient:
    """What every source's client shares: a request sent until it is
    answered. Connection failures, timeouts and the `retryable` statuses are
    retried with exponential backoff and full jitter (a Retry-After is
    honoured), within `max_attempts` and `max_total_seconds`; a redirect is
    refused (sources do not follow them); any other status is an
    OssIndexError, once `_refuse` has given the source's own statuses their
    meaning. A subclass's __init__ sets the attributes below."""

    source_name = "The source"
    retryable: frozenset[int] = RETRYABLE
    session: requests.Session
    timeout: float
    max_attempts: int
    max_total_seconds: float
    base_delay: float
    max_delay: float
    sleep: Callable[[float], None]
    usage: Usage

    def _exchange(self, method: str, url: str, payload: Any, headers: dict[str, str]) -> requests.Response:
        """The source's 200 answer to one request."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            self.usage.requests += 1
            problem: str
            last_status: int | None = None
            retry_after: float | None = None
            try:
                response = self.session.request(
                    method, url, json=payload, headers=headers, timeout=self.timeout, allow_redirects=False
                )
            except _RefusedPeer as refused:
                raise PrivateAddress(
                    f"The source's host is at a {refused.reason} address, which this deployment does not allow"
                ) from None
            except (requests.ConnectionError, requests.Timeout) as error:
                problem = f"{self.source_name} could not be reached ({type(error).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    return response
                self._refuse(status)
                if 300 <= status < 400:
                    raise Redirected(
                        f"{self.source_name} answered {status}, a redirect, which sources do not follow; "
                        "check the source's URL",
                        self._excerpt(response.headers.get("Location", "")),
                        status,
                    )
                if status not in self.retryable:
                    raise OssIndexError(f"{self.source_name} answered {status}", self._excerpt(response.text), status)
                problem = f"{self.source_name} answered {status}"
                last_status = status
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
            elapsed = time.monotonic() - started
            delay = retry_after if retry_after is not None else self._jitter(attempt)
            if attempt >= self.max_attempts or elapsed + delay > self.max_total_seconds:
                raise Unavailable(f"{problem} after {attempt} attempts", status=last_status)
            self.usage.retries += 1
            self.sleep(delay)

    def _refuse(self, status: int) -> None:
        """Raises for a status the source gives a meaning of its own."""

    def _excerpt(self, text: str) -> str:
        """What the source answered, for the log: short."""
        return _short(text)

    def _jitter(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))  # noqa: S311 - not crypto


class Client(RetryingClient):
    source_name = "OSS Index"

    def __init__(
        self,
        url: str,
        credentials: Credentials,
        *,
        session: requests.Session | None = None,
        timeout: float | None = None,
        max_attempts: int = 5,
        max_total_seconds: float = 60.0,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        sleep: Callable[[float], None] | None = None,
        allow_private: bool | None = None,
    ) -> None:
        self.endpoint = url.rstrip("/") + REPORT_PATH
        self.credentials = credentials
        self.session = session or requests.Session()
        if allow_private is None:
            from feedguard.settings import settings

            allow_private = settings().allow_private_sources
        _guard(self.session, allow_private)
        self.timeout = timeout if timeout is not None else REQUEST_TIMEOUT
        self.max_attempts = max_attempts
        self.max_total_seconds = max_total_seconds
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep or time.sleep
        self.usage = Usage()

    def _auth(self) -> dict[str, str]:
        if self.credentials.auth == "basic":
            # RFC 7617 with charset UTF-8: requests would encode latin-1 and fail on other scripts.
            pair = f"{self.credentials.username or ''}:{self.credentials.token}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode('ascii')}"}
        return {"Authorization": f"Bearer {self.credentials.token}"}

    def reports(self, purls: list[str]) -> dict[str, ComponentReport]:
        """The report for each purl OSS Index answered, keyed by the purl as asked."""
        distinct = list(dict.fromkeys(purls))
        answered: dict[str, ComponentReport] = {}
        for start in range(0, len(distinct), MAX_COORDINATES):
            chunk = distinct[start : start + MAX_COORDINATES]
            answered.update(self.match(chunk, self.ask(chunk)))
        return answered

    def probe(self) -> None:
        """The credential test of a source being saved: one component report
        for PROBE_PURL on the path and with the authentication scans use,
        read as scans read it. One coordinate (one credit where the service
        meters them); OSS Index has no authenticated request that costs
        nothing. Raises what a scan's request would."""
        self.match([PROBE_PURL], self.ask([PROBE_PURL]))

    def ask(self, purls: list[str]) -> list[Any]:
        """One request, retried as need be, for at most 128 distinct purls:
        the entries OSS Index answered, unparsed (see `match`), so a caller
        that rations its requests need not hold its turn while they are read."""
        if len(purls) > MAX_COORDINATES:
            raise ValueError(f"at most {MAX_COORDINATES} purls a request")
        return self._post({"coordinates": purls})

    @staticmethod
    def match(purls: list[str], entries: list[Any]) -> dict[str, ComponentReport]:
        """The entries `ask` returned for `purls`, parsed and keyed by the purl
        as asked; MalformedAnswer if one cannot be read."""
        asked = {match_key(purl): purl for purl in purls}
        answered = {}
        for entry in entries:
            report = parse_report(entry)
            purl = asked.get(match_key(report.coordinates))
            if purl is not None:  # an answer for a purl never asked is ignored
                answered[purl] = report
        return answered

    def _post(self, payload: dict[str, Any]) -> list[Any]:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self._auth()}
        return self._entries(self._exchange("POST", self.endpoint, payload, headers))

    def _refuse(self, status: int) -> None:
        if status in (401, 403):
            raise AuthenticationFailed(f"OSS Index answered {status}: the token was refused", status=status)
        if status == 402:
            raise CreditsExhausted("OSS Index answered 402: credits exhausted", status=status)

    def _excerpt(self, text: str) -> str:
        """What the source answered, for the log: short, and without the token
        should the source echo it."""
        return _short(text.replace(self.credentials.token, "[token]") if self.credentials.token else text)

    @staticmethod
    def _entries(response: requests.Response) -> list[Any]:
        try:
            entries = response.json()
        except ValueError:
            raise MalformedAnswer("OSS Index answered a body that is not JSON", status=200) from None
        if not isinstance(entries, list):
            raise MalformedAnswer("OSS Index answered JSON that is not a list of components", status=200)
        return entries


def _short(text: str) -> str:
    return " ".join(text.split())[:200] or "no detail"
