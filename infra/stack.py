"""The whole feedguard stack on one machine, without Docker or an AWS account.

moto server stands in for DynamoDB, Streams, SQS, Secrets Manager and
EventBridge; infra.apigw serves template.yaml's routes; infra.pollers runs
the event source mappings, the schedule and TTL; infra.fake_ossindex answers
for OSS Index. Everything is created from template.yaml.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import socket
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from moto.server import ThreadedMotoServer

from infra import apigw, console_static, fake_ossindex, moto_patches
from infra.lambdas import LocalFunction, function_environment
from infra.pollers import ApiDestinationPoller, Scheduler, StreamPoller, TtlRegistry, TtlSweeper, sqs_pollers
from infra.provision import REGION, Provisioned, aws_client, provision
from infra.template import Template

log = logging.getLogger("feedguard.local")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class StackConfig:
    admin_key: str
    host: str = "127.0.0.1"
    port: int = 3000
    control_port: int = 0
    moto_port: int = 0
    ossindex_port: int = 0
    osv_port: int = 0
    stack: str = "feedguard-local"
    # A rate() value ("5 minutes") to use instead of the template's, or "off".
    schedule_rate: str | None = None
    ttl_interval: float = 2.0
    concurrency: int = 4
    extra_environment: dict[str, str] = field(default_factory=dict)
    # Template parameters other than their defaults (WebhookUrl: FEEDGUARD_WEBHOOK_URL).
    parameters: dict[str, str] = field(default_factory=dict)
    # Seconds before an API destination's first retry (doubling each time, at most 60).
    webhook_retry_delay: float = 1.0
    # The built console, served on the API's port as CloudFront serves it.
    console_dir: Path = console_static.DEFAULT_CONSOLE_DIR


class LocalStack:
    def __init__(self, config: StackConfig, template: Template | None = None) -> None:
        self.config = config
        self.template = (template or Template.load()).with_parameters(config.parameters)
        self.functions: dict[str, LocalFunction] = {}
        self.pollers: list[Any] = []
        self.schedulers: dict[str, Scheduler] = {}
        self.servers: list[ThreadingHTTPServer] = []
        self.ttl_registry = TtlRegistry()
        self.ttl_sweeper: TtlSweeper | None = None
        self.fake_ossindex = fake_ossindex.FakeOssIndexProcess()
        self.fake_osv = fake_ossindex.FakeOssIndexProcess("infra.fake_osv")
        self.moto: ThreadedMotoServer | None = None
        self.provisioned: Provisioned | None = None
        self._events: list[dict[str, Any]] = []
        self._events_lock = threading.Lock()

    # ------------------------------------------------------------ addresses

    @property
    def api_url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    @property
    def moto_url(self) -> str:
        return f"http://{self.config.host}:{self.config.moto_port}"

    @property
    def ossindex_url(self) -> str:
        return f"http://{self.config.host}:{self.config.ossindex_port}"

    @property
    def osv_url(self) -> str:
        return f"http://{self.config.host}:{self.config.osv_port}"

    @property
    def control_url(self) -> str:
        return f"http://{self.config.host}:{self.config.control_port}"

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        config = self.config
        for name in ("moto_port", "ossindex_port", "osv_port", "control_port"):
            if not getattr(config, name):
                setattr(config, name, free_port(config.host))
        if not config.port:
            config.port = free_port(config.host)

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server's request lines
        # moto's own threaded server (werkzeug, one thread a connection), as
        # moto documents it, with its one correctness patch (infra/moto_patches.py).
        moto_patches.apply()
        self.moto = ThreadedMotoServer(ip_address=config.host, port=config.moto_port, verbose=False)
        self.moto.start()
        # moto keeps its state per process, not per server: a stack started
        # after another in the same process (make bench) starts empty.
        requests.post(f"{self.moto_url}/moto-api/reset", timeout=30).raise_for_status()
        self.provisioned = provision(
            self.template,
            self.moto_url,
            config.stack,
            secret_values={"AdminKeySecret": config.admin_key},
            console_domain=f"{config.host}:{config.port}",
        )
        self.fake_ossindex.start(config.host, config.ossindex_port)
        self.fake_osv.start(config.host, config.osv_port)
        self._start_functions()
        self._start_gateway()
        self._start_pollers()
        from infra import control  # the control server reads this stack

        self.servers.append(control.serve(self, config.host, config.control_port))

    def stop(self) -> None:
        for poller in [*self.pollers, *self.schedulers.values()]:
            poller.stop()
        if self.ttl_sweeper:
            self.ttl_sweeper.stop()
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for poller in [*self.pollers, *self.schedulers.values()]:
            if poller.is_alive():
                poller.join(timeout=5)
        for function in self.functions.values():
            function.stop()
        self.fake_ossindex.stop()
        self.fake_osv.stop()
        if self.moto:
            self.moto.stop()

    def recorded_events(self) -> list[dict[str, Any]]:
        """Every event published on the template's buses so far, oldest first."""
        assert self.provisioned is not None
        sqs = aws_client("sqs", self.moto_url)
        with self._events_lock:
            for url in self.provisioned.recorded_events_queues.values():
                while True:
                    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                    if not messages:
                        break
                    for message in messages:
                        self._events.append(json.loads(message["Body"]))
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return list(self._events)

    def sam_env_json(self, moto_host: str = "host.docker.internal") -> dict[str, dict[str, str]]:
        """`sam local invoke/start-api --env-vars` for this stack: each function's
        variables, with AWS pointed at this moto server from inside Docker."""
        env: dict[str, dict[str, str]] = {}
        for logical_id, function in self.functions.items():
            variables = {key: value for key, value in function.environment.items() if key in function.spec.environment}
            variables.update(self.aws_environment())
            variables["AWS_ENDPOINT_URL"] = f"http://{moto_host}:{self.config.moto_port}"
            variables.pop("AWS_REGION", None)  # Lambda sets it
            env[logical_id] = variables
        return env

    # ------------------------------------------------------------ parts

    def aws_environment(self) -> dict[str, str]:
        """How code reaches the emulated AWS: every service at moto's endpoint."""
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.moto_url,
        }

    def _start_functions(self) -> None:
        assert self.provisioned is not None
        overrides = {
            # The local stack talks to its fake OSS Index over plain http, on 127.0.0.1.
            "FEEDGUARD_ALLOW_HTTP_SOURCES": "1",
            "FEEDGUARD_ALLOW_PRIVATE_SOURCES": "1",
            # No X-Ray daemon here; Tracer is on wherever LAMBDA_TASK_ROOT is set.
            "POWERTOOLS_TRACE_DISABLED": "true",
            **self.config.extra_environment,
        }
        # A function an SQS mapping invokes may run as many at once as the mapping's MaximumConcurrency.
        mapped = {mapping.function: mapping.max_concurrency for mapping in self.template.sqs_mappings()}
        for logical_id, spec in self.template.functions().items():
            name = f"{self.config.stack}-{logical_id}"
            variables = {key: str(value) for key, value in self.provisioned.resolver(spec.environment).items()}
            environment = function_environment(spec, {**variables, **overrides}, self.aws_environment(), name)
            concurrency = max(self.config.concurrency, mapped.get(logical_id, 0))
            self.functions[logical_id] = LocalFunction(spec, name, environment, concurrency)

    def _start_gateway(self) -> None:
        _, props = self.template.api()
        assert self.provisioned is not None
        gateway = apigw.ApiGateway(
            routes=self.template.routes(),
            functions=self.functions,
            authorizer=self.template.authorizer_function(),
            identity_headers=self.template.authorizer_identity_headers(),
            gateway_responses=self.template.gateway_responses(),
            stage=str(self.provisioned.resolver(props.get("StageName", "Prod"))),
            usage_plan=self._usage_plan(),
        )
        distribution = console_static.Distribution(
            gateway,
            console_static.ConsoleSite(self.config.console_dir),
            console_static.ResponseHeadersPolicy.from_template(self.template, self.provisioned.resolver),
        )
        self.servers.append(apigw.serve(distribution, self.config.host, self.config.port))

    def _usage_plan(self) -> apigw.UsagePlan | None:
        """The template's usage plan, throttling each of its keys at its rate and burst."""
        assert self.provisioned is not None
        plans = self.template.usage_plans()
        if not plans:
            return None
        ((logical_id, props),) = plans.items()
        throttle = self.provisioned.resolver(props["Throttle"])
        plan_id = self.provisioned.usage_plan_ids[logical_id]
        apigateway = aws_client("apigateway", self.moto_url)

        def plan_keys() -> set[str]:
            keys: set[str] = set()
            for page in apigateway.get_paginator("get_usage_plan_keys").paginate(usagePlanId=plan_id):
                keys.update(str(item["value"]) for item in page.get("items", []))
            return keys

        return apigw.UsagePlan(float(throttle["RateLimit"]), int(throttle["BurstLimit"]), plan_keys)

    def _start_pollers(self) -> None:
        assert self.provisioned is not None
        for mapping in self.template.sqs_mappings():
            self.pollers.extend(sqs_pollers(mapping, self.functions[mapping.function], self.provisioned, self.moto_url))
        for stream in self.template.stream_mappings():
            self.pollers.append(
                StreamPoller(
                    stream, self.functions[stream.function], self.provisioned, self.moto_url, self.ttl_registry
                )
            )
        for schedule in self.template.schedules():
            expression = str(self.provisioned.resolver(schedule.expression))
            if self.config.schedule_rate:
                expression = "off" if self.config.schedule_rate == "off" else f"rate({self.config.schedule_rate})"
            scheduler = Scheduler(
                schedule, self.functions[schedule.function], self.provisioned, self.moto_url, expression
            )
            self.schedulers[schedule.name] = scheduler
        for target in self.template.api_destination_targets():
            self.pollers.append(
                ApiDestinationPoller(
                    target, self.provisioned, self.moto_url, retry_delay=self.config.webhook_retry_delay
                )
            )
        self.ttl_sweeper = TtlSweeper(self.provisioned, self.moto_url, self.ttl_registry, self.config.ttl_interval)
        for thread in [*self.pollers, *self.schedulers.values(), self.ttl_sweeper]:
            thread.start()


def config_from_environment(admin_key: str) -> StackConfig:
    def number(name: str, default: int) -> int:
        return int(os.environ.get(name) or default)

    return StackConfig(
        admin_key=admin_key,
        parameters=parameters_from_environment(),
        webhook_retry_delay=float(os.environ.get("FEEDGUARD_WEBHOOK_RETRY_DELAY") or 1.0),
        host=os.environ.get("FEEDGUARD_HOST", "127.0.0.1"),
        port=number("FEEDGUARD_PORT", 3000),
        control_port=number("FEEDGUARD_CONTROL_PORT", 0),
        moto_port=number("FEEDGUARD_MOTO_PORT", 0),
        ossindex_port=number("FEEDGUARD_OSSINDEX_PORT", 0),
        osv_port=number("FEEDGUARD_OSV_PORT", 0),
        schedule_rate=os.environ.get("FEEDGUARD_SCHEDULE_RATE") or None,
        ttl_interval=float(os.environ.get("FEEDGUARD_TTL_INTERVAL") or 2.0),
        console_dir=Path(os.environ.get("FEEDGUARD_CONSOLE_DIR") or console_static.DEFAULT_CONSOLE_DIR),
    )


def parameters_from_environment() -> dict[str, str]:
    """Template parameters as `sam deploy --parameter-overrides` takes them
    (FEEDGUARD_PARAMETER_OVERRIDES='WebhookEvents=all ScanScheduleRate="1 hour"', quoted
    as a shell quotes), and WebhookUrl from FEEDGUARD_WEBHOOK_URL."""
    parameters = {}
    for pair in shlex.split(os.environ.get("FEEDGUARD_PARAMETER_OVERRIDES") or ""):
        name, separator, value = pair.partition("=")
        if not separator:
            raise ValueError(f"FEEDGUARD_PARAMETER_OVERRIDES takes Name=Value pairs, not {pair!r}")
        parameters[name] = value
    if os.environ.get("FEEDGUARD_WEBHOOK_URL"):
        parameters["WebhookUrl"] = os.environ["FEEDGUARD_WEBHOOK_URL"]
    return parameters
