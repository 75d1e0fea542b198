"""docs/openapi.json: the OpenAPI document GET /openapi.json serves, committed.

The console generates its TypeScript types from this file, so a change of the
API that breaks the console breaks its build. `make openapi` rewrites it;
tests/unit/test_openapi_document.py fails when it drifts from the served one.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def served() -> str:
    """The document as GET /openapi.json serves it, formatted for diffs."""
    from handlers.meta import openapi_json

    return json.dumps(json.loads(openapi_json()), indent=2, sort_keys=True) + "\n"


def placeholder_settings() -> None:
    """Settings fail closed: the handlers read their table names as they are
    imported. The document depends on none of them but the stage, so each
    variable the template's Globals and MetaFunction set that is not set
    here gets its plain value, its parameter's default (the stage's, v1), or
    a placeholder for a resource's name."""
    from infra.template import load_document

    document = load_document()
    parameters = document.get("Parameters", {})
    variables = {
        **document["Globals"]["Function"]["Environment"]["Variables"],
        **document["Resources"]["MetaFunction"]["Properties"]["Environment"]["Variables"],
    }
    for name, declared in variables.items():
        value = declared
        if isinstance(declared, dict) and declared.get("Ref") in parameters:
            value = parameters[declared["Ref"]].get("Default", "")
        os.environ.setdefault(name, value if isinstance(value, str) else f"openapi-placeholder-{name.lower()}")


def main() -> int:
    placeholder_settings()
    DOCUMENT.write_text(served())
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
