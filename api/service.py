"""The use cases: authenticate → load facts → decide → change state → record → commit.

``Service.handle`` is the single path every ``/v1`` call after authentication takes. Inside one
write unit of work (which holds the ledger's append lock) it loads the facts, asks the engine,
applies the state change when permitted, appends the ledger entry and the outbox rows, and
commits. The answer is built only after the commit; any failure rolls everything back and
surfaces as an error (503 for the store), never as a permit.

The ledger is written only through ``ledger.writer.LedgerWriter``, one per unit of work
(:meth:`Service.writer`): the entries of a group commit, the erasure, the checkpoints.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from api.directory_cards import WrittenCards
from api.group_commit import GroupCommit
from api.payload import entry_payload
from engine.decide import PolicyEngine
from engine.model import (
    AccessRequest,
    BatchDecision,
    Decision,
    DocumentDecision,
    Facts,
    Obligation,
)
from engine.vocabulary import Action, ActorType, Reason
from ledger.checkpoint import SignedCheckpoint
from ledger.entry import Appender, Draft, Entry
from ledger.note import NoteSigner
from ledger.writer import LedgerWriter
from models.errors import StoreUnavailableError
from models.ports import UnitsOfWork, WriteUnit

STATE_CHANGING = frozenset(
    {
        Action.DOSSIER_CREATE,
        Action.DOSSIER_CLOSE,
        Action.DOSSIER_REOPEN,
        Action.DOSSIER_SETTINGS_UPDATE,
        Action.DOCUMENT_ADD,
        Action.DOCUMENT_UPDATE_FLAGS,
        Action.DOCUMENT_DELETE,
        Action.AUTHORIZATION_GRANT,
        Action.AUTHORIZATION_REVOKE,
        Action.BLOCK_ADD,
        Action.BLOCK_REMOVE,
        Action.TREATING_DOCTOR_SET,
        Action.TREATING_DOCTOR_UNSET,
        Action.REPRESENTATIVE_ADD,
        Action.REPRESENTATIVE_REMOVE,
        Action.OPPOSITION_ADD,
        Action.OPPOSITION_REMOVE,
    }
)

D = TypeVar("D", bound=UnitsOfWork)
"""The database: the service needs only ``UnitsOfWork`` of it; the composition root and the
routes keep its concrete type (``Service[Database]``) for their own reads."""
Effector = Callable[[Any, datetime], Any]
"""A permitted call's state change, given the unit of work the service opened (of the
database's own type: a route's effect may use all of it) and the decision's time."""
Follow = Callable[[Any, Entry, datetime], Any]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a handled request produced, after its transaction committed."""

    action: Action
    decision: Decision
    decision_id: str
    entry: Entry
    documents: tuple[DocumentDecision, ...] = ()
    facts: Facts | None = None
    result: Any = None

    @property
    def trace(self) -> dict[str, Any]:
        return {"seq": self.entry.seq, "leaf_hash": self.entry.leaf_hash.hex()}


@dataclass
class Call:
    """How to handle one request: what to change on a permit, what to do after recording."""

    request: AccessRequest
    request_id: str
    effect: Effector | None = None
    follow: Follow | None = None
    documents: bool = False  # listing or batch: per-document decisions
    extra_payload: dict[str, Any] = field(default_factory=dict)


class Service(Generic[D]):
    """The service: engine, database and keys wired together (built by ``create_app``)."""

    def __init__(
        self,
        engine: PolicyEngine,
        database: D,
        appender: Appender,
        signer: NoteSigner,
        origin: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.database = database
        self.appender = appender
        self.signer = signer  # the checkpoints' key, for the ledger ``origin``
        self.origin = origin
        self.verifier_key = str(signer.verifier)
        self.clock = clock
        self.on_checkpoint: Callable[[int, str], None] | None = None
        """Called with (size, note) once a checkpoint signed here has committed (witnessing);
        it must not raise (the commit's answer is already decided)."""
        self.group: GroupCommit[Call, Outcome] = GroupCommit(
            self._commit, not_retried=(StoreUnavailableError,)
        )
        self._cards = WrittenCards()  # directory entries this process wrote, and when

    # -- decisions ----------------------------------------------------------------------------

    def handle(self, call: Call) -> Outcome:
        """Decide, change state, record; return once the transaction holding all of it
        committed. Concurrent calls of this process are group-committed
        (``api/group_commit.py``): the leader's ``_commit`` opens a transaction, waits for
        the append lock, and only then takes every call waiting (those that arrived during
        the wait included). A group that fails is retried call by call, so one bad call
        cannot sink the others; the database away fails them all."""
        return self.group.submit(call)

    def _commit(self, take: Callable[[], list[Call]]) -> list[Outcome]:
        """One transaction: the append lock; the calls; one round trip reading the ledger's
        head and frontier, the patients' heads and the facts of every call that changes no
        dossier; each call decided (and applied) in order; the entries; the commit."""
        with self.database.unit_of_work() as uow:
            calls = take()
            ahead = [
                (i, patient, call.request)
                for i, call in enumerate(calls)
                if call.effect is None and (patient := call.request.patient_id)
            ]
            refs = {self.appender.patient_ref(p) for c in calls if (p := c.request.patient_id)}
            reads, facts = uow.read_batch(
                [(patient, r.actor, _document_ids(r)) for _, patient, r in ahead], refs
            )
            now = self.clock()
            batch = _GroupState({i: f for (i, _, _), f in zip(ahead, facts, strict=True)})
            prepared = [self._prepare(uow, i, call, now, batch) for i, call in enumerate(calls)]
            entries = self.writer(uow).append([p.draft for p in prepared], reads)
            outcomes = []
            for item, entry in zip(prepared, entries, strict=True):
                outcomes.append(self._finish(uow, item, entry, now))
            actors = [c.request.actor for c in calls]
            cards = self._cards.due(actors, now)
            uow.directory.remember([a for a in actors if a.id in cards], now)
        self._cards.written(cards)  # only once committed
        return outcomes

    def _prepare(
        self, uow: WriteUnit, position: int, call: Call, now: datetime, batch_state: _GroupState
    ) -> _Prepared:
        """Facts, decision and (when permitted) the state change of one call, in ``uow``.
        ``batch_state``: what the calls prepared before it in this batch did."""
        request = call.request
        actor = request.actor
        decision_id = str(uuid.uuid4())
        facts = batch_state.facts(position, request)
        if facts is None:  # not read ahead, or its dossier changed earlier in the batch
            facts = self._facts(uow, request)
        facts = self._count_recent(uow, request, facts, now, batch_state.counted)
        batch: BatchDecision | None = None
        if call.documents:
            batch = self.engine.decide_documents(request, facts, now)
            decision = batch.decision
            if decision.reason is Reason.RATE_LIMITED:
                batch = None  # no document decided: recorded as the request alone
        else:
            decision = self.engine.decide(request, facts, now)
        result = None
        patient = request.patient_id
        if decision.permitted and call.effect is not None:
            result = call.effect(uow, now)
            batch_state.changed.add(patient)
        if (
            decision.permitted
            and patient
            and actor.type is ActorType.PROFESSIONAL
            and request.action is not Action.DOSSIER_CREATE
            and facts.first_access
        ):
            uow.dossiers.record_access(patient, actor.id, now)
            batch_state.accessed.add((patient, actor.id))
        payload = entry_payload(
            request,
            call.request_id,
            decision_id,
            decision,
            facts,
            batch,
            self.engine.tables,
            call.extra_payload,
        )
        obligations = _all_obligations(decision, batch)
        draft = Draft(
            kind="command" if request.action in STATE_CHANGING else "decision",
            action=request.action.value,
            mode=request.mode.value,
            decision=decision.effect.value,
            reason=decision.reason.value,
            policy_version=self.engine.policy_version,
            payload=payload,
            patient_id=patient,
            obligations=[o.to_json() for o in obligations],
        )
        return _Prepared(
            call,
            decision,
            decision_id,
            facts,
            batch,
            result,
            obligations,
            draft,
        )

    def _count_recent(
        self,
        uow: WriteUnit,
        request: AccessRequest,
        facts: Facts,
        now: datetime,
        counted: Counter[tuple[str, str]],
    ) -> Facts:
        """``facts`` with ``recent``: the actor's entries that count against the request's
        rate (``PolicyEngine.rate_window``: which, and how far back), counted from the
        ledger's search columns so every instance agrees, plus the calls before it in this
        group commit. The engine decides on the number; the request counts towards the limit
        whatever it decides."""
        window = self.engine.rate_window(request)
        if window is None:
            return facts
        actor = request.actor.id
        since = window.since(now)
        seen = uow.index.count(actor_id=actor, since=since, mode=window.mode, action=window.action)
        seen += counted[(actor, window.kind)]
        counted[(actor, window.kind)] += 1
        return replace(facts, recent=seen)

    def _finish(self, uow: WriteUnit, item: _Prepared, entry: Entry, now: datetime) -> Outcome:
        """The outbox rows and the follow-up (an export) of one recorded call."""
        request = item.call.request
        patient = request.patient_id
        result = item.result
        performed = request.action not in STATE_CHANGING or item.call.effect is not None
        if item.decision.permitted and item.obligations and patient and performed:
            # a decide-only state change (POST /v1/decisions) changed nothing: nothing to notify
            document_id = item.draft.payload.get("document_id")
            uow.dossiers.add_notifications(patient, item.obligations, entry.seq, document_id, now)
        if item.call.follow is not None and item.decision.permitted:
            result = item.call.follow(uow, entry, now)
        documents = item.batch.documents if item.batch is not None else ()
        return Outcome(
            request.action, item.decision, item.decision_id, entry, documents, item.facts, result
        )

    def _facts(self, uow: WriteUnit, request: AccessRequest) -> Facts:
        if not request.patient_id:
            return Facts(None)
        return uow.dossiers.facts(request.patient_id, request.actor, _document_ids(request))

    # -- retention --------------------------------------------------------------------------

    def erase(self, patient_id: str, erased_by: str, legal_basis: str) -> tuple[Entry, int]:
        """LEDGER.md retention, in one transaction: the writer destroys the payloads and
        salts of every entry of the patient and appends the ``erasure`` entry (who, legal
        basis, how many); the dossier's state is purged; a checkpoint covers the erasure.
        Headers, chains, roots and proofs stay valid. Returns the erasure entry and the
        number of payloads destroyed."""
        with self.database.unit_of_work() as uow:
            writer = self.writer(uow)
            erased = writer.erase_patient(
                patient_id,
                erased_by=erased_by,
                legal_basis=legal_basis,
                policy_version=self.engine.policy_version,
            )
            uow.dossiers.purge(patient_id)
            writer.checkpoint()
        return erased

    # -- the ledger ---------------------------------------------------------------------------

    def writer(self, uow: WriteUnit) -> LedgerWriter:
        """The ledger writer of ``uow`` (a write unit: it holds the append lock). A checkpoint
        it signs goes to ``on_checkpoint`` (witnessing) once ``uow`` has committed."""

        def signed(checkpoint: SignedCheckpoint) -> None:
            hook = self.on_checkpoint
            if hook is not None:
                uow.after_commit(lambda: hook(checkpoint.checkpoint.size, checkpoint.note))

        return LedgerWriter(uow.ledger, self.appender, self.signer, self.origin, signed)

    def checkpoint_now(self) -> str:
        """Sign a checkpoint if entries arrived since the last one; return the latest note."""
        with self.database.unit_of_work() as uow:
            return self.writer(uow).checkpoint().note


def _document_ids(request: AccessRequest) -> Sequence[str] | None:
    """The documents whose facts a request needs (None: all, for a listing)."""
    if request.action is Action.DOCUMENT_LIST:
        return None
    if request.action is Action.DOCUMENT_ADD and request.draft is not None:
        return (request.draft.document_id,)
    return request.document_ids


@dataclass
class _GroupState:
    """What the calls of one group commit did so far, for the calls after them: facts read
    ahead stay valid until a call changes that dossier; a professional's access recorded by
    an earlier call is no longer a first access; the requests that count against a rate
    limit, by actor and rate (``RateWindow.kind``), not yet in the ledger."""

    preloaded: dict[int, Facts]
    changed: set[str | None] = field(default_factory=set)
    accessed: set[tuple[str, str]] = field(default_factory=set)
    counted: Counter[tuple[str, str]] = field(default_factory=Counter)

    def facts(self, position: int, request: AccessRequest) -> Facts | None:
        facts = self.preloaded.get(position)
        if facts is None or request.patient_id in self.changed:
            return None
        if facts.first_access and (request.patient_id, request.actor.id) in self.accessed:
            return replace(facts, first_access=False)
        return facts


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A call decided and applied inside the batch's transaction, waiting for its entry."""

    call: Call
    decision: Decision
    decision_id: str
    facts: Facts
    batch: BatchDecision | None
    result: Any
    obligations: tuple[Obligation, ...]
    draft: Draft


def _all_obligations(decision: Decision, batch: BatchDecision | None) -> tuple[Obligation, ...]:
    if not decision.permitted:
        return ()
    seen: dict[Obligation, None] = dict.fromkeys(decision.obligations)
    if batch is not None:
        for document in batch.documents:
            if document.decision.permitted:
                seen.update(dict.fromkeys(document.decision.obligations))
    return tuple(seen)
