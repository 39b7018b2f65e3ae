"""The one place that writes the ledger: append, checkpoint, export, erase.

The service builds a :class:`LedgerWriter` over each write unit of work's store
(``api.service.Service.writer``), inside the transaction that changes state and holds the
ledger's append lock (appends and checkpoint signing must be serialised); the tests and the
benchmarks drive the same class over the in-memory store. The writer does no I/O of its own:
everything goes through the :class:`~ledger.store.LedgerStore` it is given, and it is cheap to
build (a few references).

Every checkpoint is signed by a :class:`~ledger.checkpoint.CheckpointSigner` resumed from the
store's latest checkpoint, whose signature it checks first: processes sharing one ledger then
each extend the checkpoint another signed, and the signer refuses any tree that does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ledger import merkle
from ledger.checkpoint import CheckpointSigner, SignedCheckpoint
from ledger.entry import Appender, Draft, Entry
from ledger.errors import EntryError
from ledger.export import EXPORT_ACTION, patient_history, proven_bundle
from ledger.note import NoteSigner
from ledger.store import AppendReads, LedgerStore

OnSigned = Callable[[SignedCheckpoint], None]
"""Told of each checkpoint a writer signs, once the store keeps it (in the caller's
transaction: the service defers the witnesses' notification until it commits)."""
Shown = Callable[[list[Entry]], list[Entry]]
"""What an export shows of the patient's history (the service withholds some payloads)."""


class LedgerWriter:
    """Appends entries, signs checkpoints, exports and erases over one store: ``appender``
    chains and hashes, ``signer`` (with ``origin``) signs the checkpoints."""

    def __init__(
        self,
        store: LedgerStore,
        appender: Appender,
        signer: NoteSigner,
        origin: str,
        on_signed: OnSigned | None = None,
    ) -> None:
        self.store = store
        self.appender = appender
        self.signer = signer
        self.origin = origin
        self.on_signed = on_signed

    def append(
        self, drafts: Sequence[Draft], reads: AppendReads | None = None
    ) -> tuple[Entry, ...]:
        """Chain, hash and store ``drafts`` (one group commit) after the head; return their
        entries. ``reads``: the head, frontier and patient heads already read under this
        transaction's lock (the group commit reads them with the facts, in one round trip);
        None reads them now. The store refuses a first seq that is not its size."""
        if reads is None:
            reads = self.store.append_reads(self.appender.patient_refs(drafts))
        batch = self.appender.build(reads.head, reads.patient_heads, drafts)
        leaves = [e.leaf_hash for e in batch.entries]
        nodes = merkle.new_nodes(merkle.Nodes(reads.frontier), reads.head.size, leaves)
        self.store.append(batch.entries, nodes)  # a SQL store fills its search columns too
        return batch.entries

    def checkpoint(self, size: int | None = None) -> SignedCheckpoint:
        """The newest checkpoint covering the first ``size`` leaves (None: the whole tree).
        If the latest kept one covers them (signed at or past that size, e.g. by a later call
        of the same group commit), it is returned and nothing is signed; otherwise one is
        signed now at exactly that size, kept, and handed to ``on_signed``."""
        tree_size = self.store.head().size if size is None else size
        latest = self.store.checkpoint_latest()
        last_note = None if latest is None else latest.note
        signer = CheckpointSigner.resume(self.signer, self.origin, last_note)
        if last_note is not None and signer.last is not None and signer.last.size >= tree_size:
            return SignedCheckpoint(signer.last, last_note)
        signed = signer.sign_tree(self.store, tree_size)
        self.store.add_checkpoint(signed)
        if self.on_signed is not None:
            self.on_signed(signed)
        return signed

    def export(self, patient_id: str, entry: Entry, shown: Shown = list) -> dict[str, Any]:
        """The bundle of ``patient_id``'s history up to ``entry``, the ``traces.export``
        entry just appended for it, every entry proved against :meth:`checkpoint` at the
        entry's size. ``shown`` gives what the bundle shows of that history. Raises
        EntryError if ``entry`` is not an export of that patient."""
        ref = self.appender.patient_ref(patient_id)
        if entry.patient_ref != ref or entry.header_dict()["action"] != EXPORT_ACTION:
            raise EntryError(f"the export entry must be {EXPORT_ACTION} for that patient")
        signed = self.checkpoint(entry.seq + 1)
        history = shown(patient_history(self.store, ref, entry.seq))
        size, verifier = signed.checkpoint.size, str(self.signer.verifier)
        return proven_bundle(self.store, patient_id, history, signed.note, size, verifier)

    def erase_patient(
        self, patient_id: str, *, erased_by: str, legal_basis: str, policy_version: str
    ) -> tuple[Entry, int]:
        """LEDGER.md retention: destroy the payloads and salts of every entry of
        ``patient_id``, then append the ``erasure`` entry (who, legal basis, how many; the
        header carries when). Headers, chains and the tree are untouched, so every root and
        proof stays valid. Returns the erasure entry and the number of payloads destroyed."""
        count = self.store.erase_patient(self.appender.patient_ref(patient_id))
        draft = Draft(
            kind="erasure",
            action="ledger.erase",
            mode="normal",
            decision="permit",
            reason="erasure",
            policy_version=policy_version,
            payload={"erased_by": erased_by, "legal_basis": legal_basis, "erased_entries": count},
            patient_id=patient_id,
        )
        return self.append([draft])[0], count
