"""make bench: figures with their baselines, measured in the same run.

- cold start: the import time of each function's handler module in a fresh
  interpreter, next to `import boto3` alone (the floor);
- the API through the local stack: latency of authenticated routes next to
  GET /health (the floor: gateway, sandbox and powertools, no AWS calls);
- the console: the gzipped JavaScript of its first page, and navigation to the
  first rows of a feed of 5,000 findings in Chromium next to the API's own
  GET …/vulnerabilities?limit=100 in the same run;
- the VEX export of that feed in both formats: its pages, their size in
  Lambda's response, its DynamoDB calls, and its time through the local stack.
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
from typing import cast

import requests

from bench import console
from bench.measure import LOCAL_TOKEN, machine_loop_ms, percentiles, wait_for_scan
from infra.provision import aws_client
from infra.stack import LocalStack, StackConfig
from infra.template import Template

# What the service does, not what one key may ask: the usage plan's per-key
# throttle (ApiKeyRateLimit, ApiKeyBurstLimit) is lifted for measurements.
UNTHROTTLED = {"ApiKeyRateLimit": "10000", "ApiKeyBurstLimit": "5000"}

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
SCANS = int(os.environ.get("BENCH_SCANS", "5"))  # cold-cache scans with warm functions
# The share of the scan benchmark's packages the fake reports vulnerable in
# its second part, and how many daily scans (cold cache, findings recorded) it times.
VULNERABLE_SHARE = float(os.environ.get("BENCH_VULNERABLE_SHARE", "0.1"))
DAILY_SCANS = int(os.environ.get("BENCH_DAILY_SCANS", "3"))


def _import_once(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "functions"), "PYTHONDONTWRITEBYTECODE": "0"}
    output = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    return float(output.strip().splitlines()[-1])


def cold_starts() -> dict[str, object]:
    """Each handler module's import time in a fresh interpreter next to
    `import boto3` alone, sampled in alternation (RUNS pairs a function) so
    the machine's drift touches both alike; medians."""
    rows = {}
    floors: list[float] = []
    for logical_id, spec in sorted(Template.load().functions().items()):
        module = spec.handler.rpartition(".")[0]
        _import_once(f"import {module}")  # compile its bytecode outside the samples
        pairs = [(_import_once("import boto3"), _import_once(f"import {module}")) for _ in range(RUNS)]
        floor = statistics.median(p[0] for p in pairs)
        seconds = statistics.median(p[1] for p in pairs)
        floors.append(floor)
        rows[logical_id] = {
            "module": module,
            "ms": round(seconds * 1000, 1),
            "floor_ms": round(floor * 1000, 1),
            "x_floor": round(seconds / floor, 2),
        }
    return {"floor_import_boto3_ms": round(statistics.median(floors) * 1000, 1), "functions": rows}


def timed(routes: dict[str, Callable[[], requests.Response]], count: int) -> dict[str, dict[str, float]]:
    """p50/p99 of each route over `count` sequential calls, after 20 to warm
    the sandboxes; every call must answer 200."""
    figures = {}
    for name, call in routes.items():
        for _ in range(20):
            call()
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            response = call()
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
        figures[name] = percentiles(samples)
    return figures


def api_latency(requests_per_route: int = 300) -> dict[str, dict[str, float]]:
    admin_key = secrets.token_urlsafe(24)
    stack = LocalStack(StackConfig(admin_key=admin_key, port=0, schedule_rate="off", parameters=UNTHROTTLED))
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
        return timed(routes, requests_per_route)
    finally:
        stack.stop()


def package_import(count: int = 10_000) -> dict[str, object]:
    """POST /feeds/{feed}/packages with `count` new purls through the local
    stack, then the same request again (all existing), next to /health."""
    admin_key = secrets.token_urlsafe(24)
    stack = LocalStack(StackConfig(admin_key=admin_key, port=0, schedule_rate="off", parameters=UNTHROTTLED))
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


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and its live children: the
    local stack runs moto, the gateway and the pollers in this process, and
    each function sandbox in a child."""
    ticks = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # the process ended meanwhile
        pid, ppid = int(stat.parent.name), int(fields[1])
        if me in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def finished(stack: LocalStack, since: float, patience: float = 10.0) -> float:
    """When the last scan worker invocation to return since `since` did: the
    one that finished the scan. Its status is set before it returns, so a
    client may see the status first: every invocation under way is waited
    for (up to `patience` seconds), the finishing one among them. One may
    have started before `since`: an invocation lasts while the queue has
    batches, of whichever scan, or one of its scans is still being planned
    (it ends within a tenth of a second of the scan's planning). A client
    polling GET /scans/{id} sees the status up to a poll and a request
    later, time the scan did not take."""
    worker = stack.functions["ScanWorkerFunction"]
    waited_until = time.monotonic() + patience
    while worker.in_flight and time.monotonic() < waited_until:
        time.sleep(0.02)
    return max(
        ended
        for invocation in list(worker.log)
        if (ended := invocation.started_at + invocation.duration_ms / 1000) >= since
    )


def forget_answers(stack: LocalStack) -> None:
    """Empties the answer cache table of the local stack."""
    forget(stack, ("AnswerCacheTable",))


def forget(stack: LocalStack, logical_ids: tuple[str, ...]) -> None:
    """Empties these tables of the local stack."""
    assert stack.provisioned is not None, "the stack has started"
    dynamodb = aws_client("dynamodb", stack.moto_url)
    for logical_id in logical_ids:
        table = stack.provisioned.table_names[logical_id]
        keys = [key["AttributeName"] for key in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
        names = {f"#k{n}": name for n, name in enumerate(keys)}
        for page in dynamodb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
        ):
            for start in range(0, len(page["Items"]), 25):
                chunk = page["Items"][start : start + 25]
                dynamodb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": key}} for key in chunk]})


def settle(stack: LocalStack, quiet_cpu_s: float = 0.1, longest_s: float = 300.0) -> float:
    """Waits until the stack is idle (under `quiet_cpu_s` of CPU in a second:
    its pollers alone use about 0.05), so what a scan left to do (the
    findings events it published through the history stream) is not timed
    with the next one; returns how long that took."""
    started = time.monotonic()
    while time.monotonic() - started < longest_s:
        before = cpu_seconds()
        time.sleep(1.0)
        if cpu_seconds() - before < quiet_cpu_s:
            break
    return time.monotonic() - started


def table_contents(stack: LocalStack, logical_id: str) -> dict[str, object]:
    """Every item of a table of the local stack, by its JSON: a write by a
    scan carries the time it was made (`last_seen`, `updated_at`,
    `last_scanned_at`), so an item rewritten seconds later differs."""
    assert stack.provisioned is not None, "the stack has started"
    dynamodb = aws_client("dynamodb", stack.moto_url)
    table = stack.provisioned.table_names[logical_id]
    return {
        json.dumps(item, sort_keys=True): None
        for page in dynamodb.get_paginator("scan").paginate(TableName=table)
        for item in page["Items"]
    }


def scan_throughput(distinct: int = 10_000, latency_ms: int = 100) -> dict[str, object]:
    """A cold scan of `distinct` purls spread over 3 overlapping feeds, with the
    fake OSS Index answering in `latency_ms`, next to a sequential batched
    client asking the same service for the same purls in the same run."""
    from feedguard.ossindex import Client, Credentials

    admin_key = secrets.token_urlsafe(24)
    stack = LocalStack(StackConfig(admin_key=admin_key, port=0, schedule_rate="off", parameters=UNTHROTTLED))
    stack.start()
    try:
        api, headers = stack.api_url, {"Authorization": f"Bearer {admin_key}"}
        purls = [f"pkg:npm/bench-package-{n}@1.0.0" for n in range(distinct)]
        third = distinct // 3
        feeds = {
            "bench-a": purls[: 2 * third],
            "bench-b": purls[third:],
            "bench-c": purls[: third // 2] + purls[2 * third :],
        }
        source = requests.post(
            f"{api}/sources",
            json={"name": "bench", "kind": "ossindex", "url": stack.ossindex_url, "token": LOCAL_TOKEN},
            headers=headers,
            timeout=30,
        ).json()["id"]
        for name, members in feeds.items():
            requests.post(f"{api}/feeds", json={"name": name}, headers=headers, timeout=30)
            requests.post(f"{api}/feeds/{name}/packages", json={"purls": members}, headers=headers, timeout=300)
            requests.put(f"{api}/feeds/{name}/sources/{source}", headers=headers, timeout=30)
        stack.fake_ossindex.latency_ms = latency_ms

        def sequential_client(share: float) -> tuple[float, int]:
            stack.fake_ossindex.reset()
            stack.fake_ossindex.latency_ms = latency_ms
            stack.fake_ossindex.vulnerable_share = share
            started = time.perf_counter()
            Client(stack.ossindex_url, Credentials(token=LOCAL_TOKEN)).reports(purls)
            return time.perf_counter() - started, stack.fake_ossindex.stats()["requests"]

        sequential, sequential_requests = sequential_client(0.0)

        def timed_scan(share: float = 0.0) -> dict[str, object]:
            """One scan of every feed through POST /scans: wall time from the
            request to the finished status, and what it did, with the CPU of
            the stack meanwhile."""
            stack.fake_ossindex.reset()
            stack.fake_ossindex.latency_ms = latency_ms
            stack.fake_ossindex.vulnerable_share = share
            loop_ms = machine_loop_ms()
            cpu, started, posted = cpu_seconds(), time.monotonic(), time.time()
            scan_id = requests.post(f"{api}/scans", json={}, headers=headers, timeout=30).json()["id"]
            # Timed by the stack's invocation log, so a poll need not be frequent:
            # each is a gateway, authorizer and function call the scan competes with.
            scan = wait_for_scan(api, headers, scan_id, every=0.25)
            polled = time.monotonic() - started
            seconds = finished(stack, posted) - posted
            fake = stack.fake_ossindex.stats()
            asking = {}
            if fake["first_request_at"] is not None:
                # From POST /scans to the first request; then how many requests were in
                # flight on average until the last answer (4 would keep every slot busy).
                span = fake["last_answer_at"] - fake["first_request_at"]
                asking = {
                    "first_request_after_s": round(fake["first_request_at"] - started, 2),
                    "mean_in_flight": round(fake["request_seconds"] / span, 2) if span else None,
                }
            return {
                "seconds": round(seconds, 2),
                "seconds_polled": round(polled, 2),
                "over_sequential": round(seconds / sequential, 2),
                "cpu_s": round(cpu_seconds() - cpu, 2),
                "status": scan["status"],
                "requests_made": scan["requests_made"],
                "cache_hits": scan["cache_hits"],
                "findings_new": scan["findings_new"],
                "max_in_flight": fake["max_in_flight"],
                **asking,
                "machine_loop_ms": loop_ms,
            }

        # The first scan after the stack starts: no function has run yet.
        first = timed_scan()
        # The same cold-cache scan with every function warm, as on a service
        # that has been running: the answer cache is emptied first. Several,
        # as this is CPU-bound on a machine whose speed drifts: the median
        # run's figures, and every run's time.
        colds = []
        for _ in range(SCANS):
            forget_answers(stack)
            colds.append(timed_scan())
        colds.sort(key=lambda run: cast(float, run["seconds"]))
        cold = {
            **colds[len(colds) // 2],
            "runs_s": [run["seconds"] for run in colds],
            "runs_machine_loop_ms": [run["machine_loop_ms"] for run in colds],
        }
        warm = timed_scan()
        vulnerable = _vulnerable_scans(stack, timed_scan, sequential_client, headers)
        return {
            "distinct_purls": distinct,
            "package_rows_over_3_feeds": sum(len(members) for members in feeds.values()),
            "fake_latency_ms": latency_ms,
            "cores": os.cpu_count(),
            "expected_requests": -(-distinct // 128),
            "sequential_batched_client_s": round(sequential, 2),
            "sequential_requests": sequential_requests,
            "cold_cache_cold_functions": first,
            "cold_cache_warm_functions": cold,
            "warm_rescan": warm,
            **vulnerable,
        }
    finally:
        stack.stop()


def _vulnerable_scans(
    stack: LocalStack,
    timed_scan: Callable[[float], dict[str, object]],
    sequential_client: Callable[[float], tuple[float, int]],
    admin: dict[str, str],
) -> dict[str, object]:
    """The same feeds when VULNERABLE_SHARE of their packages are reported
    vulnerable, as a real feed's are: the scan that first finds them
    (creating the findings, each publishing an event), then the daily scan
    (the cached answers expired, the findings there), which should rewrite
    nothing; then every finding assessed, as a feed's findings are once
    people have looked at them, and the daily scan again; then, the findings
    forgotten, the first scan again with a type that auto-assesses every
    score. The sequential client asks for the same answers."""
    sequential, _ = sequential_client(VULNERABLE_SHARE)
    forget_answers(stack)
    settle(stack)
    detecting = timed_scan(VULNERABLE_SHARE)
    detecting["over_sequential"] = round(cast(float, detecting["seconds"]) / sequential, 2)
    detecting["events_settled_after_s"] = round(settle(stack), 1)
    detecting["finding_detected_events"] = sum(
        1 for event in stack.recorded_events() if event.get("detail-type") == "Finding Detected"
    )
    unassessed = _daily_scans(stack, timed_scan, sequential, ("FindingsTable", "VulnerabilitiesTable", "PackagesTable"))
    assessing = _assess_every_finding(stack, admin)
    settle(stack)
    assessed = _daily_scans(
        stack, timed_scan, sequential, ("FindingsTable", "VulnerabilitiesTable", "PackagesTable", "AssessmentsTable")
    )
    auto = {"name": "Bench triage", "effect": "warn", "auto_assess": {"min_cvss": 0.0, "max_cvss": 10.0}}
    requests.post(f"{stack.api_url}/assessment-types", json=auto, headers=admin, timeout=30).raise_for_status()
    forget(stack, ("FindingsTable", "AssessmentsTable", "HistoryTable"))
    forget_answers(stack)
    settle(stack)
    auto_assessing = timed_scan(VULNERABLE_SHARE)
    auto_assessing["over_sequential"] = round(cast(float, auto_assessing["seconds"]) / sequential, 2)
    auto_assessing["events_settled_after_s"] = round(settle(stack), 1)
    auto_assessing["assessments"] = len(table_contents(stack, "AssessmentsTable"))
    return {
        "vulnerable_share": VULNERABLE_SHARE,
        "sequential_batched_client_vulnerable_s": round(sequential, 2),
        "first_scan_finding_them": detecting,
        "daily_scan_findings_recorded": unassessed,
        "findings_assessed": assessing,
        "daily_scan_findings_assessed": assessed,
        "first_scan_auto_assessing_them": auto_assessing,
    }


def _daily_scans(
    stack: LocalStack, timed_scan: Callable[[float], dict[str, object]], sequential: float, tables: tuple[str, ...]
) -> dict[str, object]:
    """DAILY_SCANS scans with the cached answers expired (the median run's
    figures, every run's time), and how many items of `tables` they wrote."""
    before = {logical_id: table_contents(stack, logical_id) for logical_id in tables}
    dailies = []
    for _ in range(DAILY_SCANS):
        forget_answers(stack)
        run = timed_scan(VULNERABLE_SHARE)
        run["over_sequential"] = round(cast(float, run["seconds"]) / sequential, 2)
        dailies.append(run)
        settle(stack)
    after = {logical_id: table_contents(stack, logical_id) for logical_id in tables}
    dailies.sort(key=lambda run: cast(float, run["seconds"]))
    return {
        **dailies[len(dailies) // 2],
        "runs_s": [run["seconds"] for run in dailies],
        "items_rewritten": {
            logical_id: len(after[logical_id].keys() - before[logical_id].keys()) for logical_id in tables
        },
        "items": {logical_id: len(after[logical_id]) for logical_id in tables},
    }


def _assess_every_finding(stack: LocalStack, admin: dict[str, str]) -> dict[str, object]:
    """Every finding of the stack assessed `ignore` through the bulk route,
    100 a request; how many and how long it took."""
    assert stack.provisioned is not None, "the stack has started"
    dynamodb = aws_client("dynamodb", stack.moto_url)
    table = stack.provisioned.table_names["FindingsTable"]
    by_feed: dict[str, list[str]] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="feed, vulnerability_id"):
        for item in page["Items"]:
            by_feed.setdefault(item["feed"]["S"], []).append(item["vulnerability_id"]["S"])
    started, assessed = time.monotonic(), 0
    for feed, ids in sorted(by_feed.items()):
        for start in range(0, len(ids), 100):
            answer = requests.post(
                f"{stack.api_url}/feeds/{feed}/assessments",
                json={"vulnerability_ids": ids[start : start + 100], "type": "ignore", "comment": "bench"},
                headers=admin,
                timeout=120,
            )
            answer.raise_for_status()
            assessed += int(answer.json()["assessed"])
    return {"assessed": assessed, "seconds": round(time.monotonic() - started, 1)}


def gate_latency(packages: int = 10_000, findings: int = 5_000, requests_per_route: int = 300) -> dict[str, object]:
    """POST /feeds/{feed}/check with 128 purls against a feed of `packages`
    packages and `findings` findings, through the local stack, as a viewer
    key, next to GET /health; and the DynamoDB calls of one check and of one
    page of 100 findings, counted in a process running the real handlers."""
    admin_key = secrets.token_urlsafe(24)
    stack = LocalStack(StackConfig(admin_key=admin_key, port=0, schedule_rate="off", parameters=UNTHROTTLED))
    stack.start()
    try:
        api, admin = stack.api_url, {"Authorization": f"Bearer {admin_key}"}
        requests.post(f"{api}/feeds", json={"name": "gate"}, headers=admin, timeout=30).raise_for_status()
        key = requests.post(f"{api}/api-keys", json={"name": "ci"}, headers=admin, timeout=30).json()
        requests.put(
            f"{api}/feeds/gate/permissions/{key['id']}", json={"role": "viewer"}, headers=admin, timeout=30
        ).raise_for_status()
        seeded = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.gate_seed", "gate", str(packages), str(findings), key["id"]],
            env={**stack.functions["GateFunction"].environment, "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}"},
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        counted = json.loads(seeded.stdout.strip().splitlines()[-1])
        session = requests.Session()
        viewer = {"Authorization": f"Bearer {key['key']}"}
        body = {"purls": counted["purls"]}
        routes: dict[str, Callable[[], requests.Response]] = {
            "GET /health (floor)": lambda: session.get(f"{api}/health", timeout=30),
            "POST /feeds/gate/check (128 purls)": lambda: session.post(
                f"{api}/feeds/gate/check", json=body, headers=viewer, timeout=30
            ),
            "GET /feeds/gate/vulnerabilities?limit=100": lambda: session.get(
                f"{api}/feeds/gate/vulnerabilities", params={"limit": 100}, headers=viewer, timeout=30
            ),
        }
        figures: dict[str, object] = dict(timed(routes, requests_per_route))
        # The same feed in the console, as the viewer: the emulator's seconds, like the route above.
        figures["console_first_rows_local_stack"] = console.first_rows(api, key["key"], "gate", runs=RUNS)
        figures["dynamodb_calls_per_check"] = counted["check_calls"]
        figures["dynamodb_calls_per_findings_page"] = counted["page_calls"]
        figures["vex_export_in_process"] = counted["vex"]
        figures["vex_export_local_stack"] = vex_export_latency(session, api, viewer)
        figures["feed"] = {"packages": packages, "findings": findings}
        return figures
    finally:
        stack.stop()


def vex_export_latency(session: requests.Session, api: str, viewer: dict[str, str]) -> dict[str, object]:
    """GET /feeds/gate/vex through the local stack, every page, RUNS times a format."""
    figures: dict[str, object] = {}
    for format_ in ("cyclonedx", "openvex"):
        samples = []
        for _ in range(RUNS):
            started, url = time.perf_counter(), f"{api}/feeds/gate/vex?format={format_}"
            while url:
                response = session.get(url, headers=viewer, timeout=120)
                assert response.status_code == 200, response.text
                url = requests.compat.urljoin(url, response.links["next"]["url"]) if "next" in response.links else ""
            samples.append(time.perf_counter() - started)
        figures[f"GET /feeds/gate/vex?format={format_} (every page)"] = percentiles(samples)
    return figures


def main() -> int:
    results = {
        "cold_start": cold_starts(),
        "api_latency_local_stack": api_latency(),
        "package_import_local_stack": package_import(),
        "scan_local_stack": scan_throughput(),
        "gate_local_stack": gate_latency(),
        "console_first_page_javascript": console.first_page_javascript(),
    }
    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
