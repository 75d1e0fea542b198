"""Integration tests drive the local stack (python -m infra.dev, as make dev
runs it) over HTTP, exactly as a client would."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.support import ROOT

ADMIN_KEY = "integration-admin-key-0123456789"


@dataclass
class RunningStack:
    api: str
    control: str
    admin_key: str
    moto: str
    process: subprocess.Popen[bytes]
    log: Path

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}"}

    def aws(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.moto,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def invocations(self, function: str) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.control}/invocations", params={"function": function}, timeout=10)
        return list(answer.json()["items"])


def ports_for_a_stack() -> tuple[int, int]:
    """Two free ports for a stack's gateway and control server, chosen below
    the kernel's ephemeral range and in a share of it of this test worker's
    own. A port probed free and handed to the stack is bound a second or
    two later: in the ephemeral range, any bind to port 0 meanwhile (the
    stack's own moto or fake OSS Index, another worker's stack) could take
    it first, and once did (the control port answered as moto)."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    share = (low - 20000) // workers
    first = 20000 + worker * share
    chosen: list[int] = []
    for port in random.sample(range(first, first + share), share):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
        if len(chosen) == 2:
            return chosen[0], chosen[1]
    raise RuntimeError(f"no two free ports in {first}-{first + share - 1}")


def start_stack(**environment: str) -> RunningStack:
    port, control = ports_for_a_stack()
    log = Path(tempfile.mkstemp(prefix="feedguard-stack-", suffix=".log")[1])
    env = {
        **os.environ,
        "FEEDGUARD_PORT": str(port),
        "FEEDGUARD_CONTROL_PORT": str(control),
        "FEEDGUARD_ADMIN_KEY": ADMIN_KEY,
        "FEEDGUARD_TTL_INTERVAL": "1",
        "FEEDGUARD_ENV_JSON": str(log.with_suffix(".env.json")),
        # The suite tests behaviour, not one key's throttle, which has a test of
        # its own (test_throttling_http.py, with low limits): lifted here. A
        # failed scan batch comes back after 1, 2, 4... seconds, not 30, 60...
        "FEEDGUARD_PARAMETER_OVERRIDES": "ApiKeyRateLimit=10000 ApiKeyBurstLimit=5000 ScanBatchRetrySeconds=1",
        **environment,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.dev"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited: {log.read_text()[-3000:]}")
        try:
            if requests.get(f"{api}/health", timeout=5).status_code == 200:
                break
        except (requests.ConnectionError, requests.Timeout):
            # Not listening yet, or listening but too busy to answer: a loaded
            # machine starting several stacks at once sees both.
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError(f"the local stack did not answer /health: {log.read_text()[-3000:]}")
    status = requests.get(f"http://127.0.0.1:{control}/status", timeout=10).json()
    return RunningStack(api, f"http://127.0.0.1:{control}", ADMIN_KEY, status["moto"], process, log)


def stop_stack(stack: RunningStack) -> int:
    stack.process.send_signal(signal.SIGTERM)
    return stack.process.wait(timeout=60)


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    running = start_stack()
    # The demo data goes in through the API once the stack answers; a test
    # that counts handler invocations must not count the seed's.
    assert wait_for(lambda: "\nseed " in running.log.read_text(), timeout=90), running.log.read_text()[-3000:]
    yield running
    assert stop_stack(running) == 0, running.log.read_text()[-3000:]


def wait_for(condition: Any, timeout: float = 20.0, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout}s: {condition}")
