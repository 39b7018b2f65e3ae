"""Contract tests every LedgerStore implementation must pass.

Reuse from another test module (e.g. the SQL store's)::

    from store_contract import LedgerStoreContract   # tests/ledger on sys.path

    class TestSqlLedgerStore(LedgerStoreContract):
        @pytest.fixture
        def store(self, pg_database_url): return SqlLedgerStore(...)

The fixture must return an empty store; the tests drive it through ``ledger.writer.LedgerWriter``
as the service does (``api.service.Service.writer``), so they check the production path on every
store: the in-memory one (tests/ledger/test_ledger_store.py) and the SQL one on SQLite and on
PostgreSQL (tests/models/test_models_ledger_store.py, over a write unit of work).
"""

from __future__ import annotations

import ledger_factory as lf
import pytest

from ledger import merkle
from ledger.checkpoint import SignedCheckpoint
from ledger.entry import LedgerHead, PatientHead
from ledger.errors import LedgerStoreError
from ledger.export import verify_export
from ledger.store import AppendReads, LedgerStore
from ledger.verify import verify_ledger
from ledger.writer import LedgerWriter


class LedgerStoreContract:
    """Subclass and provide a ``store`` fixture returning an empty LedgerStore (the base
    class is not collected: its name does not start with ``Test``)."""

    def _writer(self, store: LedgerStore) -> LedgerWriter:
        w = lf.writer()
        w.store = store
        return w

    def test_empty_store(self, store: LedgerStore) -> None:
        assert store.head() == LedgerHead(0, None)
        assert list(store.entries(0, 10)) == []
        assert list(store.checkpoints()) == []
        assert store.checkpoint_latest() is None
        assert dict(store.nodes([(0, 0)])) == {}
        assert store.append_reads(["ab" * 32]) == AppendReads(LedgerHead(0, None), {}, {})

    def test_append_and_read_back(self, store: LedgerStore) -> None:
        w = self._writer(store)
        first = w.append([lf.draft(i, lf.patient_of(i, 3)) for i in range(5)])
        second = w.append([lf.draft(i, lf.patient_of(i, 3)) for i in range(5, 12)])
        entries = [*first, *second]
        assert store.head() == LedgerHead(12, entries[-1].leaf_hash)
        assert list(store.entries(0, 100)) == entries
        assert list(store.entries(4, 3)) == entries[4:7]
        assert list(store.entries(12, 5)) == []
        ref = w.appender.patient_ref("P0000")
        mine = [e for e in entries if e.patient_ref == ref]
        assert list(store.entries_for_patient(ref)) == mine
        reads = store.append_reads([ref, "00" * 32])
        heads = reads.patient_heads
        assert set(heads) == {ref}
        assert heads[ref] == (len(mine) - 1, mine[-1].leaf_hash)
        assert reads.head == store.head()
        assert reads.frontier == store.nodes(merkle.frontier_keys(12))
        assert set(reads.frontier) == {(3, 0), (2, 2)}  # 8 + 4
        tree = merkle.CompactRange()
        for e in entries:
            tree.push_leaf(e.leaf_hash)
        assert merkle.root(store, 12) == tree.root()
        keys = [(0, 0), (0, 11), (2, 2), (3, 0), (3, 1), (0, 12)]
        found = store.nodes(keys)
        assert set(found) == {(0, 0), (0, 11), (2, 2), (3, 0)}
        assert found[(0, 11)] == entries[11].leaf_hash

    def test_append_refuses_a_gap(self, store: LedgerStore) -> None:
        w = self._writer(store)
        entries = w.append([lf.draft(0, "P1")])
        with pytest.raises(LedgerStoreError):
            store.append(entries, [])

    def test_checkpoints_are_kept_in_order(self, store: LedgerStore) -> None:
        w = self._writer(store)
        w.append([lf.draft(i, "P1") for i in range(3)])
        a = w.checkpoint()
        w.append([lf.draft(3, "P2")])
        b = w.checkpoint()
        assert list(store.checkpoints()) == [a.note, b.note]
        verify_ledger(store, str(w.signer.verifier))

    def test_an_append_takes_the_reads_made_ahead(self, store: LedgerStore) -> None:
        """The group commit reads head, frontier and patient heads with the facts, then
        appends with them; reads made before another append are refused, nothing written."""
        w = self._writer(store)
        w.append([lf.draft(i, lf.patient_of(i, 2)) for i in range(5)])
        drafts = [lf.draft(i, lf.patient_of(i, 2)) for i in range(5, 9)]
        reads = store.append_reads(w.appender.patient_refs(drafts))
        entries = w.append(drafts, reads)
        assert [e.seq for e in entries] == [5, 6, 7, 8]
        firsts = {e.patient_ref: e for e in reversed(entries) if e.patient_ref is not None}
        assert set(firsts) == set(reads.patient_heads)  # both patients had entries already
        for ref, first in firsts.items():
            assert first.patient_seq == reads.patient_heads[ref].patient_seq + 1
        head = store.head()
        assert head == LedgerHead(9, entries[-1].leaf_hash)
        with pytest.raises(LedgerStoreError):
            w.append([lf.draft(9, "P1")], reads)  # stale: taken at size 5
        assert store.head() == head
        assert store.append_reads([]).patient_heads == {}
        verify_ledger(store, str(w.signer.verifier))

    def test_a_covering_checkpoint_is_not_signed_again(self, store: LedgerStore) -> None:
        """The service's checkpoint rules: the latest kept checkpoint is returned when it
        covers the size asked (nothing signed, nothing handed on); otherwise one is signed at
        exactly that size, kept, and handed to ``on_signed``."""
        w = self._writer(store)
        signed: list[SignedCheckpoint] = []
        w.on_signed = signed.append
        w.append([lf.draft(i, "P1") for i in range(5)])
        four = w.checkpoint(4)
        assert four.checkpoint.size == 4
        assert signed == [four]
        assert w.checkpoint(3) == four and w.checkpoint(4) == four
        assert signed == [four]
        latest = store.checkpoint_latest()
        assert latest is not None
        assert (latest.size, latest.root, latest.note) == (4, four.checkpoint.root, four.note)
        whole = w.checkpoint()
        assert whole.checkpoint.size == 5
        assert whole.checkpoint.root == merkle.root(store, 5)
        assert w.checkpoint() == whole
        assert signed == [four, whole]
        assert list(store.checkpoints()) == [four.note, whole.note]
        verify_ledger(store, str(w.signer.verifier))

    def test_an_export_is_proved_against_a_covering_checkpoint(self, store: LedgerStore) -> None:
        w = self._writer(store)
        w.append([lf.draft(i, lf.patient_of(i, 3)) for i in range(20)])
        export = lf.draft(20, "P0002", action="traces.export")
        (entry,) = w.append([export])
        bundle = verify_export(w.export("P0002", entry), str(w.signer.verifier))
        assert (bundle.export_seq, bundle.tree_size) == (20, 21)
        w.append([lf.draft(21, "P0002")])
        later = w.checkpoint()  # signed past the export: the proofs use it
        again = w.export("P0002", entry)
        assert again["checkpoint"] == later.note
        report = verify_export(again, str(w.signer.verifier))
        assert (report.export_seq, report.tree_size) == (20, 22)
        ref = w.appender.patient_ref("P0002")
        assert report.entries == len([e for e in store.entries(0, 21) if e.patient_ref == ref])

    def test_erasure_through_the_writer(self, store: LedgerStore) -> None:
        w = self._writer(store)
        w.append([lf.draft(i, "P1" if i % 2 else "P2") for i in range(6)])
        erasure, destroyed = w.erase_patient(
            "P1", erased_by="dpo", legal_basis="RGPD art. 17", policy_version=lf.POLICY
        )
        assert destroyed == 3
        header = erasure.header_dict()
        assert (header["kind"], header["action"], header["decision"]) == (
            "erasure", "ledger.erase", "permit"
        )  # fmt: skip
        assert (erasure.seq, erasure.patient_seq) == (6, 3)
        assert erasure.payload_dict() == {
            "erased_by": "dpo", "legal_basis": "RGPD art. 17", "erased_entries": 3
        }  # fmt: skip
        assert store.append_reads([erasure.patient_ref or ""]).patient_heads == {
            erasure.patient_ref: PatientHead(3, erasure.leaf_hash)
        }
        w.checkpoint()
        assert verify_ledger(store, str(w.signer.verifier)).erased == 3

    def test_erase_patient_keeps_headers(self, store: LedgerStore) -> None:
        w = self._writer(store)
        entries = w.append([lf.draft(i, "P1" if i % 2 else "P2") for i in range(6)])
        ref = w.appender.patient_ref("P1")
        assert store.erase_patient(ref) == 3
        assert store.erase_patient(ref) == 0
        after = list(store.entries(0, 10))
        for before, now in zip(entries, after, strict=True):
            assert now.header == before.header
            assert now.leaf_hash == before.leaf_hash
            erased = before.patient_ref == ref
            assert (now.payload is None and now.salt is None) == erased
