"""The import arrows of STYLE.md: each layer imports only what it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "engine": {"flask", "jwt", "sqlalchemy", "psycopg", "api", "models", "ledger", "structlog"},
    "ledger": {"flask", "jwt", "sqlalchemy", "psycopg", "casbin", "api", "models", "engine"},
    "models": {"flask", "jwt", "api"},
    "policy": {"flask", "jwt", "sqlalchemy", "casbin", "api", "models", "ledger", "engine"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_import_arrows(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    violations = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in sorted(imported_roots(path) & FORBIDDEN[package])
    ]
    assert violations == []


def test_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import flask\nfrom sqlalchemy.orm import Session\n", encoding="utf-8")
    assert imported_roots(bad) == {"flask", "sqlalchemy"}
