"""Rules for vulnerability sources, without AWS.

A source URL names where coordinates and the token go: https (http where the
deployment allows it), no credentials, a valid port, and, unless the
deployment allows private sources (FEEDGUARD_ALLOW_PRIVATE_SOURCES=1, which
the local stack sets for its fake OSS Index on 127.0.0.1), a public host.
What can be known without DNS is refused here, when a source is created or
changed: IP literals (in any form the resolver reads, 2130706433 and 127.1
included) that are loopback, link-local, private or otherwise not public,
and `localhost`. A name's addresses are checked where it matters, on each
connection the OSS Index client opens (ossindex.PublicOnlyAdapter): a check
when the source is saved would be undone by DNS rebinding, which answers a
public address then and a private one when the request is sent."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from feedguard.errors import InvalidInput

DEFAULT_URL = "https://api.guide.sonatype.com"
# Where an osv source asks when no url is given.
OSV_URL = "https://api.osv.dev"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def not_public(address: IpAddress) -> str | None:
    """Why a source may not be at this address (None: it may)."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        return not_public(mapped)
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    if address.is_multicast or address.is_unspecified or address.is_reserved or not address.is_global:
        return "not a public address"
    return None


def literal_address(host: str) -> IpAddress | None:
    """The address a host names without DNS, if it is an IP literal: IPv6,
    dotted IPv4, or a legacy IPv4 form the resolver also reads (2130706433,
    0x7f.1, 127.1)."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _check_host(host: str) -> None:
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        raise InvalidInput(
            "A source URL's host must be public, not localhost (this deployment does not allow private sources)."
        )
    address = literal_address(name)
    reason = not_public(address) if address is not None else None
    if reason:
        raise InvalidInput(
            f"A source URL's host must be public; {host} is {reason} (this deployment does not allow private sources)."
        )


def checked_url(url: str | None, allow_http: bool, allow_private: bool = False) -> str:
    """The source URL to store: https, or http where the deployment allows it;
    no credentials in it (they belong in the token); a valid port; a public
    host unless the deployment allows private ones; no trailing slash."""
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
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or parts.netloc.endswith(":"):
        raise InvalidInput("A source URL's port must be a number from 1 to 65535.")
    if not allow_private:
        _check_host(parts.hostname)
    return url.strip().rstrip("/")


def check_auth(auth: str, username: str | None) -> None:
    if auth == "basic" and not username:
        raise InvalidInput("Basic authentication needs a username (OSS Index's is the account's e-mail).")
