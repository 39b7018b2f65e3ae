"""``ProfessionalDirectory``: each professional as its latest verified token described it
(display name, TRE_G15 profession, specialty, structure), so that pages, the access review,
the security desk and the CLI can name people. Filled by the service from the tokens of the
calls it records; a professional never seen (authorised before any access) is absent."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.model import Actor
from models.backends import backend_of
from models.table import ProfessionalRow, table_of

_P = ProfessionalRow
_LOOKUP_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Professional:
    """One directory entry."""

    professional_id: str
    name: str | None
    profession: str | None
    specialty: str | None
    structure: str | None
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.professional_id,
            "name": self.name,
            "profession": self.profession,
            "specialty": self.specialty,
            "structure": self.structure,
            "updated_at": self.updated_at.isoformat(),
        }


def card(actor: Actor) -> tuple[str | None, str | None, str | None, str | None]:
    """What the directory keeps of a professional's token."""
    return actor.name, actor.profession, actor.specialty, actor.structure


class ProfessionalDirectory:
    """The ``professionals`` table over one session (the caller's transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def remember(self, actors: Sequence[Actor], now: datetime) -> None:
        """Insert or update each actor's entry (the last one of an id wins)."""
        rows = {
            a.id: {
                "professional_id": a.id,
                "name": a.name,
                "profession": a.profession,
                "specialty": a.specialty,
                "structure": a.structure,
                "updated_at": now,
            }
            for a in actors
        }
        if not rows:
            return
        insert = backend_of(self.session).insert(table_of(ProfessionalRow))
        insert = insert.values(list(rows.values()))
        changed = {
            name: getattr(insert.excluded, name)
            for name in ("name", "profession", "specialty", "structure", "updated_at")
        }
        self.session.execute(
            insert.on_conflict_do_update(index_elements=["professional_id"], set_=changed)
        )

    def lookup(self, ids: Collection[str]) -> dict[str, Professional]:
        """The entries of ``ids`` that exist, by id."""
        wanted = sorted({i for i in ids if i})
        found: dict[str, Professional] = {}
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            rows = self.session.execute(
                select(
                    _P.professional_id,
                    _P.name,
                    _P.profession,
                    _P.specialty,
                    _P.structure,
                    _P.updated_at,
                ).where(_P.professional_id.in_(chunk))
            )
            for row in rows:
                found[row[0]] = Professional(*row)
        return found
