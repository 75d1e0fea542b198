"""Finding #9 of issue 27, read from template.yaml: the API's access logs
name the calling key and never a header; the tables of what people made
and what happened outlive the stack; and the local stack provisions them as
deployed."""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.template import load_document

DOCUMENT = load_document()
RESOURCES: dict[str, Any] = DOCUMENT["Resources"]
TABLES = {name for name, resource in RESOURCES.items() if resource["Type"] == "AWS::DynamoDB::Table"}
# Tables that refill themselves: losing one loses nothing a person made.
EXPENDABLE = {
    "AnswerCacheTable": "OSS Index's answers, kept 24 hours and asked again",
    "LookupBudgetsTable": "each key's count of today's inline lookups, which expires",
}
ACCESS_LOG_FIELDS = {"requestId", "keyId", "httpMethod", "resourcePath", "status", "responseLatency", "ip"}


def access_log_format() -> dict[str, str]:
    setting = RESOURCES["Api"]["Properties"]["AccessLogSetting"]
    return dict(json.loads(setting["Format"]))


def test_access_logs_are_one_json_object_a_request_with_the_fields_to_follow_a_key() -> None:
    logged = access_log_format()
    assert logged.keys() >= ACCESS_LOG_FIELDS
    assert (logged["requestId"], logged["status"], logged["resourcePath"]) == (
        "$context.requestId",
        "$context.status",
        "$context.resourcePath",
    )


def test_access_logs_name_the_key_by_the_id_the_authorizer_puts_in_its_context(aws: Any) -> None:
    from handlers import authorizer
    from tests.support import ADMIN_KEY

    context = authorizer.identify(ADMIN_KEY)
    assert context is not None
    variable = re.fullmatch(r"\$context\.authorizer\.(\w+)", access_log_format()["keyId"])
    assert variable is not None
    assert variable.group(1) in context
    assert context[variable.group(1)] == "admin"


def test_access_logs_log_no_header_and_no_body() -> None:
    # $context.* holds no header; $input.* and $method.request.* would reach them and the body.
    text = RESOURCES["Api"]["Properties"]["AccessLogSetting"]["Format"]
    assert "authorization" not in text.lower()
    assert all(value.startswith("$context.") for value in access_log_format().values())
    assert not re.search(r"\$context\.(requestOverride|responseOverride)", text)


def test_access_logs_go_to_a_log_group_kept_as_long_as_the_functions_logs() -> None:
    setting = RESOURCES["Api"]["Properties"]["AccessLogSetting"]
    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    group = RESOURCES["ApiAccessLogGroup"]
    assert group["Type"] == "AWS::Logs::LogGroup"
    assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_stage_waits_for_the_regions_api_gateway_logging_role() -> None:
    # A stage with access logs fails to deploy until the account's CloudWatch role is set.
    assert RESOURCES["Api"]["DependsOn"] == "ApiGatewayAccount"
    account = RESOURCES["ApiGatewayAccount"]
    assert account["Type"] == "AWS::ApiGateway::Account"
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    role = RESOURCES["ApiGatewayCloudWatchRole"]
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    (policy,) = role["Properties"]["ManagedPolicyArns"]
    assert str(policy["Fn::Sub"]).endswith(":policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
    # The region's setting outlives the stack, so the role it names does too.
    assert (role["DeletionPolicy"], role["UpdateReplacePolicy"]) == ("Retain", "Retain")


@pytest.mark.parametrize("table", sorted(TABLES - EXPENDABLE.keys()))
def test_a_data_table_outlives_the_stack_and_a_replacement_and_restores_to_a_second(table: str) -> None:
    resource = RESOURCES[table]
    assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == ("Retain", "Retain")
    properties = resource["Properties"]
    assert properties.get("DeletionProtectionEnabled") is True
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_history_is_among_the_tables_kept() -> None:
    assert "HistoryTable" in TABLES - EXPENDABLE.keys()


def test_the_local_stack_provisions_the_tables_protected_as_deployed(aws: Any) -> None:
    dynamodb = boto3.client("dynamodb")
    history = aws.table_names["HistoryTable"]
    assert dynamodb.describe_table(TableName=history)["Table"]["DeletionProtectionEnabled"] is True
    with pytest.raises(ClientError, match="DeletionProtectionEnabled"):
        dynamodb.delete_table(TableName=history)
    cache = aws.table_names["AnswerCacheTable"]
    assert dynamodb.describe_table(TableName=cache)["Table"].get("DeletionProtectionEnabled") is not True
