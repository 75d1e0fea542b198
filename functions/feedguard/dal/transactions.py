"""Write transactions on the process's connection (models.connection). A
TransactWrite made without one makes a Connection of its own, whose
botocore client, built on first use, costs tens of milliseconds: more than
the transaction itself."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from pynamodb.exceptions import PynamoDBException
from pynamodb.transactions import TransactWrite

from feedguard.dal import conditions
from feedguard.dal.models import connection

T = TypeVar("T")

CONFLICT_ATTEMPTS = 6
CONFLICT_DELAY = 0.02  # seconds, doubled each attempt, full jitter


def write() -> TransactWrite:
    """`with transactions.write() as transaction: ...` commits on exit."""
    return TransactWrite(connection=connection())


def retrying(once: Callable[[], T]) -> T:
    """Runs `once` (one write, or one transaction) again while DynamoDB
    cancels it for a transaction holding one of its items. Scan workers count
    batches on the same scan item at once, so on DynamoDB such conflicts are
    expected, and cost a short wait instead of a redelivered message."""
    for attempt in range(CONFLICT_ATTEMPTS):
        try:
            return once()
        except PynamoDBException as error:
            if attempt == CONFLICT_ATTEMPTS - 1 or not conditions.conflicted(error):
                raise
            time.sleep(random.uniform(0, CONFLICT_DELAY * 2**attempt))  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")
