"""Invariants of the policy, over random requests and facts."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.decide import PolicyEngine
from engine.model import AccessRequest, Facts
from engine.vocabulary import (
    CONTRACT_REASONS,
    Action,
    ActorType,
    DossierStatus,
    Effect,
    Mode,
    Reason,
)
from tests.engine.plain import subject_bits
from tests.engine.sample import NOW, facts, requests

MANY = settings(max_examples=400, deadline=None)


@MANY
@given(requests(), facts())
def test_a_blocked_professional_is_never_permitted(
    engine: PolicyEngine, request: AccessRequest, given_facts: Facts
) -> None:
    if request.actor.type is not ActorType.PROFESSIONAL or given_facts.dossier is None:
        return
    dossier = replace(given_facts.dossier, blocked=given_facts.dossier.blocked | {request.actor.id})
    decision = engine.decide(request, replace(given_facts, dossier=dossier), NOW)
    assert not decision.permitted


def _deny_causing_changes(facts_: Facts, request: AccessRequest) -> list[Facts]:
    dossier = facts_.dossier
    if dossier is None:
        return []
    ps = request.actor.id
    changed = [
        replace(dossier, blocked=dossier.blocked | {ps}),
        replace(dossier, authorized=dossier.authorized - {ps}),
        replace(dossier, settings=replace(dossier.settings, break_glass_allowed=False)),
        replace(dossier, settings=replace(dossier.settings, regulation_allowed=False)),
        replace(dossier, settings=replace(dossier.settings, emergency_sees_masked=False)),
        replace(dossier, feeding_oppositions=dossier.feeding_oppositions | {ps}),
    ]
    if request.action is not Action.DOSSIER_REOPEN:
        changed.append(replace(dossier, status=DossierStatus.CLOSED, closed_at=NOW))
    return [replace(facts_, dossier=d) for d in changed]


@MANY
@given(requests(), facts())
def test_a_deny_causing_fact_never_turns_a_deny_into_a_permit(
    engine: PolicyEngine, request: AccessRequest, given_facts: Facts
) -> None:
    before = engine.decide(request, given_facts, NOW)
    for after_facts in _deny_causing_changes(given_facts, request):
        after = engine.decide(request, after_facts, NOW)
        if not before.permitted:
            assert not after.permitted, (before, after)


@MANY
@given(requests(Action.DOCUMENT_READ), facts())
def test_masked_documents_stay_hidden_from_other_professionals(
    engine: PolicyEngine, request: AccessRequest, given_facts: Facts
) -> None:
    request = replace(request, mode=Mode.NORMAL)
    document = given_facts.documents.get(request.document_ids[0])
    dossier = given_facts.dossier
    if document is None or dossier is None or request.actor.type is not ActorType.PROFESSIONAL:
        return
    masked = {document.document_id: replace(document, masked=True)}
    decision = engine.decide(request, replace(given_facts, documents=masked), NOW)
    is_author = document.author_id == request.actor.id
    if not is_author and request.actor.id != dossier.treating_doctor:
        assert not decision.permitted


@MANY
@given(requests(Action.DOCUMENT_LIST), facts())
def test_a_listing_equals_the_per_document_decisions(
    engine: PolicyEngine, request: AccessRequest, given_facts: Facts
) -> None:
    listing = engine.decide_documents(request, given_facts, NOW)
    if not listing.decision.permitted:
        assert listing.permitted_ids == ()
        return
    expected = []
    for document_id, document in given_facts.documents.items():
        read = replace(request, action=Action.DOCUMENT_READ, document_ids=(document_id,))
        if document.status.value == "active" and engine.decide(read, given_facts, NOW).permitted:
            expected.append(document_id)
    assert list(listing.permitted_ids) == expected


@MANY
@given(requests(), facts())
def test_decisions_are_deterministic_and_use_contract_reasons(
    engine: PolicyEngine, request: AccessRequest, given_facts: Facts
) -> None:
    first = engine.decide(request, given_facts, NOW)
    assert engine.decide(request, given_facts, NOW) == first
    assert first.reason in CONTRACT_REASONS | {Reason.AGENT_CREATE, Reason.DOCUMENT_EXISTS}
    if first.effect is Effect.DENY:
        assert first.obligations == ()


@MANY
@given(requests(), facts())
def test_the_memo_answers_exactly_what_casbin_answers(
    engine: PolicyEngine, request: AccessRequest, given_facts: Facts
) -> None:
    bits = subject_bits(engine, request, given_facts, NOW)
    memo = engine.decide(request, given_facts, NOW)
    plain = engine.casbin.enforce_uncached(request.actor.type, request.action, request.mode, bits)
    assert memo == plain


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 1 << 35),
    st.sampled_from(list(ActorType)),
    st.sampled_from(list(Action)),
    st.sampled_from(list(Mode)),
)
def test_memo_equals_casbin_on_arbitrary_feature_vectors(
    engine: PolicyEngine, bits: int, actor_type: ActorType, action: Action, mode: Mode
) -> None:
    assert engine.casbin.enforce(actor_type, action, mode, bits) == engine.casbin.enforce_uncached(
        actor_type, action, mode, bits
    )
