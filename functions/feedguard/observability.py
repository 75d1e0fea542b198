"""Traces and metrics of every function: powertools' Tracer and Metrics, in
the namespace template.yaml's Globals name (POWERTOOLS_METRICS_NAMESPACE).
Each handler's entry point carries `@tracer.capture_lambda_handler` and
`@metrics.log_metrics(capture_cold_start_metric=True)`, which flushes what
the code added as one EMF line in the function's log. What each metric
means, and the alarms and dashboard built on them: docs/architecture.md,
"Observability"."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

tracer = Tracer()
metrics = Metrics()


def batch_counted(
    *,
    requests_made: int,
    cache_hits: int,
    packages_scanned: int,
    findings_new: int,
    failed: bool,
    osv_requests: int = 0,
) -> None:
    """A scan batch, once, when it is counted (never for a redelivered one).
    OssIndexRequests counts OSS Index's requests, OsvRequests OSV's
    (querybatch pages and record fetches)."""
    metrics.add_metric(name="OssIndexRequests", unit=MetricUnit.Count, value=requests_made - osv_requests)
    metrics.add_metric(name="OsvRequests", unit=MetricUnit.Count, value=osv_requests)
    metrics.add_metric(name="OssIndexCacheHits", unit=MetricUnit.Count, value=cache_hits)
    metrics.add_metric(name="PackagesScanned", unit=MetricUnit.Count, value=packages_scanned)
    metrics.add_metric(name="FindingsDetected", unit=MetricUnit.Count, value=findings_new)
    metrics.add_metric(name="ScanBatchesFailed", unit=MetricUnit.Count, value=int(failed))


def scan_finished(status: str, started_at: datetime | None, finished_at: datetime | None) -> None:
    """A scan's end: counted by its status, and its duration from start to last batch."""
    with single_metric(name="ScansFinished", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="status", value=status)
    if started_at is not None and finished_at is not None:
        seconds = (finished_at - started_at).total_seconds()
        metrics.add_metric(name="ScanDuration", unit=MetricUnit.Seconds, value=seconds)


def gate_verdicts(verdicts: Iterable[str]) -> None:
    """The gate's verdicts, one count per purl, by effect (allow, warn, block)."""
    for effect, count in sorted(Counter(verdicts).items()):
        with single_metric(name="GateVerdicts", unit=MetricUnit.Count, value=count) as metric:
            metric.add_dimension(name="effect", value=effect)
