"""Creates the template's tables, queues, secrets and buses on moto server,
from their Properties in template.yaml, and names them for the resolver."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import boto3

from infra.template import Resolver, Template

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class Provisioned:
    stack: str
    resolver: Resolver
    table_names: dict[str, str]
    stream_arns: dict[str, str]
    queue_urls: dict[str, str]
    queue_arns: dict[str, str]
    secret_arns: dict[str, str]
    bus_names: dict[str, str]
    ttl_attributes: dict[str, str]
    recorded_events_queues: dict[str, str]
    # (rule, target id) of each API destination target -> the queue its bus's rule fills
    api_destination_queues: dict[tuple[str, str], str] = field(default_factory=dict)
    # logical id of each usage plan -> its id on moto
    usage_plan_ids: dict[str, str] = field(default_factory=dict)


def aws_client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's placeholder credentials
    )


def _table_request(name: str, props: dict[str, Any]) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if props.get("BillingMode") != "PAY_PER_REQUEST":
        request["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(index_kind):
            request[index_kind] = props[index_kind]
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    if "DeletionProtectionEnabled" in props:
        request["DeletionProtectionEnabled"] = props["DeletionProtectionEnabled"]
    return request


def provision(
    template: Template,
    endpoint: str,
    stack: str,
    secret_values: dict[str, str],
    console_domain: str = "localhost",
) -> Provisioned:
    """`console_domain` is where the local stack serves the console (host:port),
    as the distribution's DomainName."""
    refs: dict[str, str] = {
        "AWS::StackName": stack,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        **template.parameter_values(),
    }
    attributes: dict[tuple[str, str], str] = {}
    for logical_id in template.of_type("AWS::CloudFront::Distribution"):
        attributes[(logical_id, "DomainName")] = console_domain
    resolver = Resolver(refs, attributes, template.conditions(), template.mappings)
    result = Provisioned(stack, resolver, {}, {}, {}, {}, {}, {}, {}, {})
    _tables(template, aws_client("dynamodb", endpoint), result, refs, attributes)
    _queues(template, aws_client("sqs", endpoint), result, refs, attributes)
    secretsmanager = aws_client("secretsmanager", endpoint)
    for logical_id, props in template.secrets().items():
        value = secret_values.get(logical_id) or secrets.token_urlsafe(36)
        arn = secretsmanager.create_secret(
            Name=f"{stack}/{logical_id}", SecretString=value, Description=props.get("Description", "")
        )["ARN"]
        refs[logical_id] = arn
        result.secret_arns[logical_id] = arn
    events = aws_client("events", endpoint)
    sqs = aws_client("sqs", endpoint)
    for logical_id, props in template.event_buses().items():
        name = result.resolver(props["Name"])
        attributes[(logical_id, "Arn")] = events.create_event_bus(Name=name)["EventBusArn"]
        attributes[(logical_id, "Name")] = name
        refs[logical_id] = name
        result.bus_names[logical_id] = name
        # Local only: every event on the bus is also kept in a queue, so tests and
        # developers can read what was published (GET /events on the control server).
        url = sqs.create_queue(QueueName=f"{stack}-{logical_id}-recorded")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="record-everything", EventBusName=name, EventPattern=json.dumps({"source": ["feedguard"]}))
        events.put_targets(Rule="record-everything", EventBusName=name, Targets=[{"Id": "recorded", "Arn": arn}])
        result.recorded_events_queues[logical_id] = url
    _api_destination_rules(template, events, sqs, result, attributes)
    api_id, _ = template.api()
    refs[api_id] = "local"
    for logical_id in template.functions():
        function_name = f"{stack}-{logical_id}"
        refs[logical_id] = function_name
        attributes[(logical_id, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
    _usage_plans(template, aws_client("apigateway", endpoint), result, refs)
    return result


def _usage_plans(template: Template, apigateway: Any, result: Provisioned, refs: dict[str, str]) -> None:
    """The usage plans, API keys and usage plan keys, on moto: the keys
    function adds a key to the plan for each key it makes, and the local
    gateway throttles the keys of the plan at its rate and burst."""
    for logical_id, props in template.usage_plans().items():
        throttle = result.resolver(props.get("Throttle", {}))
        plan = apigateway.create_usage_plan(
            name=result.resolver(props["UsagePlanName"]),
            throttle={"rateLimit": float(throttle["RateLimit"]), "burstLimit": int(throttle["BurstLimit"])},
        )
        refs[logical_id] = plan["id"]
        result.usage_plan_ids[logical_id] = plan["id"]
    for logical_id, props in template.of_type("AWS::ApiGateway::ApiKey").items():
        made = apigateway.create_api_key(
            name=result.resolver(props["Name"]), value=result.resolver(props["Value"]), enabled=True
        )
        refs[logical_id] = made["id"]
    for props in template.of_type("AWS::ApiGateway::UsagePlanKey").values():
        apigateway.create_usage_plan_key(
            usagePlanId=result.resolver(props["UsagePlanId"]),
            keyId=result.resolver(props["KeyId"]),
            keyType=props["KeyType"],
        )


def _api_destination_rules(
    template: Template, events: Any, sqs: Any, result: Provisioned, attributes: dict[tuple[str, str], str]
) -> None:
    """The rules whose targets are API destinations, on moto's bus with the
    template's event pattern: moto matches each event as EventBridge does
    and puts it, untransformed, in a queue of the target's (local only),
    from which infra.pollers.ApiDestinationPoller posts it as EventBridge
    would post it to the destination."""
    for target in template.api_destination_targets():
        bus = result.bus_names[target.bus]
        pattern = result.resolver(target.event_pattern)
        rule_arn = events.put_rule(
            Name=target.rule,
            EventBusName=bus,
            EventPattern=pattern if isinstance(pattern, str) else json.dumps(pattern),
        )["RuleArn"]
        attributes[(target.rule, "Arn")] = rule_arn
        attributes[(target.destination, "Arn")] = (
            f"arn:aws:events:{REGION}:{ACCOUNT}:api-destination/{result.stack}-{target.destination}/local"
        )
        # Long enough for every retry: the poller deletes an event once it is delivered or dead-lettered.
        url = sqs.create_queue(
            QueueName=f"{result.stack}-{target.rule}-{target.target_id}-delivery",
            Attributes={"VisibilityTimeout": "43200"},
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_targets(Rule=target.rule, EventBusName=bus, Targets=[{"Id": target.target_id, "Arn": arn}])
        result.api_destination_queues[(target.rule, target.target_id)] = url


def _tables(
    template: Template, dynamodb: Any, result: Provisioned, refs: dict[str, str], attributes: dict[tuple[str, str], str]
) -> None:
    for logical_id, props in template.tables().items():
        name = f"{result.stack}-{logical_id}"
        description = dynamodb.create_table(**_table_request(name, props))["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
            result.ttl_attributes[logical_id] = ttl["AttributeName"]
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            dynamodb.update_continuous_backups(
                TableName=name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        refs[logical_id] = name
        result.table_names[logical_id] = name
        attributes[(logical_id, "Arn")] = description["TableArn"]
        if "LatestStreamArn" in description:
            attributes[(logical_id, "StreamArn")] = description["LatestStreamArn"]
            result.stream_arns[logical_id] = description["LatestStreamArn"]


def _queues(
    template: Template, sqs: Any, result: Provisioned, refs: dict[str, str], attributes: dict[tuple[str, str], str]
) -> None:
    queues = template.queues()
    for logical_id, props in queues.items():
        name = f"{result.stack}-{logical_id}"
        queue_attributes = {
            key: str(props[key]) for key in ("VisibilityTimeout", "MessageRetentionPeriod") if key in props
        }
        url = sqs.create_queue(QueueName=name, Attributes=queue_attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        refs[logical_id] = url
        attributes[(logical_id, "Arn")] = arn
        attributes[(logical_id, "QueueName")] = name
        attributes[(logical_id, "QueueUrl")] = url
        result.queue_urls[logical_id] = url
        result.queue_arns[logical_id] = arn
    # Redrive policies name other queues: set them once every queue exists.
    for logical_id, props in queues.items():
        if "RedrivePolicy" in props:
            policy = result.resolver(props["RedrivePolicy"])
            sqs.set_queue_attributes(
                QueueUrl=result.queue_urls[logical_id],
                Attributes={"RedrivePolicy": json.dumps(policy)},
            )
