"""Bad input is named precisely; internal failures deny; the policy is data."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

import policy
from engine.decide import PolicyEngine
from engine.errors import (
    InvalidRequestError,
    MissingFieldError,
    PolicyLoadError,
    UnknownActionError,
    UnknownActorTypeError,
    UnknownDocumentTypeError,
    UnknownModeError,
    UnknownProfessionError,
)
from engine.model import AccessRequest, Actor, DocumentDraft, Dossier, Facts
from engine.vocabulary import Reason
from tests.engine.sample import PROFESSIONS, TABLE_NOW, TYPES, make_mix, request_and_facts

NURSE = Actor("899700218896", "professional", profession="60")


@pytest.mark.parametrize(
    ("build", "error", "field"),
    [
        (lambda: AccessRequest(NURSE, "document.peek", "P1"), UnknownActionError, "action"),
        (
            lambda: AccessRequest(NURSE, "dossier.read", "P1", mode="panic"),
            UnknownModeError,
            "mode",
        ),
        (lambda: Actor("x", "doctor"), UnknownActorTypeError, "actor_type"),
        (lambda: Actor("", "patient"), MissingFieldError, "sub"),
        (lambda: Actor("899700218896", "professional"), MissingFieldError, "profession"),
        (lambda: AccessRequest(NURSE, "dossier.read", None), MissingFieldError, "patient_id"),
        (lambda: AccessRequest(NURSE, "document.read", "P1"), MissingFieldError, "document_id"),
        (lambda: AccessRequest(NURSE, "document.add", "P1"), MissingFieldError, "document"),
        (lambda: AccessRequest(NURSE, "block.add", "P1"), MissingFieldError, "target_id"),
        (lambda: AccessRequest(NURSE, "dossier.create", "P1"), MissingFieldError, "consent"),
        (
            lambda: Actor.from_claims({"sub": "P1", "actor_type": "patient", "roles": "x"}),
            Exception,
            "roles",
        ),
    ],
)
def test_bad_input_names_the_field(build, error, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error) as caught:
        build()
    assert caught.value.field == field  # type: ignore[attr-defined]


def test_unknown_profession_and_type_are_rejected(engine: PolicyEngine) -> None:
    facts = Facts(Dossier("P1"))
    with pytest.raises(UnknownProfessionError) as caught:
        engine.decide(
            AccessRequest(Actor("8", "professional", profession="77"), "dossier.read", "P1"),
            facts,
            TABLE_NOW,
        )
    assert caught.value.field == "profession"
    with pytest.raises(UnknownDocumentTypeError):
        engine.decide(
            AccessRequest(NURSE, "document.add", "P1", draft=DocumentDraft("D", "XYZ")),
            facts,
            TABLE_NOW,
        )


def test_a_failure_inside_the_engine_is_a_deny(engine: PolicyEngine) -> None:
    row = {"dossier": "adult", "actor": "nurse", "action": "document.read", "document": "bio"}
    request, facts = request_and_facts({**row, "documents": ["bio"]})
    assert engine.decide(request, facts, TABLE_NOW).permitted
    broken = Facts(facts.dossier, {"bio": object()})  # type: ignore[dict-item]
    decision = engine.decide(request, broken, TABLE_NOW)
    assert not decision.permitted
    assert decision.reason is Reason.POLICY_ERROR
    with pytest.raises(InvalidRequestError, match="now"):
        engine.decide(request, facts, datetime(2026, 1, 1))  # a naive clock
    listing = engine.decide_documents(
        AccessRequest(request.actor, "document.list", "P1"), broken, TABLE_NOW
    )
    assert not listing.decision.permitted


def copy_policy(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(policy.DIRECTORY, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return target


def test_changing_a_matrix_cell_needs_no_code(tmp_path: Path) -> None:
    folder = copy_policy(tmp_path)
    matrix = folder / "habilitation.csv"
    text = matrix.read_text(encoding="utf-8")
    cell = "60,68599-0,0,0,ARR23"
    assert cell in text
    matrix.write_text(text.replace(cell, "60,68599-0,1,1,provisional"), encoding="utf-8")
    changed = policy.load(folder)
    assert changed.version != policy.load().version
    row = {
        "dossier": "adult",
        "documents": ["psy"],
        "actor": "nurse",
        "action": "document.read",
        "document": "psy",
    }
    request, facts = request_and_facts(row)
    assert not PolicyEngine(policy.load()).decide(request, facts, TABLE_NOW).permitted
    assert PolicyEngine(changed).decide(request, facts, TABLE_NOW).permitted


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        ("rules.csv", "allow, patient.owner", "allow, patient.boss", "rules.csv:"),
        ("rules.csv", "!holder,", "!holdr,", "unknown feature 'holdr'"),
        ("rules.csv", "p, 300, patient,", "p, 300, patiente,", "unknown ActorType patiente"),
        ("habilitation.csv", "60,68599-0,0,0,ARR23", "60,68599-0,0,0,maybe", "habilitation.csv:"),
        ("habilitation.csv", "60,68599-0,0,0,ARR23", "61,68599-0,0,0,ARR23", "unknown profession"),
        ("obligations.csv", "notify.first_access", "notify.nothing", "obligations.csv:"),
    ],
)
def test_a_malformed_policy_file_is_named(tmp_path: Path, name, old, new, message) -> None:  # type: ignore[no-untyped-def]
    folder = copy_policy(tmp_path)
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PolicyLoadError, match=message):
        PolicyEngine(policy.load(folder))


def test_matrix_confirmed_cells_are_marked_arr23(engine: PolicyEngine) -> None:
    sources = engine.tables.sources
    assert sources[("60", "68599-0")] == "ARR23"
    assert sources[("10", "ATTEST-RESID")] == "ARR23"
    assert sources[("21", "57833-6")] == "provisional"
    assert "ATTEST-RESID" not in engine.tables.readable["10"]
    assert "REMB" not in engine.tables.writable["21"]
    assert "REMB" in engine.tables.readable["21"]


def test_the_sample_mix_draws_on_the_whole_vocabulary(engine: PolicyEngine) -> None:
    assert set(TYPES) == set(engine.tables.document_types)
    assert set(PROFESSIONS) == set(engine.tables.professions)
    mix = make_mix(2000)
    assert len({r.actor.profession for r, _ in mix if r.actor.profession}) == 30
