"""The pages with a reader of their own (``AccessRequest.view``) are decided by the engine
(rules.csv 1090-1092), not filtered by their route: the access review and the notifications
are for the holder, a registered representative and the treating doctor, the overview for the
holder side; every other reader the plain read would let in is denied ``actor.not_allowed``,
and a denial keeps its own reason."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.decide import PolicyEngine
from engine.errors import InvalidRequestError
from engine.model import AccessRequest, Actor, Decision, Facts
from engine.vocabulary import Action, Effect, Reason, View
from tests.engine.sample import NOW, TABLE_NOW, facts, request_and_facts, requests

READERS = {
    View.ACCESS_REVIEW: (Action.DOSSIER_READ, {"patient.owner", "representative.minor",
                                               "professional.treating_doctor"}),
    View.NOTIFICATIONS: (Action.DOSSIER_READ, {"patient.owner", "representative.minor",
                                               "professional.treating_doctor"}),
    View.OVERVIEW: (Action.TRACES_READ, {"patient.owner", "representative.minor"}),
}  # fmt: skip


def expected(plain: Decision, allowed: set[str]) -> tuple[Effect, Reason]:
    """What the page's reader rule means, stated over the plain read's decision."""
    if plain.permitted and plain.reason.value not in allowed:
        return Effect.DENY, Reason.ACTOR_NOT_ALLOWED
    return plain.effect, plain.reason


@settings(max_examples=400)
@given(st.sampled_from(list(View)), requests(), facts())
def test_a_page_is_read_by_its_readers_only(
    engine: PolicyEngine, view: View, request: AccessRequest, facts: Facts
) -> None:
    action, allowed = READERS[view]
    plain = engine.decide(replace(request, action=action), facts, NOW)
    paged = engine.decide(replace(request, action=action, view=view), facts, NOW)
    assert (paged.effect, paged.reason) == expected(plain, allowed)


@pytest.mark.parametrize(
    ("actor", "mode", "view", "reason"),
    [
        ("holder", "normal", View.ACCESS_REVIEW, Reason.PATIENT_OWNER),
        ("mt", "normal", View.ACCESS_REVIEW, Reason.PROFESSIONAL_TREATING_DOCTOR),
        ("gp2", "normal", View.ACCESS_REVIEW, Reason.ACTOR_NOT_ALLOWED),
        ("stranger", "break_glass", View.NOTIFICATIONS, Reason.ACTOR_NOT_ALLOWED),
        ("mt", "break_glass", View.NOTIFICATIONS, Reason.ACTOR_NOT_ALLOWED),
        ("blocked", "normal", View.NOTIFICATIONS, Reason.PROFESSIONAL_BLOCKED),
        ("holder", "normal", View.OVERVIEW, Reason.PATIENT_OWNER),
        ("mt", "normal", View.OVERVIEW, Reason.ACTOR_NOT_ALLOWED),
        ("auditor", "normal", View.OVERVIEW, Reason.ACTOR_NOT_ALLOWED),
    ],
)
def test_who_reads_each_page(
    engine: PolicyEngine, actor: str, mode: str, view: View, reason: Reason
) -> None:
    action = READERS[view][0]
    row = {"dossier": "adult", "actor": actor, "action": action.value, "mode": mode}
    if mode == "break_glass":
        row["justification"] = "Patient inconscient aux urgences"
    request, facts = request_and_facts(row)
    decision = engine.decide(replace(request, view=view), facts, TABLE_NOW)
    assert decision.reason is reason
    assert decision.permitted is (reason.value in READERS[view][1])


def test_an_unknown_view_is_named() -> None:
    with pytest.raises(InvalidRequestError, match="view"):
        AccessRequest(Actor("P1", "patient"), "dossier.read", "P1", view="everything")
