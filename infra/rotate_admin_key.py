"""make rotate-admin-key: gives the deployed stack a new admin key.

Reads the stack's `AdminKeySecretArn` output, puts a new random key in that
secret (Secrets Manager makes it the AWSCURRENT version; the one before
becomes AWSPREVIOUS, which nothing reads) and prints the new key once, on
standard output and nowhere else: keep it in your password manager.

    python -m infra.rotate_admin_key [--stack feedguard] [--region us-east-1]

The stack and region default to samconfig.toml's; it uses your own AWS
credentials, as `sam deploy` does (secretsmanager:PutSecretValue on the
secret, cloudformation:DescribeStacks on the stack).

The authorizer keeps the admin key it read for ADMIN_KEY_MAX_AGE seconds
(5 minutes, handlers/authorizer.py): for up to that long after a rotation, a
warm authorizer still takes the old key and refuses the new one; after it,
only the new one works. API keys are not affected.
"""

from __future__ import annotations

import argparse
import secrets
import string
import sys
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from infra.deploy_console import samconfig_defaults

OUTPUT = "AdminKeySecretArn"
# As the template's GenerateSecretString makes the first one: 48 letters and digits.
LENGTH = 48
ALPHABET = string.ascii_letters + string.digits
# handlers/authorizer.py's ADMIN_KEY_MAX_AGE, said to the person rotating.
TAKES_EFFECT_WITHIN_SECONDS = 300


class RotationError(Exception):
    """What stops a rotation, said so a person can act on it."""


def new_key() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def secret_of(cloudformation: Any, stack: str) -> str:
    """The admin key secret's ARN, from the stack's outputs."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        raise RotationError(f"no stack {stack}: {error.response['Error'].get('Message', error)}") from None
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    if OUTPUT not in outputs:
        raise RotationError(f"stack {stack} has no output {OUTPUT}: sam build && sam deploy first")
    return str(outputs[OUTPUT])


def rotate(session: Any, stack: str) -> str:
    """Puts a new admin key in the stack's secret; returns it."""
    secret = secret_of(session.client("cloudformation"), stack)
    key = new_key()
    session.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=key)
    return key


def main(argv: list[str] | None = None) -> int:
    default_stack, default_region = samconfig_defaults()
    parser = argparse.ArgumentParser(prog="make rotate-admin-key", description="Gives the stack a new admin key.")
    parser.add_argument("--stack", default=default_stack, help=f"stack name (samconfig.toml: {default_stack})")
    parser.add_argument("--region", default=default_region, help=f"AWS region (samconfig.toml: {default_region})")
    args = parser.parse_args(argv)
    try:
        key = rotate(boto3.session.Session(region_name=args.region), args.stack)
    except (RotationError, BotoCoreError, ClientError) as error:
        print(f"rotate-admin-key: {error}", file=sys.stderr)
        return 1
    print(
        f"rotate-admin-key: the new admin key of {args.stack} follows, shown this once. The old key keeps "
        f"working, and the new one may be refused, for up to {TAKES_EFFECT_WITHIN_SECONDS // 60} minutes "
        "while warm authorizers keep the key they read.",
        file=sys.stderr,
    )
    print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
