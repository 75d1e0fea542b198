"""What POST /feeds/{feed}/packages accepts: {"purls": [...]} or a CycloneDX
JSON BOM, whose components may nest at any depth. Each entry is canonicalised
or rejected with a message; valid ones are added even when others are not.

The BOM is walked here rather than loaded with cyclonedx-python-lib: only
`components[].purl` and nested `components` matter, any spec version must be
accepted, and the library's strict model would refuse BOMs that are fine for
this (and costs the function's cold start)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from feedguard.errors import InvalidInput
from feedguard.purls import InvalidPurl, canonical

MAX_PURLS = 10_000


@dataclass
class Parsed:
    purls: list[str] = field(default_factory=list)
    rejected: list[dict[str, str | None]] = field(default_factory=list)


def _bom_components(components: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if components is None:
        return
    if not isinstance(components, list):
        raise InvalidInput(f"{path} must be an array of components.")
    for index, component in enumerate(components):
        where = f"{path}[{index}]"
        if not isinstance(component, dict):
            raise InvalidInput(f"{where} must be a component object.")
        yield where, component
        yield from _bom_components(component.get("components"), f"{where}.components")


def _entries(body: dict[str, Any]) -> Iterator[tuple[Any, str]]:
    """(purl or None, where) for every entry of the request."""
    if body.get("bomFormat") == "CycloneDX":
        for where, component in _bom_components(body.get("components"), "components"):
            if "purl" in component:
                yield component["purl"], where
            else:
                label = " ".join(str(component.get(key)) for key in ("name", "version") if component.get(key))
                yield None, f"{where} ({label or component.get('bom-ref') or 'unnamed'})"
        return
    if set(body) != {"purls"}:
        raise InvalidInput('Send {"purls": [...]} or a CycloneDX JSON BOM ("bomFormat": "CycloneDX").')
    if not isinstance(body["purls"], list):
        raise InvalidInput("purls must be an array of Package URL strings.")
    for index, purl in enumerate(body["purls"]):
        yield purl, f"purls[{index}]"


def parse(body: Any) -> Parsed:
    if not isinstance(body, dict):
        raise InvalidInput('Send {"purls": [...]} or a CycloneDX JSON BOM.')
    entries = list(_entries(body))
    if len(entries) > MAX_PURLS:
        raise InvalidInput(f"At most {MAX_PURLS} packages a request; this one has {len(entries)}.")
    parsed = Parsed()
    for purl, where in entries:
        if purl is None:
            parsed.rejected.append({"purl": None, "message": f"The component at {where} has no purl."})
            continue
        try:
            parsed.purls.append(canonical(purl))
        except InvalidPurl as error:
            parsed.rejected.append({"purl": purl if isinstance(purl, str) else None, "message": str(error)})
    return parsed
