"""make rotate-admin-key under moto: a deployed stack's AdminKeySecretArn
output, the template's secret, and the authorizer reading it."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from feedguard.settings import settings
from handlers import authorizer
from infra import rotate_admin_key
from infra.rotate_admin_key import RotationError, rotate
from tests.support import ADMIN_KEY, TEST_STACK

STACK = "feedguard-rotation-test"


def a_stack(outputs: dict[str, str]) -> None:
    """A stack with these outputs (moto evaluates literal values)."""
    template = {
        "Resources": {"Handle": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"{STACK}-handle"}}},
        "Outputs": {name: {"Value": value} for name, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))


@pytest.fixture
def deployed(aws: Any) -> str:
    """The stack's admin key secret: the one the authorizer reads."""
    secret = boto3.client("secretsmanager").describe_secret(SecretId=settings().admin_key_secret)["ARN"]
    a_stack({"AdminKeySecretArn": secret})
    return str(secret)


def current(secret: str, stage: str = "AWSCURRENT") -> str:
    return str(boto3.client("secretsmanager").get_secret_value(SecretId=secret, VersionStage=stage)["SecretString"])


def test_rotation_puts_a_new_random_key_in_the_stacks_secret(deployed: str) -> None:
    key = rotate(boto3.session.Session(region_name="us-east-1"), STACK)
    assert current(deployed) == key != ADMIN_KEY
    assert len(key) == rotate_admin_key.LENGTH
    assert key.isalnum()
    assert current(deployed, "AWSPREVIOUS") == ADMIN_KEY
    assert rotate(boto3.session.Session(region_name="us-east-1"), STACK) != key


def test_once_the_authorizers_cache_ends_only_the_new_key_is_the_admin(deployed: str) -> None:
    # Given a warm authorizer that has read the key
    assert authorizer.identify(ADMIN_KEY) == {"key_id": "admin", "key_name": "admin", "admin": "true"}
    # When the key is rotated
    key = rotate(boto3.session.Session(region_name="us-east-1"), STACK)
    # Then, for as long as it keeps what it read, the old key still works (the documented delay)
    assert authorizer.identify(ADMIN_KEY) is not None
    assert authorizer.ADMIN_KEY_MAX_AGE == rotate_admin_key.TAKES_EFFECT_WITHIN_SECONDS
    # And once its cache has ended (a cold start, or ADMIN_KEY_MAX_AGE later), only the new one does
    parameters.clear_caches()
    assert authorizer.identify(key) == {"key_id": "admin", "key_name": "admin", "admin": "true"}
    assert authorizer.identify(ADMIN_KEY) is None


def test_the_command_prints_the_key_once_on_standard_output_only(
    deployed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rotate_admin_key.main(["--stack", STACK, "--region", "us-east-1"]) == 0
    out, err = capsys.readouterr()
    key = current(deployed)
    assert out == f"{key}\n"
    assert key not in err
    assert "5 minutes" in err


def test_a_stack_without_the_output_changes_nothing(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    a_stack({"ApiUrl": "https://example.invalid/v1"})
    with pytest.raises(RotationError, match="AdminKeySecretArn"):
        rotate(boto3.session.Session(region_name="us-east-1"), STACK)
    assert rotate_admin_key.main(["--stack", STACK]) == 1
    assert "no output AdminKeySecretArn" in capsys.readouterr().err
    assert current(f"{TEST_STACK}/AdminKeySecret") == ADMIN_KEY


def test_an_unknown_stack_is_said_so(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert rotate_admin_key.main(["--stack", "no-such-stack", "--region", "us-east-1"]) == 1
    assert "no stack no-such-stack" in capsys.readouterr().err
