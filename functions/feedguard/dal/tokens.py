"""Source tokens in Secrets Manager: one secret per source. The token goes
in and never comes back out through this module's callers' responses; the
scanner and the gate read it (through powertools parameters, cached), and
the sources function to test a changed source's credentials."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from feedguard.settings import settings


@lru_cache(maxsize=1)
def _client() -> Any:
    import boto3  # here, not at cold start: only writes of a source need it

    return boto3.client("secretsmanager")


def secret_name(source_id: str) -> str:
    return f"{settings().source_secret_prefix}{source_id}"


def store(source_id: str, token: str) -> str:
    """The secret holds the token alone; the username (for basic auth) is not
    secret and stays on the source item."""
    name = secret_name(source_id)
    _client().create_secret(
        Name=name,
        SecretString=token,
        Description="feedguard vulnerability source token",
        Tags=[{"Key": "feedguard:source", "Value": source_id}],
    )
    return name


def read(name: str) -> str:
    """The stored token, for the credential test of a PATCH that changes
    where or how it is sent but not the token itself; never returned."""
    return str(_client().get_secret_value(SecretId=name)["SecretString"])


def replace(name: str, token: str) -> None:
    _client().put_secret_value(SecretId=name, SecretString=token)


def remove(name: str) -> None:
    # Recoverable for 7 days, in case a source was deleted by mistake.
    _client().delete_secret(SecretId=name, RecoveryWindowInDays=7)
