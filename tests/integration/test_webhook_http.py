"""The webhook on the local stack: a stack started with FEEDGUARD_WEBHOOK_URL
pointing at a receiver this test runs on 127.0.0.1 posts the findings events
template.yaml's rule picks, through its input transformer, with the
connection's secret header, retrying as its RetryPolicy says and leaving
what the receiver never took in the template's dead-letter queue."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from infra.stack import free_port
from tests.integration.conftest import RunningStack, start_stack, stop_stack, wait_for
from tests.integration.test_scans_http import finished, setup_feed

FEED = "hooks"
LODASH = "pkg:npm/lodash@4.17.20"  # CVE-2021-23337 (CVSS 7.2) and CVE-2020-28500 (5.3)
MINIMIST = "pkg:npm/minimist@1.2.5"  # one at 9.8
SECRET = "s3cr3t-header-value"


class Receiver:
    """An incoming webhook: records every post, and answers each event
    (feed, vulnerability, action) with the statuses planned for it, in
    order, then 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self.plans: dict[tuple[str, str], list[int]] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    plan = receiver.plans.get((body["vulnerability_id"], body["action"]), [])
                    status = plan.pop(0) if plan and plan[0] != 0 else (503 if plan else 200)
                    receiver.posts.append((status, body, dict(self.headers)))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def plan(self, vulnerability_id: str, action: str, statuses: list[int]) -> None:
        """Statuses to answer; a 0 at the end keeps answering 503 for ever."""
        with self.lock:
            self.plans[(vulnerability_id, action)] = list(statuses)

    def received(self, action: str | None = None) -> list[tuple[int, dict[str, Any]]]:
        with self.lock:
            return [
                (status, body)
                for status, body, _ in self.posts
                if body["feed"] == FEED and (action is None or body["action"] == action)
            ]

    def accepted(self, action: str) -> dict[str, dict[str, Any]]:
        return {body["vulnerability_id"]: body for status, body in self.received(action) if status == 200}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiving = Receiver()
    yield receiving
    receiving.server.shutdown()


@pytest.fixture(scope="module")
def hooked(receiver: Receiver) -> Iterator[RunningStack]:
    running = start_stack(
        FEEDGUARD_WEBHOOK_URL=receiver.url,
        FEEDGUARD_PARAMETER_OVERRIDES=(
            "WebhookEvents=high-and-assessed WebhookMaximumRetryAttempts=2 "
            f"WebhookSecretHeaderName=X-Hook-Secret WebhookSecretHeaderValue={SECRET}"
        ),
        FEEDGUARD_WEBHOOK_RETRY_DELAY="0.2",
        FEEDGUARD_SEED="0",
    )
    try:
        setup_feed(running, FEED)
        added = requests.post(
            f"{running.api}/feeds/{FEED}/packages",
            json={"purls": [LODASH, MINIMIST]},
            headers=running.headers(),
            timeout=30,
        ).json()
        finished(running, added["scan_id"])
        yield running
    finally:
        assert stop_stack(running) == 0, running.log.read_text()[-3000:]
    assert SECRET not in running.log.read_text(), "the secret header's value was logged"


def assess(stack: RunningStack, vulnerability_id: str, **body: Any) -> None:
    url = f"{stack.api}/feeds/{FEED}/vulnerabilities/{vulnerability_id}/assessment"
    answer = requests.put(url, json={"type": "ignore", **body}, headers=stack.headers(), timeout=10)
    assert answer.status_code == 200, answer.text


def minimist_id(stack: RunningStack) -> str:
    items = requests.get(f"{stack.api}/feeds/{FEED}/vulnerabilities", headers=stack.headers(), timeout=10).json()
    (found,) = [item["id"] for item in items["items"] if MINIMIST in item["packages"]]
    return str(found)


def test_detections_at_cvss_7_or_more_are_posted_and_lower_ones_are_not(
    hooked: RunningStack, receiver: Receiver
) -> None:
    high = {"CVE-2021-23337", minimist_id(hooked)}
    wait_for(lambda: set(receiver.accepted("detected")) == high, timeout=30)
    # Published with the others, in the same batches: given time, it would have come.
    published = requests.get(f"{hooked.control}/events", timeout=10).json()["items"]
    assert "CVE-2020-28500" in {e["detail"]["vulnerability_id"] for e in published if e["detail"]["feed"] == FEED}
    assert "CVE-2020-28500" not in {body["vulnerability_id"] for _, body in receiver.received()}

    message = receiver.accepted("detected")["CVE-2021-23337"]
    assert message["text"].startswith(f"[feedguard] {FEED}: CVE-2021-23337 (")
    assert ", CVSS 7.2) detected by scanner in [pkg:npm/lodash@4.17.20]." in message["text"]
    link = f"/#/feeds/{FEED}/vulnerabilities/CVE-2021-23337"
    assert message["text"].endswith(link)
    assert message["link"].endswith(link)
    assert (message["cvss_score"], message["packages"]) == (7.2, [LODASH])


def test_the_banner_names_the_webhook_by_its_host_only(hooked: RunningStack, receiver: Receiver) -> None:
    log = hooked.log.read_text()
    host = receiver.url.split("/")[2]
    assert f"webhook      posts high-and-assessed events to {host}" in log
    assert receiver.url not in log


def test_every_post_carries_the_secret_header(hooked: RunningStack, receiver: Receiver) -> None:
    wait_for(receiver.received, timeout=30)
    with receiver.lock:
        headers = [headers for _, _, headers in receiver.posts]
    assert {h.get("X-Hook-Secret") for h in headers} == {SECRET}
    assert {h.get("Content-Type") for h in headers} == {"application/json; charset=utf-8"}


def test_an_assessment_then_its_expiry_are_posted(hooked: RunningStack, receiver: Receiver) -> None:
    expires = (datetime.now(UTC) + timedelta(seconds=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assess(hooked, "CVE-2021-23337", expires_at=expires)
    assessed = wait_for(lambda: receiver.accepted("assessed").get("CVE-2021-23337"), timeout=30)
    assert (assessed["actor"], assessed["type"], assessed["expires_at"]) == ("admin", "ignore", expires)
    assert "assessed by admin" in assessed["text"]
    expired = wait_for(lambda: receiver.accepted("expired").get("CVE-2021-23337"), timeout=60, interval=0.5)
    assert expired["event"] == "Assessment Expired"


def test_a_receiver_answering_500_then_200_gets_the_event_once(hooked: RunningStack, receiver: Receiver) -> None:
    vulnerability = minimist_id(hooked)
    receiver.plan(vulnerability, "assessed", [500])
    assess(hooked, vulnerability)
    wait_for(lambda: receiver.accepted("assessed").get(vulnerability), timeout=30)
    statuses = [status for status, body in receiver.received("assessed") if body["vulnerability_id"] == vulnerability]
    assert statuses == [500, 200]


def test_a_receiver_that_stays_down_leaves_the_event_in_the_dead_letter_queue(
    hooked: RunningStack, receiver: Receiver
) -> None:
    receiver.plan("CVE-2020-28500", "assessed", [0])
    assess(hooked, "CVE-2020-28500", comment="slow to exploit")
    sqs = hooked.aws("sqs")
    url = sqs.get_queue_url(QueueName="feedguard-local-WebhookDeadLetterQueue")["QueueUrl"]

    def dead_lettered() -> list[dict[str, Any]]:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        return list(answer.get("Messages", []))

    (message,) = wait_for(dead_lettered, timeout=30)
    event = json.loads(message["Body"])
    assert (event["detail-type"], event["detail"]["vulnerability_id"]) == ("Finding Assessed", "CVE-2020-28500")
    attributes = {name: value["StringValue"] for name, value in message["MessageAttributes"].items()}
    assert attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attributes["RETRY_ATTEMPTS"] == "2"
    assert attributes["RULE_ARN"].endswith("/WebhookRule")
    # The first post and the template's two retries, then no more.
    tries = [status for status, body in receiver.received("assessed") if body["vulnerability_id"] == "CVE-2020-28500"]
    assert tries == [503, 503, 503]


def test_nothing_is_posted_twice_for_one_event(hooked: RunningStack, receiver: Receiver) -> None:
    wait_for(lambda: len(receiver.accepted("detected")) == 2, timeout=30)
    # Some seconds more, in which a second post of any of them would come.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        accepted = Counter(
            (body["action"], body["vulnerability_id"], body["at"])
            for status, body in receiver.received()
            if status == 200
        )
        assert max(accepted.values()) == 1, accepted
        time.sleep(0.2)


def test_an_expiry_warning_is_posted_once_with_its_days_left(hooked: RunningStack, receiver: Receiver) -> None:
    vulnerability = minimist_id(hooked)
    expires = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assess(hooked, vulnerability, type="caution", expires_at=expires)
    fire = f"{hooked.control}/schedules/ExpiringWarnings/fire"
    assert requests.post(fire, timeout=60).json() == {"ok": True}
    warned = wait_for(lambda: receiver.accepted("expiring").get(vulnerability), timeout=30)
    assert (warned["event"], warned["type"], warned["expires_at"], warned["days_left"]) == (
        "Assessment Expiring",
        "caution",
        expires,
        3,
    )
    said = f"expiring by auto in [{MINIMIST}]. The caution assessment expires at {expires}, in 3 days."
    assert said in warned["text"]
    assert requests.post(fire, timeout=60).json() == {"ok": True}  # a second run: nothing new is due
    time.sleep(2)
    posts = [body for _, body in receiver.received("expiring") if body["vulnerability_id"] == vulnerability]
    assert len(posts) == 1
