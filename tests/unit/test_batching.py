"""Writes of many items, as the answer cache makes them, and reads of items
in DynamoDB's form."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pynamodb.attributes import NumberAttribute
from pynamodb.models import Model

from feedguard.dal import answers, batching
from feedguard.dal.models import CachedAnswer, Finding, Vulnerability
from tests.support import dynamodb_hook


def test_the_answer_cache_stores_a_batch_in_writes_of_25_not_transactions(aws: Any) -> None:
    """BatchWriteItem: one write unit a KB of answer; a transaction would cost two."""
    calls: list[int] = []

    def seen(params: dict[str, Any], **kwargs: Any) -> None:
        calls.extend(len(requests) for requests in params["RequestItems"].values())

    now = datetime(2026, 11, 27, tzinfo=UTC)
    reports = {f"pkg:npm/p{n}@1.0.0": {"coordinates": f"pkg:npm/p{n}@1.0.0", "vulnerabilities": []} for n in range(128)}
    with dynamodb_hook("provide-client-params.dynamodb.BatchWriteItem", seen):  # the caller's own
        answers.store("s1", reports, now)
    assert sorted(calls) == [3, 25, 25, 25, 25, 25]
    assert answers.cached("s1", list(reports), now) == reports
    stored = CachedAnswer.get("s1", "pkg:npm/p7@1.0.0")
    assert (json.loads(stored.answer), stored.expires_ttl) == (
        reports["pkg:npm/p7@1.0.0"],
        int(now.timestamp()) + 86400,
    )


def test_a_read_in_dynamodbs_form_answers_only_the_attributes_named(aws: Any) -> None:
    Vulnerability(id="CVE-1", title="One", cvss_score=7.5, fingerprint="f1", updated_at="t").save()
    Vulnerability(id="CVE-2", title="Two", fingerprint="f2", updated_at="t").save()
    keys = batching.serialized_keys(Vulnerability, ["CVE-1", "CVE-2", "CVE-3"])
    assert keys[0] == {"id": {"S": "CVE-1"}}
    found = batching.read_serialized(Vulnerability, keys, ["id", "cvss_score"])
    assert sorted(found, key=lambda item: item["id"]["S"]) == [
        {"id": {"S": "CVE-1"}, "cvss_score": {"N": "7.5"}},
        {"id": {"S": "CVE-2"}},
    ]
    assert len(batching.read_serialized(Vulnerability, keys)[0]) > 2  # every attribute when none is named


def test_values_read_by_key_are_decoded_none_when_absent(aws: Any) -> None:
    Vulnerability(id="CVE-1", title="One", cvss_score=7.5, fingerprint="f1", updated_at="t").save()
    Vulnerability(id="CVE-2", title="Two", fingerprint="f2", updated_at="t").save()
    found = batching.read_values(
        Vulnerability, ["CVE-1", "CVE-2", "CVE-3"], (Vulnerability.id, Vulnerability.cvss_score)
    )
    assert sorted(found, key=lambda values: values["id"]) == [
        {"id": "CVE-1", "cvss_score": "7.5"},
        {"id": "CVE-2", "cvss_score": None},
    ]


def test_keys_in_dynamodbs_form_pair_hash_and_range() -> None:
    assert batching.serialized_keys(Finding, [("demo", "CVE-1")]) == [
        {"feed": {"S": "demo"}, "vulnerability_id": {"S": "CVE-1"}}
    ]
    with pytest.raises(TypeError, match="not a string key"):
        batching.serialized_keys(NumberKeyed, [1])


class NumberKeyed(Model):
    class Meta:
        table_name = "number-keyed"

    number = NumberAttribute(hash_key=True)
