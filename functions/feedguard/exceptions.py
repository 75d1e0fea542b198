"""Package exceptions: a decision for some packages of a feed only, without
AWS. docs/exceptions.md tables the cases this module decides.

An exception names packages by a versionless purl pattern (the name may end
in `*`, nothing else is a wildcard), optionally a version range in the purl
`vers` syntax, and the vulnerabilities it covers (None: all of them). It
applies to a (package, vulnerability) pair when all three match and it has
not expired: then it wins over the feed-wide assessment of that
vulnerability. Versions and ranges are parsed and compared by `univers`,
never by hand; a version the range's scheme cannot read is not in it (the
feed-wide decision stands).

`matches` (a package) and `covers` (a vulnerability) are the two questions
every reader asks, kept small and pure so that other readers (stale
decisions, alias-aware matching) use the same rules."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from packageurl import PackageURL

from feedguard import clock
from feedguard.purls import OSS_INDEX_TYPES

WILDCARD = "*"
MAX_PATTERN_LENGTH = 1000
MAX_VERSIONS_LENGTH = 1000


class InvalidException(ValueError):
    """The message says why, in one sentence a person can act on."""


@dataclass(frozen=True)
class Pattern:
    """A versionless purl pattern, as canonical as the feed's packages:
    the name is a prefix when `glob`."""

    type: str
    namespace: str | None
    name: str  # the whole name, or the prefix before the trailing `*`
    glob: bool

    @property
    def text(self) -> str:
        """`pkg:npm/%40acme/*`, `pkg:npm/lodash`: what the API shows."""
        if not self.glob:
            return str(PackageURL(type=self.type, namespace=self.namespace, name=self.name).to_string())
        # The prefix encoded as a name would be, then the wildcard itself ("x" is never encoded).
        encoded = str(PackageURL(type=self.type, namespace=self.namespace, name=self.name + "x").to_string())
        return encoded[:-1] + WILDCARD


@dataclass(frozen=True)
class PackageException:
    """An exception as stored. `vulnerability_ids` None: every vulnerability."""

    feed: str
    id: str
    purl: str
    versions: str | None
    vulnerability_ids: tuple[str, ...] | None
    type: str
    effect: str
    comment: str | None
    created_by: str
    created_by_id: str | None
    created_at: str
    expires_at: str | None

    def live(self, now: datetime) -> bool:
        """In force at `now`: an exception whose expiry has passed applies
        no more, whether or not TTL has deleted it yet."""
        return self.expires_at is None or clock.parse_iso(self.expires_at) > now


def _parts(parsed: PackageURL) -> tuple[str, str | None, str]:
    """Type, namespace and name as purls.canonical stores them (npm scopes lowercased)."""
    namespace = parsed.namespace or None
    if parsed.type == "npm" and namespace:
        namespace = namespace.lower()
    return parsed.type, namespace, parsed.name


def parse_pattern(text: str) -> Pattern:
    """The pattern `text` names; InvalidException says why it names none."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise InvalidException(f"A purl pattern must be at most {MAX_PATTERN_LENGTH} characters.")
    if not text.startswith("pkg:"):
        raise InvalidException("A purl pattern starts with pkg:<type>/, as pkg:npm/lodash or pkg:npm/%40acme/*.")
    if "?" in text or "#" in text:
        raise InvalidException("A purl pattern has no qualifiers (?…) or subpath (#…).")
    try:
        parsed = PackageURL.from_string(text.strip())
    except ValueError as error:
        raise InvalidException(f"Not a purl pattern: {error}".rstrip(".") + ".") from None
    if parsed.version:
        raise InvalidException(
            "A purl pattern has no version: name the versions in `versions`, a vers range (vers:npm/<4.17.21)."
        )
    if parsed.type not in OSS_INDEX_TYPES:
        known = ", ".join(sorted(OSS_INDEX_TYPES))
        raise InvalidException(f"The package type {parsed.type!r} is not one feedguard scans; it knows {known}.")
    kind, namespace, name = _parts(parsed)
    if WILDCARD in (namespace or ""):
        raise InvalidException("Only the name may end in *; the namespace is matched exactly.")
    glob = name.endswith(WILDCARD)
    prefix = name[:-1] if glob else name
    if WILDCARD in prefix:
        raise InvalidException("Only a trailing * is a wildcard, as in pkg:npm/%40acme/*.")
    pattern = Pattern(kind, namespace, prefix, glob)
    try:
        written = pattern.text
    except (TypeError, ValueError) as error:  # the library raises TypeError for some blank parts
        raise InvalidException(f"Not a purl pattern: {error}".rstrip(".") + ".") from None
    if parse_written(written) != pattern:
        raise InvalidException("Not a purl pattern: it does not read back as written.")
    return pattern


def parse_written(text: str) -> Pattern | None:
    """A pattern as Pattern.text wrote it, read back (None: it does not read)."""
    try:
        parsed = PackageURL.from_string(text)
    except ValueError:
        return None
    kind, namespace, name = _parts(parsed)
    glob = name.endswith(WILDCARD)
    return Pattern(kind, namespace, name[:-1] if glob else name, glob)


@lru_cache(maxsize=256)
def _range(versions: str) -> Any:
    from univers.version_range import VersionRange

    return VersionRange.from_string(versions)  # type: ignore[no-untyped-call]


def parse_versions(versions: str, pattern: Pattern) -> str:
    """The range `versions` as univers writes it back (normalised);
    InvalidException says why it is not a range of the pattern's type."""
    if len(versions) > MAX_VERSIONS_LENGTH:
        raise InvalidException(f"A version range must be at most {MAX_VERSIONS_LENGTH} characters.")
    try:
        parsed = _range(versions)
    # univers raises ValueError, TypeError and Exception subclasses of its own
    # (InvalidNuGetVersion, InvalidConstraintsError) for malformed input.
    except Exception as error:  # noqa: BLE001
        raise InvalidException(f"Not a vers range: {error}".rstrip(".") + ".") from None
    written = str(parsed)
    try:
        _range(written)
    except Exception:  # noqa: BLE001 - as above
        raise InvalidException(f"Not a vers range: it does not read back as {written}.") from None
    if parsed.scheme != pattern.type:
        raise InvalidException(
            f"The range's scheme is {parsed.scheme}, the purl's type {pattern.type}: "
            f"write vers:{pattern.type}/… for these packages."
        )
    return written


def in_range(versions: str, version: str | None) -> bool:
    """Whether `version` is in the vers range; a version the range's scheme
    cannot read is not, nor is no version at all."""
    if not version:
        return False
    try:
        parsed = _range(versions)
        return bool(parsed.version_class(version) in parsed)
    except Exception:  # noqa: BLE001 - an unreadable version: univers raises several kinds, as above
        return False


@lru_cache(maxsize=1024)
def _stored_pattern(text: str) -> Pattern:
    """An exception's pattern (taken by parse_pattern when it was made), read once a process."""
    return parse_pattern(text)


@lru_cache(maxsize=1024)
def _package(purl: str) -> tuple[tuple[str, str | None, str], str | None] | None:
    try:
        parsed = PackageURL.from_string(purl)
    except ValueError:
        return None
    return _parts(parsed), parsed.version or None


def matches(exception: PackageException, purl: str) -> bool:
    """Whether the exception names the package `purl` (canonical, as the
    feed stores it): its pattern and, when it has one, its version range."""
    read = _package(purl)
    if read is None:
        return False
    (kind, namespace, name), version = read
    pattern = _stored_pattern(exception.purl)
    if (kind, namespace) != (pattern.type, pattern.namespace):
        return False
    if not (name.startswith(pattern.name) if pattern.glob else name == pattern.name):
        return False
    return exception.versions is None or in_range(exception.versions, version)


def covers(exception: PackageException, ids: str | Collection[str]) -> bool:
    """Whether the exception decides the finding known by `ids` (its
    canonical id and its aliases: an exception may name any of them; one id
    alone may be given as a string; an exception listing none decides every
    one). The one place ids are compared."""
    if isinstance(ids, str):
        ids = (ids,)
    return exception.vulnerability_ids is None or not set(exception.vulnerability_ids).isdisjoint(ids)


def specificity(exception: PackageException) -> tuple[bool, bool, int, bool, str]:
    """Larger wins: listed vulnerabilities over all of them, an exact name
    over a wildcard (a longer prefix over a shorter), a version range over
    every version; then the latest created (ids sort by creation time)."""
    pattern = _stored_pattern(exception.purl)
    return (
        exception.vulnerability_ids is not None,
        not pattern.glob,
        len(pattern.name),
        exception.versions is not None,
        exception.id,
    )


def deciding(
    exceptions: Iterable[PackageException], purl: str, ids: str | Collection[str], now: datetime
) -> PackageException | None:
    """The exception that decides the vulnerability for the package at
    `now`, if any: the most specific of those in force that match both."""
    applicable = [e for e in exceptions if e.live(now) and covers(e, ids) and matches(e, purl)]
    return max(applicable, key=specificity, default=None)


def for_package(exceptions: Iterable[PackageException], purl: str, now: datetime) -> list[PackageException]:
    """The exceptions in force at `now` that match the package, whatever
    vulnerability they cover: what `deciding` chooses among for each."""
    return [e for e in exceptions if e.live(now) and matches(e, purl)]


def effect_of(
    candidates: Iterable[PackageException], purl: str, ids: str | Collection[str], effect: str, now: datetime
) -> tuple[str, PackageException | None]:
    """The effect of the finding known by `ids` on the package `purl`: the deciding
    exception's when one applies (it wins over the feed-wide `effect`,
    stricter or not), else `effect`; and that exception."""
    decided = deciding(candidates, purl, ids, now)
    return (decided.effect, decided) if decided is not None else (effect, None)
