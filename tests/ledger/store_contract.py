"""Contract tests every LedgerStore implementation must pass.

Reuse from another test module (e.g. the SQL store's)::

    from store_contract import LedgerStoreContract   # tests/ledger on sys.path

    class TestSqlLedgerStore(LedgerStoreContract):
        @pytest.fixture
        def store(self, pg_database_url): return SqlLedgerStore(...)

The fixture must return an empty store; the tests drive it through a LedgerWriter.
"""

from __future__ import annotations

import ledger_factory as lf
import pytest

from ledger import merkle
from ledger.entry import LedgerHead
from ledger.errors import LedgerStoreError
from ledger.store import LedgerStore
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
        assert dict(store.nodes([(0, 0)])) == {}
        assert dict(store.patient_heads(["ab" * 32])) == {}

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
        heads = store.patient_heads([ref, "00" * 32])
        assert set(heads) == {ref}
        assert heads[ref] == (len(mine) - 1, mine[-1].leaf_hash)
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
