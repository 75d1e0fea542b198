"""REQUEST authorizer: `Authorization: Bearer <key>` is the admin key or a live
API key; anything else is API Gateway's 401. The key's id and name reach the
handlers in requestContext.authorizer."""

from __future__ import annotations

import hmac
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from feedguard import keys, usage_keys
from feedguard.access import ADMIN_ID
from feedguard.dal import keys as key_store
from feedguard.observability import metrics, tracer
from feedguard.settings import settings

logger = Logger()
# A cold start without one of these fails, naming its variable.
settings().require("admin_key_secret")

# Admin key rotations reach warm functions within this many seconds.
ADMIN_KEY_MAX_AGE = 300


class Unauthorized(Exception):
    """API Gateway turns exactly this message into its 401 gateway response."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def _admin_key() -> str:
    return str(parameters.get_secret(settings().admin_key_secret, max_age=ADMIN_KEY_MAX_AGE))


def _header(headers: dict[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


def identify(presented: str) -> dict[str, str] | None:
    """The authorizer context for a presented key, or None when it is not valid."""
    if hmac.compare_digest(keys.hash_key(presented), keys.hash_key(_admin_key())):
        return {"key_id": ADMIN_ID, "key_name": "admin", "admin": "true"}
    key_id = keys.key_id_of(presented)
    if key_id is None:
        return None
    stored = key_store.find(key_id)
    if stored is None or not keys.matches(presented, stored.key_hash):
        return None
    return {"key_id": stored.id, "key_name": stored.name, "admin": "false"}


def _allow(principal_id: str, method_arn: str, context: dict[str, str]) -> dict[str, Any]:
    # Allow every route of this stage: the decision does not depend on the
    # route, and a narrower resource would be wrong if caching were ever enabled.
    api_arn = "/".join(method_arn.split("/")[:2]) + "/*"
    return {
        "principalId": principal_id,
        # The key's API Gateway key: its usage plan throttles it (feedguard.usage_keys).
        "usageIdentifierKey": usage_keys.value_of(principal_id),
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": api_arn}],
        },
        "context": context,
    }


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    token = keys.bearer_token(_header(event.get("headers"), "authorization"))
    identity = identify(token) if token else None
    if identity is None:
        logger.info("key refused", extra={"path": event.get("path")})
        raise Unauthorized()
    logger.append_keys(key_id=identity["key_id"])
    return _allow(identity["key_id"], event["methodArn"], identity)
