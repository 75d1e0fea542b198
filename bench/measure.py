"""What make bench and make soak share: percentiles, and waiting for a scan."""

from __future__ import annotations

import time

import requests

LOCAL_TOKEN = "local-fake-token"  # noqa: S105 - the fake OSS Index's, not a secret


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50 and p99 by nearest rank, in milliseconds."""
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


def wait_for_scan(
    api: str, headers: dict[str, str], scan_id: str, timeout: float = 600, every: float = 0.1
) -> dict[str, object]:
    """The scan once it has finished, asked for every `every` seconds;
    TimeoutError if it does not finish in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        scan: dict[str, object] = requests.get(f"{api}/scans/{scan_id}", headers=headers, timeout=30).json()
        if scan["status"] in ("succeeded", "partial", "failed"):
            return scan
        time.sleep(every)
    raise TimeoutError(f"scan {scan_id} did not finish in {timeout}s")
