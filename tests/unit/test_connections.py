"""DynamoDB clients: PynamoDB makes one for each model a process uses, and
models.connection one for transactions and batches, each once per process.
A warm invocation makes none."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from pynamodb.signals import pre_dynamodb_send

from handlers import scan_coordinator
from tests.support import LODASH, LOG4J, LambdaContext
from tests.unit.builders import a_feed
from tests.unit.test_scanner import a_source, drain


def test_a_warm_scan_makes_no_dynamodb_client(aws: Any, oss: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    a_feed("demo", [LOG4J, LODASH], [a_source(oss[1])])
    scan_coordinator.handler({"trigger": "api", "feed": "demo", "refresh": False}, LambdaContext())
    drain(aws)  # every client the scan's path needs now exists
    created: list[str] = []
    real = botocore.session.Session.create_client

    def creating(self: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        created.append(service)
        return real(self, service, *args, **kwargs)

    used: set[int] = set()

    def sent(sender: Any, **_: Any) -> None:
        used.add(id(sender.client))

    monkeypatch.setattr(botocore.session.Session, "create_client", creating)
    pre_dynamodb_send.connect(sent, weak=False)
    try:
        scan_coordinator.handler({"trigger": "api", "feed": "demo", "refresh": True}, LambdaContext())
        drain(aws)
    finally:
        pre_dynamodb_send.disconnect(sent)
    assert "dynamodb" not in created
    assert 1 < len(used) <= 12  # a client per model used, and the connection of transactions and batches
