"""Metrics, as the functions flush them: CloudWatch embedded metric format
(EMF) lines on stdout, in the namespace template.yaml's Globals name."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import boto3
import pytest

from feedguard.dal import feeds as feed_store
from feedguard.dal import permissions
from feedguard.dal import sources as source_store
from feedguard.observability import metrics
from handlers import gate, scan_coordinator, scan_worker
from infra.fake_ossindex import FakeOssIndex
from infra.template import Template
from tests.support import LODASH, LOG4J, LambdaContext, key_caller, request
from tests.unit.builders import a_feed

NAMESPACE = Template.load().globals["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
CLEAN = "pkg:npm/lodash@4.17.21"


@pytest.fixture(autouse=True)
def _fresh_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("feedguard.ossindex.time.sleep", lambda seconds: None)
    metrics.clear_metrics()
    metrics.clear_default_dimensions()
    # One process is one sandbox: this test's first invocation is its cold start.
    monkeypatch.setattr("aws_lambda_powertools.metrics.provider.cold_start.is_cold_start", True)


def emitted(stdout: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], list[float]]:
    """(metric, its dimensions but the service) -> every value flushed, from the EMF lines."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = defaultdict(list)
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        dimensions = tuple(
            sorted((name, document[name]) for (name,) in [d[:1] for d in directive["Dimensions"]] if name != "service")
        )
        for name, _ in [(m["Name"], m["Unit"]) for m in directive["Metrics"]]:
            values = document[name] if isinstance(document[name], list) else [document[name]]
            found[(name, dimensions)] += values
    return found


def deliver_scan_batches(aws: Any) -> None:
    """Hands every queued scan batch to the worker, as the SQS mapping would."""
    sqs = boto3.client("sqs")
    while messages := sqs.receive_message(QueueUrl=aws.queue_urls["ScanQueue"], MaxNumberOfMessages=5).get(
        "Messages", []
    ):
        records = [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
            for m in messages
        ]
        assert scan_worker.handler({"Records": records}, LambdaContext()) == {"batchItemFailures": []}
        for message in messages:
            sqs.delete_message(QueueUrl=aws.queue_urls["ScanQueue"], ReceiptHandle=message["ReceiptHandle"])


def test_a_scan_emits_its_requests_cache_hits_findings_and_duration(
    aws: Any, oss: tuple[FakeOssIndex, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a feed of three packages, two of them vulnerable, on the fake OSS Index
    source = source_store.create("src-guide", {"name": "guide", "url": oss[1], "auth": "bearer"}, "local-fake-token")
    a_feed("demo", [LOG4J, LODASH, CLEAN], [source.id])
    capsys.readouterr()
    # When it is scanned, then scanned again from the cache
    for _ in range(2):
        scan_coordinator.handler({"trigger": "api", "feed": "demo"}, LambdaContext())
        deliver_scan_batches(aws)
    found = emitted(capsys.readouterr().out)
    # Then the batches' counts add up to the two scans': one request, then three cache hits
    assert sum(found[("SourceRequests", (("source_kind", "ossindex"),))]) == 1
    assert sum(found[("AnswerCacheHits", (("source_kind", "ossindex"),))]) == 3
    assert not [name for name, _ in found if "OssIndex" in name]
    assert sum(found[("PackagesScanned", ())]) == 6
    assert sum(found[("FindingsDetected", ())]) == 5
    assert sum(found[("ScanBatchesFailed", ())]) == 0
    # And each scan's end is counted by its status, with its duration
    assert found[("ScansFinished", (("status", "succeeded"),))] == [1.0, 1.0]
    durations = found[("ScanDuration", ())]
    assert len(durations) == 2
    assert all(0 <= seconds < 60 for seconds in durations)
    # And the first invocation, and only it, reported a cold start
    assert found[("ColdStart", (("function_name", "feedguard-test-function"),))] == [1.0]


def test_the_gate_counts_its_verdicts_by_effect(
    aws: Any, oss: tuple[FakeOssIndex, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a feed whose unassessed findings block (the default), scanned
    source = source_store.create("src-guide", {"name": "guide", "url": oss[1], "auth": "bearer"}, "local-fake-token")
    a_feed("gated", [LODASH, CLEAN], [source.id])
    permissions.grant(feed_store.require("gated"), "kviewer", "viewer")
    scan_coordinator.handler({"trigger": "api", "feed": "gated"}, LambdaContext())
    deliver_scan_batches(aws)
    capsys.readouterr()
    # When three purls are checked, one of them vulnerable
    status, _ = request(
        gate, "POST", "/feeds/gated/check", body={"purls": [LODASH, CLEAN, CLEAN]}, caller=key_caller("kviewer")
    )
    assert status == 200
    # Then the verdicts are counted by effect
    found = emitted(capsys.readouterr().out)
    assert found[("GateVerdicts", (("effect", "block"),))] == [1.0]
    assert found[("GateVerdicts", (("effect", "allow"),))] == [2.0]
    assert ("GateVerdicts", (("effect", "warn"),)) not in found
