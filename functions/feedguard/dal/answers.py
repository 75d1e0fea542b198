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


def cached(source_id: str, purls: list[str], now: datetime) -> dict[str, dict[str, Any]]:
    """The raw component report cached for each purl that has a fresh one."""
    found = batching.read(CachedAnswer, [(source_id, purl) for purl in dict.fromkeys(purls)])
    limit = now.timestamp()
    return {item.purl: json.loads(item.answer) for item in found if item.expires_ttl > limit}


def store(source_id: str, answers: dict[str, dict[str, Any]], now: datetime) -> None:
    """One item per purl. Built in DynamoDB's form from one serialized item,
    not as a model each: a batch stores 128, and models cost a scan worker
    about 5 of its 35 ms of CPU a batch."""
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
