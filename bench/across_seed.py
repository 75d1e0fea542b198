"""Run by `make bench` in a subprocess holding VulnerabilitiesFunction's
environment (the local stack's table names and moto endpoint): seeds 200
feeds a key views, and 50 it has no role on, each with findings (one
vulnerability in every feed, and a few unassessed findings of each feed's
own across the scores), then records the DynamoDB calls and sequential
round trips of GET /vulnerabilities?id= and ?status=unassessed&min_cvss=9
made by the real handler with an API Gateway proxy event, each call held
50 ms before it is sent as a network would. Prints one JSON line."""

from __future__ import annotations

import json
import sys
from typing import Any

from feedguard import clock
from feedguard.dal import batching
from feedguard.dal.models import FEED_SK, Feed, FeedPermission, Finding
from feedguard.effects import score_key, severity
from feedguard.ids import new_feed_id
from tests.support import counted_dynamodb_calls, dynamodb_round_trips, key_caller, request

SHARED = "CVE-2021-44228"
OWN_FINDINGS = 20


def seed(key_id: str, viewed: int, others: int) -> None:
    now = clock.iso(clock.now())
    feeds, roles, rows = [], [], []
    for n in range(viewed + others):
        name, feed_id = f"across-{n:03d}", new_feed_id()
        feeds.append(Feed(feed=name, sk=FEED_SK, id=feed_id, unassessed_effect="block", created_at=now))
        if n < viewed:
            roles.append(
                FeedPermission(
                    feed=name,
                    sk=f"perm#{key_id}",
                    member=f"key#{key_id}",
                    key_id=key_id,
                    role="viewer",
                    granted_at=now,
                    feed_id=feed_id,
                )
            )
        scored = [(SHARED, 10.0)] + [(f"CVE-2026-{n:03d}{m:02d}", (n + m * 7) % 101 / 10) for m in range(OWN_FINDINGS)]
        for vid, score in scored:
            rows.append(
                Finding(
                    feed=feed_id,
                    vulnerability_id=vid,
                    packages={f"pkg:npm/across-{n}@1.0.0"},
                    status="unassessed",
                    feed_status=f"{feed_id}#unassessed",
                    score_key=score_key(score),
                    cvss_score=score,
                    title=f"Bench vulnerability {vid}",
                    severity_band=severity(score),
                    first_seen=now,
                    last_seen=now,
                )
            )
    batching.write(Feed, puts=feeds)
    batching.write(FeedPermission, puts=roles)
    batching.write(Finding, puts=rows)


def measure(query: dict[str, str], caller: dict[str, str]) -> dict[str, Any]:
    from handlers import vulnerabilities

    def ask() -> dict[str, Any]:
        status, answer = request(vulnerabilities, "GET", "/vulnerabilities", query=query, caller=caller)
        assert status == 200, answer
        return dict(answer)

    ask()  # warm: the clients, the validators
    with counted_dynamodb_calls() as calls, dynamodb_round_trips() as trips:
        answer = ask()
    return {
        "query": query,
        "items": len(answer["items"]),
        "feeds_listed": len({item["feed"] for item in answer["items"]}),
        "dynamodb_calls": dict(sorted(calls.items())),
        "sequential_round_trips": trips.sequential,
    }


def main() -> int:
    key_id, viewed, others = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seed(key_id, viewed, others)
    caller = key_caller(key_id)
    print(
        json.dumps(
            {
                "by_id": measure({"id": SHARED, "limit": "500"}, caller),
                "by_status": measure({"status": "unassessed", "min_cvss": "9", "limit": "100"}, caller),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
