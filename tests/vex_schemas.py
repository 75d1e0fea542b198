"""The official schemas a VEX export must validate against: CycloneDX 1.6
(cyclonedx-python-lib ships it with its validator) and OpenVEX 0.2.0
(tests/schemas, with its source and license)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from jsonschema import Draft202012Validator, FormatChecker

OPENVEX_SCHEMA = Path(__file__).resolve().parent / "schemas" / "openvex_json_schema_0.2.0.json"


@cache
def _cyclonedx() -> JsonStrictValidator:
    return JsonStrictValidator(SchemaVersion.V1_6)


@cache
def _openvex() -> Draft202012Validator:
    return Draft202012Validator(json.loads(OPENVEX_SCHEMA.read_text()), format_checker=FormatChecker())


def cyclonedx_problems(document: str) -> str | None:
    """Why the JSON text is not a valid CycloneDX 1.6 document (its first
    problem, briefly), or None."""
    error = _cyclonedx().validate_str(document)
    return None if error is None else str(error).split("\n\nFailed validating", 1)[0]


def openvex_problems(document: Any) -> list[str]:
    """Every way the document breaks the OpenVEX 0.2.0 schema."""
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in _openvex().iter_errors(document)]
