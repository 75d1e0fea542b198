"""One Lambda execution environment: imports a handler with the function's
environment, then answers invocations, one at a time, over a line protocol.

Run by infra.lambdas as `python infra/sandbox.py <handler> <function name>
<memory MB> <timeout s>`; requests arrive on stdin, answers leave on the file
descriptor that was stdout, and everything the handler prints goes to stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any


class LocalContext:
    """What Lambda passes as `context`."""

    def __init__(self, function_name: str, memory: int, deadline: float) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def die_with_parent() -> None:
    """Exit when the local stack dies, even in the middle of an invocation, so
    no sandbox outlives it. (PR_SET_PDEATHSIG would fire when the *thread*
    that started us ends, and the stack starts sandboxes from request threads.)"""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def main() -> None:
    handler_path, function_name, memory = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Ctrl-C reaches the whole process group; the stack stops its sandboxes itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    answers = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [entry for entry in sys.path if entry != here]
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])

    module_name, _, attribute = handler_path.rpartition(".")
    init_error: dict[str, Any] | None = None
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as error:  # noqa: BLE001 - reported on every invocation, as Lambda does
        init_error = _error(error)

    for line in sys.stdin:
        request = json.loads(line)
        if init_error is not None:
            answers.write(json.dumps({"ok": False, "error": init_error}) + "\n")
            continue
        context = LocalContext(function_name, memory, request["deadline"])
        try:
            result = handler(json.loads(request["event"]), context)
            answer = {"ok": True, "result": json.dumps(result)}
        except Exception as error:  # noqa: BLE001 - the invoker reports it like Lambda
            answer = {"ok": False, "error": _error(error)}
        answers.write(json.dumps(answer) + "\n")


def _error(error: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(error),
    }


if __name__ == "__main__":
    main()
