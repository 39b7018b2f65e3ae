"""The one read every decision makes — a dossier's facts — straight on the DB-API connection.

``DossierRepository.facts`` runs for every request; through SQLAlchemy its three statements
cost about 1.1 ms of CPU, on the driver (``models.driver``) about 0.15 ms, and on PostgreSQL
the three go in one round trip. The SQL is plain and the same on both backends but for the
id list; the values are converted exactly as ``models.base.UtcDateTime`` and the Boolean
columns do, and tests/models compares both paths on both backends.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from models.base import read_time
from models.driver import Plan

_DOSSIER = (
    "SELECT status, closed_at, minor, treating_doctor, break_glass_allowed,"
    " regulation_allowed, emergency_sees_masked FROM dossiers WHERE patient_id = :pid"
)
_SETS = (
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
_BY_ID = {
    "postgresql": " AND document_id = ANY(:ids)",
    "sqlite": " AND document_id IN (SELECT value FROM json_each(:ids))",
}
_IN_PS = {"postgresql": " = ANY(:ps)", "sqlite": " IN (SELECT value FROM json_each(:ps))"}


FactRows = tuple[Any, list[tuple[str, str]], list[tuple[Any, ...]]]
"""A dossier row (None if absent), its id sets as (kind, id) and its document rows."""


def plan(
    backend: str, requests: Sequence[tuple[str, Collection[str], Collection[str] | None]]
) -> Plan[list[FactRows]]:
    """For each (patient id, professional ids, document ids): the dossier row (None if
    absent), the id sets (kind, id; accesses only of those professionals) and the document
    rows (ids None: all). Three statements per patient, sent in one round trip by
    ``Driver.run``, possibly with other reads."""

    def listed(values: Collection[str]) -> Any:
        wanted = sorted(set(values))
        return wanted if backend == "postgresql" else json.dumps(wanted)

    statements: list[tuple[str, dict[str, Any]]] = []
    for patient_id, professionals, ids in requests:
        documents = _DOCUMENTS
        parameters: dict[str, Any] = {"pid": patient_id}
        if ids is not None:
            documents += _BY_ID[backend]
            parameters["ids"] = listed(ids)
        statements += [
            (_DOSSIER, {"pid": patient_id}),
            (_SETS + _IN_PS[backend], {"pid": patient_id, "ps": listed(professionals)}),
            (documents + _ORDER, parameters),
        ]
    return Plan(statements, _parse)


def _parse(results: list[list[Any]]) -> list[FactRows]:
    return [
        (
            _dossier(results[i]),
            [(k, v) for k, v in results[i + 1]],
            [_document(r) for r in results[i + 2]],
        )
        for i in range(0, len(results), 3)
    ]


def _dossier(rows: list[Any]) -> Any:
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


def _document(row: Any) -> tuple[Any, ...]:
    return (
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        read_time(row[5]),
        row[6],
        bool(row[7]),
        bool(row[8]),
        bool(row[9]),
        bool(row[10]),
    )
