"""The break-glass review queue: every emergency access (break glass, SAMU regulation) with
its justification and anomaly flags, each flag citing the ledger entries behind it.

Flags (thresholds in Settings):
- ``many_in_a_day``: the professional made more than N emergency requests that UTC day;
- ``no_care_relationship``: before this access, the professional was neither authorised,
  treating doctor nor author on the dossier, and had no permitted normal-mode access to it;
- ``denied_burst``: at least 5 denied requests by the professional in the 10 minutes before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.vocabulary import Effect, Mode
from ledger.entry import Appender
from models.database import UnitOfWork
from models.ledger_index import IndexedEntry

EMERGENCY_MODES = (Mode.BREAK_GLASS.value, Mode.REGULATION.value)
BURST_WINDOW = timedelta(minutes=10)
BURST_DENIALS = 5


@dataclass(frozen=True, slots=True)
class ReviewQuery:
    since: datetime | None = None
    until: datetime | None = None
    actor_id: str | None = None
    before_seq: int | None = None
    limit: int = 50
    daily_flag: int = 3


def break_glass_queue(
    uow: UnitOfWork, appender: Appender, query: ReviewQuery
) -> list[dict[str, Any]]:
    """Emergency entries newest first (at most ``limit + 1``: the caller pages), flagged."""
    found: list[IndexedEntry] = []
    for mode in EMERGENCY_MODES:
        found += uow.index.search(
            mode=mode,
            actor_id=query.actor_id,
            since=query.since,
            until=query.until,
            before_seq=query.before_seq,
            limit=query.limit + 1,
        )
    found.sort(key=lambda f: f.seq, reverse=True)
    return [_item(uow, appender, hit, query) for hit in found[: query.limit + 1]]


def _item(
    uow: UnitOfWork, appender: Appender, hit: IndexedEntry, query: ReviewQuery
) -> dict[str, Any]:
    payload = hit.entry.payload_dict() or {}
    item: dict[str, Any] = {
        "seq": hit.seq,
        "time": hit.time.isoformat(),
        "mode": hit.mode,
        "action": hit.action,
        "decision": hit.decision,
        "reason": hit.reason,
        "actor": {
            "id": hit.actor_id,
            "name": payload.get("actor_name"),
            "profession": payload.get("actor_profession"),
            "structure": payload.get("actor_structure"),
        },
        "patient_id": payload.get("patient_id"),
        "document_id": payload.get("document_id"),
        "type_code": payload.get("document_type"),
        "justification": payload.get("justification"),
        "leaf_hash": hit.entry.leaf_hash.hex(),
        "flags": [],
    }
    if hit.actor_id is None:  # erased: nothing personal left to reason about
        return item
    flags = item["flags"]
    day = hit.time.replace(hour=0, minute=0, second=0, microsecond=0)
    same_day = [
        f.seq
        for mode in EMERGENCY_MODES
        for f in uow.index.search(
            actor_id=hit.actor_id, mode=mode, since=day, until=day + timedelta(days=1), limit=500
        )
    ]
    if len(same_day) > query.daily_flag:
        flags.append(
            {
                "flag": "many_in_a_day",
                "entries": sorted(same_day),
                "detail": f"{len(same_day)} emergency requests that day "
                f"(more than {query.daily_flag})",
            }
        )
    denials = uow.index.search(
        actor_id=hit.actor_id,
        decision=Effect.DENY.value,
        since=hit.time - BURST_WINDOW,
        before_seq=hit.seq,
        limit=BURST_DENIALS + 20,
    )
    if len(denials) >= BURST_DENIALS:
        flags.append(
            {
                "flag": "denied_burst",
                "entries": sorted(f.seq for f in denials),
                "detail": f"{len(denials)} denied requests in the 10 minutes before",
            }
        )
    patient = payload.get("patient_id")
    if patient and not _had_care_relationship(uow, appender, patient, hit):
        flags.append(
            {
                "flag": "no_care_relationship",
                "entries": [hit.seq],
                "detail": "no authorisation, designation, authorship or prior normal "
                "access of this professional on this dossier",
            }
        )
    return item


def _had_care_relationship(
    uow: UnitOfWork, appender: Appender, patient: str, hit: IndexedEntry
) -> bool:
    actor = hit.actor_id or ""
    dossier = uow.dossiers.get(patient)
    if dossier is not None and (actor in dossier.authorized or actor == dossier.treating_doctor):
        return True
    documents = uow.dossiers.documents(patient)
    if any(d.author_id == actor for d in documents.values()):
        return True
    prior = uow.index.search(
        patient_ref=appender.patient_ref(patient),
        actor_id=actor,
        mode=Mode.NORMAL.value,
        decision=Effect.PERMIT.value,
        before_seq=hit.seq,
        limit=1,
    )
    return bool(prior)
