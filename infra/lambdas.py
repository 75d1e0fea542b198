"""Lambda, emulated: each function of template.yaml runs in sandbox processes
(infra/sandbox.py) that hold exactly that function's environment, stay warm
between invocations, run one invocation at a time, and are killed when an
invocation overruns the function's Timeout, as on AWS."""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.template import FunctionSpec

SANDBOX = Path(__file__).resolve().parent / "sandbox.py"
log = logging.getLogger("feedguard.local")


class InvocationError(Exception):
    """The function raised, timed out or crashed; `payload` is Lambda's error shape."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = payload


class _Sandbox:
    def __init__(self, spec: FunctionSpec, function_name: str, environment: dict[str, str]) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(SANDBOX), spec.handler, function_name, str(spec.memory)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=environment,
            text=True,
            bufsize=1,
        )

    def invoke(self, event_json: str, timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        deadline = time.time() + timeout
        self.process.stdin.write(json.dumps({"event": event_json, "deadline": deadline}) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, deadline - time.time()))
        if not ready:
            self.kill()
            raise InvocationError(
                {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {timeout:.2f} seconds"}
            )
        line = self.process.stdout.readline()
        if not line:
            self.kill()
            raise InvocationError({"errorType": "Runtime.ExitError", "errorMessage": "the function's runtime exited"})
        answer: dict[str, Any] = json.loads(line)
        return answer

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.alive and self.process.stdin is not None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Invocation:
    function: str
    trigger: str
    started_at: float
    duration_ms: float
    ok: bool
    error: dict[str, Any] | None = None
    event: Any = None
    result: Any = None


@dataclass
class LocalFunction:
    spec: FunctionSpec
    name: str
    environment: dict[str, str]
    max_concurrency: int
    log: deque[Invocation] = field(default_factory=lambda: deque(maxlen=500))

    def __post_init__(self) -> None:
        self._idle: list[_Sandbox] = []
        self._all: list[_Sandbox] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._stopped = False
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Invocations begun and not yet in the log."""
        with self._lock:
            return self._in_flight

    def invoke(self, event: Any, trigger: str, record_event: bool = True) -> Any:
        """Invokes synchronously, like RequestResponse; raises InvocationError."""
        with self._lock:
            self._in_flight += 1
        try:
            return self._invoke(event, trigger, record_event)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _invoke(self, event: Any, trigger: str, record_event: bool) -> Any:
        event_json = json.dumps(event)
        started = time.time()
        with self._slots:
            sandbox = self._acquire()
            try:
                answer = sandbox.invoke(event_json, self.spec.timeout)
            except InvocationError as error:
                self._record(trigger, started, event if record_event else None, None, error.payload)
                raise
            finally:
                self._release(sandbox)
        if not answer["ok"]:
            self._record(trigger, started, event if record_event else None, None, answer["error"])
            raise InvocationError(answer["error"])
        result = json.loads(answer["result"])
        self._record(trigger, started, event if record_event else None, result if record_event else None, None)
        return result

    def _record(self, trigger: str, started: float, event: Any, result: Any, error: dict[str, Any] | None) -> None:
        if error is not None:
            # As Lambda writes an unhandled error to the function's log.
            trace = "".join(error.get("stackTrace") or [])
            kind, message = error.get("errorType"), error.get("errorMessage")
            log.error("%s (%s) failed: %s: %s\n%s", self.name, trigger, kind, message, trace)
        self.log.append(
            Invocation(
                function=self.spec.logical_id,
                trigger=trigger,
                started_at=started,
                duration_ms=round((time.time() - started) * 1000, 1),
                ok=error is None,
                error=error,
                event=event,
                result=result,
            )
        )

    def _acquire(self) -> _Sandbox:
        with self._lock:
            if self._stopped:
                raise InvocationError({"errorType": "Local.Stopped", "errorMessage": "the local stack is stopping"})
            while self._idle:
                sandbox = self._idle.pop()
                if sandbox.alive:
                    return sandbox
            sandbox = _Sandbox(self.spec, self.name, self.environment)
            self._all.append(sandbox)
            return sandbox

    def _release(self, sandbox: _Sandbox) -> None:
        with self._lock:
            if sandbox.alive and not self._stopped:
                self._idle.append(sandbox)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            sandboxes, self._all, self._idle = self._all, [], []
        for sandbox in sandboxes:
            sandbox.stop()


def function_environment(
    spec: FunctionSpec, resolved_variables: dict[str, str], base: dict[str, str], function_name: str
) -> dict[str, str]:
    """What the function's process sees: its own template variables, the
    variables Lambda itself sets, and the local stack's AWS settings."""
    functions_root = str(Path(__file__).resolve().parent.parent / "functions")
    lambda_variables = {
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "_HANDLER": spec.handler,
        "LAMBDA_TASK_ROOT": functions_root,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    return {**lambda_variables, **base, **{key: str(value) for key, value in resolved_variables.items()}}
