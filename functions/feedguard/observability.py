"""Traces and metrics of every function: powertools' Tracer and Metrics, in
the namespace template.yaml's Globals name (POWERTOOLS_METRICS_NAMESPACE).
Each handler's entry point carries `@tracer.capture_lambda_handler` and
`@metrics.log_metrics(capture_cold_start_metric=True)`, which flushes what
the code added as one EMF line in the function's log. What each metric
means, and the alarms and dashboard built on them: docs/architecture.md,
"Observability"."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from aws_lambda_powertools import Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

tracer = Tracer()
metrics = Metrics()


def batch_counted(
    *,
    requests: Mapping[str, int],
    cache_hits: Mapping[str, int],
    packages_scanned: int,
    findings_new: int,
    failed: bool,
) -> None:
    """A scan batch, once, when it is counted (never for a redelivered one).
    The requests each kind of source was sent (OSV: querybatch pages and
    record fetches), and the answers the cache gave instead, by `source_kind`
    (a batch of a feed with both kinds asks both)."""
    for kind, count in sorted(requests.items()):
        with single_metric(name="SourceRequests", unit=MetricUnit.Count, value=count) as metric:
            metric.add_dimension(name="source_kind", value=kind)
    for kind, count in sorted(cache_hits.items()):
        with single_metric(name="AnswerCacheHits", unit=MetricUnit.Count, value=count) as metric:
            metric.add_dimension(name="source_kind", value=kind)
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
