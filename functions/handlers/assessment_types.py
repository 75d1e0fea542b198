"""Assessment types: POST/GET /assessment-types, GET/PATCH/DELETE
/assessment-types/{id}. The built-ins come from code and cannot be changed
or deleted; any valid key may read the types, only the admin change them.

A type's optional `vex_status` and `vex_justification` say what a VEX export
(GET /feeds/{feed}/vex, docs/vex.md) states of the findings assessed with it.
A `vex_justification` goes only with `vex_status: not_affected`: any other
pair, as sent or as a PATCH would leave the type, is 422 and changes nothing."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

from feedguard import api, effects, vex
from feedguard.access import require_admin
from feedguard.dal import assessment_types as type_store
from feedguard.domain import Effect
from feedguard.effects import AssessmentType
from feedguard.errors import InvalidInput
from feedguard.observability import metrics, tracer

logger = Logger()
app = api.create_app()

VexStatus = Literal["not_affected", "affected", "fixed", "under_investigation"]
VexJustification = Literal[
    "component_not_present",
    "vulnerable_code_not_present",
    "vulnerable_code_not_in_execute_path",
    "vulnerable_code_cannot_be_controlled_by_adversary",
    "inline_mitigations_already_exist",
]
VEX_STATUS_FIELD = Field(
    default=None, description="What a VEX export states of findings assessed with this type (an OpenVEX status)"
)
VEX_JUSTIFICATION_FIELD = Field(
    default=None, description="An OpenVEX justification; only with vex_status not_affected (422 otherwise)"
)
# A name makes the type's id (a slug of it), so it needs a letter or digit
# (create_type says so; the document's pattern asks for an ASCII one).
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(json_schema_extra={"pattern": "[A-Za-z0-9]"}),
]
Description = Annotated[str, StringConstraints(max_length=1000)]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]


def _whole(value: object) -> object:
    # JSON has one number type: 30.0 is 30, as JSON Schema's integer says.
    return int(value) if isinstance(value, float) and value.is_integer() else value


MAX_EXPIRATION_DAYS = 3650
Days = Annotated[int, BeforeValidator(_whole), Field(ge=1, le=MAX_EXPIRATION_DAYS)]
NAME_FIELD = "What people call it; its id is a slug of it"
DESCRIPTION_FIELD = "When to use it"
EFFECT_FIELD = "What a finding assessed with it does at the gate: allow < warn < block"
DAYS_FIELD = (
    f"Assessments with it expire after this many days (1-{MAX_EXPIRATION_DAYS}) unless given expires_at; null: never"
)
COLOR_FIELD = "Its colour in the console, #rrggbb"
AUTO_FIELD = "Newly detected findings scored in this CVSS range are assessed with it by actor auto"
# A justification goes only with not_affected (the handlers' _check_vex; a
# PATCH may also rely on the status the type has).
JUSTIFICATION_NEEDS_NOT_AFFECTED: JsonDict = {
    "if": {"properties": {"vex_justification": {"type": "string"}}, "required": ["vex_justification"]},
    "then": {"properties": {"vex_status": {"const": "not_affected"}}, "required": ["vex_status"]},
}
TypeIdPath = Annotated[
    str, Path(description="The type's id: a built-in's or a slug of a custom type's name", examples=["caution"])
]
# CVSS scores carry one decimal: more precision is rounded away, which also
# keeps values DynamoDB cannot store (2.2e-313 is below its 1e-130) out.
Score = Annotated[
    float,
    Field(ge=0, le=10, description="A CVSS score, 0-10, rounded to one decimal"),
    AfterValidator(lambda score: round(score, 1)),
]


class AutoAssess(api.RequestModel):
    # min_cvss <= max_cvss is checked below: JSON Schema cannot compare two fields.
    min_cvss: Score = Field(description="The lowest score assessed, 0-10, not above max_cvss (422)")
    max_cvss: Score = Field(description="The highest score assessed, 0-10")

    @model_validator(mode="after")
    def ordered(self) -> AutoAssess:
        if self.min_cvss > self.max_cvss:
            raise ValueError("min_cvss must not be above max_cvss")
        return self


class NewAssessmentType(api.RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            **JUSTIFICATION_NEEDS_NOT_AFFECTED,
            "examples": [
                {
                    "name": "Accepted risk",
                    "description": "Reviewed by security; revisit at the next release.",
                    "effect": "allow",
                    "expiration_days": 30,
                    "color": "#2e7d32",
                    "auto_assess": {"min_cvss": 0.0, "max_cvss": 3.9},
                    "vex_status": "not_affected",
                    "vex_justification": "vulnerable_code_not_in_execute_path",
                }
            ],
        }
    )

    name: Name = Field(description=NAME_FIELD)
    description: Description | None = Field(default=None, description=DESCRIPTION_FIELD)
    effect: Effect = Field(description=EFFECT_FIELD)
    expiration_days: Days | None = Field(default=None, description=DAYS_FIELD)
    color: Color | None = Field(default=None, description=COLOR_FIELD)
    auto_assess: AutoAssess | None = Field(default=None, description=AUTO_FIELD)
    vex_status: VexStatus | None = VEX_STATUS_FIELD
    vex_justification: VexJustification | None = VEX_JUSTIFICATION_FIELD


class AssessmentTypeChanges(api.RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            **JUSTIFICATION_NEEDS_NOT_AFFECTED,
            "examples": [{"expiration_days": 60, "color": "#f9a825"}],
        }
    )

    # name and effect cannot be null (422), so the document does not offer it.
    name: Name | SkipJsonSchema[None] = Field(default=None, description=NAME_FIELD + " (the id stays)")
    description: Description | None = Field(default=None, description=DESCRIPTION_FIELD + "; null clears it")
    effect: Effect | SkipJsonSchema[None] = Field(default=None, description=EFFECT_FIELD)
    expiration_days: Days | None = Field(default=None, description=DAYS_FIELD)
    color: Color | None = Field(default=None, description=COLOR_FIELD + "; null clears it")
    auto_assess: AutoAssess | None = Field(default=None, description=AUTO_FIELD + "; null stops it")
    vex_status: VexStatus | None = VEX_STATUS_FIELD
    vex_justification: VexJustification | None = VEX_JUSTIFICATION_FIELD


class AutoAssessView(api.ResponseModel):
    min_cvss: float = Field(description="The lowest score assessed")
    max_cvss: float = Field(description="The highest score assessed")


class AssessmentTypeView(api.ResponseModel):
    model_config = api.examples(
        {
            "id": "caution",
            "name": "Caution",
            "description": None,
            "effect": "warn",
            "expiration_days": 90,
            "color": None,
            "auto_assess": None,
            "vex_status": "affected",
            "vex_justification": None,
            "builtin": True,
            "created_at": None,
        }
    )

    id: str = Field(description="What assessments name it by: a built-in's id or a slug of the name")
    name: str = Field(description=NAME_FIELD)
    description: str | None = Field(description=DESCRIPTION_FIELD)
    effect: Effect | None = Field(description="null for unassessed: the feed's unassessed_effect applies")
    expiration_days: int | None = Field(description="Days until assessments with it expire; null: never")
    color: str | None = Field(description=COLOR_FIELD)
    auto_assess: AutoAssessView | None = Field(description=AUTO_FIELD + "; null: none")
    vex_status: VexStatus | None = Field(description="What a VEX export states of findings assessed with this type")
    vex_justification: VexJustification | None = Field(description="The OpenVEX justification, with not_affected")
    builtin: bool = Field(description="A built-in type: unassessed, ignore, caution, blocked (cannot be deleted)")
    created_at: api.Timestamp | None = Field(description="When it was created; null for the built-ins")


def view(kind: AssessmentType) -> AssessmentTypeView:
    auto = None
    if kind.auto_assess_min is not None and kind.auto_assess_max is not None:
        auto = AutoAssessView(min_cvss=kind.auto_assess_min, max_cvss=kind.auto_assess_max)
    return AssessmentTypeView(
        id=kind.id,
        name=kind.name,
        description=kind.description,
        effect=kind.effect,  # type: ignore[arg-type]
        expiration_days=kind.expiration_days,
        color=kind.color,
        auto_assess=auto,
        vex_status=kind.vex_status,  # type: ignore[arg-type]
        vex_justification=kind.vex_justification,  # type: ignore[arg-type]
        builtin=kind.builtin,
        created_at=kind.created_at,
    )


@app.post(
    "/assessment-types",
    status_code=201,
    summary="Create an assessment type (admin)",
    description="A custom kind of decision with its own effect and default expiry, optionally assessing new "
    "findings in a CVSS range and stating a VEX status. 409 when a type with the same id exists.",
    tags=["assessment types"],
    responses=api.responses(201, "The type; its id is a slug of its name", 400, 403, 409, 413),
)
def create_type(body: NewAssessmentType) -> AssessmentTypeView:
    """A vex_justification without vex_status not_affected is 422."""
    require_admin(api.principal(app))
    _check_vex(body.vex_status, body.vex_justification)
    type_id = effects.slug(body.name)
    if not type_id:
        raise InvalidInput("The name needs at least one letter or digit, to make the type's id.")
    created = type_store.create(
        AssessmentType(
            id=type_id,
            name=body.name,
            effect=body.effect,
            expiration_days=body.expiration_days,
            description=body.description,
            color=body.color,
            auto_assess_min=body.auto_assess.min_cvss if body.auto_assess else None,
            auto_assess_max=body.auto_assess.max_cvss if body.auto_assess else None,
            vex_status=body.vex_status,
            vex_justification=body.vex_justification,
        )
    )
    logger.info("assessment type created", extra={"type_id": created.id})
    return view(created)


@app.get(
    "/assessment-types",
    summary="List assessment types, built-ins first",
    description="Any valid key may read them.",
    tags=["assessment types"],
    responses=api.responses(200, "A page of types"),
)
def list_types(limit: api.Limit = api.DEFAULT_LIMIT, cursor: api.Cursor = None) -> api.ListBody[AssessmentTypeView]:
    api.principal(app)
    page = type_store.list_page(limit, cursor)
    return api.ListBody[AssessmentTypeView](items=[view(kind) for kind in page.items], next_cursor=page.next_cursor)


@app.get(
    "/assessment-types/<id>",
    summary="An assessment type",
    description="Any valid key may read it.",
    tags=["assessment types"],
    responses=api.responses(200, "The type", 404),
)
def get_type(id: TypeIdPath) -> AssessmentTypeView:  # noqa: A002 - the contract names it id
    api.principal(app)
    return view(type_store.get(id))


@app.patch(
    "/assessment-types/<id>",
    summary="Change a custom assessment type (admin)",
    description="Only the fields sent change. Assessments already made keep their effect and expiry. The "
    "built-ins are 409.",
    tags=["assessment types"],
    responses=api.responses(200, "The type", 400, 403, 404, 409, 413),
)
def update_type(id: TypeIdPath, body: AssessmentTypeChanges) -> AssessmentTypeView:  # noqa: A002
    """Only the fields sent change. A vex_justification the type would be
    left with beside a vex_status other than not_affected is 422 (send
    `"vex_justification": null` with the new status)."""
    require_admin(api.principal(app))
    sent = body.model_fields_set
    for required in ("name", "effect"):
        if required in sent and getattr(body, required) is None:
            raise InvalidInput(f"{required} cannot be null.")
    changes: dict[str, Any] = {
        name: getattr(body, name)
        for name in ("name", "description", "effect", "expiration_days", "color", "vex_status", "vex_justification")
        if name in sent
    }
    if {"vex_status", "vex_justification"} & sent and id not in effects.BUILTIN_TYPES:
        current = type_store.get(id)
        _check_vex(
            changes.get("vex_status", current.vex_status), changes.get("vex_justification", current.vex_justification)
        )
    if "auto_assess" in sent:
        changes["auto_assess_min"] = body.auto_assess.min_cvss if body.auto_assess else None
        changes["auto_assess_max"] = body.auto_assess.max_cvss if body.auto_assess else None
    updated = type_store.update(id, changes)
    logger.info("assessment type updated", extra={"type_id": id, "fields": sorted(sent)})
    return view(updated)


def _check_vex(status: str | None, justification: str | None) -> None:
    problem = vex.type_fields_problem(status, justification)
    if problem:
        raise InvalidInput(problem, [{"loc": ["body", "vex_justification"], "type": "value_error", "msg": problem}])


@app.delete(
    "/assessment-types/<id>",
    status_code=204,
    summary="Delete a custom assessment type not in use (admin)",
    description="409 while an assessment in force uses it, and for the built-ins.",
    tags=["assessment types"],
    responses=api.responses(204, "Deleted", 403, 404, 409),
)
def delete_type(id: TypeIdPath) -> Response[None]:  # noqa: A002
    require_admin(api.principal(app))
    type_store.delete(id)
    logger.info("assessment type deleted", extra={"type_id": id})
    return Response(status_code=204)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return api.resolve(app, event, context)
