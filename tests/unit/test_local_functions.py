"""The local stack's functions count the invocations under way, so the bench
can wait for the one that finished a scan to return."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pytest

from infra.lambdas import InvocationError, LocalFunction
from infra.template import FunctionSpec


def test_an_invocation_is_in_flight_until_it_is_in_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    function = LocalFunction(FunctionSpec("Fn", "handlers.x.handler", 3, 128), "feedguard-test-Fn", {}, 2)
    begun, release = threading.Event(), threading.Event()

    def answer(event: Any, trigger: str, record_event: bool) -> Any:
        begun.set()
        release.wait(5)
        if event == "fail":
            raise InvocationError({"errorType": "Boom", "errorMessage": "it failed"})
        return "ok"

    monkeypatch.setattr(function, "_invoke", answer)
    for event in ("ok", "fail"):
        begun.clear()
        release.clear()
        caller = threading.Thread(target=_call, args=(function, event))
        caller.start()
        assert begun.wait(5)
        assert function.in_flight == 1
        release.set()
        caller.join()
        assert function.in_flight == 0


def _call(function: LocalFunction, event: str) -> None:
    with contextlib.suppress(InvocationError):  # the failing one is counted out all the same
        function.invoke(event, "test")
