"""Rules for vulnerability sources, without AWS."""

from __future__ import annotations

from urllib.parse import urlsplit

from feedguard.errors import InvalidInput

DEFAULT_URL = "https://api.guide.sonatype.com"


def checked_url(url: str | None, allow_http: bool) -> str:
    """The source URL to store: https, or http where the deployment allows it;
    no credentials in it (they belong in the token); no trailing slash."""
    if url is None:
        return DEFAULT_URL
    parts = urlsplit(url.strip())
    if parts.scheme == "http" and not allow_http:
        raise InvalidInput("Source URLs must use https:// (this deployment does not allow http://).")
    if parts.scheme not in ("https", "http"):
        raise InvalidInput("A source URL must start with https://.")
    if not parts.hostname:
        raise InvalidInput("A source URL needs a host name.")
    if parts.username or parts.password:
        raise InvalidInput("Put credentials in the token, not in the source URL.")
    if parts.query or parts.fragment:
        raise InvalidInput("A source URL takes no query or fragment.")
    return url.strip().rstrip("/")


def check_auth(auth: str, username: str | None) -> None:
    if auth == "basic" and not username:
        raise InvalidInput("Basic authentication needs a username (OSS Index's is the account's e-mail).")
