"""SqlLedgerStore: the shared store contract, plus what only a SQL store has to get right
(lock-free refusal of a forking append, search columns, paging, erasure, tamper evidence),
on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

import ledger_factory as lf
import pytest
from sqlalchemy import text
from store_contract import LedgerStoreContract

from ledger import hashing, merkle
from ledger.entry import LedgerHead
from ledger.errors import LedgerFault, LedgerStoreError
from ledger.export import verify_export
from ledger.store import LedgerStore
from ledger.verify import LedgerReport, verify_ledger
from models import ledger_store
from models.database import Database, UnitOfWork
from models.errors import IndexMismatchError
from models.ledger_index import SearchColumns
from models.ledger_store import COPY_THRESHOLD
from tests.models.conftest import Ledger, spy_driver


class TestSqlLedgerStoreContract(LedgerStoreContract):
    @pytest.fixture
    def store(self, uow: UnitOfWork) -> LedgerStore:
        return uow.ledger


def _count_rows(db: Database) -> tuple[int, int, int]:
    with db.read_only() as unit:
        return tuple(  # type: ignore[return-value]
            unit.session.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("ledger_entries", "merkle_nodes", "ledger_checkpoints")
        )


def test_append_refuses_what_would_fork_and_writes_nothing(db: Database, ledger: Ledger) -> None:
    entries = ledger.append([lf.draft(i, "P1") for i in range(3)])
    with db.unit_of_work() as unit:
        assert unit.ledger.head() == LedgerHead(3, entries[-1].leaf_hash)
        with pytest.raises(LedgerStoreError, match="seq 1 at size 3"):
            unit.ledger.append(entries[1:], [])
    stale = ledger.appender.build(LedgerHead(0, None), {}, [lf.draft(9, "P2")])
    with db.unit_of_work() as unit, pytest.raises(LedgerStoreError, match="seq 0 at size 3"):
        unit.ledger.append(stale.entries, [])
    with db.unit_of_work() as unit, pytest.raises(LedgerStoreError, match="position"):
        unit.ledger.append([entries[0], entries[2]], [])
    assert _count_rows(db) == (3, 4, 0)  # 3 leaves and node (1, 0)


def test_entries_round_trip_across_units_of_work_and_verify(db: Database, ledger: Ledger) -> None:
    written = []
    for start in range(0, 40, 7):
        written += ledger.append(
            [lf.draft(i, lf.patient_of(i, 4)) for i in range(start, start + 7)]
        )
        if start in (14, 28):
            with db.unit_of_work() as unit:
                ledger.writer(unit).checkpoint()
    with db.unit_of_work() as unit:
        ledger.writer(unit).erase_patient(
            "P0001", erased_by="dpo", legal_basis="RGPD art. 17", policy_version=lf.POLICY
        )
        signed = ledger.writer(unit).checkpoint()
    with db.read_only() as unit:
        report = verify_ledger(unit.ledger, ledger.key, origin=lf.ORIGIN, chunk_size=16)
        stored = unit.ledger.entries(0, 100)
        assert unit.ledger.checkpoint_latest().note == signed.note  # type: ignore[union-attr]
        assert unit.ledger.checkpoints()[-1] == signed.note
    assert report.entries == 43
    assert report.checkpoints == 3
    assert report.erased > 0
    assert [e.header for e in stored[:42]] == [e.header for e in written]
    assert report.root != hashing.EMPTY_ROOT


def test_parallel_verification_in_worker_processes(db: Database, ledger: Ledger) -> None:
    """``vigie ledger verify``'s parallel pass for real: spawned processes reading chunks through
    ``Database.ledger_reader`` (their own connections); same report, and after tampering the
    same fault, as the verification in one process."""
    for start in range(0, 600, 100):
        ledger.append([lf.draft(i, lf.patient_of(i, 9)) for i in range(start, start + 100)])
    with db.unit_of_work() as unit:
        ledger.writer(unit).checkpoint()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:

        def verify(chunk_size: int, search_columns: bool = False) -> LedgerReport:
            with db.read_only() as unit:
                reader = db.ledger_reader(search_columns=search_columns)
                return verify_ledger(unit.ledger, ledger.key, chunk_size=chunk_size,
                                     reader=reader, workers=2, executor=pool)  # fmt: skip

        with db.read_only() as unit:
            alone = verify_ledger(unit.ledger, ledger.key, chunk_size=64)
        assert verify(64) == alone
        assert verify(16) == alone
        assert verify(16).parallel == 592 and alone.parallel == 0
        assert verify(16, search_columns=True) == alone
        with db.unit_of_work() as unit:  # a search column disagreeing with its signed entry
            unit.session.execute(text("UPDATE ledger_entries SET mode = 'x' WHERE seq = 200"))
        checking = db.ledger_reader(search_columns=True)
        with db.read_only() as unit, pytest.raises(IndexMismatchError, match="seq 200"):
            verify_ledger(unit.ledger, ledger.key, chunk_size=16, reader=checking, workers=2,
                          executor=pool)  # fmt: skip
        with db.unit_of_work() as unit:
            header = unit.ledger.entries(300, 1)[0].header
            unit.session.execute(
                text("UPDATE ledger_entries SET header = :h WHERE seq = 300"),
                {"h": header.replace(b"permit", b"deny__", 1).replace(b'deny"', b'permi"', 1)},
            )
        with pytest.raises(LedgerFault) as fault:
            verify(64)
    assert (fault.value.seq, fault.value.kind) == (300, "modified")


def test_export_bundle_from_the_sql_store_verifies(db: Database, ledger: Ledger) -> None:
    ledger.append([lf.draft(i, lf.patient_of(i, 3)) for i in range(20)])
    export = lf.draft(99, "P0002", action="traces.export")
    with db.unit_of_work() as unit:
        writer = ledger.writer(unit)
        bundle = writer.export("P0002", writer.append([export])[0])
    report = verify_export(bundle, ledger.key)
    assert report is not None


def test_tampering_with_a_stored_header_is_found(db: Database, ledger: Ledger) -> None:
    ledger.append([lf.draft(i, "P1") for i in range(10)])
    with db.unit_of_work() as unit:
        ledger.writer(unit).checkpoint()
        unit.session.execute(
            text("UPDATE ledger_entries SET header = :h WHERE seq = 6"),
            {"h": unit.ledger.entries(6, 1)[0].header.replace(b"permit", b"deny__", 1)},
        )
    with db.read_only() as unit, pytest.raises(LedgerFault) as fault:
        verify_ledger(unit.ledger, ledger.key)
    assert fault.value.seq == 6


def test_search_columns_come_from_header_and_payload(db: Database, ledger: Ledger) -> None:
    (entry,) = ledger.append([lf.draft(3, "P1")])
    with db.read_only() as unit:
        (hit,) = unit.index.search()
    header = entry.header_dict()
    assert hit.entry == entry
    assert hit.seq == 0
    assert (hit.kind, hit.action, hit.mode, hit.decision, hit.reason) == (
        header["kind"],
        header["action"],
        header["mode"],
        header["decision"],
        header["reason"],
    )
    assert hit.time.isoformat().replace("+00:00", "Z") == header["time"]
    assert (hit.actor_id, hit.actor_type, hit.document_id, hit.decision_id) == (
        "81000000003",
        "professional",
        "D3",
        None,
    )


def test_explicit_index_rows_win_and_erasure_clears_personal_columns(
    db: Database, ledger: Ledger
) -> None:
    with db.unit_of_work() as unit:
        store = unit.ledger
        head = store.head()
        drafts = [lf.draft(i, "P1" if i < 2 else "P2") for i in range(3)]
        batch = ledger.appender.build(head, {}, drafts)
        nodes = merkle.new_nodes(store, head.size, [e.leaf_hash for e in batch.entries])
        index = [SearchColumns("PS-A", "professional", "DOC-A", f"dec-{i}") for i in range(3)]
        store.append(batch.entries, nodes, index)
        with pytest.raises(LedgerStoreError, match="index rows"):
            store.append(batch.entries, nodes, index[:1])
    with db.unit_of_work() as unit:
        assert unit.ledger.erase_patient(ledger.appender.patient_ref("P1")) == 2
        hits = {h.seq: h for h in unit.index.search()}
    assert [(hits[s].actor_id, hits[s].document_id, hits[s].decision_id) for s in (0, 1, 2)] == [
        (None, None, "dec-0"),
        (None, None, "dec-1"),
        ("PS-A", "DOC-A", "dec-2"),
    ]
    assert hits[0].entry.payload is None
    assert hits[2].entry.payload is not None


def test_search_filters_and_pages_newest_first(db: Database, ledger: Ledger) -> None:
    entries = []
    for i in range(30):
        entries += ledger.append([lf.draft(i, lf.patient_of(i, 3))])
    ref = ledger.appender.patient_ref("P0001")
    with db.read_only() as unit:
        search = unit.index.search
        mine = [e.seq for e in entries if e.patient_ref == ref][::-1]
        page1 = search(patient_ref=ref, limit=4)
        page2 = search(patient_ref=ref, limit=4, before_seq=page1[-1].seq)
        assert [h.seq for h in page1 + page2] == mine[:8]
        assert [h.seq for h in search(mode="break_glass")] == [
            i for i in range(29, -1, -1) if lf.MODES[i % 5] == "break_glass"
        ]
        assert [h.seq for h in search(decision="deny")] == [27, 16, 5]
        assert [h.seq for h in search(actor_id="81000000004", action="document.read")] == [4]
        assert {h.actor_type for h in search(actor_type="auditor")} == {"auditor"}
        times = [h.time for h in search(limit=100)][::-1]
        window = search(since=times[10], until=times[20], limit=100)
        assert [h.seq for h in window] == list(range(19, 9, -1))
        assert search(until=times[0]) == []
        assert search(since=times[-1] + timedelta(microseconds=1)) == []
        with pytest.raises(ValueError, match="limit"):
            search(limit=0)


def test_nodes_are_one_query_and_the_append_reads_one_round_trip(
    db: Database, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.append([lf.draft(i, f"P{i % 5:04d}") for i in range(64)])
    statements = spy_driver(monkeypatch, "rows")
    round_trips = spy_driver(monkeypatch, "queries")
    with db.read_only() as unit:
        keys = merkle.range_keys(0, 64) + merkle.range_keys(0, 63) + [(0, 64), (7, 0)]
        found = unit.ledger.nodes(keys)
        assert len(statements) == 1
        assert set(found) == set(keys) - {(0, 64), (7, 0)}
        refs = [ledger.appender.patient_ref(f"P{i:04d}") for i in range(7)]
        heads = unit.ledger.append_reads(refs).patient_heads
        assert len(round_trips) == 1
        assert len(round_trips[0]) == 3  # frontier, head (no lock taken), patient heads
        assert set(heads) == set(refs[:5])
        assert unit.ledger.nodes([]) == {}
        assert unit.ledger.append_reads([]).patient_heads == {}
        assert len(round_trips) == 2 and len(round_trips[1]) == 2


def test_many_nodes_read_level_by_level_give_what_key_by_key_gives(
    db: Database, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From BULK_NODES keys on, PostgreSQL reads each level's nodes in one index scan; the
    answer is the key-by-key one, also when a node is absent or its stored hash malformed."""
    ledger.append([lf.draft(i, f"P{i % 5:04d}") for i in range(100)])
    keys = [(level, idx) for level in range(7) for idx in range(100 >> level)]
    keys += [(level, idx) for level, idx in keys[::7]]  # repeated keys
    with db.read_only() as unit:
        monkeypatch.setattr(ledger_store, "BULK_NODES", 1 << 30)
        one_by_one = unit.ledger.nodes(keys)
        monkeypatch.setattr(ledger_store, "BULK_NODES", 4)
        statements = spy_driver(monkeypatch, "rows")
        assert unit.ledger.nodes(keys) == one_by_one
        assert len(one_by_one) == 100 + 50 + 25 + 12 + 6 + 3 + 1
        assert len(statements) == 1
        monkeypatch.setattr(ledger_store, "NODES_PER_STATEMENT", 40)  # levels split too
        assert unit.ledger.nodes(keys) == one_by_one
        backend = unit.ledger.driver.backend.name
        assert len(statements) == 1 + (-(-len(one_by_one) // 40) if backend == "postgresql" else 1)
        assert unit.ledger.nodes([*keys, (0, 100), (9, 0)]) == one_by_one  # absent: left out
    with db.unit_of_work() as unit:
        unit.session.execute(text("UPDATE merkle_nodes SET hash = :h WHERE level = 2 AND idx = 3"),
                             {"h": b"short"})  # fmt: skip
    with db.read_only() as unit:
        found = unit.ledger.nodes(keys)
    assert found[(2, 3)] == b"short"
    assert {k: v for k, v in found.items() if k != (2, 3)} == {
        k: v for k, v in one_by_one.items() if k != (2, 3)
    }


def test_checkpoint_latest_and_signed_at(db: Database, ledger: Ledger) -> None:
    with db.read_only() as unit:
        assert unit.ledger.checkpoint_latest() is None
    ledger.append([lf.draft(0, "P1")])
    with db.unit_of_work() as unit:
        signed = ledger.writer(unit).checkpoint()
    with db.read_only() as unit:
        latest = unit.ledger.checkpoint_latest()
    assert latest is not None
    assert (latest.size, latest.root, latest.note) == (1, signed.checkpoint.root, signed.note)
    assert latest.signed_at is not None and latest.signed_at.tzinfo is not None


def test_bulk_batches_are_stored_exactly(db: Database, ledger: Ledger) -> None:
    count = COPY_THRESHOLD * 2 + 5
    small = ledger.append([lf.draft(i, lf.patient_of(i, 9)) for i in range(3)])
    bulk = ledger.append([lf.draft(i, lf.patient_of(i, 9)) for i in range(3, 3 + count)])
    with db.read_only() as unit:
        stored = unit.ledger.entries(0, 1000)
        hits = unit.index.search(limit=1000)[::-1]
        root = merkle.root(unit.ledger, len(stored))
    assert stored == [*small, *bulk]
    tree = merkle.CompactRange()
    for entry in stored:
        tree.push_leaf(entry.leaf_hash)
    assert root == tree.root()
    for hit in hits:
        payload = hit.entry.payload_dict()
        assert payload is not None
        assert (hit.actor_id, hit.document_id) == (payload["actor_id"], payload["document_id"])
        assert hit.time.isoformat().replace("+00:00", "Z") == hit.entry.header_dict()["time"]


def test_search_columns_are_checked_against_the_entries(db: Database) -> None:
    """A changed search column (what /v1/audit/events filters on) is found and named."""
    from sqlalchemy import update as sql_update

    from models.table import LedgerEntryRow

    ledger = Ledger(db)
    ledger.append([lf.draft(i, "P1") for i in range(5)])
    with db.read_only() as unit:
        assert unit.index.check_search_columns() == 5
    with db.unit_of_work() as unit:
        unit.session.execute(
            sql_update(LedgerEntryRow).where(LedgerEntryRow.seq == 3).values(decision="deny")
        )
    with db.read_only() as unit, pytest.raises(IndexMismatchError, match=r"seq 3.*'decision'"):
        unit.index.check_search_columns()


def test_entries_deleted_after_the_last_checkpoint_are_found(db: Database) -> None:
    """Rows removed beyond the last signed checkpoint still disagree with the stored head."""
    from sqlalchemy import delete as sql_delete

    from models.table import LedgerEntryRow

    ledger = Ledger(db)
    ledger.append([lf.draft(i, "P1") for i in range(6)])
    with db.unit_of_work() as unit:
        ledger.writer(unit).checkpoint()
    ledger.append([lf.draft(i, "P1") for i in range(6, 9)])
    with db.unit_of_work() as unit:
        unit.session.execute(sql_delete(LedgerEntryRow).where(LedgerEntryRow.seq >= 7))
    with db.read_only() as unit, pytest.raises(LedgerFault) as caught:
        verify_ledger(unit.ledger, ledger.signer.verifier)
    assert (caught.value.seq, caught.value.kind) == (7, "deleted")


@pytest.mark.parametrize("size", [0, 1, 45, 64])
def test_a_batch_reads_the_head_the_frontier_and_the_patient_heads(
    db: Database, ledger: Ledger, size: int
) -> None:
    """What a group commit reads under the lock, in one round trip; the frontier's keys are
    computed in SQL from the stored size and equal merkle.frontier_keys."""
    appended = ledger.append([lf.draft(i, f"P{i % 3:04d}") for i in range(size)]) if size else ()
    refs = [ledger.appender.patient_ref(f"P{i:04d}") for i in range(4)]
    keys = merkle.frontier_keys(size)
    assert merkle.frontier_keys(45) == [(0, 44), (2, 10), (3, 4), (5, 0)]  # 32 + 8 + 4 + 1
    with db.unit_of_work() as unit:
        reads, facts = unit.read_batch([], refs)
        assert facts == []
        assert reads.head == unit.ledger.head() and reads.head.size == size
        last = {e.patient_ref: (e.patient_seq, e.leaf_hash) for e in appended}
        assert reads.patient_heads == {ref: last[ref] for ref in refs if ref in last}
        assert reads == unit.ledger.append_reads(refs)
        assert set(reads.patient_heads) == set(refs[: min(size, 3)])
        assert reads.frontier == unit.ledger.nodes(keys) and set(reads.frontier) == set(keys)
        leaves = [hashing.leaf_hash(b"x")] * 3
        assert merkle.new_nodes(merkle.Nodes(reads.frontier), size, leaves) == merkle.new_nodes(
            unit.ledger, size, leaves
        )
