"""GET /health and GET /openapi.json: the two routes that need no key.

The OpenAPI document merges the schema of every API function's resolver, so
it describes the whole API although each function serves only its group."""

from __future__ import annotations

import importlib
import json
import os
from functools import lru_cache
from typing import Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Field

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
    "handlers.exceptions",
    "handlers.vulnerabilities",
    "handlers.gate",
    "handlers.decisions",
)
# Served without a key (Auth: Authorizer: NONE in template.yaml).
OPEN_PATHS = ("/health", "/openapi.json")


class Health(api.ResponseModel):
    model_config = api.examples({"status": "ok"})

    status: Literal["ok"] = Field(description="Always ok: the API answers")


@app.get(
    "/health",
    summary="Liveness",
    description="Answers without a key and without reading any table: that the API and its function answer.",
    tags=["meta"],
    responses={200: {"description": "The service answers"}},
)
def health() -> Health:
    return Health(status="ok")


DOCUMENT_EXAMPLE = {
    "openapi": "3.1.0",
    "info": {"title": "feedguard", "version": __version__},
    "servers": [{"url": "."}],
    "paths": {"/health": {"get": {"summary": "Liveness"}}},
}


@app.get(
    "/openapi.json",
    summary="This document",
    description="The OpenAPI 3.1 document of the whole API, without a key. docs/openapi.json in the repository is "
    "the same document; the console's TypeScript types are generated from it.",
    tags=["meta"],
    responses={
        200: {
            "description": "OpenAPI 3 document",
            "content": {
                "application/json": {
                    "schema": {"type": "object"},
                    "examples": {"document": {"value": DOCUMENT_EXAMPLE}},
                }
            },
        }
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
    document["servers"] = servers(os.environ["API_STAGE_NAME"])
    _drop_unused_schemas(document)
    return json.dumps(document)


def servers(stage: str) -> list[dict[str, Any]]:
    """Where the API is. First relative to where this document was read,
    which is the API's base in every case: the stage's path on API
    Gateway's own URL (…/v1/openapi.json), the console's CloudFront
    address, whose origin path is the stage (/openapi.json), and the local
    stack, which serves at the root as `sam local start-api` does."""
    return [
        {"url": ".", "description": "The API that served this document"},
        {
            "url": "https://{api_id}.execute-api.{region}.amazonaws.com/{stage}",
            "description": "A deployment, by API Gateway's own URL (the stack's ApiUrl output)",
            "variables": {
                "api_id": {"default": "abcdef1234", "description": "The REST API's id"},
                "region": {"default": "us-east-1", "description": "The AWS region of the stack"},
                "stage": {"default": stage, "description": "The stage (template.yaml's StageName)"},
            },
        },
    ]


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Powertools adds its own validation error schemas to every resolver's
    document; feedguard answers 422 with ErrorBody, so nothing refers to them."""
    schemas = document["components"]["schemas"]
    while True:
        text = json.dumps(document["paths"]) + json.dumps(schemas)
        unused = [name for name in schemas if f'"#/components/schemas/{name}"' not in text]
        if not unused:
            return
        for name in unused:
            del schemas[name]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
