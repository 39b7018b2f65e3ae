"""``DossierRepository``: the dossier state of POLICY.md §2, read as engine facts and changed
by the service after a permit. Every method runs in the caller's session and transaction.

Mutations that API.md makes idempotent (PUT/DELETE) return whether anything changed and
succeed when the state is already as asked. Preconditions: the dossier exists (the engine
said so under the append lock); a missing dossier or document raises ConflictError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, literal, or_, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.model import (
    Actor,
    Document,
    DocumentDraft,
    Dossier,
    Facts,
    FlagChange,
    Obligation,
    Settings,
)
from engine.vocabulary import ActorType, DocumentStatus, DossierStatus
from models import fastread
from models.driver import Driver, Plan
from models.errors import ConflictError
from models.fastread import FactRows
from models.record import (
    DOCUMENT_COLUMNS,
    DOSSIER_COLUMNS,
    NOTIFICATION_COLUMNS,
    AccessBasis,
    Notification,
    document_from_row,
    document_values,
    dossier_from_row,
    notification_from_row,
)
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

SETTING_NAMES = frozenset(f.name for f in fields(Settings))
_AUTHORIZED, _BLOCKED, _OPPOSED, _REPRESENTATIVE, _ACCESSED = "a", "b", "o", "r", "x"
_D = DossierRow
_DOC = DocumentRow


def _dossier(patient_id: str, row: Any, sets: Mapping[str, set[str]]) -> Dossier:
    return dossier_from_row(
        patient_id,
        row,
        representatives=sets[_REPRESENTATIVE],
        authorized=sets[_AUTHORIZED],
        blocked=sets[_BLOCKED],
        oppositions=sets[_OPPOSED],
    )


@dataclass(frozen=True, slots=True)
class _State:
    """A dossier as read for some requests: its facts for each of them are cut from it."""

    dossier: Dossier | None
    documents: dict[str, Document]
    accessed: frozenset[str]


def _state(patient_id: str, rows: FactRows) -> _State:
    row, id_sets, document_rows = rows
    if row is None:
        return _State(None, {}, frozenset())
    sets: dict[str, set[str]] = {
        k: set() for k in (_AUTHORIZED, _BLOCKED, _OPPOSED, _REPRESENTATIVE, _ACCESSED)
    }
    for kind, identifier in id_sets:
        sets[kind].add(identifier)
    documents = {r[0]: document_from_row(r) for r in document_rows}
    return _State(_dossier(patient_id, row, sets), documents, frozenset(sets[_ACCESSED]))


def _facts(state: _State, actor: Actor, ids: Sequence[str] | None) -> Facts:
    if state.dossier is None:
        return Facts(None)
    documents = state.documents
    if ids is not None:  # the wanted ones, in the dossier's order
        wanted = set(ids)
        documents = {i: d for i, d in documents.items() if i in wanted}
    professional = actor.type is ActorType.PROFESSIONAL
    return Facts(state.dossier, documents, professional and actor.id not in state.accessed)


class DossierRepository:
    """Dossier state over one SQLAlchemy session (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- reads -------------------------------------------------------------------------------

    def facts(
        self, patient_id: str, actor: Actor, document_ids: Sequence[str] | None = None
    ) -> Facts:
        """What the engine needs for ``actor``'s request on ``patient_id``: the dossier (None
        if absent), the documents named by ``document_ids`` (None: every document, for a
        listing; absent ids are left out), and whether a professional's access would be its
        first. Three queries in one round trip, on the driver (models/fastread.py: this runs
        for every decision)."""
        return self.facts_many([(patient_id, actor, document_ids)])[0]

    def facts_many(
        self, requests: Sequence[tuple[str, Actor, Sequence[str] | None]]
    ) -> list[Facts]:
        """:meth:`facts` of each (patient id, actor, document ids), in one round trip and one
        read per dossier, whatever the number of requests on it."""
        facts: list[Facts] = Driver(self.session).run(self.facts_plan(requests))[0]
        return facts

    def facts_plan(
        self, requests: Sequence[tuple[str, Actor, Sequence[str] | None]]
    ) -> Plan[list[Facts]]:
        """:meth:`facts_many` as a plan, to share a round trip with other reads."""
        wanted: dict[str, tuple[set[str], set[str] | None]] = {}
        for patient_id, actor, ids in requests:
            professionals, documents = wanted.setdefault(patient_id, (set(), set()))
            if actor.type is ActorType.PROFESSIONAL:
                professionals.add(actor.id)
            if documents is not None:
                if ids is None:
                    wanted[patient_id] = (professionals, None)
                else:
                    documents.update(ids)
        read = fastread.plan(
            self.session.get_bind().dialect.name,
            [(patient_id, ps, ids) for patient_id, (ps, ids) in wanted.items()],
        )

        def parse(results: list[list[Any]]) -> list[Facts]:
            by_patient = {
                patient_id: _state(patient_id, rows)
                for patient_id, rows in zip(wanted, read.parse(results), strict=True)
            }
            return [_facts(by_patient[pid], actor, ids) for pid, actor, ids in requests]

        return Plan(read.statements, parse)

    def get(self, patient_id: str) -> Dossier | None:
        """The dossier, or None if there is none."""
        row = self.session.execute(
            select(*DOSSIER_COLUMNS).where(_D.patient_id == patient_id)
        ).one_or_none()
        if row is None:
            return None
        return _dossier(patient_id, row, self._id_sets(patient_id, None))

    def documents(self, patient_id: str, ids: Sequence[str] | None = None) -> dict[str, Document]:
        """Documents of the dossier by id (all when ``ids`` is None; unknown ids left out)."""
        query = select(*DOCUMENT_COLUMNS).where(_DOC.patient_id == patient_id)
        if ids is not None:
            if not ids:
                return {}
            query = query.where(_DOC.document_id.in_(set(ids)))
        rows = self.session.execute(query.order_by(_DOC.deposited_at, _DOC.document_id))
        return {row[0]: document_from_row(row) for row in rows}

    def _id_sets(self, patient_id: str, professional_id: str | None) -> dict[str, set[str]]:
        parts = [
            select(literal(kind).label("kind"), column).where(table.patient_id == patient_id)
            for kind, table, column in (
                (_AUTHORIZED, AuthorizationRow, AuthorizationRow.professional_id),
                (_BLOCKED, BlockRow, BlockRow.professional_id),
                (_OPPOSED, OppositionRow, OppositionRow.professional_id),
                (_REPRESENTATIVE, RepresentativeRow, RepresentativeRow.person_id),
            )
        ]
        if professional_id is not None:
            access = ProfessionalAccessRow
            parts.append(
                select(literal(_ACCESSED).label("kind"), access.professional_id).where(
                    access.patient_id == patient_id, access.professional_id == professional_id
                )
            )
        sets: dict[str, set[str]] = {
            k: set() for k in (_AUTHORIZED, _BLOCKED, _OPPOSED, _REPRESENTATIVE, _ACCESSED)
        }
        for kind, identifier in self.session.execute(union_all(*parts)):
            sets[kind].add(identifier)
        return sets

    def professionals_with_access(self, patient_id: str) -> dict[str, AccessBasis]:
        """Every professional with a basis to read the dossier (authorized, treating doctor,
        author of an active document), each with its basis; blocked ones are marked."""
        session = self.session
        bases: dict[str, dict[str, Any]] = {}
        for ps_id, self_declared in session.execute(
            select(AuthorizationRow.professional_id, AuthorizationRow.self_declared).where(
                AuthorizationRow.patient_id == patient_id
            )
        ):
            bases.setdefault(ps_id, {}).update(authorized=True, self_declared=self_declared)
        doctor = session.scalar(select(_D.treating_doctor).where(_D.patient_id == patient_id))
        if doctor is not None:
            bases.setdefault(doctor, {})["treating_doctor"] = True
        authored: dict[str, list[str]] = {}
        for author_id, document_id in session.execute(
            select(_DOC.author_id, _DOC.document_id)
            .where(
                _DOC.patient_id == patient_id,
                _DOC.author_type == ActorType.PROFESSIONAL.value,
                _DOC.status == DocumentStatus.ACTIVE.value,
            )
            .order_by(_DOC.document_id)
        ):
            authored.setdefault(author_id, []).append(document_id)
        for author_id, documents in authored.items():
            bases.setdefault(author_id, {})["authored"] = tuple(documents)
        for ps_id in session.scalars(
            select(BlockRow.professional_id).where(BlockRow.patient_id == patient_id)
        ):
            if ps_id in bases:
                bases[ps_id]["blocked"] = True
        return {ps_id: AccessBasis(**bases[ps_id]) for ps_id in sorted(bases)}

    def notifications(
        self, patient_id: str, before_id: int | None = None, limit: int = 50
    ) -> list[Notification]:
        """The dossier's outbox, newest first; page on with ``before_id`` = the last id."""
        n = NotificationRow
        query = select(*NOTIFICATION_COLUMNS).where(n.patient_id == patient_id)
        if before_id is not None:
            query = query.where(n.id < before_id)
        rows = self.session.execute(query.order_by(n.id.desc()).limit(limit))
        return [notification_from_row(row) for row in rows]

    # -- dossier -----------------------------------------------------------------------------

    def create(
        self,
        patient_id: str,
        *,
        minor: bool,
        representatives: Sequence[str],
        settings: Settings,
        now: datetime,
    ) -> None:
        """Create an open dossier with its representatives. ConflictError if it exists."""
        if self.session.scalar(select(_D.patient_id).where(_D.patient_id == patient_id)):
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

    def _require(self, patient_id: str) -> None:
        if self.session.scalar(select(_D.patient_id).where(_D.patient_id == patient_id)) is None:
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
        """Set the named emergency settings (names of ``engine.model.Settings``). Raises
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
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
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
