"""Run by `make bench` in a subprocess holding GateFunction's environment
(the local stack's table names and moto endpoint): seeds a feed of 10,000
packages and 5,000 findings, then counts the DynamoDB calls of one
POST /check of 128 purls and of one page of 100 findings, made by the real
handlers with API Gateway proxy events. Prints one JSON line."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from feedguard import clock
from feedguard.dal import batching, models
from feedguard.dal.models import Assessment, Finding, Package
from feedguard.effects import score_key, severity

EVENT = Path(__file__).resolve().parent.parent / "events" / "api-keys-list.json"


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


class Context:
    """What the handlers read of a Lambda context."""

    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 512
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


CONTEXT = cast(LambdaContext, Context())


def proxy_event(
    method: str, resource: str, feed: str, key_id: str, body: Any = None, query: dict[str, str] | None = None
) -> Any:
    event = json.loads(EVENT.read_text())
    path = resource.replace("{feed}", feed)
    event.update(httpMethod=method, path=path, resource=resource, pathParameters={"feed": feed})
    event["requestContext"].update(httpMethod=method, path=path, resourcePath=resource)
    event["requestContext"]["authorizer"] = {
        "principalId": key_id,
        "key_id": key_id,
        "key_name": key_id,
        "admin": "false",
    }
    event["body"] = json.dumps(body) if body is not None else None
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} if query else None
    return event


def calls_of(action: Callable[[], Any]) -> dict[str, int]:
    calls: Counter[str] = Counter()
    events = models.connection().client.meta.events

    def count(**kwargs: Any) -> None:
        calls.update([kwargs["event_name"].split(".")[-1]])

    events.register("before-call.dynamodb", count, unique_id="bench-count")
    try:
        action()
    finally:
        events.unregister("before-call.dynamodb", unique_id="bench-count")
    return dict(calls)


def main() -> int:
    feed, packages, findings, viewer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    purls = seed(feed, packages, findings)

    from handlers import findings as findings_handler
    from handlers import gate as gate_handler

    def check() -> None:
        answer = gate_handler.handler(
            proxy_event("POST", "/feeds/{feed}/check", feed, viewer, {"purls": purls}), CONTEXT
        )
        assert answer["statusCode"] == 200, answer

    def page() -> None:
        answer = findings_handler.handler(
            proxy_event("GET", "/feeds/{feed}/vulnerabilities", feed, viewer, query={"limit": "100"}),
            CONTEXT,
        )
        assert answer["statusCode"] == 200, answer
        assert len(json.loads(answer["body"])["items"]) == 100

    check()  # warm: the clients, the validators
    page()
    print(json.dumps({"purls": purls, "check_calls": calls_of(check), "page_calls": calls_of(page)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
