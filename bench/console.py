"""The console's figures for make bench: the gzipped JavaScript its first page
loads (console/scripts/budget.mjs, the build's own budget check), and the time
from navigation to the first rows of a feed's Vulnerabilities tab in Debian's
Chromium (console/scripts/first-rows.mjs). Both read the built console/dist."""

from __future__ import annotations

import json
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSOLE = ROOT / "console"


def _node(script: str, *arguments: str, timeout: float = 600) -> dict[str, object]:
    output = subprocess.run(  # noqa: S603 - our own scripts
        ["node", f"scripts/{script}", *arguments],  # noqa: S607 - node on PATH, as make dev needs it
        cwd=CONSOLE,
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def first_page_javascript() -> dict[str, object]:
    """Bytes of gzipped JavaScript the first page loads, against its budget."""
    report = _node("budget.mjs")
    return {"gzip_bytes": report["first_page_js_gzip_bytes"], "budget_bytes": report["budget_bytes"]}


def first_rows(api: str, key: str, feed: str, runs: int) -> dict[str, object]:
    """Median and spread of navigation → first rows of the feed's
    Vulnerabilities tab, each run in a fresh browser context."""
    report = _node("first-rows.mjs", api, key, feed, str(runs))
    samples = [float(sample) for sample in report["samples_ms"]]  # type: ignore[attr-defined]
    return {
        "runs": len(samples),
        "median_ms": round(statistics.median(samples), 1),
        "min_ms": min(samples),
        "max_ms": max(samples),
        "rows_shown": report["rows"],
    }
