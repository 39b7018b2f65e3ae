"""``DossierReads``: the reads of a dossier's state, each statement written once and run on
the DB-API connection (``models.driver``).

The facts read runs for every decision: through SQLAlchemy its three statements cost about
1.1 ms of CPU, on the driver about 0.15 ms, and on PostgreSQL the three go in one round trip
(with the append's own reads, ``models.database.UnitOfWork.read_batch``). The dossier and
document reads of the pages, the access review and the repository's writes are those same
statements. The SQL is the same on both backends but for the id lists
(``models.backends``); the values are converted exactly as ``models.base.UtcDateTime`` and
the Boolean columns do.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.model import Actor, Document, Dossier, Facts
from engine.vocabulary import ActorType, DocumentStatus
from models.backends import Backend, backend_of
from models.base import read_time
from models.driver import Driver, Plan
from models.record import (
    NOTIFICATION_COLUMNS,
    AccessBasis,
    Notification,
    document_from_row,
    dossier_from_row,
    notification_from_row,
)
from models.table import AuthorizationRow, BlockRow, DocumentRow, DossierRow, NotificationRow

_DOSSIER = (
    "SELECT status, closed_at, minor, treating_doctor, break_glass_allowed,"
    " regulation_allowed, emergency_sees_masked FROM dossiers WHERE patient_id = :pid"
)
_SETS = (  # the accesses only of the professionals in :ps (none for a plain dossier read)
    "SELECT 'a', professional_id FROM dossier_authorizations WHERE patient_id = :pid"
    " UNION ALL SELECT 'b', professional_id FROM dossier_blocks WHERE patient_id = :pid"
    " UNION ALL SELECT 'o', professional_id FROM dossier_oppositions WHERE patient_id = :pid"
    " UNION ALL SELECT 'r', person_id FROM dossier_representatives WHERE patient_id = :pid"
    " UNION ALL SELECT 'x', professional_id FROM professional_accesses"
    " WHERE patient_id = :pid AND professional_id"
)
_DOCUMENTS = (
    "SELECT document_id, type_code, class_code, author_id, author_type, deposited_at, status,"
    " masked, invisible_to_patient, invisible_to_representatives, representatives_flag_cleared"
    " FROM documents WHERE patient_id = :pid"
)
_ORDER = " ORDER BY deposited_at, document_id"
_AUTHORIZED, _BLOCKED, _OPPOSED, _REPRESENTATIVE, _ACCESSED = "a", "b", "o", "r", "x"
_D = DossierRow
_DOC = DocumentRow

Statement = tuple[str, Mapping[str, Any]]
FactRows = tuple[Any, list[tuple[str, str]], list[tuple[Any, ...]]]
"""A dossier row (None if absent), its id sets as (kind, id) and its document rows."""


def _dossier_statements(
    backend: Backend, patient_id: str, professionals: Collection[str]
) -> list[Statement]:
    """The dossier row and its id sets (with the accesses of ``professionals``)."""
    sets = _SETS + backend.in_list("ps")
    return [
        (_DOSSIER, {"pid": patient_id}),
        (sets, {"pid": patient_id, "ps": backend.listed(professionals)}),
    ]


def _documents_statement(
    backend: Backend, patient_id: str, ids: Collection[str] | None
) -> Statement:
    """The document rows of the dossier, in deposit order (``ids`` None: all of them)."""
    if ids is None:
        return _DOCUMENTS + _ORDER, {"pid": patient_id}
    sql = _DOCUMENTS + " AND document_id" + backend.in_list("ids") + _ORDER
    return sql, {"pid": patient_id, "ids": backend.listed(ids)}


def fact_rows_plan(
    backend: Backend, requests: Sequence[tuple[str, Collection[str], Collection[str] | None]]
) -> Plan[list[FactRows]]:
    """For each (patient id, professional ids, document ids): the dossier row (None if
    absent), the id sets (kind, id; accesses only of those professionals) and the document
    rows (ids None: all). Three statements per patient, sent in one round trip by
    ``Driver.run``, possibly with other reads."""
    statements: list[Statement] = []
    for patient_id, professionals, ids in requests:
        statements += _dossier_statements(backend, patient_id, professionals)
        statements.append(_documents_statement(backend, patient_id, ids))

    def parse(results: list[list[Any]]) -> list[FactRows]:
        return [
            (_dossier_row(results[i]), list(map(tuple, results[i + 1])), _documents(results[i + 2]))
            for i in range(0, len(results), 3)
        ]

    return Plan(statements, parse)


def _dossier_row(rows: list[Any]) -> Any:
    if not rows:
        return None
    status, closed_at, minor, treating, glass, regulation, masked = rows[0]
    return (
        status,
        read_time(closed_at),
        bool(minor),
        treating,
        bool(glass),
        bool(regulation),
        bool(masked),
    )


def _documents(rows: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (r[0], r[1], r[2], r[3], r[4], read_time(r[5]), r[6], bool(r[7]), bool(r[8]),
         bool(r[9]), bool(r[10]))
        for r in rows
    ]  # fmt: skip


def _id_sets(rows: Sequence[tuple[str, str]]) -> dict[str, set[str]]:
    sets: dict[str, set[str]] = {
        k: set() for k in (_AUTHORIZED, _BLOCKED, _OPPOSED, _REPRESENTATIVE, _ACCESSED)
    }
    for kind, identifier in rows:
        sets[kind].add(identifier)
    return sets


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
    row, id_rows, document_rows = rows
    if row is None:
        return _State(None, {}, frozenset())
    sets = _id_sets(id_rows)
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


class DossierReads:
    """The reads of dossier state over one SQLAlchemy session (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def facts(
        self, patient_id: str, actor: Actor, document_ids: Sequence[str] | None = None
    ) -> Facts:
        """What the engine needs for ``actor``'s request on ``patient_id``: the dossier (None
        if absent), the documents named by ``document_ids`` (None: every document, for a
        listing; absent ids are left out), and whether a professional's access would be its
        first. Three queries in one round trip, on the driver."""
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
        read = fact_rows_plan(
            backend_of(self.session),
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
        """The dossier, or None if there is none (the facts read's first two statements)."""
        statements = _dossier_statements(backend_of(self.session), patient_id, ())
        row, id_rows = Driver(self.session).queries(statements)
        found = _dossier_row(row)
        return None if found is None else _dossier(patient_id, found, _id_sets(id_rows))

    def documents(self, patient_id: str, ids: Sequence[str] | None = None) -> dict[str, Document]:
        """Documents of the dossier by id, in deposit order (all when ``ids`` is None;
        unknown ids left out): the facts read's third statement."""
        if ids is not None and not ids:
            return {}
        statement = _documents_statement(backend_of(self.session), patient_id, ids)
        rows = _documents(Driver(self.session).rows(*statement))
        return {row[0]: document_from_row(row) for row in rows}

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
