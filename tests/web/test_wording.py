"""Every action and every reason id has its French and English sentences (kept as data in
api/web/actions.csv and reasons.csv), and a trace item reads as one sentence with names."""

from __future__ import annotations

import pytest

from api.web.wording import Namer, actions, outcome, reasons
from engine.vocabulary import Action, Reason

NAMER = Namer(
    {"810000000001": {"name": "Dr Chloé Durand", "profession": "10"}},
    {"10": "Médecin", "60": "Infirmier"},
    "P1",
    "fr",
)


@pytest.mark.parametrize("action", [a.value for a in Action])
def test_every_action_has_its_sentences(action: str) -> None:
    row = actions().get(action)
    assert row is not None, f"api/web/actions.csv has no row for {action}"
    assert all(row[c].strip() for c in row), f"{action}: an empty column in {row}"


@pytest.mark.parametrize("reason", [r.value for r in Reason])
def test_every_reason_has_its_sentences(reason: str) -> None:
    row = reasons().get(reason)
    assert row is not None, f"api/web/reasons.csv has no row for {reason}"
    assert row["fr"].strip() and row["en"].strip()


def _item(**fields: object) -> dict[str, object]:
    base = {"action": "document.read", "decision": "permit", "reason": "x", "mode": "normal"}
    return {**base, **fields}


def test_items_read_as_sentences() -> None:
    durand = {"id": "810000000001", "type": "professional", "name": "old name"}
    read = _item(actor=durand, document_id="DOC-1", document_type="11490-0")
    assert NAMER.sentence(read, "CR hospitalier (séjour)") == (
        "Dr Chloé Durand (Médecin) a consulté « CR hospitalier (séjour) »"
    )
    blocked = _item(actor=durand, decision="deny", reason="professional.blocked")
    assert (
        NAMER.sentence(blocked, "Synthèse")
        == "Dr Chloé Durand (Médecin) a demandé à consulter « Synthèse »"
    )
    assert outcome(blocked, "fr") == "Refusé : vous avez bloqué ce professionnel"
    me = {"id": "P1", "type": "patient", "name": "Claire Martin"}
    folded = _item(actor=me, action="traces.read", repeat=5)
    assert NAMER.sentence(folded, "") == "Vous avez consulté votre dossier · 5 fois"
    grant = _item(actor=me, action="authorization.grant", target_id="810002345678")
    assert NAMER.sentence(grant, "") == (
        "Vous avez autorisé 810002345678 (pas encore connecté) à accéder à votre dossier"
    )
    declared = _item(actor=durand, action="authorization.grant", target_id="810000000001")
    assert NAMER.sentence(declared, "") == (
        "Dr Chloé Durand (Médecin) s'est déclaré autorisé à accéder au dossier"
    )


def test_a_name_with_its_own_parentheses() -> None:
    namer = Namer(
        {"R": {"name": "Dr Karim Haddad (SAMU 75)", "profession": "10"}},
        {"10": "Médecin"},
        None,
        "fr",
    )
    assert namer.professional("R") == "Dr Karim Haddad (SAMU 75, Médecin)"
