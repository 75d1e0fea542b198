"""make bench's OSV scenario (alone: python -m bench.osv): a feed of N
distinct purls (10,000 by default, BENCH_OSV_PURLS) on one osv source at
the local stack's fake OSV, BENCH_VULNERABLE_SHARE of them vulnerable with
one to three made-up records each, drawn from a pool so packages share them
(infra.osv_data), the fake paging two ids a query.

- cold: the answer cache empty. OSV must see ceil(N / 1000) querybatch
  requests (the batch limit), plus one follow-up request per batch that had
  a query with a page token, and one record fetch per distinct vulnerability;
- warm: the same scan again within the cache's 24 hours: no querybatch and
  no record fetch.

Each reports the fake's counts beside those targets, and the DynamoDB calls
and units of the scan (bench.meter), per purl and in total."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import requests

from bench.__main__ import VULNERABLE_SHARE, Run, _scan_summary
from infra.fake_osv import MAX_QUERIES

PURLS = int(os.environ.get("BENCH_OSV_PURLS", "10000"))


def _requests(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    return {
        name: int(after[name]) - int(before[name])
        for name in ("requests", "batch_requests", "pages", "record_requests", "queries_asked")
    }


def osv_costs(distinct: int = PURLS) -> dict[str, Any]:
    with Run() as run:
        purls = [f"pkg:npm/bench-osv-package-{n}@1.0.0" for n in range(distinct)]
        source = requests.post(
            f"{run.api}/sources",
            json={"name": "bench-osv", "kind": "osv", "url": run.stack.osv_url},
            headers=run.admin,
            timeout=30,
        ).json()["id"]
        requests.post(f"{run.api}/feeds", json={"name": "osv-bench"}, headers=run.admin, timeout=30).raise_for_status()
        for start in range(0, distinct, 10_000):
            requests.post(
                f"{run.api}/feeds/osv-bench/packages",
                json={"purls": purls[start : start + 10_000]},
                headers=run.admin,
                timeout=600,
            ).raise_for_status()
        requests.put(f"{run.api}/feeds/osv-bench/sources/{source}", headers=run.admin, timeout=30).raise_for_status()
        run.idle()
        fake = run.stack.fake_osv
        fake.vulnerable_share = VULNERABLE_SHARE
        phases: dict[str, Any] = {}
        for phase in ("cold", "warm"):
            before = fake.stats()
            mark = run.mark()
            scan = run.scheduled_scan()
            phases[phase] = {
                "osv": _requests(before, fake.stats()),
                "scan": {**_scan_summary(scan), "osv_requests": scan.get("osv_requests")},
                **{
                    name: value
                    for name, value in run.since(mark, distinct).items()
                    if name.startswith("dynamodb") or name in ("lambda_invocations", "per_package")
                },
            }
        distinct_vulnerabilities = run.count_items("VulnerabilitiesTable")
        batches = math.ceil(distinct / MAX_QUERIES)
        return {
            "distinct_purls": distinct,
            "vulnerable_share": VULNERABLE_SHARE,
            "targets": {
                "cold_querybatch_requests": f"{batches} + one follow-up a batch with a paged query (<= {2 * batches})",
                "cold_record_fetches": distinct_vulnerabilities,
                "warm_querybatch_requests": 0,
                "warm_record_fetches": 0,
            },
            "distinct_vulnerabilities": distinct_vulnerabilities,
            **phases,
        }


def main() -> int:
    print(json.dumps({f"osv_{PURLS}_purls_cold_and_warm": osv_costs()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
