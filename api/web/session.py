"""Server-side page sessions: the ``vigie_session`` cookie names a session, it never carries
the bearer token.

Signing in stores a row (``models.web_session``) keyed by the SHA-256 of a fresh random
session id (256 bits): who signed in, the token sealed with AES-256-GCM, and when the session
ends, which is the token's ``exp`` or ``MAX_SESSION`` after sign-in, whichever comes first.
The cookie (signed by Flask) holds the session id, the form token and the language. Signing
out deletes the row, so the same cookie replayed later finds no session and is sent to the
sign-in page. A database reader learns neither a session id (only its hash) nor a token: the
sealing key is derived from the patient_ref secret with a label of its own, and each row's
hash is bound to its ciphertext (associated data), so a sealed token cannot be moved to
another row. Ended rows are purged at each sign-in.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from models.database import Database
from models.web_session import SqlWebSessions

MAX_SESSION = timedelta(hours=12)
"""The longest a page session lasts, even with a token valid for longer."""
SEAL_KEY_LABEL = b"vigie/web/session-token-seal/v1"
_NONCE_BYTES = 12


def _now() -> datetime:
    return datetime.now(UTC)


class WebSessions:
    """Open, resolve and close page sessions in ``database``; tokens sealed under a key
    derived from ``secret`` (the patient_ref secret)."""

    def __init__(
        self, database: Database, secret: bytes, clock: Callable[[], datetime] = _now
    ) -> None:
        self._database = database
        self._seal = AESGCM(hmac.new(secret, SEAL_KEY_LABEL, sha256).digest())
        self._clock = clock

    @staticmethod
    def _hash(session_id: str) -> str:
        return sha256(session_id.encode()).hexdigest()

    def open(self, token: str, actor_id: str, token_expires: datetime) -> str:
        """A new session for ``token`` (already verified), ending at ``token_expires`` or
        ``MAX_SESSION`` from now, whichever is first; returns its id (for the cookie)."""
        now = self._clock()
        session_id = secrets.token_urlsafe(32)
        id_hash = self._hash(session_id)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + self._seal.encrypt(nonce, token.encode(), id_hash.encode())
        ends = min(token_expires, now + MAX_SESSION)
        with self._database.unlocked_write() as uow:
            rows = SqlWebSessions(uow.session)
            rows.purge(now)
            rows.add(id_hash, actor_id, sealed, now, ends)
        return session_id

    def token(self, session_id: str) -> str | None:
        """The token of the live session ``session_id``; None if there is none (never
        opened, signed out, ended) or its row does not unseal."""
        id_hash = self._hash(session_id)
        with self._database.read_only() as uow:
            found = SqlWebSessions(uow.session).get(id_hash, self._clock())
        if found is None:
            return None
        nonce, sealed = found.sealed_token[:_NONCE_BYTES], found.sealed_token[_NONCE_BYTES:]
        try:
            return self._seal.decrypt(nonce, sealed, id_hash.encode()).decode()
        except (InvalidTag, ValueError):
            return None

    def close(self, session_id: str) -> None:
        """End the session ``session_id`` (nothing happens if there is none)."""
        with self._database.unlocked_write() as uow:
            SqlWebSessions(uow.session).delete(self._hash(session_id))
