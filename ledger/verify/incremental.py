"""Incremental verification: only the entries after a checkpoint verified before.

The operator keeps the last verified checkpoint note outside the database (the STATE file).
:func:`verify_since` checks that note's signature, that the stored tree still has its root at
its size N (the frontier nodes fold to it), anchors the global chain on entry N-1 and each
patient's chain on that patient's last entry before N (their re-hashed headers proven
included in the verified tree by inclusion proofs), then runs the whole-ledger pass over
the new entries only: re-hash, seq, ``prev``, patient chains, payload commitments, the root
at every new checkpoint; finally the consistency proof from (N, root) to the newest
checkpoint. The cost follows the new entries, plus log N nodes per anchored patient.

Not re-checked: entries before N (an old row edited in place, a destroyed payload), old
checkpoints, and search columns before N. The full :func:`ledger.verify.verify_ledger`
checks those.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from ledger import hashing, merkle
from ledger.canonical import parse_trusted
from ledger.checkpoint import Checkpoint, verify_checkpoint
from ledger.entry import Entry
from ledger.errors import (
    CheckpointError,
    ConsistencyProofError,
    InclusionProofError,
    LedgerFault,
    NoteError,
)
from ledger.note import NoteVerifier
from ledger.store import LedgerStore
from ledger.verify.full import Progress
from ledger.verify.reference import FaultError, load_checkpoints
from ledger.verify.run import Run


class SinceReads(Protocol):
    """The indexed reads an incremental verification needs besides the ledger store."""

    def patient_heads_before(self, patient_refs: Collection[str], size: int) -> dict[str, Entry]:
        """Each given patient's last stored entry of seq < ``size`` (others left out)."""
        ...

    def checkpoints_from(self, size: int) -> Sequence[str]:
        """The notes of every checkpoint of ``size`` leaves or more, in signing order."""
        ...


@dataclass(frozen=True, slots=True)
class SinceReport:
    """What an incremental verification covered: entries ``[since, entries)``."""

    since: int
    entries: int
    root: bytes
    checkpoints: int
    anchored_patients: int
    state_note: str
    """The newest checkpoint verified: what the STATE file holds next."""


def _anchor(store: LedgerStore, run: Run, old: Checkpoint) -> None:
    """Start ``run`` at the verified size: the tree's frontier and the global chain's last
    leaf, both checked against the verified root."""
    size = old.size
    keys = merkle.range_keys(0, size)
    nodes = store.nodes(keys)
    if len(nodes) != len(keys) or merkle.fold([nodes[k] for k in keys]) != old.root:
        raise FaultError(
            size - 1,
            "modified",
            f"the stored tree of {size} entries no longer has the verified root",
        )
    for key in keys:
        run.tree.push_node(key[0], nodes[key])
    last = store.entries(size - 1, 1)
    if not last or last[0].seq != size - 1:
        raise FaultError(size - 1, "deleted", f"entry {size - 1} of the verified tree is gone")
    leaf = hashing.leaf_hash(last[0].header)
    try:
        merkle.verify_inclusion(
            size - 1, size, leaf, merkle.inclusion_proof(store, size - 1, size), old.root
        )
    except InclusionProofError as exc:
        raise FaultError(
            size - 1, "modified", f"entry {size - 1} changed since verified: {exc}"
        ) from exc
    run.state.position, run.state.last_leaf = size, leaf


def _anchor_patients(
    store: LedgerStore,
    reads: SinceReads,
    run: Run,
    old: Checkpoint,
    chunk: Sequence[Entry],
    seen: set[str],
) -> int:
    """Load the chain tip before the verified size of every patient first met in ``chunk``
    into the scan state, each tip's header re-hashed and proven in the verified tree."""
    refs = {e.patient_ref for e in chunk if e.patient_ref is not None} - seen
    seen.update(refs)
    heads = reads.patient_heads_before(refs, old.size)
    if not heads:
        return 0
    tips = sorted(heads.values(), key=lambda e: e.seq)
    leaves = {tip.seq: hashing.leaf_hash(tip.header) for tip in tips}
    try:
        merkle.verify_leaves(store, old.size, leaves, old.root)
    except InclusionProofError as exc:
        _name_changed_tip(store, old, tips, leaves)
        raise FaultError(tips[0].seq, "modified", f"changed since verified: {exc}") from exc
    for tip in tips:
        leaf = leaves[tip.seq]
        try:
            header = parse_trusted(tip.header)  # its bytes are proven above
            if header["patient_ref"] != tip.patient_ref or header["seq"] != tip.seq:
                raise InclusionProofError("its columns do not match its header")
        except (ValueError, KeyError, TypeError, InclusionProofError) as exc:
            raise FaultError(tip.seq, "modified", f"changed since verified: {exc}") from exc
        key = b'patient_ref":"%s"' % tip.patient_ref.encode()  # type: ignore[union-attr]
        run.state.patient_seqs[key] = int(header["patient_seq"])
        run.state.patient_leaves[key] = b'patient_prev":"%s"' % leaf.hex().encode()
    return len(tips)


def _name_changed_tip(
    store: LedgerStore, old: Checkpoint, tips: Sequence[Entry], leaves: dict[int, bytes]
) -> None:
    """After the shared proof of the tips failed: the first tip whose own inclusion proof
    fails, as a FaultError (the shared proof tells the subtree, not the entry)."""
    proofs = merkle.inclusion_proofs(store, [tip.seq for tip in tips], old.size)
    for tip, proof in zip(tips, proofs, strict=True):
        try:
            merkle.verify_inclusion(tip.seq, old.size, leaves[tip.seq], proof, old.root)
        except InclusionProofError as exc:
            raise FaultError(tip.seq, "modified", f"changed since verified: {exc}") from exc


def verify_since(
    store: LedgerStore,
    reads: SinceReads,
    verifier_key: NoteVerifier,
    state_note: str,
    *,
    origin: str | None = None,
    chunk_size: int = 4096,
    progress: Progress | None = None,
) -> SinceReport:
    """Verify the entries after the checkpoint ``state_note`` (verified before, kept by the
    operator). Raises LedgerFault naming the first faulty seq, like the full verification."""
    try:
        old = verify_checkpoint(state_note, verifier_key, origin)
    except (NoteError, CheckpointError) as exc:
        raise LedgerFault(
            0, "bad_signature", f"the STATE checkpoint does not verify: {exc}"
        ) from exc
    notes = reads.checkpoints_from(old.size)
    checkpoints = load_checkpoints(notes, verifier_key, origin)
    total = store.head().size
    run = Run(store, checkpoints)
    anchored = 0
    try:
        if any(c.root != old.root for c in checkpoints.by_size.get(old.size, [])):
            raise FaultError(
                old.size - 1, "forked", "a stored checkpoint of the verified size differs"
            )
        if old.size > total:
            raise FaultError(total, "truncated", f"{total} entries stored, {old.size} verified")
        if old.size:
            _anchor(store, run, old)
        seen: set[str] = set()
        while True:
            chunk = store.entries(run.state.position, chunk_size)
            if not chunk:
                break
            if old.size:
                anchored += _anchor_patients(store, reads, run, old, chunk, seen)
            run.chunk(chunk)
            if progress is not None:
                progress(run.state.position - old.size, total - old.size)
        run.finish(total)
        newest = max(checkpoints.by_size, default=old.size)
        new = checkpoints.by_size[newest][0] if newest in checkpoints.by_size else old
        if old.size and new.size > old.size:
            proof = merkle.consistency_proof(store, old.size, new.size)
            try:
                merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
            except ConsistencyProofError as exc:
                raise FaultError(
                    new.size - 1, "forked", f"not consistent with STATE: {exc}"
                ) from exc
    except FaultError as fault:
        raise LedgerFault(fault.seq, fault.kind, fault.detail) from None
    newest_notes = [n for n in notes if n.startswith(new.body() + "\n")]
    return SinceReport(
        old.size,
        run.state.position,
        run.tree.root(),
        sum(map(len, checkpoints.by_size.values())),
        anchored,
        newest_notes[-1] if newest_notes else state_note,
    )
