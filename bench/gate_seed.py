"""Run by `make bench` in a subprocess holding GateFunction's environment
(the local stack's table names and moto endpoint): seeds a feed of 10,000
packages and 5,000 findings, then counts the DynamoDB calls of one
POST /check of 128 purls and of one page of 100 findings, made by the real
handlers with API Gateway proxy events (tests.support builds them as the
unit tests do). Prints one JSON line."""

from __future__ import annotations

import json
import sys

from feedguard import clock
from feedguard.dal import batching
from feedguard.dal.models import Assessment, Finding, Package
from feedguard.effects import score_key, severity
from tests.support import counted_dynamodb_calls, key_caller, request


def seed(feed: str, packages: int, findings: int) -> list[str]:
    now = clock.iso(clock.now())
    purls = [f"pkg:npm/gate-bench-{n}@1.0.0" for n in range(packages)]
    # Every other package reports one vulnerability of its own: `findings` of them.
    vulnerable = {purl: f"CVE-2026-{n:05d}" for n, purl in enumerate(purls[: 2 * findings : 2])}
    batching.write(
        Package,
        puts=[
            Package(
                feed=feed,
                purl=purl,
                added_at=now,
                last_scanned_at=now,
                vulnerability_ids={vulnerable[purl]} if purl in vulnerable else None,
            )
            for purl in purls
        ],
    )
    rows, assessments = [], []
    for n, (purl, vid) in enumerate(vulnerable.items()):
        score = (n % 100) / 10
        status = "assessed" if n % 2 else "unassessed"
        rows.append(
            Finding(
                feed=feed,
                vulnerability_id=vid,
                packages={purl},
                status=status,
                feed_status=f"{feed}#{status}",
                score_key=score_key(score),
                cvss_score=score,
                title=f"Bench vulnerability {n}",
                severity_band=severity(score),
                first_seen=now,
                last_seen=now,
            )
        )
        if status == "assessed":
            assessments.append(
                Assessment(
                    feed=feed,
                    vulnerability_id=vid,
                    type="caution",
                    effect="warn",
                    assessed_by="bench",
                    assessed_at=now,
                    severity_band=severity(score),
                )
            )
    batching.write(Finding, puts=rows)
    batching.write(Assessment, puts=assessments)
    # The check asks about 64 vulnerable and 64 clean packages
    return purls[:128]


def main() -> int:
    feed, packages, findings, viewer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    purls = seed(feed, packages, findings)

    from handlers import findings as findings_handler
    from handlers import gate as gate_handler

    caller = key_caller(viewer)

    def check() -> None:
        status, answer = request(gate_handler, "POST", f"/feeds/{feed}/check", body={"purls": purls}, caller=caller)
        assert status == 200, answer

    def page() -> None:
        status, answer = request(
            findings_handler, "GET", f"/feeds/{feed}/vulnerabilities", query={"limit": "100"}, caller=caller
        )
        assert status == 200, answer
        assert len(answer["items"]) == 100

    check()  # warm: the clients, the validators
    page()
    with counted_dynamodb_calls() as check_calls:
        check()
    with counted_dynamodb_calls() as page_calls:
        page()
    print(json.dumps({"purls": purls, "check_calls": dict(check_calls), "page_calls": dict(page_calls)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
