"""Test settings that must exist before any feedguard module is imported:
fake AWS credentials, and the table names template.yaml would pass."""

from __future__ import annotations

import os

from infra.template import Template
from tests.support import TEST_STACK

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "feedguard",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_DEV": "false",
        # As the local stack: the fake OSS Index is on 127.0.0.1 (tests of the refusal set it to 0)
        "FEEDGUARD_ALLOW_PRIVATE_SOURCES": "1",
    }
)
for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
    os.environ.pop(variable, None)

# Each Globals variable that is a Ref to a table names that table, as deployed;
# those with a plain value (the metrics namespace among them) have it, unless set above.
_template = Template.load()
for _name, _value in _template.globals["Environment"]["Variables"].items():
    if isinstance(_value, dict) and _value.get("Ref") in _template.tables():
        os.environ[_name] = f"{TEST_STACK}-{_value['Ref']}"
    elif isinstance(_value, str):
        os.environ.setdefault(_name, _value)
os.environ["ADMIN_KEY_SECRET"] = f"{TEST_STACK}/AdminKeySecret"
os.environ["API_STAGE_NAME"] = _template.parameter_defaults()["StageName"]
os.environ["GATE_LOOKUP_BUDGET_PER_KEY"] = _template.parameter_defaults()["GateLookupBudgetPerKey"]
os.environ["SCAN_RETRY_SECONDS"] = _template.parameter_defaults()["ScanBatchRetrySeconds"]
os.environ["EXPIRING_WARNING_DAYS"] = _template.parameter_defaults()["ExpiringWarningDays"]
os.environ["USAGE_KEY_PREFIX"] = f"{TEST_STACK}-feedguard-usage-"
os.environ["USAGE_PLAN_NAME"] = f"{TEST_STACK}-per-key"
os.environ["SOURCE_SECRET_PREFIX"] = f"{TEST_STACK}/sources/"
os.environ["EVENT_BUS_NAME"] = f"{TEST_STACK}-findings"
os.environ["SCAN_QUEUE_URL"] = f"https://sqs.us-east-1.amazonaws.com/123456789012/{TEST_STACK}-ScanQueue"
os.environ["SCAN_REQUEST_QUEUE_URL"] = f"https://sqs.us-east-1.amazonaws.com/123456789012/{TEST_STACK}-ScanRequestQueue"
os.environ["FEED_PURGE_QUEUE_URL"] = f"https://sqs.us-east-1.amazonaws.com/123456789012/{TEST_STACK}-FeedPurgeQueue"
