"""models/backends.py: each backend states every difference, the id lists it binds hold any
text on both backends, and no other module of models/ compares the backend's name."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from engine.model import DocumentDraft, DossierSettings
from models.backends import Backend, PostgreSQL, SQLite, backend_named
from models.database import Database
from tests.models.conftest import DOCTOR, T0

MODELS = Path(__file__).resolve().parents[2] / "models"
NAMES = frozenset({"postgresql", "sqlite"})
# The URL parsing names the backend; the migrations (models/migrations/) are not scanned.
ALLOWED = {"backends.py", "connection.py"}


def test_each_backend_states_every_difference() -> None:
    """Every class attribute the base declares and every method it leaves abstract is given
    by both backends: a difference added to one cannot be forgotten in the other."""
    declared = set(inspect.get_annotations(Backend))
    abstract = set(Backend.__abstractmethods__)
    assert {"pipelines", "locks_head_row", "patient_heads_sql"} <= declared
    assert {"engine", "in_list", "listed", "nodes_by_key", "begin_options"} <= abstract
    for backend in (PostgreSQL, SQLite):
        assert all(hasattr(backend, name) for name in declared), backend
        assert all(name in vars(backend) for name in abstract), backend
        assert not inspect.isabstract(backend), backend
    assert isinstance(backend_named("postgresql"), PostgreSQL)
    assert isinstance(backend_named("sqlite"), SQLite)
    with pytest.raises(KeyError):
        backend_named("mysql")


def test_id_lists_bind_any_text(db: Database) -> None:
    """The ids a read binds as a list (``= ANY`` on PostgreSQL, ``json_each`` on SQLite)
    match exactly, whatever characters they hold."""
    odd = ["D,1", 'D"2', "D'3", "D[4]", "Dé5", "D 6", "D\\7"]
    with db.unit_of_work() as unit:
        repo = unit.dossiers
        repo.create("P1", minor=False, representatives=[], settings=DossierSettings(), now=T0)
        for document_id in [*odd, "plain"]:
            repo.add_document("P1", DocumentDraft(document_id, "11502-2"), "10", DOCTOR, T0)
    with db.read_only() as unit:
        assert sorted(unit.dossiers.documents("P1", odd)) == sorted(odd)
        assert list(unit.dossiers.documents("P1", ["D,1", "D"])) == ["D,1"]
        facts = unit.dossiers.facts("P1", DOCTOR, ['D"2', "nope"])
        assert list(facts.documents) == ['D"2']


def name_comparisons(source: str) -> list[int]:
    """The lines of ``source`` that compare something with a backend's name."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and o.value in NAMES for o in operands):
                lines.append(node.lineno)
    return lines


def test_no_module_but_backends_compares_the_backend_name() -> None:
    found = {
        path.name: name_comparisons(path.read_text(encoding="utf-8"))
        for path in sorted(MODELS.glob("*.py"))
        if path.name not in ALLOWED
    }
    assert len(found) > 10
    assert {name: lines for name, lines in found.items() if lines} == {}


def test_checker_sees_a_comparison_with_a_backend_name() -> None:
    source = 'if backend == "postgresql":\n    pass\nx = "sqlite" != name\ny = z == "other"\n'
    assert name_comparisons(source) == [1, 3]
