"""``PolicyEngine``: the one entry point of the decision core.

Typical use::

    engine = PolicyEngine(policy.load())
    decision = engine.decide(request, facts, now)          # one request (one document at most)
    listing = engine.decide_documents(request, facts, now)  # document.list, or a batch of ids

Invalid input raises an ``InvalidRequestError`` naming the field. Any other failure while
deciding is a deny with reason ``policy.error``: the engine never fails open. The last step of
both is the rate limit (``engine/rate.py``): a request whose ``Facts.recent`` reaches its limit
is a deny ``rate.limited``, whatever the rules said (``rate_window`` says what to count).
"""

from __future__ import annotations

import logging
from datetime import datetime

from engine.errors import (
    InvalidRequestError,
    RefusedDocumentTypeError,
    UnknownDocumentTypeError,
    UnknownProfessionError,
    UnknownSpecialtyError,
)
from engine.feature import document_bits, draft_bits, request_bits
from engine.limits import FILE as LIMITS_FILE
from engine.limits import Limits
from engine.model import (
    AccessRequest,
    Actor,
    BatchDecision,
    Decision,
    Document,
    DocumentDecision,
    Facts,
)
from engine.rate import Rates, RateWindow
from engine.rule import CasbinPolicy
from engine.tables import DocumentType, Tables
from engine.vocabulary import DOCUMENT_ACTIONS, Action, ActorType, Effect, Reason
from policy import PolicySource

_log = logging.getLogger(__name__)

POLICY_ERROR = Decision(Effect.DENY, Reason.POLICY_ERROR)
RATE_LIMITED = Decision(Effect.DENY, Reason.RATE_LIMITED)
_NOTHING: frozenset[str] = frozenset()
_PROFESSIONAL = ActorType.PROFESSIONAL


class PolicyEngine:
    """Decides requests against the policy of ``source``; safe to share between threads."""

    def __init__(self, source: PolicySource) -> None:
        self.policy_version = source.version
        self.tables = Tables.parse(source.texts)
        #: The time windows, lengths and rates of policy/limits.csv, read by every decision.
        self.limits = Limits.parse(source.text(LIMITS_FILE))
        self._rates = Rates(self.limits)
        self.casbin = CasbinPolicy(
            source.text("model.conf"), source.text("rules.csv"), source.text("obligations.csv")
        )
        self._memo_get = self.casbin.lookup
        self._readable_of = self.tables.readable

    # -- public API -------------------------------------------------------------------------

    def decide(self, request: AccessRequest, facts: Facts, now: datetime) -> Decision:
        """Decide one request. For document actions the first id of ``document_ids`` counts."""
        if now.tzinfo is None:
            raise InvalidRequestError("now", "the clock must give timezone-aware datetimes")
        actor = request.actor
        if actor.type is _PROFESSIONAL:
            readable = self._readable_of.get(actor.profession)  # type: ignore[arg-type]
            if readable is None:
                readable = self._readable(request)  # raises: unknown profession
        else:
            readable = _NOTHING
        action = request.action
        try:
            limits = self.limits
            bits = request_bits(request, facts, now, limits)
            if action in DOCUMENT_ACTIONS:
                document = facts.documents.get(request.document_ids[0])
                bits |= document_bits(request, document, now, readable, limits)
            elif action is Action.DOCUMENT_ADD:
                bits |= self._draft_bits(request, facts)
            key = (actor.type, action, request.mode, bits)
            decision = self._memo_get(key)
            if decision is None:
                decision = self.casbin.enforce(*key)
        except InvalidRequestError:
            raise
        except Exception:
            _log.exception("policy evaluation failed; denying")
            decision = POLICY_ERROR
        if facts.recent and self._rates.over(request, facts):
            return RATE_LIMITED
        return decision

    def decide_documents(
        self, request: AccessRequest, facts: Facts, now: datetime
    ) -> BatchDecision:
        """Per-document decisions without re-deciding the request for each document.

        For ``document.list`` the documents are every document of ``facts`` and the outcome of
        each is its ``document.read`` decision (a permitted listing omits the rest silently).
        For a batch (``document_ids`` with a document action) each id gets its own decision;
        the request-level decision is a permit when at least one document is permitted.
        """
        if now.tzinfo is None:
            raise InvalidRequestError("now", "the clock must give timezone-aware datetimes")
        self._readable(request)
        try:
            batch = self._decide_documents(request, facts, now)
        except InvalidRequestError:
            raise
        except Exception:
            _log.exception("policy evaluation failed; denying")
            ids = request.document_ids or tuple(facts.documents)
            batch = BatchDecision(
                POLICY_ERROR, tuple(DocumentDecision(i, POLICY_ERROR) for i in ids)
            )
        if facts.recent and self._rates.over(request, facts):
            return BatchDecision(RATE_LIMITED, ())  # no document decided
        return batch

    def rate_window(self, request: AccessRequest) -> RateWindow | None:
        """Which of the actor's entries count against ``request``'s rate limit: the caller
        counts them (the engine does no I/O) into ``Facts.recent``. None: no limit applies."""
        return self._rates.window(request)

    def check_codes(self, actor: Actor) -> None:
        """Raise if the actor's ``profession`` or ``specialty`` is not a code of policy/
        (TRE_G15, TRE_R38; deprecated codes are known). The one check of those claims."""
        tables = self.tables
        if actor.type is ActorType.PROFESSIONAL and actor.profession not in tables.professions:
            raise UnknownProfessionError(
                "profession", actor.profession, "a TRE_G15 code of policy/professions.csv"
            )
        if actor.specialty is not None and actor.specialty not in tables.specialties:
            raise UnknownSpecialtyError(
                "specialty", actor.specialty, "a TRE_R38 code of policy/specialties.csv"
            )

    def check_type(self, type_code: str) -> DocumentType:
        """The accepted type ``type_code``; raises naming the code and policy/'s file."""
        kind = self.tables.document_types.get(type_code)
        if kind is not None:
            return kind
        reason = self.tables.refused.get(type_code)
        if reason is not None:
            raise RefusedDocumentTypeError("type_code", type_code, reason)
        raise UnknownDocumentTypeError(
            "type_code", type_code, "a JDV_J66 code of policy/document_types.csv"
        )

    # -- internals --------------------------------------------------------------------------

    def _readable(self, request: AccessRequest) -> frozenset[str]:
        """The types the actor may read; raises for a professional of unknown profession."""
        actor = request.actor
        if actor.type is not ActorType.PROFESSIONAL:
            return _NOTHING
        readable = self.tables.readable.get(actor.profession or "")
        if readable is None:
            self.check_codes(actor)
        assert readable is not None  # check_codes raised for an unknown profession
        return readable

    def _draft_bits(self, request: AccessRequest, facts: Facts) -> int:
        draft = request.draft
        assert draft is not None  # AccessRequest guarantees it for document.add
        self.check_type(draft.type_code)
        actor = request.actor
        writable = (
            self.tables.writable[actor.profession or ""]
            if actor.type is ActorType.PROFESSIONAL
            else _NOTHING
        )
        return draft_bits(request, facts, writable)

    def _decide_documents(
        self, request: AccessRequest, facts: Facts, now: datetime
    ) -> BatchDecision:
        actor_type, mode = request.actor.type, request.mode
        limits = self.limits
        base = request_bits(request, facts, now, limits)
        decide = self.casbin.enforce
        readable = self._readable(request)
        documents = facts.documents
        if request.action is Action.DOCUMENT_LIST:
            overall = decide(actor_type, request.action, mode, base)
            if not overall.permitted:
                return BatchDecision(overall, ())
            per_action = Action.DOCUMENT_READ
            ids: tuple[str, ...] = tuple(
                i for i, d in documents.items() if d.status.value == "active"
            )
        else:
            overall = None
            per_action = request.action
            ids = request.document_ids
        results = []
        any_permit = False
        missing: Document | None = None
        for document_id in ids:
            document = documents.get(document_id, missing)
            bits = base | document_bits(request, document, now, readable, limits)
            decision = decide(actor_type, per_action, mode, bits)
            any_permit = any_permit or decision.permitted
            results.append(DocumentDecision(document_id, decision))
        if overall is None:
            overall = _summary(results, any_permit)
        return BatchDecision(overall, tuple(results))


def _summary(results: list[DocumentDecision], any_permit: bool) -> Decision:
    """A batch's request-level decision: the first permit if any, else the first deny."""
    for result in results:
        if result.decision.permitted == any_permit:
            return result.decision
    return Decision(Effect.DENY, Reason.DOCUMENT_NOT_FOUND)
