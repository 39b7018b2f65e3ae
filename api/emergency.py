"""The break-glass review queue: every emergency access (break glass, SAMU regulation) with
its justification, anomaly flags (each citing the ledger entries behind it), a severity score,
its review by the security team, and the professional named from the directory.

Flags (thresholds in Settings or below):
- ``blocked_by_patient``: the request was denied because the patient blocked this
  professional (reason ``professional.blocked``);
- ``weak_justification``: a break-glass justification under 15 visible characters, or made
  only of generic words (``GENERIC_WORDS``: "urgence", "vérif", "test"…) and punctuation;
- ``minor_dossier``: the dossier is a minor's;
- ``many_in_a_day``: the professional made more than N emergency requests that UTC day;
- ``denied_burst``: at least 5 denied requests by the professional in the 10 minutes before;
- ``no_care_relationship``: a break-glass access by a professional that, before it, was neither
  authorised, treating doctor nor author on the dossier and had no permitted normal-mode access
  to it. Never raised for the regulator's ``regulation`` accesses (regulation is precisely
  the access of a doctor with no relationship).

``severity`` is the sum of the flags' weights (``WEIGHTS``, plus ``DENIED_WEIGHT`` for a denied
request): the desk ranks by it. ``review`` is the latest ``audit.review`` entry citing the
access (who, when, comment, its seq), or None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from api.free_text import visible_length
from engine.vocabulary import Action, Effect, Mode, Reason
from ledger.entry import Appender
from models.database import UnitOfWork
from models.ledger_index import IndexedEntry

EMERGENCY_MODES = (Mode.BREAK_GLASS.value, Mode.REGULATION.value)
BURST_WINDOW = timedelta(minutes=10)
BURST_DENIALS = 5
WEAK_JUSTIFICATION_CHARS = 15
GENERIC_WORDS = frozenset(
    {
        "urgence",
        "urgent",
        "urgences",
        "vérif",
        "verif",
        "vérification",
        "verification",
        "contrôle",
        "controle",
        "test",
        "tests",
        "patient",
        "patiente",
        "soins",
        "soin",
        "besoin",
        "accès",
        "acces",
        "consultation",
        "dossier",
        "ras",
        "ok",
        "pour",
        "de",
        "du",
        "la",
        "le",
        "les",
        "un",
        "une",
        "medical",
        "médical",
    }
)
WEIGHTS = {
    "blocked_by_patient": 60,
    "weak_justification": 40,
    "denied_burst": 30,
    "many_in_a_day": 20,
    "minor_dossier": 15,
    "no_care_relationship": 10,
}
DENIED_WEIGHT = 10
REVIEWS_READ = 2000  # latest audit.review entries read to know what was reviewed
STATUSES = ("to_review", "reviewed")


@dataclass(frozen=True, slots=True)
class ReviewQuery:
    since: datetime | None = None
    until: datetime | None = None
    actor_id: str | None = None
    before_seq: int | None = None
    limit: int = 50
    daily_flag: int = 3
    status: str | None = None  # "to_review", "reviewed" or None (both)


def weak_justification(text: str | None) -> bool:
    """The documented rule: under 15 visible characters (``api.free_text``: zero-width and
    other invisible characters do not count), or only generic words."""
    trimmed = (text or "").strip()
    if visible_length(trimmed) < WEAK_JUSTIFICATION_CHARS:
        return True
    words = re.findall(r"\w+", trimmed.lower())
    return all(word in GENERIC_WORDS for word in words)


def reviews(uow: UnitOfWork) -> dict[int, dict[str, Any]]:
    """The latest review of each reviewed seq, from the ``audit.review`` entries."""
    found: dict[int, dict[str, Any]] = {}
    for hit in uow.index.search(action=Action.AUDIT_REVIEW.value, limit=REVIEWS_READ):
        payload = hit.entry.payload_dict() or {}
        seq = payload.get("reviewed_seq")
        if isinstance(seq, int) and seq not in found:  # newest first: the first is the latest
            found[seq] = {
                "seq": hit.seq,
                "time": hit.time.isoformat(),
                "by": payload.get("actor_id"),
                "by_name": payload.get("actor_name"),
                "comment": payload.get("comment"),
            }
    return found


def break_glass_queue(
    uow: UnitOfWork, appender: Appender, query: ReviewQuery
) -> list[dict[str, Any]]:
    """Emergency entries newest first (at most ``limit + 1``: the caller pages), flagged,
    scored, with their review; filtered by review status when ``query.status`` is set."""
    reviewed = reviews(uow)
    items: list[dict[str, Any]] = []
    before = query.before_seq
    while len(items) <= query.limit:
        found: list[IndexedEntry] = []
        for mode in EMERGENCY_MODES:
            found += uow.index.search(
                mode=mode,
                actor_id=query.actor_id,
                since=query.since,
                until=query.until,
                before_seq=before,
                limit=query.limit + 1,
            )
        found.sort(key=lambda f: f.seq, reverse=True)
        found = found[: query.limit + 1]
        for hit in found:
            review = reviewed.get(hit.seq)
            if query.status == "reviewed" and review is None:
                continue
            if query.status == "to_review" and review is not None:
                continue
            items.append({**_item(uow, appender, hit, query), "review": review})
        if len(found) <= query.limit:
            break
        before = found[-1].seq
    named_from_directory(uow, items)
    return items[: query.limit + 1]


def named_from_directory(uow: UnitOfWork, items: list[dict[str, Any]]) -> None:
    """Give each item's professional actor the directory's latest name and profession."""
    actors = [i["actor"] for i in items if i.get("actor") and i["actor"].get("id")]
    directory = uow.directory.lookup({a["id"] for a in actors})
    for actor in actors:
        known = directory.get(actor["id"])
        if known is not None:
            actor["name"] = known.name or actor.get("name")
            actor["profession"] = known.profession or actor.get("profession")


def _flag(name: str, entries: list[int], detail: str) -> dict[str, Any]:
    return {"flag": name, "entries": entries, "detail": detail}


def _item(
    uow: UnitOfWork, appender: Appender, hit: IndexedEntry, query: ReviewQuery
) -> dict[str, Any]:
    payload = hit.entry.payload_dict() or {}
    patient = payload.get("patient_id")
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
        "patient_id": patient,
        "document_id": payload.get("document_id"),
        "type_code": payload.get("document_type"),
        "justification": payload.get("justification"),
        "leaf_hash": hit.entry.leaf_hash.hex(),
        "flags": [],
    }
    if hit.actor_id is None:  # erased: nothing personal left to reason about
        item["severity"] = 0
        return item
    flags = item["flags"]
    if hit.reason == Reason.PROFESSIONAL_BLOCKED.value:
        flags.append(
            _flag("blocked_by_patient", [hit.seq], "the patient had blocked this professional")
        )
    if hit.mode == Mode.BREAK_GLASS.value and weak_justification(item["justification"]):
        flags.append(
            _flag(
                "weak_justification",
                [hit.seq],
                f"under {WEAK_JUSTIFICATION_CHARS} characters or only generic words",
            )
        )
    dossier = uow.dossiers.get(patient) if patient else None
    if dossier is not None and dossier.minor:
        flags.append(_flag("minor_dossier", [hit.seq], "the dossier of a minor"))
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
            _flag(
                "many_in_a_day",
                sorted(same_day),
                f"{len(same_day)} emergency requests that day (more than {query.daily_flag})",
            )
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
            _flag(
                "denied_burst",
                sorted(f.seq for f in denials),
                f"{len(denials)} denied requests in the 10 minutes before",
            )
        )
    if (
        hit.mode == Mode.BREAK_GLASS.value
        and patient
        and not _had_care_relationship(uow, appender, patient, hit)
    ):
        flags.append(
            _flag(
                "no_care_relationship",
                [hit.seq],
                "no authorisation, designation, authorship or prior normal access of this "
                "professional on this dossier",
            )
        )
    denied = DENIED_WEIGHT if hit.decision == Effect.DENY.value else 0
    item["severity"] = denied + sum(WEIGHTS[f["flag"]] for f in flags)
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
