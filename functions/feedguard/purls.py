"""Package URLs as feedguard stores them.

Canonical means what the purl spec normalises (packageurl-python: type
lowercased, pypi names lowercased with `_` as `-`, composer and github
lowercased...), with qualifiers and subpath dropped, because OSS Index
answers per package and version. npm scopes are lowercased as the registry
requires. A purl without a version, or of a type OSS Index does not know, is
refused with a message saying so."""

from __future__ import annotations

from packageurl import PackageURL

# The package types OSS Index knows (the contract's list).
OSS_INDEX_TYPES = frozenset(
    {
        "cargo",
        "cocoapods",
        "composer",
        "conan",
        "conda",
        "cran",
        "gem",
        "golang",
        "maven",
        "npm",
        "nuget",
        "pypi",
        "rpm",
        "swift",
    }
)
MAX_LENGTH = 2048
# A stored purl is a sort key (a feed's packages, the answer cache), which
# DynamoDB limits to 1,024 bytes: measured on the canonical form, in UTF-8.
MAX_KEY_BYTES = 1024

# The purls the OpenAPI document describes: a subset of what canonical()
# accepts, narrow enough that every string it admits is accepted (a test
# draws them), so generated clients and fuzzers send purls that are taken.
# Unreserved ASCII characters only, which canonical form never encodes; an
# `@` only to open an npm scope, which it encodes as %40 (two bytes more);
# qualifiers and a subpath, which it drops. Hence a length whose canonical
# form always fits MAX_KEY_BYTES.
_SEGMENT = r"[A-Za-z0-9._~-]+"
_QUALIFIER = r"[a-z][a-z0-9._-]*=[A-Za-z0-9._~-]+"
PATTERN = (
    rf"^pkg:({'|'.join(sorted(OSS_INDEX_TYPES))})/(@?{_SEGMENT}/)?({_SEGMENT}/)*{_SEGMENT}@[A-Za-z0-9._~:-]+"
    rf"(\?{_QUALIFIER}(&{_QUALIFIER})*)?(#{_SEGMENT}(/{_SEGMENT})*)?$"
)
DOCUMENTED_MAX_LENGTH = MAX_KEY_BYTES - 2


class InvalidPurl(ValueError):
    """The message says why, in one sentence a person can act on."""


def canonical(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidPurl("A purl must be a string.")
    if len(text) > MAX_LENGTH:
        raise InvalidPurl(f"A purl must be at most {MAX_LENGTH} characters.")
    try:
        parsed = PackageURL.from_string(text.strip())
    except ValueError as error:
        raise InvalidPurl(f"Not a Package URL: {error}".rstrip(".") + ".") from None
    if parsed.type not in OSS_INDEX_TYPES:
        known = ", ".join(sorted(OSS_INDEX_TYPES))
        raise InvalidPurl(f"OSS Index does not know the package type {parsed.type!r}; it knows {known}.")
    if not parsed.version:
        raise InvalidPurl("A purl needs a version (pkg:type/name@version): OSS Index refuses versionless coordinates.")
    namespace = parsed.namespace
    if parsed.type == "npm" and namespace:
        namespace = namespace.lower()
    try:
        stored = str(
            PackageURL(type=parsed.type, namespace=namespace, name=parsed.name, version=parsed.version).to_string()
        )
    except (TypeError, ValueError) as error:  # the library raises TypeError for some blank parts
        raise InvalidPurl(f"Not a Package URL: {error}".rstrip(".") + ".") from None
    size = len(stored.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        raise InvalidPurl(
            f"A purl must be at most 1,024 bytes once canonical (UTF-8, percent-encoded); this one is {size:,}."
        )
    return stored
