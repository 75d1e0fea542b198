"""The layering docs/architecture.md states, checked on the imports: the
rules of findings are pure, the DAL knows no source's client, and nothing
above the DAL (handlers, use cases) reads a PynamoDB model: the DAL returns
the domain's frozen dataclasses."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def imported(path: Path) -> set[str]:
    """Every module the file imports, anywhere in it (late imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def reaches(path: Path, prefixes: tuple[str, ...]) -> set[str]:
    return {name for name in imported(path) if name.startswith(prefixes)}


@pytest.mark.parametrize("module", ["findings_plan.py", "domain.py", "effects.py", "scanplan.py"])
def test_the_rules_and_the_domain_touch_no_aws_and_no_storage(module: str) -> None:
    assert (
        reaches(FUNCTIONS / "feedguard" / module, ("feedguard.dal", "boto", "pynamodb", "feedguard.ossindex")) == set()
    )


@pytest.mark.parametrize("path", sorted((FUNCTIONS / "feedguard" / "dal").glob("*.py")), ids=lambda p: p.name)
def test_the_data_access_layer_imports_no_sources_client(path: Path) -> None:
    assert reaches(path, ("feedguard.ossindex", "feedguard.scanner", "feedguard.recording")) == set()


ABOVE_THE_DAL = sorted((FUNCTIONS / "handlers").glob("*.py")) + sorted((FUNCTIONS / "feedguard").glob("*.py"))


@pytest.mark.parametrize("path", ABOVE_THE_DAL, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_handlers_and_use_cases_read_the_domains_types_not_models(path: Path) -> None:
    assert reaches(path, ("feedguard.dal.models", "pynamodb")) == set()


def test_the_use_cases_are_among_the_modules_checked() -> None:
    checked = {path.name for path in ABOVE_THE_DAL}
    assert {"gate.py", "scanner.py", "scanning.py", "recording.py", "findings_plan.py", "api.py"} <= checked
    assert {"feeds.py", "scans.py", "sources.py", "gate.py", "scan_worker.py"} <= {
        path.name for path in ABOVE_THE_DAL if path.parent.name == "handlers"
    }
