"""The OSS Index answer cache: per source and purl, 24 hours, "no
vulnerabilities" included. DynamoDB's TTL removes old answers eventually;
reads ignore any past their expiry at once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from feedguard import clock
from feedguard.dal import batching
from feedguard.dal.models import CachedAnswer

LIFETIME = timedelta(hours=24)


def cached(
    source_id: str, purls: list[str], now: datetime, fetched_since: str | None = None
) -> dict[str, dict[str, Any]]:
    """The raw component report cached for each purl that has a fresh one.
    Keys and items in DynamoDB's form, as `store` writes them: a batch reads
    128, and models for each were half of the read's CPU. `fetched_since`
    (an ISO timestamp): only answers fetched at or after it (what a refresh
    scan's own batches fetched already)."""
    purl, answer, expires = CachedAnswer.purl, CachedAnswer.answer, CachedAnswer.expires_ttl
    fetched = CachedAnswer.fetched_at
    keys = batching.serialized_keys(CachedAnswer, [(source_id, key) for key in dict.fromkeys(purls)])
    limit = now.timestamp()
    return {
        item[purl.attr_name][purl.attr_type]: json.loads(item[answer.attr_name][answer.attr_type])
        for item in batching.read_serialized(CachedAnswer, keys)
        if float(item[expires.attr_name][expires.attr_type]) > limit
        and (fetched_since is None or item[fetched.attr_name][fetched.attr_type] >= fetched_since)
    }


def store(source_id: str, answers: dict[str, dict[str, Any]], now: datetime) -> None:
    """One item per purl, built in DynamoDB's form from one serialized item,
    written by BatchWriteItem (25 a call, the calls in parallel): one write
    unit a KB of answer. Each answer stands alone, so nothing needs a
    transaction, which would cost twice the units."""
    template = CachedAnswer(
        source_id=source_id,
        purl="",
        answer="",
        fetched_at=clock.iso(now),
        expires_ttl=int((now + LIFETIME).timestamp()),
    ).serialize()
    purl, answer = CachedAnswer.purl, CachedAnswer.answer
    batching.write_serialized(
        CachedAnswer,
        [
            {
                **template,
                purl.attr_name: {purl.attr_type: key},
                answer.attr_name: {answer.attr_type: json.dumps(report, separators=(",", ":"))},
            }
            for key, report in answers.items()
        ],
    )
