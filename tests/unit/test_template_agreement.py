"""template.yaml and the code describe the same application: every route,
table, index, handler and stream filter in one place, checked both ways."""

from __future__ import annotations

import importlib
import json
from collections import defaultdict
from typing import Any

import pytest

from feedguard.dal.models import ALL_MODELS
from handlers import meta
from infra.filters import matches_any
from infra.template import SqsMapping, Template
from tests.support import TEST_STACK, load_event

TEMPLATE = Template.load()
FUNCTIONS = TEMPLATE.functions()


def _handler_module(function: str) -> Any:
    module_name, _, attribute = FUNCTIONS[function].handler.rpartition(".")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute)), f"{function}'s handler {attribute} is not callable"
    return module


def _served_by_code(function: str) -> set[tuple[str, str]]:
    app = _handler_module(function).app
    return {(route.method, route.openapi_path) for route in [*app._static_routes, *app._dynamic_routes]}


def _declared_in_template() -> dict[str, set[tuple[str, str]]]:
    declared: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for route in TEMPLATE.routes():
        declared[route.function].add((route.method, route.path))
    return declared


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_handler_imports(function: str) -> None:
    # Given a function of the template / When its handler module is imported / Then the handler exists
    _handler_module(function)


@pytest.mark.parametrize("function", sorted(_declared_in_template()))
def test_template_routes_and_handler_routes_are_the_same(function: str) -> None:
    # Given the routes template.yaml sends to a function
    declared = _declared_in_template()[function]
    # When we read the routes its resolver serves
    served = _served_by_code(function)
    # Then each side has exactly the other's routes
    assert declared - served == set(), f"{function}: in template.yaml but not served"
    assert served - declared == set(), f"{function}: served but missing from template.yaml (a 404 on AWS)"


def test_no_proxy_routes() -> None:
    assert not [route for route in TEMPLATE.routes() if "+}" in route.path]


def test_openapi_document_lists_every_template_route() -> None:
    document = json.loads(meta.openapi_json())
    documented = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    assert documented == {(route.method, route.path) for route in TEMPLATE.routes()}


def test_meta_merges_every_api_function() -> None:
    modules = {FUNCTIONS[function].handler.rpartition(".")[0] for function in _declared_in_template()}
    assert set(meta.API_MODULES) == modules


def test_open_routes_are_exactly_health_and_openapi() -> None:
    assert {route.path for route in TEMPLATE.routes() if route.open} == set(meta.OPEN_PATHS)


def _table_of(model: Any) -> str:
    prefix = f"{TEST_STACK}-"
    assert model.Meta.table_name.startswith(prefix), f"{model.__name__} is not named by template.yaml"
    return str(model.Meta.table_name.removeprefix(prefix))


def _key_schema(schema: list[dict[str, str]]) -> dict[str, str]:
    return {entry["KeyType"]: entry["AttributeName"] for entry in schema}


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda model: model.__name__)
def test_every_model_has_its_tables_keys_and_indexes(model: Any) -> None:
    # Given the table template.yaml declares for the model
    table = TEMPLATE.tables()[_table_of(model)]
    declared_types = {entry["AttributeName"]: entry["AttributeType"] for entry in table["AttributeDefinitions"]}
    schema = model._get_schema()
    # Then the model's keys are the table's
    assert _key_schema(schema["key_schema"]) == _key_schema(table["KeySchema"])
    # And each index the model queries exists with the same keys and projection
    declared_indexes = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
    for index in schema["global_secondary_indexes"]:
        declared = declared_indexes.get(index["index_name"])
        assert declared is not None, f"{model.__name__}.{index['index_name']} is not in template.yaml"
        assert _key_schema(index["key_schema"]) == _key_schema(declared["KeySchema"])
        assert index["projection"]["ProjectionType"] == declared["Projection"]["ProjectionType"]
    # And every key attribute has the template's type
    for definition in schema["attribute_definitions"]:
        assert declared_types[definition["AttributeName"]] == definition["AttributeType"]


@pytest.mark.parametrize("table", sorted(TEMPLATE.tables()))
def test_every_table_has_a_model_and_an_environment_variable(table: str) -> None:
    assert table in {_table_of(model) for model in ALL_MODELS}
    variables = TEMPLATE.globals["Environment"]["Variables"]
    assert {"Ref": table} in variables.values(), f"no Globals variable names {table}"


def test_assessments_ttl_attribute_is_the_models() -> None:
    from feedguard.dal.models import Assessment

    table = TEMPLATE.tables()["AssessmentsTable"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_ttl", "Enabled": True}
    assert "expires_ttl" in Assessment.get_attributes()
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"


@pytest.mark.parametrize(
    "identity",
    [
        {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        {"type": "Service"},
        {"type": "Service", "principalId": "lambda.amazonaws.com"},
        {"type": "User", "principalId": "dynamodb.amazonaws.com"},
        None,
    ],
)
def test_expiry_handler_checks_what_the_stream_filter_lets_through(identity: dict[str, str] | None) -> None:
    # Given a REMOVE record with some identity, the template's FilterCriteria and the handler's own check
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    from handlers.expiry import is_ttl_deletion

    (mapping,) = [m for m in TEMPLATE.stream_mappings() if m.function == "ExpiryFunction"]
    (record,) = load_event("stream-assessment-user-remove.json")["Records"]
    if identity is not None:
        record["userIdentity"] = identity
    # Then both let it through, or neither does
    assert matches_any(mapping.filters, record) == is_ttl_deletion(DynamoDBRecord(record))
    assert is_ttl_deletion(DynamoDBRecord(record)) == (
        identity == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    )


def _scan_worker_mapping() -> SqsMapping:
    (mapping,) = [m for m in TEMPLATE.sqs_mappings() if m.function == "ScanWorkerFunction"]
    return mapping


def test_a_scan_worker_invocation_outlasts_its_batches_and_the_queue_outlasts_it() -> None:
    """Every batch of an invocation may take as long as the OSS Index client
    allows before it gives up (its total retry time plus one request); the
    function's timeout must cover the largest batch size the template
    allows, or an OSS Index outage would kill the invocation before it
    counts its batches as failed, and the scan would never finish. The
    queue hides a message six timeouts long."""
    from feedguard import ossindex

    worker = FUNCTIONS["ScanWorkerFunction"]
    mapping = _scan_worker_mapping()
    client = ossindex.Client("https://example.invalid", ossindex.Credentials(token="-"))
    per_batch = client.max_total_seconds + client.timeout
    largest = int(TEMPLATE.parameters["ScanWorkerBatchSize"]["MaxValue"])
    assert mapping.batch_size <= largest <= 10  # above 10, Lambda needs a batching window
    assert largest * per_batch <= worker.timeout
    queue = TEMPLATE.queues()[mapping.queue]
    assert int(queue["VisibilityTimeout"]) >= 6 * worker.timeout


def test_a_scan_batch_is_counted_failed_before_the_queue_dead_letters_it() -> None:
    from handlers import scan_worker

    queue = TEMPLATE.queues()[_scan_worker_mapping().queue]
    assert int(queue["RedrivePolicy"]["maxReceiveCount"]) > scan_worker.LAST_TRY


def _settings_required_at_import(handler: str) -> set[str]:
    """The settings a handler module names in its `settings().require(...)`."""
    import ast

    from tests.unit.test_template_policy import FUNCTIONS_ROOT

    path = FUNCTIONS_ROOT.joinpath(*handler.rpartition(".")[0].split(".")).with_suffix(".py")
    return {
        argument.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "require"
        for argument in node.args
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str)
    }


def _variables_needed(function: str) -> set[str]:
    """Every variable the function's code reads: each *_TABLE if it imports
    the models (they read them all at import), and each setting it names."""
    from feedguard.settings import Settings
    from tests.unit.test_template_policy import _closure, _identifiers

    handler = FUNCTIONS[function].handler
    modules = {name for name, _ in _closure(handler.rpartition(".")[0])}
    needed = {v for v in TEMPLATE.globals["Environment"]["Variables"] if v.endswith("_TABLE")}
    needed = needed if "feedguard.dal.models" in modules else set()
    reached = (_identifiers(handler) & Settings.VARIABLES.keys()) | _settings_required_at_import(handler)
    return needed | {Settings.VARIABLES[name] for name in reached}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_variable_a_function_reads_is_in_its_environment(function: str) -> None:
    # Given the variables the function's code reads / Then template.yaml sets each for it
    missing = _variables_needed(function) - FUNCTIONS[function].environment.keys()
    assert not missing, f"{function} reads {sorted(missing)}, which its Environment does not set"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_a_handler_checks_at_import_every_setting_its_code_reaches(function: str) -> None:
    # Given the settings the handler's modules name / Then its cold start reads them all
    from feedguard.settings import Settings
    from tests.unit.test_template_policy import _identifiers

    handler = FUNCTIONS[function].handler
    reached = _identifiers(handler) & Settings.VARIABLES.keys()
    assert reached <= _settings_required_at_import(handler), f"{handler} reads these only on first use"
