"""The one way this package talks to feedguard: HTTP with the key in a
header, the contract's error shape, and retries of what a retry can fix.

The API key is held here and nowhere else; `redact` removes it from any text
before it is shown, as a second line of defence behind never formatting it."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from feedguard_cli import __version__

# Worth another try: throttled, or a gateway that could not reach the service.
RETRIED_STATUSES = frozenset({429, 502, 503, 504})
MAX_WAIT_SECONDS = 30.0  # the longest pause between two attempts, whatever Retry-After says
PAGE_SIZE = 500  # the contract's largest ?limit=


class ServiceError(Exception):
    """The service answered, with an error in the contract's shape."""

    def __init__(self, status: int, message: str, details: list[Any] | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.details = details or []


class Unreachable(Exception):
    """No answer at all: the connection failed or timed out, every attempt."""


def path(*segments: str) -> str:
    """A path of URL-encoded segments: ids like `sonatype-2021-4682` or a CVE
    are safe, but a feed name or an id is never trusted to be."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def retry_after(header: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Client:
    url: str
    key: str
    timeout: float = 60.0
    retries: int = 4
    sleep: Callable[[float], None] | None = None  # time.sleep
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.session.headers["Authorization"] = f"Bearer {self.key}"
        self.session.headers["User-Agent"] = f"feedguard-cli/{__version__}"
        self.session.headers["Accept"] = "application/json"

    def redact(self, text: str) -> str:
        return text.replace(self.key, "***") if self.key else text

    def _pause(self, attempt: int, answer: requests.Response | None) -> None:
        asked = retry_after(answer.headers.get("Retry-After")) if answer is not None else None
        backoff = asked if asked is not None else min(2.0**attempt, 16.0) * (0.5 + random.random() / 2)  # noqa: S311 - jitter
        (self.sleep or time.sleep)(min(backoff, MAX_WAIT_SECONDS))

    def request(
        self,
        method: str,
        route: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """The answer to a request, once it is not worth retrying; raises
        ServiceError for 4xx/5xx and Unreachable when nothing answered."""
        attempt = 0
        while True:
            answer: requests.Response | None = None
            try:
                answer = self.session.request(
                    method, self.url + route, params=params, json=json, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                if attempt >= self.retries:
                    kind = "timed out" if isinstance(error, requests.Timeout) else "could not connect"
                    raise Unreachable(
                        f"{method} {route}: {kind} to {self.url} ({type(error).__name__}) "
                        f"after {attempt + 1} attempt{'s' if attempt else ''}."
                    ) from None
            else:
                if answer.status_code not in RETRIED_STATUSES or attempt >= self.retries:
                    break
            self._pause(attempt, answer)
            attempt += 1
        if answer.status_code >= 400:
            raise _service_error(answer, attempt)
        return answer

    def route_of(self, url: str) -> str | None:
        """The route of an absolute URL the service gave (a Link header's);
        None unless it is under the service's own URL: the key goes nowhere
        else."""
        base, target = urlsplit(self.url), urlsplit(url)
        same_origin = (base.scheme.lower(), base.netloc.lower()) == (target.scheme.lower(), target.netloc.lower())
        if not same_origin or not target.path.startswith(base.path.rstrip("/") + "/"):
            return None
        route = target.path[len(base.path.rstrip("/")) :]
        return f"{route}?{target.query}" if target.query else route

    def json(self, method: str, route: str, **kwargs: Any) -> Any:
        answer = self.request(method, route, **kwargs)
        try:
            return answer.json()
        except ValueError:
            raise ServiceError(answer.status_code, f"{method} {route} answered a body that is not JSON.") from None

    def pages(self, route: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a list route, following its cursors."""
        query = {**(params or {}), "limit": PAGE_SIZE}
        while True:
            page = self.json("GET", route, params=query)
            yield from page["items"]
            if not page.get("next_cursor"):
                return
            query["cursor"] = page["next_cursor"]


def _service_error(answer: requests.Response, retries: int) -> ServiceError:
    message, details = None, None
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
        details = body.get("details") if isinstance(body.get("details"), list) else None
    if message is None:
        message = answer.reason or "no message"
    if retries:
        message += f" (after {retries + 1} attempts)"
    return ServiceError(answer.status_code, message, details)
