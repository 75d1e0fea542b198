"""make bench: figures with their baselines, measured in the same run.

- cold start: the import time of each function's handler module in a fresh
  interpreter, next to `import boto3` alone (the floor);
- the API through the local stack: latency of authenticated routes next to
  GET /health (the floor: gateway, sandbox and powertools, no AWS calls).
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

from infra.stack import LocalStack, StackConfig
from infra.template import Template

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "7"))


def import_seconds(statement: str) -> float:
    """Median wall time of `statement` in a fresh interpreter, RUNS times."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "functions"), "PYTHONDONTWRITEBYTECODE": "0"}
    samples = []
    for _ in range(RUNS):
        output = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
        samples.append(float(output.strip().splitlines()[-1]))
    return statistics.median(samples)


def cold_starts() -> dict[str, object]:
    floor = import_seconds("import boto3")
    rows = {}
    for logical_id, spec in sorted(Template.load().functions().items()):
        module = spec.handler.rpartition(".")[0]
        seconds = import_seconds(f"import {module}")
        rows[logical_id] = {"module": module, "ms": round(seconds * 1000, 1), "x_floor": round(seconds / floor, 2)}
    return {"floor_import_boto3_ms": round(floor * 1000, 1), "functions": rows}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


def api_latency(requests_per_route: int = 300) -> dict[str, dict[str, float]]:
    admin_key = secrets.token_urlsafe(24)
    stack = LocalStack(StackConfig(admin_key=admin_key, port=0, schedule_rate="off"))
    stack.start()
    try:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {admin_key}"}
        for n in range(20):
            session.post(f"{stack.api_url}/api-keys", json={"name": f"bench-{n}"}, headers=headers, timeout=30)
        routes: dict[str, Callable[[], requests.Response]] = {
            "GET /health (floor)": lambda: session.get(f"{stack.api_url}/health", timeout=30),
            "GET /api-keys (authorizer + Query)": lambda: session.get(
                f"{stack.api_url}/api-keys", headers=headers, timeout=30
            ),
        }
        figures = {}
        for name, call in routes.items():
            for _ in range(20):
                call()  # warm sandboxes
            samples = []
            for _ in range(requests_per_route):
                started = time.perf_counter()
                response = call()
                samples.append(time.perf_counter() - started)
                assert response.status_code == 200, response.text
            figures[name] = percentiles(samples)
        return figures
    finally:
        stack.stop()


def package_import(count: int = 10_000) -> dict[str, object]:
    """POST /feeds/{feed}/packages with `count` new purls through the local
    stack, then the same request again (all existing), next to /health."""
    admin_key = secrets.token_urlsafe(24)
    stack = LocalStack(StackConfig(admin_key=admin_key, port=0, schedule_rate="off"))
    stack.start()
    try:
        headers = {"Authorization": f"Bearer {admin_key}"}
        requests.post(f"{stack.api_url}/feeds", json={"name": "bench"}, headers=headers, timeout=30)
        purls = [f"pkg:npm/bench-package-{n}@1.0.{n % 7}" for n in range(count)]
        figures: dict[str, object] = {}
        for label in ("new", "existing"):
            started = time.perf_counter()
            response = requests.post(
                f"{stack.api_url}/feeds/bench/packages", json={"purls": purls}, headers=headers, timeout=120
            )
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.text
            figures[f"{count}_purls_{label}_s"] = round(elapsed, 2)
            figures[f"{count}_purls_{label}_answer"] = {k: v for k, v in response.json().items() if k != "rejected"}
        floor = []
        for _ in range(50):
            started = time.perf_counter()
            requests.get(f"{stack.api_url}/health", timeout=30)
            floor.append(time.perf_counter() - started)
        figures["health_floor_p50_ms"] = round(statistics.median(floor) * 1000, 2)
        return figures
    finally:
        stack.stop()


def main() -> int:
    results = {
        "cold_start": cold_starts(),
        "api_latency_local_stack": api_latency(),
        "package_import_local_stack": package_import(),
    }
    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
