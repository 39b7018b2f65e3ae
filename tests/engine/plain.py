"""The feature bits of a single-document request computed from the engine's public pieces, for
asking Casbin directly (uncached, or stock pycasbin in the benchmarks) what the engine's memo
answers. An oracle beside :meth:`engine.decide.PolicyEngine.decide`, which computes the same
bits inline on its hot path: where they differ, the memo and plain Casbin disagree and the
property test fails."""

from __future__ import annotations

from datetime import datetime

from engine.decide import PolicyEngine
from engine.feature import document_bits, draft_bits, request_bits
from engine.model import AccessRequest, Facts
from engine.vocabulary import DOCUMENT_ACTIONS, Action, ActorType


def subject_bits(engine: PolicyEngine, request: AccessRequest, facts: Facts, now: datetime) -> int:
    """Every feature bit of ``request`` that Casbin decides on (beside actor type, action and
    mode). Precondition: a professional's profession is a code of policy/."""
    actor = request.actor
    professional = actor.type is ActorType.PROFESSIONAL
    bits = request_bits(request, facts, now, engine.limits)
    if request.action in DOCUMENT_ACTIONS:
        readable = engine.tables.readable[actor.profession or ""] if professional else frozenset()
        document = facts.documents.get(request.document_ids[0])
        bits |= document_bits(request, document, now, readable, engine.limits)
    elif request.action is Action.DOCUMENT_ADD:
        engine.check_type(request.draft.type_code)  # type: ignore[union-attr]
        writable = engine.tables.writable[actor.profession or ""] if professional else frozenset()
        bits |= draft_bits(request, facts, writable)
    return bits
