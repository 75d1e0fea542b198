"""Run by `make bench` in a subprocess holding GateFunction's environment
(the local stack's table names and moto endpoint): seeds a feed of 10,000
packages and 5,000 findings (their vulnerabilities' details as long as OSS
Index's longer ones), then records the sequential DynamoDB round trips of
one POST /check of 128 purls made by the real handler with an API Gateway
proxy event (tests.support builds it as the unit tests do), each call held
50 ms before it is sent as a network would. Prints one JSON line: the purls
checked and the round trips."""

from __future__ import annotations

import contextlib
import io
import json
import sys

from feedguard import clock
from feedguard.dal import batching
from feedguard.dal.models import Assessment, Finding, Package, Vulnerability
from feedguard.effects import score_key, severity
from tests.support import dynamodb_round_trips, key_caller, request


def seed(feed: str, packages: int, findings: int) -> list[str]:
    """Rows of the feed of id `feed`: packages, findings, assessments, vulnerabilities."""
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
    batching.write(Vulnerability, puts=[details(vid) for vid in vulnerable.values()])
    batching.write(Assessment, puts=assessments)
    # The check asks about 64 vulnerable and 64 clean packages
    return purls[:128]


def details(vulnerability_id: str) -> Vulnerability:
    """What OSS Index says of a vulnerability, at the long end: a 600-character
    description, a CVSS 3.1 vector, a CWE and two external references."""
    return Vulnerability(
        id=vulnerability_id,
        title=f"[{vulnerability_id}] CWE-400: Uncontrolled Resource Consumption",
        description=("A crafted request makes the parser allocate without bound. " * 10)[:600],
        cvss_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        cwe="CWE-400",
        cve=vulnerability_id,
        reference=f"https://ossindex.sonatype.org/vulnerability/{vulnerability_id}",
        external_references=[
            f"https://nvd.nist.gov/vuln/detail/{vulnerability_id}",
            f"https://github.com/advisories/{vulnerability_id}",
        ],
        fingerprint="bench",
        updated_at=clock.iso(clock.now()),
    )


def main() -> int:
    feed, packages, findings, viewer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    from feedguard.dal import feeds

    # The API made the feed: its rows are keyed by its id, not its name.
    purls = seed(feeds.require(feed).feed_id, packages, findings)

    from handlers import gate as gate_handler

    caller = key_caller(viewer)

    def check() -> None:
        status, answer = request(gate_handler, "POST", f"/feeds/{feed}/check", body={"purls": purls}, caller=caller)
        assert status == 200, answer

    check()  # warm: the clients, the validators
    with dynamodb_round_trips() as trips:
        check()
    # What one check writes to its log (CloudWatch Logs ingests it): its lines and its metrics.
    written = io.StringIO()
    with contextlib.redirect_stdout(written):
        check()
    calls = [
        {"operation": name, "ms_from_start": round((started - trips.calls[0][0]) * 1000)}
        for started, _, name in sorted(trips.calls)
    ]
    print(
        json.dumps(
            {
                "purls": purls,
                "round_trips": {"sequential": trips.sequential, "calls": calls},
                "log_bytes": len(written.getvalue().encode()),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
