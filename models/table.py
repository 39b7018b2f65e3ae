"""The tables (plural snake case): dossier state, the notification outbox and the ledger.

Dossier tables hold the state of POLICY.md §2. Ledger tables hold what ``ledger.store``
needs; the search columns of ``ledger_entries`` (time, kind, ..., decision_id) are copies made
at append time for queries only: verification reads ``header`` and never trusts them.
"""

from __future__ import annotations

from typing import Annotated, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, Blob, Code, FlagFalse, FlagTrue, Hex64, Ident, UtcTime

_DOSSIER_FK = "dossiers.patient_id"
DossierKey = Annotated[
    str,
    mapped_column(String(128), ForeignKey(_DOSSIER_FK, ondelete="CASCADE"), primary_key=True),
]
"""The patient id that keys a dossier's child row: part of its primary key, and a foreign key
to its dossier that deletes the row with it."""


class DossierRow(Base):
    """One DMP: status, minor flag, treating doctor and the holder's emergency settings."""

    __tablename__ = "dossiers"
    __table_args__ = (CheckConstraint("status IN ('open', 'closed')", name="status"),)

    patient_id: Mapped[Ident] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(8), default="open")
    closed_at: Mapped[UtcTime | None]
    minor: Mapped[FlagFalse]
    treating_doctor: Mapped[Ident | None]
    break_glass_allowed: Mapped[FlagTrue]
    regulation_allowed: Mapped[FlagTrue]
    emergency_sees_masked: Mapped[FlagFalse]
    created_at: Mapped[UtcTime]
    updated_at: Mapped[UtcTime]


class AuthorizationRow(Base):
    """A PS the patient consented to, or that declared itself authorized."""

    __tablename__ = "dossier_authorizations"

    patient_id: Mapped[DossierKey]
    professional_id: Mapped[Ident] = mapped_column(primary_key=True)
    self_declared: Mapped[FlagFalse]
    granted_at: Mapped[UtcTime]


class BlockRow(Base):
    """A PS the patient blocked."""

    __tablename__ = "dossier_blocks"

    patient_id: Mapped[DossierKey]
    professional_id: Mapped[Ident] = mapped_column(primary_key=True)
    blocked_at: Mapped[UtcTime]


class OppositionRow(Base):
    """A PS the patient opposed, for a legitimate reason, to feed the record."""

    __tablename__ = "dossier_oppositions"

    patient_id: Mapped[DossierKey]
    professional_id: Mapped[Ident] = mapped_column(primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text)
    opposed_at: Mapped[UtcTime]


class RepresentativeRow(Base):
    """A legal representative registered on a minor's dossier."""

    __tablename__ = "dossier_representatives"

    patient_id: Mapped[DossierKey]
    person_id: Mapped[Ident] = mapped_column(primary_key=True)
    added_at: Mapped[UtcTime]


class DocumentRow(Base):
    """Document metadata (never content) and its visibility flags."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'deleted')", name="status"),
        Index(None, "patient_id", "author_id"),
    )

    patient_id: Mapped[DossierKey]
    document_id: Mapped[Ident] = mapped_column(primary_key=True)
    type_code: Mapped[Code]
    class_code: Mapped[Code]
    author_id: Mapped[Ident]
    author_type: Mapped[Code]
    deposited_at: Mapped[UtcTime]
    status: Mapped[str] = mapped_column(String(8), default="active")
    masked: Mapped[FlagFalse]
    invisible_to_patient: Mapped[FlagFalse]
    invisible_to_representatives: Mapped[FlagFalse]
    representatives_flag_cleared: Mapped[FlagFalse]


class ProfessionalAccessRow(Base):
    """The first permitted access of a PS to a dossier (POLICY.md ``notify.first_access``)."""

    __tablename__ = "professional_accesses"

    patient_id: Mapped[DossierKey]
    professional_id: Mapped[Ident] = mapped_column(primary_key=True)
    first_at: Mapped[UtcTime]


class ProfessionalRow(Base):
    """The professional directory: what the latest verified token of each professional said
    (display name, TRE_G15 profession, specialty, structure) and when that last changed."""

    __tablename__ = "professionals"

    professional_id: Mapped[Ident] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(256))
    profession: Mapped[Code | None]
    specialty: Mapped[Code | None]
    structure: Mapped[str | None] = mapped_column(String(256))
    updated_at: Mapped[UtcTime]


class NotificationRow(Base):
    """One obligation of POLICY.md §6 written to the dossier's outbox, in the transaction of
    the entry that caused it; ``status`` goes from ``pending`` to ``delivered`` (with
    ``delivered_at``) once the broker confirmed it (``models.outbox``, migration 0004)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index(None, "patient_id", "id"),
        Index(
            "ix_notifications_pending",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    patient_id: Mapped[Ident] = mapped_column(ForeignKey(_DOSSIER_FK, ondelete="CASCADE"))
    type: Mapped[Code]
    recipients: Mapped[list[str]] = mapped_column(JSON)
    document_id: Mapped[Ident | None]
    entry_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[UtcTime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    delivered_at: Mapped[UtcTime | None]


class LedgerEntryRow(Base):
    """One ledger entry: canonical header, payload and salt (null once erased), leaf hash."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("patient_ref", "patient_seq"),
        Index(None, "patient_ref", "seq"),
        Index(None, "actor_id", "seq"),
        Index(None, "time"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    header: Mapped[Blob]
    payload: Mapped[Blob | None]
    salt: Mapped[Blob | None]
    leaf_hash: Mapped[Blob]
    patient_ref: Mapped[Hex64 | None]
    patient_seq: Mapped[int | None] = mapped_column(BigInteger)
    time: Mapped[UtcTime]
    kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[Code]
    mode: Mapped[Code]
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[Code]
    actor_id: Mapped[Ident | None]
    actor_type: Mapped[Code | None]
    document_id: Mapped[Ident | None]
    decision_id: Mapped[Code | None]


class MerkleNodeRow(Base):
    """The root hash of the perfect subtree ``(level, idx)`` (``ledger.merkle``)."""

    __tablename__ = "merkle_nodes"
    __table_args__ = (
        # the key carries the hash on PostgreSQL: node lookups are index-only (migration 0002)
        PrimaryKeyConstraint("level", "idx", postgresql_include=["hash"]),
        {"sqlite_with_rowid": False},
    )

    level: Mapped[int] = mapped_column(SmallInteger, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, autoincrement=False)
    hash: Mapped[Blob]


class LedgerHeadRow(Base):
    """The single row (id 1) holding the ledger size and last leaf hash. Locking it is the
    append lock: every writing unit of work takes it first, so the chain cannot fork."""

    __tablename__ = "ledger_heads"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    leaf_hash: Mapped[Blob | None]


class CheckpointRow(Base):
    """A signed checkpoint note, kept forever, in signing order."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    root: Mapped[Blob]
    note: Mapped[str] = mapped_column(Text)
    signed_at: Mapped[UtcTime]


class CosignatureRow(Base):
    """A witness's cosignature (C2SP cosignature/v1 note line) of the checkpoint of ``size``
    leaves, kept beside it; ``cosigned_at`` is the witness's timestamp (POSIX seconds)."""

    __tablename__ = "ledger_cosignatures"
    __table_args__ = (PrimaryKeyConstraint("size", "witness"),)

    size: Mapped[int] = mapped_column(BigInteger)
    witness: Mapped[Ident]
    line: Mapped[str] = mapped_column(Text)
    cosigned_at: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[UtcTime]


class WebSessionRow(Base):
    """A signed-in page session (``api.web.session``): the SHA-256 of its random id (the
    cookie holds the id, never the token), whose session it is, the bearer token sealed with
    AES-GCM under a key derived from the patient_ref secret, and when it ends (never later
    than the token's ``exp``). Signing out deletes the row."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index(None, "expires_at"),)

    id_hash: Mapped[Hex64] = mapped_column(primary_key=True)
    actor_id: Mapped[Ident]
    sealed_token: Mapped[Blob]
    created_at: Mapped[UtcTime]
    expires_at: Mapped[UtcTime]


def table_of(model: type[Base]) -> Table:
    """The Core table of a mapped class (for bulk and dialect-specific inserts)."""
    return cast(Table, model.__table__)
