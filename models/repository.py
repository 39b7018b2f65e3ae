"""``DossierRepository``: the dossier state of POLICY.md §2, read as engine facts (its reads,
``models.dossier_reads.DossierReads``) and changed by the service after a permit. Every
method runs in the caller's session and transaction.

Mutations that API.md makes idempotent (PUT/DELETE) return whether anything changed and
succeed when the state is already as asked. Preconditions: the dossier exists (the engine
said so under the append lock); a missing dossier or document raises ConflictError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, or_, select, update

from engine.model import Actor, Document, DocumentDraft, DossierSettings, FlagChange, Obligation
from engine.vocabulary import DocumentStatus, DossierStatus
from models.backends import backend_of
from models.dossier_reads import DossierReads
from models.errors import ConflictError
from models.record import document_values
from models.table import (
    AuthorizationRow,
    BlockRow,
    DocumentRow,
    DossierRow,
    NotificationRow,
    OppositionRow,
    ProfessionalAccessRow,
    RepresentativeRow,
    table_of,
)

SETTING_NAMES = frozenset(f.name for f in fields(DossierSettings))
_D = DossierRow
_DOC = DocumentRow


class DossierRepository(DossierReads):
    """Dossier state over one SQLAlchemy session: its reads (``DossierReads``) and its
    changes (see the module docstring)."""

    # -- dossier -----------------------------------------------------------------------------

    def create(
        self,
        patient_id: str,
        *,
        minor: bool,
        representatives: Sequence[str],
        settings: DossierSettings,
        now: datetime,
    ) -> None:
        """Create an open dossier with its representatives. ConflictError if it exists."""
        if self._exists(patient_id):
            raise ConflictError(f"dossier {patient_id!r} already exists")
        self.session.execute(
            table_of(DossierRow).insert(),
            {
                "patient_id": patient_id,
                "status": DossierStatus.OPEN.value,
                "closed_at": None,
                "minor": minor,
                "treating_doctor": None,
                "break_glass_allowed": settings.break_glass_allowed,
                "regulation_allowed": settings.regulation_allowed,
                "emergency_sees_masked": settings.emergency_sees_masked,
                "created_at": now,
                "updated_at": now,
            },
        )
        people = sorted(set(representatives))
        if people:
            self.session.execute(
                table_of(RepresentativeRow).insert(),
                [{"patient_id": patient_id, "person_id": p, "added_at": now} for p in people],
            )

    def _update_dossier(self, patient_id: str, values: dict[str, Any], *where: Any) -> bool:
        result = self.session.execute(
            update(DossierRow)
            .where(_D.patient_id == patient_id, *where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return True
        self._require(patient_id)
        return False

    def _exists(self, patient_id: str) -> bool:
        found = self.session.scalar(select(_D.patient_id).where(_D.patient_id == patient_id))
        return found is not None

    def _require(self, patient_id: str) -> None:
        if not self._exists(patient_id):
            raise ConflictError(f"dossier {patient_id!r} does not exist")

    def close(self, patient_id: str, now: datetime) -> bool:
        """Close an open dossier (``closed_at`` = now); False if it was already closed."""
        values = {"status": DossierStatus.CLOSED.value, "closed_at": now, "updated_at": now}
        return self._update_dossier(patient_id, values, _D.status == DossierStatus.OPEN.value)

    def reopen(self, patient_id: str, now: datetime) -> bool:
        """Reopen a closed dossier; False if it was already open."""
        values = {"status": DossierStatus.OPEN.value, "closed_at": None, "updated_at": now}
        return self._update_dossier(patient_id, values, _D.status == DossierStatus.CLOSED.value)

    def update_settings(self, patient_id: str, changes: Mapping[str, bool], now: datetime) -> bool:
        """Set the named emergency settings (names of ``engine.model.DossierSettings``). Raises
        ValueError for an unknown name; returns whether any value changed."""
        unknown = set(changes) - SETTING_NAMES
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        if not changes:
            self._require(patient_id)
            return False
        columns = {name: getattr(DossierRow, name) for name in changes}
        differs = [columns[name] != value for name, value in changes.items()]
        return self._update_dossier(patient_id, {**changes, "updated_at": now}, or_(*differs))

    def set_treating_doctor(self, patient_id: str, ps_id: str | None, now: datetime) -> bool:
        """Designate ``ps_id`` as treating doctor (None: unset); False if already so."""
        values = {"treating_doctor": ps_id, "updated_at": now}
        return self._update_dossier(patient_id, values, _D.treating_doctor.is_distinct_from(ps_id))

    # -- id sets -----------------------------------------------------------------------------

    def _insert_ignore(self, table: Table, values: dict[str, Any]) -> bool:
        statement = backend_of(self.session).insert(table).values(**values)
        statement = statement.on_conflict_do_nothing()
        key = next(iter(table.primary_key.columns))
        return self.session.execute(statement.returning(key)).first() is not None

    def _delete(self, table: Any, patient_id: str, column: Any, value: str) -> bool:
        result = self.session.execute(
            delete(table).where(table.patient_id == patient_id, column == value)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def grant(self, patient_id: str, ps_id: str, self_declared: bool, now: datetime) -> bool:
        """Record consent for ``ps_id`` (``self_declared``: the PS declared it); a PS
        already authorized keeps its first grant. Returns whether it was added."""
        row = {
            "patient_id": patient_id,
            "professional_id": ps_id,
            "self_declared": self_declared,
            "granted_at": now,
        }
        return self._insert_ignore(table_of(AuthorizationRow), row)

    def revoke(self, patient_id: str, ps_id: str) -> bool:
        return self._delete(AuthorizationRow, patient_id, AuthorizationRow.professional_id, ps_id)

    def block(self, patient_id: str, ps_id: str, now: datetime) -> bool:
        row = {"patient_id": patient_id, "professional_id": ps_id, "blocked_at": now}
        return self._insert_ignore(table_of(BlockRow), row)

    def unblock(self, patient_id: str, ps_id: str) -> bool:
        return self._delete(BlockRow, patient_id, BlockRow.professional_id, ps_id)

    def add_opposition(
        self, patient_id: str, ps_id: str, reason: str | None, now: datetime
    ) -> bool:
        """Oppose ``ps_id`` feeding the record; an existing opposition takes the new reason.
        Returns whether it was added."""
        row = {"patient_id": patient_id, "professional_id": ps_id, "reason": reason}
        if self._insert_ignore(table_of(OppositionRow), {**row, "opposed_at": now}):
            return True
        self.session.execute(
            update(OppositionRow)
            .where(OppositionRow.patient_id == patient_id, OppositionRow.professional_id == ps_id)
            .values(reason=reason)
            .execution_options(synchronize_session=False)
        )
        return False

    def remove_opposition(self, patient_id: str, ps_id: str) -> bool:
        return self._delete(OppositionRow, patient_id, OppositionRow.professional_id, ps_id)

    def add_representative(self, patient_id: str, person_id: str, now: datetime) -> bool:
        row = {"patient_id": patient_id, "person_id": person_id, "added_at": now}
        return self._insert_ignore(table_of(RepresentativeRow), row)

    def remove_representative(self, patient_id: str, person_id: str) -> bool:
        return self._delete(RepresentativeRow, patient_id, RepresentativeRow.person_id, person_id)

    def record_access(self, patient_id: str, ps_id: str, now: datetime) -> bool:
        """Remember that ``ps_id`` accessed the dossier; True the first time."""
        row = {"patient_id": patient_id, "professional_id": ps_id, "first_at": now}
        return self._insert_ignore(table_of(ProfessionalAccessRow), row)

    # -- documents ---------------------------------------------------------------------------

    def add_document(
        self,
        patient_id: str,
        draft: DocumentDraft,
        class_code: str,
        author: Actor,
        now: datetime,
    ) -> Document:
        """Deposit ``draft`` by ``author`` at ``now``. ConflictError if the id exists."""
        document = Document(
            document_id=draft.document_id,
            type_code=draft.type_code,
            class_code=class_code,
            author_id=author.id,
            author_type=author.type,
            deposited_at=now,
            masked=draft.masked,
            invisible_to_patient=draft.invisible_to_patient,
            invisible_to_representatives=draft.invisible_to_representatives,
        )
        self._require(patient_id)
        if not self._insert_ignore(table_of(DocumentRow), document_values(patient_id, document)):
            raise ConflictError(f"document {draft.document_id!r} already exists")
        return document

    def update_flags(self, patient_id: str, document_id: str, change: FlagChange) -> Document:
        """Apply the flags ``change`` sets; clearing ``invisible_to_representatives`` also
        records it was cleared (irreversible). Returns the document as it now is."""
        current = self.documents(patient_id, [document_id]).get(document_id)
        if current is None:
            raise ConflictError(f"document {document_id!r} does not exist")
        values: dict[str, bool] = {
            name: value
            for name in ("masked", "invisible_to_patient", "invisible_to_representatives")
            if (value := getattr(change, name)) is not None
        }
        cleared = values.get("invisible_to_representatives") is False
        if current.invisible_to_representatives and cleared:
            values["representatives_flag_cleared"] = True
        if values:
            self.session.execute(
                update(DocumentRow)
                .where(_DOC.patient_id == patient_id, _DOC.document_id == document_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        return self.documents(patient_id, [document_id])[document_id]

    def delete_document(self, patient_id: str, document_id: str) -> bool:
        """Mark the document deleted (metadata stays for the traces); False if it already
        was. ConflictError if there is no such document."""
        result = self.session.execute(
            update(DocumentRow)
            .where(
                _DOC.patient_id == patient_id,
                _DOC.document_id == document_id,
                _DOC.status == DocumentStatus.ACTIVE.value,
            )
            .values(status=DocumentStatus.DELETED.value)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            return True
        if document_id not in self.documents(patient_id, [document_id]):
            raise ConflictError(f"document {document_id!r} does not exist")
        return False

    def purge(self, patient_id: str) -> bool:
        """Delete the dossier and everything hanging from it (documents metadata, lists,
        accesses, outbox) — the end of retention; False if there was none."""
        result = self.session.execute(
            delete(DossierRow)
            .where(_D.patient_id == patient_id)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # -- outbox ------------------------------------------------------------------------------

    def add_notifications(
        self,
        patient_id: str,
        obligations: Sequence[Obligation],
        entry_seq: int,
        document_id: str | None,
        now: datetime,
    ) -> None:
        """Write one pending outbox row per obligation, linked to the ledger entry."""
        if not obligations:
            return
        self.session.execute(
            table_of(NotificationRow).insert(),
            [
                {
                    "patient_id": patient_id,
                    "type": str(o.type),
                    "recipients": [str(r) for r in o.recipients],
                    "document_id": document_id,
                    "entry_seq": entry_seq,
                    "created_at": now,
                    "status": "pending",
                }
                for o in obligations
            ],
        )
