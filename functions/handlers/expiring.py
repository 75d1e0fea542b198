"""Expiry warnings: the hourly schedule (template.yaml, ExpiringFunction)
records an `expiring` warning for every decision that expires within
ExpiringWarningDays and was not warned of (feedguard.decisions), once each;
the events function publishes them as Assessment Expiring (an assessment's)
or Exception Expiring (a package exception's).

A feed whose warnings failed leaves them due, so the next run retries them;
the run then fails after sweeping the others, so that Lambda retries it and
the failure reaches the errors alarm and, after the retries, the on-failure
queue. Retrying is harmless: a warning is recorded once."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from feedguard import clock, decisions
from feedguard.observability import metrics, tracer
from feedguard.settings import settings

logger = Logger()
# A cold start without it fails, naming its variable.
settings().require("expiring_warning_days")


class WarningsFailed(RuntimeError):
    """Some feeds' warnings could not be recorded; they stay due."""


def sweep() -> dict[str, Any]:
    days = settings().expiring_warning_days
    result = decisions.warn_expiring(clock.now(), days)
    summary = {"feeds": result.feeds, "warned": result.warned, "skipped": result.skipped, "days": days}
    logger.info("expiry warnings recorded", extra=summary)
    if result.failed:
        raise WarningsFailed(
            f"the expiry warnings of {len(result.failed)} feed(s) failed and stay due: "
            + ", ".join(f"{feed} ({kind})" for feed, kind in result.failed[:10])
        )
    return summary


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return sweep()
