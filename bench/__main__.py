"""make bench: what feedguard asks of AWS, counted as AWS bills it.

For a scan of N distinct purls over three overlapping feeds (N = 2,000 and
20,000 by default, BENCH_SIZES), through the local stack with every
function's AWS calls going through bench.meter:

- the packages' import (POST /feeds/{feed}/packages);
- the first scan (the answer cache empty, BENCH_VULNERABLE_SHARE of the
  packages reported vulnerable: findings created);
- the daily scan with nothing new (the cached answers expired, the same
  answers): it must write no package, finding or assessment;

OSV for 10,000 purls, cold and warm (bench.osv: querybatch requests and
record fetches against their targets);

and one gate check of 128 purls (POST /feeds/{feed}/check) on a feed of
10,000 packages and 5,000 findings, with the number of sequential DynamoDB
round trips on its path (bench.gate_seed, in-process); and a cross-feed
query (GET /vulnerabilities by id and by status) for a key with a role on
200 feeds, with its sequential round trips (bench.across_seed).

Each reports OSS Index requests, Lambda invocations by function, AWS calls by
service and operation, DynamoDB calls by operation and the read, write and
index-write units they consume (bench.capacity, beside moto's own
ReturnConsumedCapacity), per package and in total. Local wall times are the
emulator's (moto on a shared machine), labelled so: not what AWS would take,
and not targets. Results: stdout and bench/results/ (gitignored)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import requests

from bench import capacity
from bench.measure import LOCAL_TOKEN
from bench.meter import Meter, Tally
from infra.provision import aws_client
from infra.stack import LocalStack, StackConfig

# What the service does, not what one key may ask: the usage plan's per-key
# throttle (ApiKeyRateLimit, ApiKeyBurstLimit) is lifted for measurements.
UNTHROTTLED = {"ApiKeyRateLimit": "10000", "ApiKeyBurstLimit": "5000"}
ROOT = Path(__file__).resolve().parent.parent
SIZES = [int(size) for size in os.environ.get("BENCH_SIZES", "2000,20000").split(",") if size]
# 1 % by default: each finding's transaction costs the emulator a copy of
# every table it touches per action (moto's rollback), so at 10 % the
# 20,000-purl first scan takes hours locally; DynamoDB bills it by item size
# whatever the table holds (docs/performance.md, "The emulator's times").
VULNERABLE_SHARE = float(os.environ.get("BENCH_VULNERABLE_SHARE", "0.01"))
FINISHED = ("succeeded", "partial", "failed")
ATTEMPTS = 3
SCAN_TIMEOUT = float(os.environ.get("BENCH_SCAN_TIMEOUT", "7200"))
PROGRESS_SECONDS = 30.0
# The meter's tally, invocations, emulated milliseconds by function, the fake OSS Index's stats, when.
Mark = tuple[Tally, Counter[str], dict[str, float], dict[str, Any], float]


class Run:
    """A local stack whose functions' AWS calls are metered, and Lambda's
    invocations of them counted (with the emulator's durations)."""

    def __init__(self) -> None:
        self.admin_key = secrets.token_urlsafe(24)
        self.stack = LocalStack(
            StackConfig(admin_key=self.admin_key, port=0, schedule_rate="off", parameters=UNTHROTTLED)
        )
        self.invocations: Counter[str] = Counter()
        self.emulated_ms: dict[str, float] = defaultdict(float)
        self.meter: Meter | None = None

    def __enter__(self) -> Run:
        self.stack.start()
        self.meter = Meter(self.stack.moto_url).start()
        self.meter.point(self.stack.functions)
        for logical_id, function in self.stack.functions.items():
            function.invoke = self._counting(logical_id, function.invoke)  # type: ignore[method-assign]
        self.dynamodb = aws_client("dynamodb", self.stack.moto_url)
        return self

    def __exit__(self, *_: object) -> None:
        if self.meter:
            self.meter.stop()
        self.stack.stop()

    def _counting(self, logical_id: str, invoke: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return invoke(*args, **kwargs)
            finally:
                self.invocations[logical_id] += 1
                self.emulated_ms[logical_id] += (time.perf_counter() - started) * 1000

        return counted

    @property
    def api(self) -> str:
        return self.stack.api_url

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def table(self, logical_id: str) -> str:
        assert self.stack.provisioned is not None
        return self.stack.provisioned.table_names[logical_id]

    def mark(self) -> Mark:
        assert self.meter is not None
        fake = self.stack.fake_ossindex.stats()
        return self.meter.snapshot(), Counter(self.invocations), dict(self.emulated_ms), fake, time.monotonic()

    def since(self, mark: Mark, packages: int) -> dict[str, Any]:
        """What the stack did since `mark`, per package and in total."""
        tally, invocations, emulated, fake, started = mark
        now = self.mark()
        return report(
            now[0].minus(tally),
            now[1] - invocations,
            {name: ms - emulated.get(name, 0.0) for name, ms in now[2].items() if ms != emulated.get(name, 0.0)},
            now[3]["requests"] - fake["requests"],
            packages,
            now[4] - started,
            {logical_id: self.table(logical_id) for logical_id in self.stack.provisioned.table_names},  # type: ignore[union-attr]
        )

    def idle(self, quiet_seconds: float = 15.0, longest: float = 3600.0) -> None:
        """Waits until no function has run for `quiet_seconds`: what a scan
        left to do (its findings' events, through the history stream) is then
        done, and not counted with the next phase. (At 3 seconds, events of a
        20,000-purl first scan were still being published in the next.)"""
        deadline = time.monotonic() + longest
        last = -1
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            total = sum(self.invocations.values())
            busy = any(function.in_flight for function in self.stack.functions.values())
            if total != last or busy:
                last, quiet_since = total, time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_seconds:
                return
            time.sleep(0.25)

    def latest_scan(self) -> dict[str, Any]:
        answer = self.dynamodb.query(
            TableName=self.table("ScansTable"),
            IndexName="by_entity",
            KeyConditionExpression="entity = :e",
            ExpressionAttributeValues={":e": {"S": "scan"}},
            ScanIndexForward=False,
            Limit=1,
        )["Items"]
        return answer[0] if answer else {}

    def scheduled_scan(self, timeout: float = SCAN_TIMEOUT) -> dict[str, Any]:
        """The schedule fires (the coordinator, as EventBridge Scheduler
        invokes it); the scan once finished and the stack idle again. Its
        progress goes to stderr every PROGRESS_SECONDS, so a slow run is
        told from a stuck one (batches counted still rise)."""
        before = self.latest_scan().get("scan_id", {}).get("S")
        (scheduler,) = self.stack.schedulers.values()
        assert scheduler.fire(), "the coordinator failed"
        started = time.monotonic()
        deadline, told = started + timeout, started
        while time.monotonic() < deadline:
            scan = self.latest_scan()
            if scan.get("scan_id", {}).get("S") != before and scan.get("status", {}).get("S") in FINISHED:
                self.idle()
                return {name: next(iter(value.values())) for name, value in scan.items()}
            if time.monotonic() - told >= PROGRESS_SECONDS:
                told = time.monotonic()
                progress(scan, told - started)
            time.sleep(0.5)
        raise TimeoutError("the scheduled scan did not finish")

    def forget(self, logical_id: str) -> None:
        """Empties a table, uncounted (the answer cache's TTL, locally at once)."""
        table = self.table(logical_id)
        keys = [key["AttributeName"] for key in self.dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
        names = {f"#k{n}": name for n, name in enumerate(keys)}
        for page in self.dynamodb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
        ):
            for start in range(0, len(page["Items"]), 25):
                chunk = page["Items"][start : start + 25]
                self.dynamodb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": key}} for key in chunk]})

    def storage(self) -> dict[str, dict[str, int]]:
        """Each table's items and billed bytes (items and their index entries,
        each with DynamoDB's 100 bytes of overhead), read uncounted."""
        assert self.meter is not None
        assert self.stack.provisioned is not None
        stored = {}
        for logical_id, name in sorted(self.stack.provisioned.table_names.items()):
            described = self.meter.table(name)
            items = bytes_ = 0
            for page in self.dynamodb.get_paginator("scan").paginate(TableName=name):
                for item in page["Items"]:
                    items += 1
                    bytes_ += capacity.storage_bytes(item)
                    for index in described.indexes:
                        entry = index.entry(item, described.keys)
                        bytes_ += capacity.storage_bytes(entry) if entry is not None else 0
            stored[logical_id] = {"items": items, "bytes": bytes_}
        return stored

    def count_items(self, logical_id: str) -> int:
        return sum(
            page["Count"]
            for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.table(logical_id), Select="COUNT")
        )


def progress(scan: dict[str, Any], seconds: float) -> None:
    """One line on stderr: how far a scan is, in the emulator's seconds."""
    field = {name: next(iter(value.values())) for name, value in scan.items()}
    print(
        f"bench: scan {field.get('scan_id')} {field.get('status')}: batches "
        f"{int(field.get('batches_done', 0)) + int(field.get('batches_failed', 0))}/{field.get('batches_total', '?')}, "
        f"findings new {field.get('findings_new', 0)}, {seconds:.0f} s of the emulator",
        file=sys.stderr,
        flush=True,
    )


def report(
    tally: Tally,
    invocations: Counter[str],
    emulated_ms: dict[str, float],
    ossindex_requests: int,
    packages: int,
    seconds: float,
    tables: dict[str, str],
) -> dict[str, Any]:
    """One phase's figures: counts, then per package, then the emulator's time."""
    logical = {name: logical_id for logical_id, name in tables.items()}

    def table_name(name: str) -> str:
        base, dot, index = name.partition(".")
        return logical.get(base, base) + (f".{index}" if dot else "")

    dynamodb_calls: Counter[str] = Counter()
    other_calls: Counter[str] = Counter()
    for (_function, service, operation), count in tally.calls.items():
        if service == "dynamodb":
            dynamodb_calls[operation] += count
        else:
            other_calls[f"{service} {operation}"] += count
    units: dict[str, float] = defaultdict(float)
    by_operation: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_table: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_function: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for (function, operation, table, kind), amount in tally.units.items():
        units[kind] += amount
        by_operation[operation][kind] += amount
        by_table[table_name(table)][kind] += amount
        by_function[function][kind] += amount
    per = max(packages, 1)
    return {
        "ossindex_requests": ossindex_requests,
        "lambda_invocations": dict(sorted(invocations.items())),
        "dynamodb_calls": dict(sorted(dynamodb_calls.items())),
        "dynamodb_units": {kind: round(amount, 1) for kind, amount in sorted(units.items())},
        "dynamodb_units_by_operation": _rounded(by_operation),
        "dynamodb_units_by_table": _rounded(by_table),
        "dynamodb_units_by_function": _rounded(by_function),
        "moto_reported_capacity_units_by_operation": {k: round(v, 1) for k, v in sorted(tally.moto_units.items())},
        "other_aws_calls": dict(sorted(other_calls.items())),
        "per_package": {
            "packages": packages,
            "ossindex_requests": round(ossindex_requests / per, 4),
            "lambda_invocations": round(sum(invocations.values()) / per, 4),
            "dynamodb_calls": round(sum(dynamodb_calls.values()) / per, 4),
            **{f"dynamodb_{kind.replace(' ', '_')}_units": round(amount / per, 3) for kind, amount in units.items()},
        },
        "emulator_wall_seconds": round(seconds, 1),
        "emulator_lambda_ms": {k: round(v) for k, v in sorted(emulated_ms.items())},
    }


def _rounded(table: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {name: {kind: round(v, 1) for kind, v in sorted(kinds.items())} for name, kinds in sorted(table.items())}


def scan_costs(distinct: int) -> dict[str, Any]:
    """`distinct` purls over three overlapping feeds: imported, scanned the
    first time, then scanned again as the daily schedule does with nothing new."""
    with Run() as run:
        purls = [f"pkg:npm/bench-package-{n}@1.0.0" for n in range(distinct)]
        third = distinct // 3
        feeds = {
            "bench-a": purls[: 2 * third],
            "bench-b": purls[third:],
            "bench-c": purls[: third // 2] + purls[2 * third :],
        }
        rows = sum(len(members) for members in feeds.values())
        source = requests.post(
            f"{run.api}/sources",
            json={"name": "bench", "kind": "ossindex", "url": run.stack.ossindex_url, "token": LOCAL_TOKEN},
            headers=run.admin,
            timeout=30,
        ).json()["id"]
        mark = run.mark()
        for name, members in feeds.items():
            requests.post(f"{run.api}/feeds", json={"name": name}, headers=run.admin, timeout=30).raise_for_status()
            for start in range(0, len(members), 10_000):
                requests.post(
                    f"{run.api}/feeds/{name}/packages",
                    json={"purls": members[start : start + 10_000]},
                    headers=run.admin,
                    timeout=600,
                ).raise_for_status()
            requests.put(f"{run.api}/feeds/{name}/sources/{source}", headers=run.admin, timeout=30).raise_for_status()
        run.idle()
        imported = run.since(mark, rows)
        run.stack.fake_ossindex.vulnerable_share = VULNERABLE_SHARE

        mark = run.mark()
        first = run.scheduled_scan()
        first_scan = run.since(mark, distinct)
        first_scan["scan"] = _scan_summary(first)

        # A day later: the cached answers have expired (TTL), OSS Index says the same.
        watched = ("PackagesTable", "FindingsTable", "AssessmentsTable", "HistoryTable", "VulnerabilitiesTable")
        items_before = {logical_id: run.count_items(logical_id) for logical_id in watched}
        run.forget("AnswerCacheTable")
        mark = run.mark()
        daily = run.scheduled_scan()
        daily_scan = run.since(mark, distinct)
        daily_scan["scan"] = _scan_summary(daily)
        daily_scan["items"] = {logical_id: run.count_items(logical_id) for logical_id in watched}
        daily_scan["items_before"] = items_before
        stored = run.storage()
        return {
            "distinct_purls": distinct,
            "package_rows_over_3_feeds": rows,
            "vulnerable_share": VULNERABLE_SHARE,
            "import": imported,
            "first_scan": first_scan,
            "daily_scan_nothing_new": daily_scan,
            "storage": stored,
        }


def _scan_summary(scan: dict[str, Any]) -> dict[str, Any]:
    return {
        name: scan.get(name)
        for name in ("status", "packages_scanned", "requests_made", "cache_hits", "findings_new", "batches_total")
    }


def gate_costs(packages: int = 10_000, findings: int = 5_000) -> dict[str, Any]:
    """One POST /feeds/{feed}/check of 128 purls through the local stack as a
    viewer key, on a feed of `packages` packages and `findings` findings (half
    of them assessed); and, in-process, the sequential DynamoDB round trips of
    that check (bench.gate_seed)."""
    with Run() as run:
        requests.post(f"{run.api}/feeds", json={"name": "gate"}, headers=run.admin, timeout=30).raise_for_status()
        key = requests.post(f"{run.api}/api-keys", json={"name": "ci"}, headers=run.admin, timeout=30).json()
        requests.put(
            f"{run.api}/feeds/gate/permissions/{key['id']}", json={"role": "viewer"}, headers=run.admin, timeout=30
        ).raise_for_status()
        seeded = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.gate_seed", "gate", str(packages), str(findings), key["id"]],
            env={
                **run.stack.functions["GateFunction"].environment,
                "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}",
                "AWS_ENDPOINT_URL": run.stack.moto_url,  # the feed's seeding is not metered
            },
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        seed = json.loads(seeded.stdout.strip().splitlines()[-1])
        viewer = {"Authorization": f"Bearer {key['key']}"}
        session = requests.Session()

        def check() -> None:
            answer = session.post(
                f"{run.api}/feeds/gate/check", json={"purls": seed["purls"]}, headers=viewer, timeout=60
            )
            assert answer.status_code == 200, answer.text

        check()  # the sandboxes warm, as on a service that has been running
        run.idle(quiet_seconds=1)
        mark = run.mark()
        check()
        one = run.since(mark, len(seed["purls"]))
        samples = []
        for _ in range(50):
            started = time.perf_counter()
            check()
            samples.append(time.perf_counter() - started)
        samples.sort()
        one["emulator_check_ms"] = {"p50": round(samples[25] * 1000, 1), "max": round(samples[-1] * 1000, 1)}
        one["sequential_dynamodb_round_trips"] = seed["round_trips"]
        one["log_bytes_per_check"] = seed["log_bytes"]
        one["feed"] = {"packages": packages, "findings": findings, "purls_checked": len(seed["purls"])}
        for format_ in ("cyclonedx", "openvex"):
            one[f"vex_export_{format_}"] = vex_costs(run, session, viewer, format_, findings)
        return one


def vex_costs(
    run: Run, session: requests.Session, viewer: dict[str, str], format_: str, findings: int
) -> dict[str, Any]:
    """GET /feeds/gate/vex in `format_`, every page, as a viewer: its pages
    (findings, bytes of Lambda's response) and what they cost, per finding.
    A page the emulator did not answer within the function's timeout (a 500,
    on a machine busy with other work) starts the export again, counted
    afresh: what the failed attempt cost is not counted."""
    failures = []
    for _ in range(ATTEMPTS):
        run.idle(quiet_seconds=1)
        mark = run.mark()
        pages = []
        url = f"{run.api}/feeds/gate/vex?format={format_}"
        while url:
            response = session.get(url, headers=viewer, timeout=300)
            if response.status_code != 200:
                failures.append(f"{response.status_code} {response.text}")
                break
            body = response.json()
            listed = body.get("vulnerabilities", body.get("statements"))
            # The body as Lambda's JSON response carries it, escaped once more.
            pages.append({"findings": len(listed), "lambda_payload_bytes": len(json.dumps(response.text))})
            url = requests.compat.urljoin(url, response.links["next"]["url"]) if "next" in response.links else ""
        else:
            costs = run.since(mark, findings)
            costs["pages"] = pages
            costs["emulator_failed_attempts"] = failures
            return costs
    return {"error": "the emulator answered no attempt in full", "emulator_failed_attempts": failures}


def across_costs(viewed: int = 200, others: int = 50) -> dict[str, Any]:
    """A cross-feed query for a key viewing `viewed` feeds (and `others` it
    has no role on), each with 21 findings: GET /vulnerabilities?id= (a
    vulnerability in every feed) and ?status=unassessed&min_cvss=9, each
    once through the local stack (metered) and once in-process with its
    sequential DynamoDB round trips (bench.across_seed)."""
    with Run() as run:
        key = requests.post(f"{run.api}/api-keys", json={"name": "triage"}, headers=run.admin, timeout=30).json()
        seeded = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.across_seed", key["id"], str(viewed), str(others)],
            env={
                **run.stack.functions["VulnerabilitiesFunction"].environment,
                "PYTHONPATH": f"{ROOT / 'functions'}:{ROOT}",
                "AWS_ENDPOINT_URL": run.stack.moto_url,  # the seeding is not metered
            },
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        measured = json.loads(seeded.stdout.strip().splitlines()[-1])
        headers = {"Authorization": f"Bearer {key['key']}"}
        results: dict[str, Any] = {"feeds": {"viewed": viewed, "others": others, "findings_each": 21}}
        queries: list[tuple[str, dict[str, str]]] = [
            ("by_id", {"id": "CVE-2021-44228", "limit": "500"}),
            ("by_status", {"status": "unassessed", "min_cvss": "9", "limit": "100"}),
        ]
        for name, params in queries:
            requests.get(f"{run.api}/vulnerabilities", params=params, headers=headers, timeout=60).raise_for_status()
            run.idle(quiet_seconds=1)
            mark = run.mark()
            answer = requests.get(f"{run.api}/vulnerabilities", params=params, headers=headers, timeout=60)
            assert answer.status_code == 200, answer.text
            metered = run.since(mark, viewed)
            results[name] = {
                **measured[name],
                "metered_dynamodb_calls": metered["dynamodb_calls"],
                "metered_dynamodb_units": metered["dynamodb_units"],
            }
        return results


def main() -> int:
    """Each scenario's figures are written to the result file as soon as
    they are measured: a run cut short keeps what it measured."""
    if sys.argv[1:] == ["across"]:  # python -m bench across: this scenario alone
        print(json.dumps({"cross_feed_query_200_feeds": across_costs()}, indent=2))
        return 0
    started = time.monotonic()
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    results: dict[str, Any] = {
        "note": "counts are what AWS would bill; *emulator* times are moto's on this machine, not AWS's",
        "cores": os.cpu_count(),
        "vulnerable_share": VULNERABLE_SHARE,
    }
    from bench import osv  # its scenario alone: python -m bench.osv

    scenarios = [("gate_check_128_purls", gate_costs), ("cross_feed_query_200_feeds", across_costs)] + [
        (f"scan_{size}_purls", lambda size=size: scan_costs(size)) for size in SIZES
    ]
    scenarios.append((f"osv_{osv.PURLS}_purls_cold_and_warm", osv.osv_costs))
    for name, measure in scenarios:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            results[name] = measure()
        except Exception as error:  # noqa: BLE001 - the other scenarios are still measured
            print(f"bench: {name} failed: {error!r}", file=sys.stderr, flush=True)
            results[name] = {"error": repr(error)}
        results["emulator_wall_seconds_so_far"] = round(time.monotonic() - started)
        path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
