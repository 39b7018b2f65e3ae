"""The one place that drives a store: append, checkpoint, export, erase.

The service builds one :class:`LedgerWriter` per process and calls it inside the database
transaction that changes state, holding the ledger's append lock (appends and checkpoint
signing must be serialised). The writer does no I/O of its own: everything goes through the
:class:`~ledger.store.LedgerStore` it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger import merkle
from ledger.checkpoint import CheckpointSigner, SignedCheckpoint
from ledger.entry import Appender, Draft, Entry
from ledger.errors import EntryError
from ledger.export import EXPORT_ACTION, patient_history, proven_bundle
from ledger.store import LedgerStore


class LedgerWriter:
    """Appends entries and signs checkpoints over one store."""

    def __init__(self, store: LedgerStore, appender: Appender, signer: CheckpointSigner) -> None:
        self.store = store
        self.appender = appender
        self.signer = signer

    def append(self, drafts: Sequence[Draft]) -> tuple[Entry, ...]:
        """Append ``drafts`` (one group commit) and return their entries."""
        store = self.store
        head = store.head()
        batch = self.appender.build(
            head, store.patient_heads(self.appender.patient_refs(drafts)), drafts
        )
        nodes = merkle.new_nodes(store, head.size, [e.leaf_hash for e in batch.entries])
        store.append(batch.entries, nodes)
        return batch.entries

    def checkpoint(self) -> SignedCheckpoint:
        """Sign and keep a checkpoint of the current tree (unless the last one signed already
        has this size, in which case it is returned as is)."""
        size = self.store.head().size
        last = self.signer.last
        notes = self.store.checkpoints()
        if last is not None and last.size == size and notes:
            return SignedCheckpoint(last, notes[-1])
        signed = self.signer.sign_tree(self.store, size)
        self.store.add_checkpoint(signed)
        return signed

    def export(self, patient_id: str, draft: Draft) -> dict[str, Any]:
        """Trace the export (``draft``: action ``traces.export`` for ``patient_id``), sign a
        checkpoint covering it, and build the bundle of the patient's whole history."""
        if draft.action != EXPORT_ACTION or draft.patient_id != patient_id:
            raise EntryError(f"the export draft must be {EXPORT_ACTION} for that patient")
        entry = self.append([draft])[0]
        signed = self.checkpoint()
        history = patient_history(self.store, entry.patient_ref or "", entry.seq)
        verifier = str(self.signer.verifier)
        return proven_bundle(
            self.store, patient_id, history, signed.note, signed.checkpoint.size, verifier
        )

    def erase_patient(
        self,
        patient_id: str,
        *,
        erased_by: str,
        legal_basis: str,
        policy_version: str,
        mode: str = "normal",
        reason: str = "erasure",
    ) -> Entry:
        """Destroy the payloads and salts of every entry of ``patient_id``, then append the
        ``erasure`` entry (who, legal basis, how many; the header carries when). Headers,
        chains and the tree are untouched, so every root and proof stays valid."""
        count = self.store.erase_patient(self.appender.patient_ref(patient_id))
        draft = Draft(
            kind="erasure",
            action="ledger.erase",
            mode=mode,
            decision="permit",
            reason=reason,
            policy_version=policy_version,
            payload={"erased_by": erased_by, "legal_basis": legal_basis, "erased_entries": count},
            patient_id=patient_id,
        )
        return self.append([draft])[0]
