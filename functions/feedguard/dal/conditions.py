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


def conflicted(error: Exception) -> bool:
    """A write DynamoDB cancelled because a transaction held one of its items
    (TransactionConflict in a cancelled transaction, or a single write's
    TransactionConflictException): nothing was written, and DynamoDB asks the
    caller to retry. botocore does not."""
    if getattr(error, "cause_response_code", None) == "TransactionConflictException":
        return True
    reasons = getattr(error, "cancellation_reasons", None) or []
    return any(reason is not None and reason.code == "TransactionConflict" for reason in reasons)
