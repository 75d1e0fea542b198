"""Unit tests run under moto's mock_aws, with every resource created from
template.yaml, and with the network off. moto has the local stack's one
correctness patch (infra/moto_patches.py: DynamoDB's requests one at a time)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
import requests.adapters
from moto import mock_aws
from moto.server import ThreadedMotoServer

from infra import fake_ossindex, moto_patches
from infra.fake_ossindex import FakeOssIndex, InProcessAdapter
from infra.fake_osv import FakeOsv
from infra.provision import Provisioned, provision
from infra.stack import free_port
from infra.template import Template
from tests.support import ADMIN_KEY, TEST_STACK, dynamodb_hook

moto_patches.apply()
# Read once: parsing template.yaml costs more than most unit tests.
TEMPLATE = Template.load()
# (logical id, handler module, handler attribute) of every function
HANDLERS = [(logical_id, *spec.handler.rsplit(".", 1)) for logical_id, spec in TEMPLATE.functions().items()]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise RuntimeError(f"unit tests must not reach the network ({address})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@contextmanager
def fresh_account() -> Iterator[Provisioned]:
    """A fresh account with the template's tables, queues and secrets, for
    as long as the block runs (moto's state is the process's: one at a time)."""
    from aws_lambda_powertools.utilities import parameters

    from feedguard import scanner, source_health, usage_keys
    from feedguard.settings import settings

    with mock_aws():
        parameters.clear_caches()
        usage_keys.clear_caches()  # the usage plan's id is the new account's
        scanner.sources.clear()
        source_health.recorder.clear()
        scanner.session.close()  # no connection to another test's fake OSS Index, maybe on the same port
        settings.cache_clear()
        provisioned = provision(TEMPLATE, None, TEST_STACK, secret_values={"AdminKeySecret": ADMIN_KEY})
        yield provisioned
    parameters.clear_caches()


@pytest.fixture
def aws() -> Iterator[Provisioned]:
    """A fresh account with the template's tables, queues and secrets."""
    with fresh_account() as provisioned:
        yield provisioned


@pytest.fixture
def served() -> Iterator[tuple[Provisioned, str]]:
    """The template's resources on a moto server, as the local stack runs it:
    (what was made, the server's URL). For DynamoDB Streams, which moto's
    in-process mock does not answer for this botocore ("Not yet
    implemented"). moto's state is the process's, so it starts empty."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()
        yield provision(TEMPLATE, url, TEST_STACK, secret_values={"AdminKeySecret": ADMIN_KEY}), url
    finally:
        server.stop()


@pytest.fixture
def oss() -> Iterator[tuple[FakeOssIndex, str]]:
    """The fake OSS Index on a loopback port: (the service, its URL)."""
    service = FakeOssIndex()
    port = free_port()
    server = fake_ossindex.serve(service, "127.0.0.1", port)
    yield service, f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def osv_fake() -> Iterator[tuple[FakeOsv, str]]:
    """The fake OSV on a loopback port: (the service, its URL)."""
    service = FakeOsv()
    port = free_port()
    server = fake_ossindex.serve(service, "127.0.0.1", port)
    yield service, f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()


class AnyToken(set[str]):
    """The tokens of a fake that takes any (a test sets a real set to refuse some)."""

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and bool(token)


class GuideSession(requests.Session):
    """Connections to sources as unit tests have them, with the network off:
    plain http on 127.0.0.1 (the `oss` fixture's fake servers) as usual,
    any other URL answered in this process by one fake."""

    def __init__(self, fake: FakeOssIndex) -> None:
        super().__init__()
        self.fake = InProcessAdapter(fake)

    def get_adapter(self, url: str) -> requests.adapters.BaseAdapter:
        return super().get_adapter(url) if url.startswith("http://127.0.0.1:") else self.fake


@pytest.fixture(autouse=True)
def guide(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOssIndex]:
    """The fake OSS Index answering the credential tests of sources saved at
    any URL but the `oss` fixture's (the default URL among them); it takes
    any token unless the test sets its `tokens`."""
    from handlers import sources

    service = FakeOssIndex(tokens=AnyToken())
    session = GuideSession(service)
    monkeypatch.setattr(sources, "probe_session", lambda: session)
    yield service
    session.close()


@pytest.fixture(autouse=True)
def grants(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Every DynamoDB call a handler makes in a test is one its function is
    granted in template.yaml (tests/unit/grants.py): checked after the test."""
    import importlib

    from tests.unit.grants import Recorder

    recorder = Recorder()
    for logical_id, module_name, attribute in HANDLERS:
        recorder.wrap(monkeypatch, importlib.import_module(module_name), logical_id, attribute)
    with dynamodb_hook("provide-client-params.dynamodb", recorder.hook):
        yield recorder
    missing = {function: calls for function, calls in recorder.missing().items() if calls}
    assert not missing, f"DynamoDB calls that template.yaml does not grant: {missing}"
