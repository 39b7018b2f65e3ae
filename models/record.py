"""Rows to engine values and back: the builders of
``engine.model`` values, and the small records the repository returns."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.model import Document, Dossier, DossierSettings
from engine.vocabulary import ActorType, DocumentStatus, DossierStatus
from models.table import DocumentRow, DossierRow, NotificationRow

_D = DossierRow
_DOC = DocumentRow
_N = NotificationRow
NOTIFICATION_COLUMNS = (
    _N.id,
    _N.patient_id,
    _N.type,
    _N.recipients,
    _N.document_id,
    _N.entry_seq,
    _N.created_at,
    _N.status,
    _N.delivered_at,
)


@dataclass(frozen=True, slots=True)
class Notification:
    """One row of a dossier's notification outbox (POLICY.md §6)."""

    id: int
    patient_id: str
    type: str
    recipients: tuple[str, ...]
    document_id: str | None
    entry_seq: int
    created_at: datetime
    status: str
    delivered_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AccessBasis:
    """Why a professional may be able to read a dossier now (API.md access review).
    ``blocked`` overrides everything else."""

    authorized: bool = False
    self_declared: bool = False
    treating_doctor: bool = False
    authored: tuple[str, ...] = ()
    blocked: bool = False


def document_from_row(row: Any) -> Document:
    """A document from a documents row (``models.dossier_reads``), values converted."""
    return Document(
        document_id=row[0],
        type_code=row[1],
        class_code=row[2],
        author_id=row[3],
        author_type=ActorType(row[4]),
        deposited_at=row[5],
        status=DocumentStatus(row[6]),
        masked=row[7],
        invisible_to_patient=row[8],
        invisible_to_representatives=row[9],
        representatives_flag_cleared=row[10],
    )


def dossier_from_row(
    patient_id: str,
    row: Any,
    *,
    representatives: Collection[str],
    authorized: Collection[str],
    blocked: Collection[str],
    oppositions: Collection[str],
) -> Dossier:
    """A dossier from a dossiers row (``models.dossier_reads``), values converted, and its
    id sets."""
    return Dossier(
        patient_id=patient_id,
        status=DossierStatus(row[0]),
        closed_at=row[1],
        minor=row[2],
        representatives=frozenset(representatives),
        treating_doctor=row[3],
        authorized=frozenset(authorized),
        blocked=frozenset(blocked),
        feeding_oppositions=frozenset(oppositions),
        settings=DossierSettings(row[4], row[5], row[6]),
    )


def notification_from_row(row: Any) -> Notification:
    """An outbox record from a row of ``NOTIFICATION_COLUMNS``."""
    return Notification(
        row[0], row[1], row[2], tuple(row[3]), row[4], row[5], row[6], row[7], row[8]
    )


def document_values(patient_id: str, document: Document) -> dict[str, Any]:
    """The ``documents`` row of ``document``."""
    return {
        "patient_id": patient_id,
        "document_id": document.document_id,
        "type_code": document.type_code,
        "class_code": document.class_code,
        "author_id": document.author_id,
        "author_type": document.author_type.value,
        "deposited_at": document.deposited_at,
        "status": document.status.value,
        "masked": document.masked,
        "invisible_to_patient": document.invisible_to_patient,
        "invisible_to_representatives": document.invisible_to_representatives,
        "representatives_flag_cleared": document.representatives_flag_cleared,
    }
