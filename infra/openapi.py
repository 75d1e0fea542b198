"""docs/openapi.json: the OpenAPI document GET /openapi.json serves, committed.

The console generates its TypeScript types from this file, so a change of the
API that breaks the console breaks its build. `make openapi` rewrites it;
tests/unit/test_openapi_document.py fails when it drifts from the served one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def served() -> str:
    """The document as GET /openapi.json serves it, formatted for diffs."""
    from handlers.meta import openapi_json

    return json.dumps(json.loads(openapi_json()), indent=2, sort_keys=True) + "\n"


def main() -> int:
    DOCUMENT.write_text(served())
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
