"""The page sessions' rows (table ``web_sessions``), read and written in the caller's
transaction. What a row holds is opaque here: ``api.web.session`` seals the token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models.table import WebSessionRow

_W = WebSessionRow


@dataclass(frozen=True, slots=True)
class StoredSession:
    actor_id: str
    sealed_token: bytes
    expires_at: datetime


class SqlWebSessions:
    """Rows of ``web_sessions`` keyed by the SHA-256 (hex) of the session id."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        id_hash: str,
        actor_id: str,
        sealed_token: bytes,
        created_at: datetime,
        expires_at: datetime,
    ) -> None:
        self.session.add(
            _W(
                id_hash=id_hash,
                actor_id=actor_id,
                sealed_token=sealed_token,
                created_at=created_at,
                expires_at=expires_at,
            )
        )

    def get(self, id_hash: str, now: datetime) -> StoredSession | None:
        """The session ``id_hash`` names, unless it is unknown or ended by ``now``."""
        row = self.session.execute(
            select(_W.actor_id, _W.sealed_token, _W.expires_at).where(
                _W.id_hash == id_hash, _W.expires_at > now
            )
        ).first()
        return None if row is None else StoredSession(str(row[0]), bytes(row[1]), row[2])

    def delete(self, id_hash: str) -> None:
        self.session.execute(delete(_W).where(_W.id_hash == id_hash))

    def purge(self, now: datetime) -> int:
        """Delete every session ended by ``now``; the number deleted."""
        result = self.session.execute(delete(_W).where(_W.expires_at <= now))
        return int(getattr(result, "rowcount", 0) or 0)
