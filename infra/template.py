"""Reads template.yaml: the one description of feedguard's infrastructure.

The local stack and the tests take tables, queues, secrets, routes, event
source mappings and schedules from here, so nothing re-declares them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !GetAtt, !Sub ...)."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_document(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return document


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    open: bool
    # API Gateway refuses the call without a key of a usage plan (the Api's
    # Auth.ApiKeyRequired, or the event's own).
    api_key_required: bool = False


@dataclass(frozen=True)
class SqsMapping:
    function: str
    queue: str
    batch_size: int
    report_failures: bool
    max_concurrency: int
    # MaximumBatchingWindowInSeconds: how long Lambda may gather a batch
    batching_window_seconds: float = 0.0


@dataclass(frozen=True)
class StreamMapping:
    function: str
    table: str
    batch_size: int
    starting_position: str
    filters: tuple[dict[str, Any], ...]
    report_failures: bool
    bisect_on_error: bool
    max_retry_attempts: int
    max_record_age_seconds: int
    on_failure_queue: str | None


@dataclass(frozen=True)
class Schedule:
    function: str
    name: str
    expression: Any
    input: str | None
    max_retry_attempts: int
    max_event_age_seconds: int
    dead_letter_queue: str | None


@dataclass(frozen=True)
class ApiDestinationTarget:
    """A rule's target that is an API destination (the webhook): what the
    local stack posts, how, and where it keeps what it could not deliver.
    Values are as the template writes them (resolve them with the stack's
    resolver)."""

    rule: str
    target_id: str
    bus: str
    event_pattern: Any
    destination: str
    endpoint: Any
    http_method: Any
    rate_limit_per_second: Any
    auth: dict[str, Any]
    input_transformer: dict[str, Any] | None
    max_retry_attempts: Any
    max_event_age_seconds: Any
    dead_letter_queue: str | None


@dataclass
class FunctionSpec:
    logical_id: str
    handler: str
    timeout: int
    memory: int
    environment: dict[str, Any] = field(default_factory=dict)
    events: dict[str, Any] = field(default_factory=dict)
    # How Lambda runs its asynchronous invocations (retries, on-failure destination)
    invoke_config: dict[str, Any] = field(default_factory=dict)


def _logical_of(value: Any) -> str | None:
    """The logical id a Ref or GetAtt points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
    return None


class Template:
    """The template as deployed with `parameters` (the rest at their
    defaults): a resource whose Condition is false is not there."""

    def __init__(self, document: dict[str, Any], parameters: dict[str, str] | None = None) -> None:
        self.document = document
        self.resources: dict[str, Any] = document.get("Resources", {})
        self.parameters: dict[str, Any] = document.get("Parameters", {})
        self.mappings: dict[str, Any] = document.get("Mappings", {})
        self.globals: dict[str, Any] = document.get("Globals", {}).get("Function", {})
        unknown = set(parameters or {}) - set(self.parameters)
        if unknown:
            raise ValueError(f"template.yaml has no parameter {', '.join(sorted(unknown))}")
        self.overrides = dict(parameters or {})

    @classmethod
    def load(cls, path: Path = TEMPLATE_PATH, parameters: dict[str, str] | None = None) -> Template:
        return cls(load_document(path), parameters)

    def with_parameters(self, parameters: dict[str, str]) -> Template:
        return Template(self.document, {**self.overrides, **parameters})

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type and self._exists(resource)
        }

    def parameter_values(self) -> dict[str, str]:
        """Each parameter's value: the one given, or its default."""
        return {**self.parameter_defaults(), **self.overrides}

    def conditions(self) -> dict[str, bool]:
        """Every condition of the template, evaluated with the parameter values."""
        return {name: self.condition(name) for name in self.document.get("Conditions", {})}

    def condition(self, name: str) -> bool:
        return bool(self._evaluate(self.document["Conditions"][name]))

    def _exists(self, resource: dict[str, Any]) -> bool:
        return "Condition" not in resource or self.condition(str(resource["Condition"]))

    def _evaluate(self, value: Any) -> Any:
        """A condition function: Fn::Equals, Fn::Not, Fn::And, Fn::Or,
        Condition, and the Refs to parameters they compare."""
        if not isinstance(value, dict):
            return value
        ((key, argument),) = value.items()
        if key == "Ref":
            values = self.parameter_values()
            if argument not in values:
                raise KeyError(f"a condition can only Ref a parameter, not {argument}")
            return values[argument]
        if key == "Condition":
            return self.condition(str(argument))
        if key == "Fn::Equals":
            left, right = (self._evaluate(item) for item in argument)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self._evaluate(argument[0])
        if key == "Fn::And":
            return all(self._evaluate(item) for item in argument)
        if key == "Fn::Or":
            return any(self._evaluate(item) for item in argument)
        raise ValueError(f"the local stack cannot evaluate {key} in a condition")

    def tables(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::DynamoDB::Table")

    def queues(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::SQS::Queue")

    def secrets(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::SecretsManager::Secret")

    def event_buses(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::Events::EventBus")

    def parameter_defaults(self) -> dict[str, str]:
        return {name: str(spec.get("Default", "")) for name, spec in self.parameters.items()}

    def functions(self) -> dict[str, FunctionSpec]:
        specs = {}
        global_env = self.globals.get("Environment", {}).get("Variables", {})
        for logical_id, props in self.of_type("AWS::Serverless::Function").items():
            env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                handler=props.get("Handler", self.globals.get("Handler", "")),
                timeout=int(props.get("Timeout", self.globals.get("Timeout", 3))),
                memory=int(props.get("MemorySize", self.globals.get("MemorySize", 128))),
                environment=env,
                events=props.get("Events", {}),
                invoke_config=props.get("EventInvokeConfig", {}),
            )
        return specs

    def _events_of_type(self, event_type: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (function, name, event.get("Properties", {}))
            for function, spec in self.functions().items()
            for name, event in spec.events.items()
            if event.get("Type") == event_type
        ]

    def api(self) -> tuple[str, dict[str, Any]]:
        apis = self.of_type("AWS::Serverless::Api")
        if len(apis) != 1:
            raise ValueError("template.yaml must declare exactly one AWS::Serverless::Api")
        return next(iter(apis.items()))

    def routes(self) -> list[Route]:
        routes = []
        apis = self.of_type("AWS::Serverless::Api")
        key_required = any(props.get("Auth", {}).get("ApiKeyRequired") for props in apis.values())
        for function, _, props in self._events_of_type("Api"):
            auth = props.get("Auth", {})
            routes.append(
                Route(
                    method=str(props["Method"]).upper(),
                    path=str(props["Path"]),
                    function=function,
                    open=auth.get("Authorizer") == "NONE",
                    api_key_required=bool(auth.get("ApiKeyRequired", key_required)),
                )
            )
        return routes

    def usage_plans(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::ApiGateway::UsagePlan")

    def authorizer_function(self) -> str:
        _, props = self.api()
        auth = props["Auth"]
        authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
        logical = _logical_of(authorizer["FunctionArn"])
        if logical is None:
            raise ValueError("the authorizer's FunctionArn must be a GetAtt of a function")
        return logical

    def authorizer_identity_headers(self) -> list[str]:
        _, props = self.api()
        auth = props["Auth"]
        authorizer = auth["Authorizers"][auth["DefaultAuthorizer"]]
        return list(authorizer.get("Identity", {}).get("Headers", []))

    def gateway_responses(self) -> dict[str, dict[str, Any]]:
        _, props = self.api()
        return dict(props.get("GatewayResponses", {}))

    def sqs_mappings(self) -> list[SqsMapping]:
        """Each SQS event source mapping, with AWS's defaults for what it
        leaves out (no MaximumConcurrency is Lambda's unreserved concurrency:
        locally, 2 pollers)."""
        mappings = []
        for function, _, props in self._events_of_type("SQS"):
            mappings.append(
                SqsMapping(
                    function=function,
                    queue=_logical_of(props["Queue"]) or "",
                    batch_size=int(self.value(props.get("BatchSize", 10))),
                    report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    max_concurrency=int(self.value(props.get("ScalingConfig", {}).get("MaximumConcurrency", 2))),
                    batching_window_seconds=float(self.value(props.get("MaximumBatchingWindowInSeconds", 0))),
                )
            )
        return mappings

    def value(self, value: Any) -> Any:
        """A property's value: a Ref to a parameter is the parameter's value."""
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in self.parameters:
            return self.parameter_values()[value["Ref"]]
        return value

    def stream_mappings(self) -> list[StreamMapping]:
        mappings = []
        for function, _, props in self._events_of_type("DynamoDB"):
            filters = tuple(
                json.loads(entry["Pattern"]) for entry in props.get("FilterCriteria", {}).get("Filters", [])
            )
            on_failure = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            mappings.append(
                StreamMapping(
                    function=function,
                    table=_logical_of(props["Stream"]) or "",
                    batch_size=int(props.get("BatchSize", 100)),
                    starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
                    filters=filters,
                    report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    bisect_on_error=bool(props.get("BisectBatchOnFunctionError", False)),
                    max_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                    max_record_age_seconds=int(props.get("MaximumRecordAgeInSeconds", -1)),
                    on_failure_queue=_logical_of(on_failure) if on_failure else None,
                )
            )
        return mappings

    def api_destination_targets(self) -> list[ApiDestinationTarget]:
        """Every target of an AWS::Events::Rule on one of the template's
        buses that is one of its API destinations."""
        destinations = self.of_type("AWS::Events::ApiDestination")
        connections = self.of_type("AWS::Events::Connection")
        targets = []
        for rule, props in self.of_type("AWS::Events::Rule").items():
            bus = _logical_of(props.get("EventBusName"))
            for target in props.get("Targets", []):
                destination = _logical_of(target["Arn"])
                if bus is None or destination not in destinations:
                    continue
                spec = destinations[destination]
                connection = _logical_of(spec["ConnectionArn"]) or ""
                retry = target.get("RetryPolicy", {})
                dlq = target.get("DeadLetterConfig", {}).get("Arn")
                targets.append(
                    ApiDestinationTarget(
                        rule=rule,
                        target_id=str(target["Id"]),
                        bus=bus,
                        event_pattern=props["EventPattern"],
                        destination=destination,
                        endpoint=spec["InvocationEndpoint"],
                        http_method=spec["HttpMethod"],
                        rate_limit_per_second=spec.get("InvocationRateLimitPerSecond", 300),
                        auth=connections[connection],
                        input_transformer=target.get("InputTransformer"),
                        # EventBridge's defaults: 185 retries within 24 hours.
                        max_retry_attempts=retry.get("MaximumRetryAttempts", 185),
                        max_event_age_seconds=retry.get("MaximumEventAgeInSeconds", 86400),
                        dead_letter_queue=_logical_of(dlq) if dlq else None,
                    )
                )
        return targets

    def schedules(self) -> list[Schedule]:
        schedules = []
        for function, name, props in self._events_of_type("ScheduleV2"):
            retry = props.get("RetryPolicy", {})
            dlq = props.get("DeadLetterConfig", {}).get("Arn")
            schedules.append(
                Schedule(
                    function=function,
                    name=name,
                    expression=props["ScheduleExpression"],
                    input=props.get("Input"),
                    max_retry_attempts=int(retry.get("MaximumRetryAttempts", 185)),
                    max_event_age_seconds=int(retry.get("MaximumEventAgeInSeconds", 86400)),
                    dead_letter_queue=_logical_of(dlq) if dlq else None,
                )
            )
        return schedules


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    """Evaluates Ref, Fn::GetAtt, Fn::Sub and Fn::Join against local names.

    `refs[logical_id]` is what Ref gives; `attributes[(logical_id, name)]`
    what GetAtt gives; parameters and pseudo parameters are refs too."""

    def __init__(
        self,
        refs: dict[str, str],
        attributes: dict[tuple[str, str], str],
        conditions: dict[str, bool] | None = None,
        mappings: dict[str, Any] | None = None,
    ) -> None:
        self.refs = refs
        self.attributes = attributes
        self.conditions = conditions or {}
        self.mappings = mappings or {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            handler = self._intrinsics().get(key)
            if handler is not None:
                return handler(argument)
        return {key: self(item) for key, item in value.items()}

    def _intrinsics(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": self._ref,
            "Fn::GetAtt": lambda argument: self._get_att(argument[0], argument[1]),
            "Fn::Sub": self._sub,
            "Fn::Join": lambda argument: str(argument[0]).join(str(self(part)) for part in argument[1]),
            "Fn::If": self._if,
            "Fn::FindInMap": lambda argument: self.mappings[self(argument[0])][self(argument[1])][self(argument[2])],
        }

    def _if(self, argument: list[Any]) -> Any:
        name, when_true, when_false = argument
        if name not in self.conditions:
            raise KeyError(f"the local stack knows no condition {name}")
        return self(when_true if self.conditions[name] else when_false)

    def _ref(self, logical_id: str) -> str:
        if logical_id not in self.refs:
            raise KeyError(f"the local stack cannot resolve Ref {logical_id}")
        return self.refs[logical_id]

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if (logical_id, attribute) not in self.attributes:
            raise KeyError(f"the local stack cannot resolve GetAtt {logical_id}.{attribute}")
        return self.attributes[(logical_id, attribute)]

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self(variables[name]))
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self._get_att(logical_id, attribute)
            return self._ref(name)

        return _SUB_VARIABLE.sub(replace, text)
