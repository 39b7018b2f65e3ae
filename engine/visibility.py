"""Which documents of a dossier are hidden from a reader: the one answer every view gives.

A document is *hidden* from a reader when the policy denies that reader's ``document.read``
of it for a visibility reason: ``document.masked``, ``document.invisible_to_patient`` or
``document.invisible_to_representatives`` (rules 900-903 of ``policy/rules.csv``, the rows
the document list and the read decision apply). The question is put to the engine itself,
so a change of those rows changes every view with them; nothing here re-states them.

It is asked of the document's flags now, whatever else would stop the read: the dossier as
if open (a closed dossier's history is still read by its holder) and the document as if
active (a deleted document's flags still hold for the entries that name it). Any other
denial (not habilitated, not found, an auditor, who reads no document) hides nothing: it is
not a secret kept from this reader.

The views of a dossier (``api.history``, ``api.review``, the outbox and the export) leave
out, or withhold, what this says is hidden from the one who reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from engine.decide import PolicyEngine
from engine.model import AccessRequest, Actor, Document, Dossier, Facts
from engine.vocabulary import Action, DocumentStatus, DossierStatus, Reason

#: The denials of ``document.read`` that mean "this document is not shown to you".
VISIBILITY_REASONS = frozenset(
    {
        Reason.DOCUMENT_MASKED,
        Reason.DOCUMENT_INVISIBLE_TO_PATIENT,
        Reason.DOCUMENT_INVISIBLE_TO_REPRESENTATIVES,
    }
)


def hidden_documents(
    engine: PolicyEngine,
    reader: Actor,
    dossier: Dossier,
    documents: Mapping[str, Document],
    now: datetime,
) -> frozenset[str]:
    """The ids of ``documents`` (the dossier's, deleted ones included) hidden from
    ``reader`` at ``now``."""
    if dossier.status is not DossierStatus.OPEN:
        dossier = replace(dossier, status=DossierStatus.OPEN, closed_at=None)
    hidden = set()
    for document_id, stored in documents.items():
        document = replace(stored, status=DocumentStatus.ACTIVE)
        request = AccessRequest(
            reader, Action.DOCUMENT_READ, dossier.patient_id, document_ids=(document_id,)
        )
        decision = engine.decide(request, Facts(dossier, {document_id: document}), now)
        if decision.permitted:
            continue
        if decision.reason in VISIBILITY_REASONS or decision.reason is Reason.POLICY_ERROR:
            hidden.add(document_id)  # fail closed: an engine failure hides the document
    return frozenset(hidden)
