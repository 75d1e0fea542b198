"""Telling a failed condition (the expected outcome of a conditional write)
from any other DynamoDB error, for single writes and for transactions."""

from __future__ import annotations


def failed(error: Exception) -> bool:
    """A PutError, UpdateError or DeleteError caused by its ConditionExpression."""
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


def failed_in_transaction(error: Exception, index: int) -> bool:
    """Whether the transaction's `index`-th action was cancelled by its condition."""
    reasons = getattr(error, "cancellation_reasons", None) or []
    return len(reasons) > index and reasons[index] is not None and reasons[index].code == "ConditionalCheckFailed"
