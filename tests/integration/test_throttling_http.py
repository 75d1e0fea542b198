"""Per-key throttling over HTTP (issue 27, finding 1): the local gateway
throttles each key as the template's usage plan does, here at a rate and
burst set low through the template's parameters, as a deployment would set
them (`sam deploy --parameter-overrides`)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from tests.integration.conftest import RunningStack, start_stack, stop_stack

RATE, BURST = 1, 3


@pytest.fixture(scope="module")
def slow_stack() -> Iterator[RunningStack]:
    running = start_stack(
        FEEDGUARD_PARAMETER_OVERRIDES=f"ApiKeyRateLimit={RATE} ApiKeyBurstLimit={BURST}", FEEDGUARD_SEED="0"
    )
    yield running
    assert stop_stack(running) == 0, running.log.read_text()[-3000:]


def test_a_key_past_its_burst_is_429_with_retry_after_and_other_keys_are_not(slow_stack: RunningStack) -> None:
    api, admin = slow_stack.api, slow_stack.headers()
    made = requests.post(f"{api}/api-keys", json={"name": "busy-bot"}, headers=admin, timeout=10)
    assert made.status_code == 201, made.text
    busy = slow_stack.headers(made.json()["key"])
    # When the key calls more often at once than its burst
    answers = [requests.get(f"{api}/me", headers=busy, timeout=10) for _ in range(BURST + 2)]
    # Then the calls past it are 429 in the contract's error shape, with Retry-After
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(429) >= 2, statuses
    assert statuses[0] == 200
    throttled = next(answer for answer in answers if answer.status_code == 429)
    assert set(throttled.json()) == {"message"}
    assert throttled.headers["Retry-After"] == "1"
    # And another key, and the open routes, are not held back by it
    assert requests.get(f"{api}/health", timeout=10).status_code == 200
    assert requests.get(f"{api}/sources", headers=admin, timeout=10).status_code == 200
    # And after Retry-After the key is answered again
    wait = requests.get(f"{api}/me", headers=busy, timeout=10)
    if wait.status_code == 429:
        time.sleep(float(wait.headers["Retry-After"]))
        assert requests.get(f"{api}/me", headers=busy, timeout=10).status_code == 200
