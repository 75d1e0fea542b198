"""make soak: a bounded load run on the local stack (loopback, no network).

SOAK_CLIENTS clients (50) for SOAK_SECONDS (120) mix gate checks, reads of
findings and their history, and assessments, on a feed scanned against the
fake OSS Index. Then every write is checked: each finding's history holds
exactly one `assessed` entry per PUT that answered 200, its assessment's
version counts them, and its type is the one the last of them sent. Prints
the figures as JSON and exits non-zero on any error or mismatch."""

from __future__ import annotations

import json
import os
import random
import secrets
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.measure import LOCAL_TOKEN, percentiles, wait_for_scan
from infra import ossindex_data
from infra.stack import LocalStack, StackConfig

CLIENTS = int(os.environ.get("SOAK_CLIENTS", "50"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "120"))
TYPES = ("ignore", "caution", "blocked")
FEED = "soak"

# What the service does, not what one key may ask: the usage plan's per-key
# throttle (ApiKeyRateLimit, ApiKeyBurstLimit) is lifted for measurements.
UNTHROTTLED = {"ApiKeyRateLimit": "10000", "ApiKeyBurstLimit": "5000"}


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    # vulnerability id -> [(version, type)] of every PUT that answered 200
    assessed: dict[str, list[tuple[int, str]]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)


def setup(api: str, headers: dict[str, str], ossindex_url: str) -> tuple[list[str], list[str]]:
    source = requests.post(
        f"{api}/sources",
        json={"name": "fake", "kind": "ossindex", "url": ossindex_url, "token": LOCAL_TOKEN},
        headers=headers,
        timeout=30,
    ).json()["id"]
    requests.post(f"{api}/feeds", json={"name": FEED}, headers=headers, timeout=30).raise_for_status()
    requests.put(f"{api}/feeds/{FEED}/sources/{source}", headers=headers, timeout=30).raise_for_status()
    purls = [*ossindex_data.COMPONENTS, *(f"pkg:npm/soak-clean-{n}@1.0.0" for n in range(200))]
    added = requests.post(f"{api}/feeds/{FEED}/packages", json={"purls": purls}, headers=headers, timeout=60).json()
    wait_for_scan(api, headers, added["scan_id"], timeout=120)
    findings = requests.get(
        f"{api}/feeds/{FEED}/vulnerabilities", params={"limit": 100}, headers=headers, timeout=30
    ).json()["items"]
    return purls, [finding["id"] for finding in findings]


def client(api: str, headers: dict[str, str], purls: list[str], ids: list[str], until: float, tally: Tally) -> None:
    session = requests.Session()
    chance = random.Random()  # noqa: S311 - a load mix, not crypto
    while time.monotonic() < until:
        roll = chance.random()
        vid = chance.choice(ids)
        if roll < 0.5:
            kind, method, url = "check", "POST", f"{api}/feeds/{FEED}/check"
            body: Any = {"purls": chance.sample(purls, 16)}
        elif roll < 0.65:
            kind, method, url, body = "list", "GET", f"{api}/feeds/{FEED}/vulnerabilities", None
        elif roll < 0.75:
            kind, method, url, body = "detail", "GET", f"{api}/feeds/{FEED}/vulnerabilities/{vid}", None
        elif roll < 0.8:
            kind, method, url, body = "history", "GET", f"{api}/feeds/{FEED}/vulnerabilities/{vid}/history", None
        else:
            kind, method = "assess", "PUT"
            url = f"{api}/feeds/{FEED}/vulnerabilities/{vid}/assessment"
            body = {"type": chance.choice(TYPES), "comment": "soak"}
        started = time.perf_counter()
        try:
            answer = session.request(method, url, json=body, headers=headers, timeout=30)
        except requests.RequestException as error:
            with tally.lock:
                tally.errors.append(f"{kind}: {type(error).__name__}")
            continue
        elapsed = time.perf_counter() - started
        with tally.lock:
            tally.latencies[kind].append(elapsed)
            tally.statuses[f"{kind} {answer.status_code}"] += 1
            if kind == "assess" and answer.status_code == 200:
                tally.assessed[vid].append((int(answer.json()["version"]), body["type"]))
            elif answer.status_code >= 400 and not (kind == "assess" and answer.status_code == 412):
                # 412 is the contract's answer when the assessment kept changing under
                # concurrent writers; it must leave no trace, which the audit checks.
                tally.errors.append(f"{kind} {answer.status_code}: {answer.text[:200]}")


def audit(api: str, headers: dict[str, str], ids: list[str], tally: Tally) -> list[str]:
    problems = []
    for vid in ids:
        puts = sorted(tally.assessed.get(vid, []))
        history = requests.get(
            f"{api}/feeds/{FEED}/vulnerabilities/{vid}/history", params={"limit": 100}, headers=headers, timeout=30
        ).json()
        entries = list(history["items"])
        while history.get("next_cursor"):
            history = requests.get(
                f"{api}/feeds/{FEED}/vulnerabilities/{vid}/history",
                params={"limit": 100, "cursor": history["next_cursor"]},
                headers=headers,
                timeout=30,
            ).json()
            entries += history["items"]
        assessed_entries = sum(1 for entry in entries if entry["action"] == "assessed")
        if assessed_entries != len(puts):
            problems.append(f"{vid}: {assessed_entries} assessed entries for {len(puts)} successful PUTs")
        finding = requests.get(f"{api}/feeds/{FEED}/vulnerabilities/{vid}", headers=headers, timeout=30).json()
        if puts:
            last_version, last_type = puts[-1]
            assessment = finding.get("assessment") or {}
            if (assessment.get("version"), assessment.get("type")) != (last_version, last_type):
                problems.append(f"{vid}: reads {assessment} after the last PUT wrote v{last_version} {last_type}")
            if [version for version, _ in puts] != list(range(1, len(puts) + 1)):
                problems.append(f"{vid}: versions {[v for v, _ in puts]} skip or repeat")
    return problems


def main() -> int:
    admin_key = secrets.token_urlsafe(24)
    stack = LocalStack(StackConfig(admin_key=admin_key, port=0, schedule_rate="off", parameters=UNTHROTTLED))
    stack.start()
    try:
        api, headers = stack.api_url, {"Authorization": f"Bearer {admin_key}"}
        purls, ids = setup(api, headers, stack.ossindex_url)
        tally = Tally()
        until = time.monotonic() + SECONDS
        threads = [
            threading.Thread(target=client, args=(api, headers, purls, ids, until, tally)) for _ in range(CLIENTS)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        problems = audit(api, headers, ids, tally)
        every = [sample for samples in tally.latencies.values() for sample in samples]
        figures = {
            "clients": CLIENTS,
            "seconds": round(wall, 1),
            "findings": len(ids),
            "requests": len(every),
            "requests_per_second": round(len(every) / wall, 1),
            "errors": len(tally.errors),
            "error_samples": tally.errors[:10],
            "all": percentiles(every),
            "by_kind": {kind: percentiles(samples) for kind, samples in sorted(tally.latencies.items())},
            "statuses": dict(sorted(tally.statuses.items())),
            "successful_assessments": sum(len(puts) for puts in tally.assessed.values()),
            "audit_problems": problems,
        }
        print(json.dumps(figures, indent=2))
        return 0 if not tally.errors and not problems and every else 1
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
