"""make dev: the whole stack in the foreground until Ctrl-C or SIGTERM.

Environment: FEEDGUARD_PORT (3000), FEEDGUARD_ADMIN_KEY (else generated and
printed), FEEDGUARD_CONTROL_PORT, FEEDGUARD_SCHEDULE_RATE ("5 minutes", "off"),
FEEDGUARD_TTL_INTERVAL (seconds, 2), FEEDGUARD_SEED (1; 0 skips the demo feed),
FEEDGUARD_MOTO_PORT (fix it to reuse env.json with sam local), FEEDGUARD_ENV_JSON
(where to write sam local's env.json; env.json), FEEDGUARD_CONSOLE_DIR (the built
console served at /; console/dist), FEEDGUARD_WEBHOOK_URL (post the webhook's
events there), FEEDGUARD_PARAMETER_OVERRIDES (template parameters, Name=Value ...).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from infra import console_static
from infra.seed import seed
from infra.stack import LocalStack, config_from_environment


def webhook_line(stack: LocalStack) -> str:
    """Where the webhook posts, by host only: a webhook's address is its credential."""
    url = stack.template.parameter_values().get("WebhookUrl")
    if not url:
        return ""
    events = stack.template.parameter_values().get("WebhookEvents")
    return f"\n  webhook      posts {events} events to {urlsplit(url).netloc} (FEEDGUARD_WEBHOOK_URL)"


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="local-stack %(levelname)s %(message)s")
    started = time.monotonic()
    admin_key = os.environ.get("FEEDGUARD_ADMIN_KEY") or secrets.token_urlsafe(32)
    config = config_from_environment(admin_key)
    stack = LocalStack(config)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        stack.start()
        console = (
            "sign in with the admin key"
            if console_static.ConsoleSite(config.console_dir).built()
            else f"not built: run {console_static.BUILD_COMMAND}"
        )
        print(
            f"""
feedguard local stack is up in {time.monotonic() - started:.1f}s

  console      {stack.api_url}/   ({console})
  API          {stack.api_url}
  admin key    {admin_key}
  control      {stack.control_url}   (invocations, schedule, TTL, fake OSS Index)
  fake OSS Index {stack.ossindex_url}   (token: local-fake-token)
  fake OSV     {stack.osv_url}   (no token)
  moto         {stack.moto_url}{webhook_line(stack)}

Try:
  curl -s {stack.api_url}/health
  curl -s -H "Authorization: Bearer {admin_key}" {stack.api_url}/api-keys

Ctrl-C stops everything.
""",
            flush=True,
        )
        env_json = Path(os.environ.get("FEEDGUARD_ENV_JSON", "env.json"))
        env_json.write_text(json.dumps(stack.sam_env_json(), indent=2) + "\n")
        print(f"wrote {env_json} for sam local (--env-vars {env_json})", flush=True)
        if os.environ.get("FEEDGUARD_SEED", "1") != "0":
            for line in seed(stack.api_url, admin_key, stack.template.routes(), stack.ossindex_url, stack.osv_url):
                print(f"seed {line}", flush=True)
        # With a timeout: the main thread wakes to run the handler of a signal another thread took.
        while not stopping.wait(timeout=1.0):
            pass
        print("stopping the local stack", flush=True)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
