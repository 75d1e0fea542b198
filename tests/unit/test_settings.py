"""Settings fail closed: a function whose environment lacks a variable
template.yaml sets fails at its cold start, naming the variable, instead of
falling back to a guessed table, queue, bus or secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from feedguard.settings import MissingSetting, Settings, flag, required
from infra.template import Template
from tests.unit.test_template_agreement import _settings_required_at_import, _variables_needed

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = Template.load().functions()

# Imports each handler module without each of its variables in turn, in one
# fresh interpreter (a cold start: feedguard's modules are imported anew),
# and prints what each import raised, and whether its full import loads the models.
COLD_STARTS = """
import importlib, json, os, sys
raised = {}
for module, variables in json.loads(sys.argv[1]).items():
    for name in [m for m in sys.modules if m.split(".")[0] in ("feedguard", "handlers")]:
        del sys.modules[name]
    importlib.import_module(module)
    raised[f"{module} loads the models"] = "feedguard.dal.models" in sys.modules
    for variable in variables:
        saved = os.environ.pop(variable, None)
        for name in [m for m in sys.modules if m.split(".")[0] in ("feedguard", "handlers")]:
            del sys.modules[name]
        try:
            importlib.import_module(module)
            raised[f"{module} {variable}"] = None
        except Exception as error:
            raised[f"{module} {variable}"] = [type(error).__name__, str(error)]
        if saved is not None:
            os.environ[variable] = saved
print(json.dumps(raised))
"""
TABLE_VARIABLES = sorted(v for v in Template.load().globals["Environment"]["Variables"] if v.endswith("_TABLE"))


def _handler_module(function: str) -> str:
    return FUNCTIONS[function].handler.rpartition(".")[0]


def _variables_read_at_import(function: str) -> list[str]:
    """The settings its handler module requires, and a table's variable (the
    models read every table's when imported, as most handler modules do)."""
    settings = sorted(_settings_required_at_import(FUNCTIONS[function].handler))
    return [Settings.VARIABLES[name] for name in settings] + ["KEYS_TABLE"]


@pytest.fixture(scope="module")
def cold_starts() -> dict[str, Any]:
    plan = {_handler_module(function): _variables_read_at_import(function) for function in FUNCTIONS}
    plan["feedguard.dal.models"] = TABLE_VARIABLES
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'functions'}{os.pathsep}{ROOT}"}
    result = subprocess.run(  # noqa: S603 - this interpreter, the test's own script
        [sys.executable, "-c", COLD_STARTS, json.dumps(plan)],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    raised: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return raised


def _assert_named(raised: dict[str, Any], module: str, variable: str) -> None:
    outcome = raised[f"{module} {variable}"]
    assert outcome is not None, f"{module} imports without {variable}"
    kind, message = outcome
    assert kind == "MissingSetting", outcome
    assert message.startswith(variable), outcome


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_a_cold_start_without_a_variable_the_function_reads_fails_naming_it(
    function: str, cold_starts: dict[str, Any]
) -> None:
    # Given the variables the function's module reads at import, each set (tests/conftest.py)
    # When its module is imported without each in turn / Then the import fails naming it
    module = _handler_module(function)
    for variable in _variables_read_at_import(function):
        assert os.environ.get(variable)
        if variable.endswith("_TABLE") and not cold_starts[f"{module} loads the models"]:
            # The meta function imports the API modules only to build /openapi.json
            assert cold_starts[f"{module} {variable}"] is None
            continue
        _assert_named(cold_starts, module, variable)


@pytest.mark.parametrize("variable", TABLE_VARIABLES)
def test_the_models_without_a_table_variable_fail_naming_it(variable: str, cold_starts: dict[str, Any]) -> None:
    _assert_named(cold_starts, "feedguard.dal.models", variable)


def test_a_function_that_reads_nothing_imports_with_an_empty_environment() -> None:
    # The check itself can fail: the meta function reads no setting
    assert not {v for v in _variables_needed("MetaFunction") if not v.endswith("_TABLE")}


def test_an_empty_variable_is_as_missing_as_an_absent_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCAN_QUEUE_URL", "")
    with pytest.raises(MissingSetting, match=r"^SCAN_QUEUE_URL is not set"):
        required("SCAN_QUEUE_URL")
    monkeypatch.delenv("SCAN_QUEUE_URL")
    with pytest.raises(MissingSetting, match=r"^SCAN_QUEUE_URL is not set"):
        _ = Settings().scan_queue_url


@pytest.mark.parametrize(("value", "expected"), [("0", False), ("1", True)])
def test_a_flag_is_0_or_1(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("FEEDGUARD_ALLOW_HTTP_SOURCES", value)
    assert flag("FEEDGUARD_ALLOW_HTTP_SOURCES") is expected


@pytest.mark.parametrize("value", ["true", "yes", " 1"])
def test_a_flag_with_another_value_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("FEEDGUARD_ALLOW_HTTP_SOURCES", value)
    with pytest.raises(MissingSetting, match=r"^FEEDGUARD_ALLOW_HTTP_SOURCES is"):
        _ = Settings().allow_http_sources


def test_require_refuses_a_name_that_is_no_setting() -> None:
    with pytest.raises(AttributeError, match="scan_queue"):
        Settings().require("scan_queue")
