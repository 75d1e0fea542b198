"""GET /health and GET /openapi.json: the two routes that need no key.

The OpenAPI document merges the schema of every API function's resolver, so
it describes the whole API although each function serves only its group."""

from __future__ import annotations

import importlib
import json
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from feedguard import __version__, api
from feedguard.observability import metrics, tracer

logger = Logger()
app = api.create_app()

# Every function that serves API routes; tests/unit/test_template_agreement.py
# checks this against template.yaml.
API_MODULES = (
    "handlers.meta",
    "handlers.keys",
    "handlers.sources",
    "handlers.assessment_types",
    "handlers.feeds",
    "handlers.scans",
    "handlers.findings",
    "handlers.gate",
)
# Served without a key (Auth: Authorizer: NONE in template.yaml).
OPEN_PATHS = ("/health", "/openapi.json")


class Health(api.ResponseModel):
    status: str


@app.get("/health", summary="Liveness", tags=["meta"], responses={200: {"description": "The service answers"}})
def health() -> Health:
    return Health(status="ok")


@app.get(
    "/openapi.json",
    summary="This document",
    tags=["meta"],
    responses={
        200: {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}
    },
)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_json())


@lru_cache(maxsize=1)
def openapi_json() -> str:
    # Imported here, not at cold start: /health must stay light.
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    merge = OpenAPIMerge(
        title="feedguard",
        version=__version__,
        description="Watches the packages of software feeds for known vulnerabilities and makes people assess them.",
        security_schemes={api.SECURITY_SCHEME: HTTPBearer(description="An API key: Authorization: Bearer <key>")},
        security=[{api.SECURITY_SCHEME: []}],
        on_conflict="error",
    )
    for module_name in API_MODULES:
        resolver = app if module_name == __name__ else importlib.import_module(module_name).app
        merge.add_schema(resolver.get_openapi_schema().model_dump(by_alias=True, exclude_none=True, mode="json"))
    document = json.loads(merge.get_openapi_json_schema())
    for path in OPEN_PATHS:
        for operation in document["paths"][path].values():
            operation["security"] = []
            operation["responses"].pop("422", None)  # nothing to validate
    return json.dumps(document)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
