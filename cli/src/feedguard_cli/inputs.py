"""What the commands read: Package URLs from arguments, a file of one purl a
line, or a CycloneDX JSON BOM whose components may nest at any depth.

A purl is checked here only for its shape (`pkg:type/name@version`), so a
typo is named before anything is sent; the service decides the rest."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_TYPE = re.compile(r"^[A-Za-z.+-][A-Za-z0-9.+-]*$")


class InputError(Exception):
    """The input cannot be used; the message names the file, entry or purl."""


@dataclass
class Packages:
    """Purls in the order they were found, each once, with where each came
    from (a BOM line for SARIF), and the entries that had no purl."""

    purls: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    source: str | None = None  # the file they came from; None: the command line

    def add(self, purl: str, line: int) -> None:
        if purl not in self.lines:
            self.purls.append(purl)
            self.lines[purl] = line


def purl_problem(purl: str) -> str | None:
    """Why a string is not a usable Package URL, or None."""
    if not purl.startswith("pkg:"):
        return "does not start with pkg:"
    body = purl[4:].lstrip("/").split("#", 1)[0].split("?", 1)[0]
    purl_type, _, rest = body.partition("/")
    if not _TYPE.match(purl_type):
        return "has no valid type (pkg:TYPE/...)"
    if not rest or rest.startswith("@"):
        return "has no name"
    name, at, version = rest.rpartition("@")
    if not at or not version or not name.strip("/"):
        return "has no version (pkg:type/name@VERSION)"
    return None


def check_purls(purls: Sequence[str]) -> None:
    problems = [f"{purl!r} {problem}" for purl in purls if (problem := purl_problem(purl))]
    if problems:
        raise InputError(f"{len(problems)} invalid purl{'s' if len(problems) > 1 else ''}: " + "; ".join(problems))


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{file}: no such file.") from None
    except IsADirectoryError:
        raise InputError(f"{file}: is a directory, not a file.") from None
    except UnicodeDecodeError:
        raise InputError(f"{file}: not UTF-8 text.") from None
    except OSError as error:
        raise InputError(f"{file}: cannot be read ({error.strerror}).") from None


def _components(components: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if components is None:
        return
    if not isinstance(components, list):
        raise InputError(f"{where} must be an array of components.")
    for index, component in enumerate(components):
        at = f"{where}[{index}]"
        if not isinstance(component, dict):
            raise InputError(f"{at} must be a component object.")
        yield at, component
        yield from _components(component.get("components"), f"{at}.components")


def _purl_lines(text: str) -> Iterator[tuple[str, int]]:
    """(purl, line number) for every `"purl": "..."` of a JSON text."""
    for number, line in enumerate(text.splitlines(), start=1):
        for match in re.finditer(r'"purl"\s*:\s*"((?:[^"\\]|\\.)*)"', line):
            try:
                yield json.loads(f'"{match.group(1)}"'), number
            except ValueError:
                continue


def read_bom(file: Path) -> Packages:
    """The purls of a CycloneDX JSON BOM's components, nested ones too; a
    component without a purl is listed in `skipped`, not dropped silently."""
    text = _read(file)
    try:
        bom = json.loads(text)
    except ValueError as error:
        raise InputError(f"{file}: not JSON ({error}).") from None
    if not isinstance(bom, dict) or bom.get("bomFormat") != "CycloneDX":
        raise InputError(f'{file}: not a CycloneDX JSON BOM (no "bomFormat": "CycloneDX").')
    lines: dict[str, int] = {}
    for purl, number in _purl_lines(text):
        lines.setdefault(purl, number)
    packages = Packages(source=str(file))
    try:
        for where, component in _components(bom.get("components"), "components"):
            value = component.get("purl")
            if value is None:
                label = " ".join(str(component[key]) for key in ("name", "version") if component.get(key))
                packages.skipped.append(f"{where} ({label or component.get('bom-ref') or 'unnamed'}) has no purl")
                continue
            if not isinstance(value, str):
                raise InputError(f"{where}.purl is not a string.")
            packages.add(value, lines.get(value, 1))
    except InputError as error:
        raise InputError(f"{file}: {error}") from None
    return packages


def read_purl_file(file: Path) -> Packages:
    """One purl a line; blank lines and lines starting with # are ignored."""
    packages = Packages(source=str(file))
    for number, line in enumerate(_read(file).splitlines(), start=1):
        entry = line.strip()
        if entry and not entry.startswith("#"):
            packages.add(entry, number)
    return packages


def read_packages(file: Path) -> Packages:
    """A CycloneDX JSON BOM, or else a file of one purl a line."""
    text = _read(file).lstrip()
    return read_bom(file) if text.startswith("{") else read_purl_file(file)


def from_arguments(purls: Sequence[str]) -> Packages:
    packages = Packages()
    for number, purl in enumerate(purls, start=1):
        packages.add(purl, number)
    return packages
