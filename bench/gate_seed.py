"""Run by `make bench` in a subprocess holding GateFunction's environment
(the local stack's table names and moto endpoint): seeds a feed of 10,000
packages and 5,000 findings (their vulnerabilities' details as long as OSS
Index's longer ones), then counts the DynamoDB calls of one POST /check of
128 purls, of one page of 100 findings, and of the feed's whole VEX export
in each format (its pages, their sizes in Lambda's response), made by the
real handlers with API Gateway proxy events (tests.support builds them as
the unit tests do). Prints one JSON line."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from feedguard import clock
from feedguard.dal import batching
from feedguard.dal.models import Assessment, Finding, Package, Vulnerability
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


def vex_export(feed: str, caller: dict[str, str], format_: str) -> dict[str, object]:
    """GET /feeds/{feed}/vex in `format_`, every page: how many, the findings
    and payload bytes of each, the DynamoDB calls and seconds of them all."""
    from handlers import findings as findings_handler

    pages: list[dict[str, int]] = []
    query = {"format": format_}
    started = time.perf_counter()
    with counted_dynamodb_calls() as calls:
        while True:
            status, text, headers = request_with_headers(findings_handler, f"/feeds/{feed}/vex", query, caller)
            assert status == 200, text
            body = json.loads(text)
            listed = body.get("vulnerabilities", body.get("statements"))
            # The body as Lambda's JSON response carries it, escaped once more
            pages.append({"findings": len(listed), "lambda_payload_bytes": len(json.dumps(text))})
            link = headers.get("Link")
            if not link:
                break
            query = {"format": format_, "cursor": link[link.index("cursor=") + 7 : link.index(">")]}
    return {"pages": pages, "calls": dict(calls), "seconds": round(time.perf_counter() - started, 2)}


def request_with_headers(
    handler: Any, path: str, query: dict[str, str], caller: dict[str, str]
) -> tuple[int, str, dict[str, str]]:
    """A GET as tests.support.request makes it: (status, body text, headers)."""
    from tests.support import LambdaContext, load_event

    event = load_event("api-keys-list.json")
    event.update(httpMethod="GET", path=path, resource=path, body=None)
    event["requestContext"]["httpMethod"] = "GET"
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    event["requestContext"]["authorizer"] = {"principalId": caller["key_id"], **caller}
    response = handler.handler(event, LambdaContext())
    headers = {k: v[0] for k, v in (response.get("multiValueHeaders") or {}).items()}
    return response["statusCode"], response["body"], {**headers, **(response.get("headers") or {})}


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
    vex = {format_: vex_export(feed, caller, format_) for format_ in ("cyclonedx", "openvex")}
    print(json.dumps({"purls": purls, "check_calls": dict(check_calls), "page_calls": dict(page_calls), "vex": vex}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
