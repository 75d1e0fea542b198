"""Write transactions on the models' shared connection. A PynamoDB
Connection builds its botocore client on first use, which costs tens of
milliseconds: a new Connection for every transaction cost more than the
transaction itself."""

from __future__ import annotations

from pynamodb.transactions import TransactWrite

from feedguard.dal.models import connection


def write() -> TransactWrite:
    """`with transactions.write() as transaction: ...` commits on exit."""
    return TransactWrite(connection=connection())
