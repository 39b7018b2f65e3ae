"""Whole-ledger verification: clean ledgers pass; any single tampering is found and located."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from hashlib import sha256

import ledger_factory as lf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import canonicalize
from ledger.entry import Entry, parse_header
from ledger.errors import LedgerFault
from ledger.hashing import leaf_hash
from ledger.store import InMemoryLedgerStore
from ledger.verify import ChunkReader, Columns, ScanState, full, verify_ledger
from ledger.verify.fast import Scanner

N = 60
pristine_levels: list[list[bytes]] = []
CHECKPOINTS = (13, 30, 60)


@pytest.fixture(scope="module")
def pristine() -> tuple[list[Entry], list[str], str]:
    w = lf.build(N, patients=4, checkpoints=CHECKPOINTS, batch=7)
    assert isinstance(w.store, InMemoryLedgerStore)
    pristine_levels[:] = w.store.levels
    return list(w.store.records), list(w.store.notes), str(w.signer.verifier)


def _store(pristine: tuple[list[Entry], list[str], str]) -> InMemoryLedgerStore:
    records, notes, _ = pristine
    store = InMemoryLedgerStore()
    store.records = list(records)
    store.notes = list(notes)
    # a dishonest operator edits entries; the Merkle node table stays as it was (verification
    # never trusts it, but may use it to tell which of two linked entries changed)
    store.levels = [list(row) for row in pristine_levels]
    return store


def _fault(store: InMemoryLedgerStore, key: str, chunk_size: int) -> tuple[int, str]:
    with pytest.raises(LedgerFault) as caught:
        verify_ledger(store, key, chunk_size=chunk_size)
    return caught.value.seq, caught.value.kind


def _reader(store: InMemoryLedgerStore) -> ChunkReader:
    return lambda first, limit: Columns.of(store.entries(first, limit))


def _parallel_fault(
    store: InMemoryLedgerStore, key: str, chunk_size: int, pool: ThreadPoolExecutor
) -> tuple[int, str]:
    with pytest.raises(LedgerFault) as caught:
        verify_ledger(
            store, key, chunk_size=chunk_size, reader=_reader(store), workers=2, executor=pool
        )
    return caught.value.seq, caught.value.kind


@pytest.fixture(scope="module")
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


def _rewrite(entry: Entry, header: dict[str, object], fix_leaf: bool) -> Entry:
    raw = canonicalize(header)
    return dataclasses.replace(
        entry, header=raw, leaf_hash=leaf_hash(raw) if fix_leaf else entry.leaf_hash
    )


@pytest.mark.parametrize("chunk_size", [1, 8, 4096])
def test_clean_ledger_verifies(
    pristine: tuple[list[Entry], list[str], str], chunk_size: int
) -> None:
    calls: list[tuple[int, int]] = []
    report = verify_ledger(
        _store(pristine),
        pristine[2],
        chunk_size=chunk_size,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert (report.entries, report.checkpoints, report.largest_checkpoint) == (N, 3, N)
    assert calls[-1] == (N, N)
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})


@pytest.mark.parametrize("chunk_size", [1, 8, 16, 64])
def test_parallel_verification_of_a_clean_ledger_reports_the_same(
    pristine: tuple[list[Entry], list[str], str], threads: ThreadPoolExecutor, chunk_size: int
) -> None:
    store, key = _store(pristine), pristine[2]
    calls: list[tuple[int, int]] = []
    report = verify_ledger(
        store,
        key,
        chunk_size=chunk_size,
        reader=_reader(store),
        workers=2,
        executor=threads,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert report == verify_ledger(store, key, chunk_size=chunk_size)
    assert calls[-1] == (N, N)
    assert [done for done, _ in calls] == sorted({done for done, _ in calls})


def test_a_chunk_the_workers_decline_is_verified_here_and_the_workers_go_on(
    pristine: tuple[list[Entry], list[str], str],
) -> None:
    """A chunk whose worker result is in doubt (here the worker read a wrong leaf hash) is read
    again and verified in this process; the workers' results for later chunks are used."""
    store, key = _store(pristine), pristine[2]
    entries = store.entries
    scanned: list[int] = []

    def reader(first: int, limit: int) -> Columns:
        scanned.append(first)
        columns = Columns.of(entries(first, limit))
        if first == 16:
            return columns._replace(leaf_hashes=[b"\x00" * 32, *columns.leaf_hashes[1:]])
        return columns

    reread: list[int] = []

    def spy(first: int, limit: int) -> list[Entry]:
        reread.append(first)
        return entries(first, limit)

    store.entries = spy  # type: ignore[method-assign]
    with ThreadPoolExecutor(2) as pool:
        report = verify_ledger(store, key, chunk_size=8, reader=reader, workers=2, executor=pool)
    store.entries = entries  # type: ignore[method-assign]
    assert report == verify_ledger(store, key, chunk_size=8)
    assert sorted(scanned) == list(range(0, N - N % 8, 8))
    assert reread == [16, N - N % 8, N]  # the declined chunk, then the tail after the workers


MUTATIONS = [
    "header", "header+leaf", "prev+leaf", "payload", "salt", "swap", "delete", "insert_forged",
    "insert_duplicate", "truncate", "erase_unjustified",
]  # fmt: skip


@pytest.mark.parametrize("mutation", MUTATIONS)
@pytest.mark.parametrize("j", [0, 1, 12, 13, 29, 30, 58, 59])
def test_tampering_at_chunk_and_checkpoint_edges(
    pristine: tuple[list[Entry], list[str], str], mutation: str, j: int
) -> None:
    tampered = _tampered(pristine, mutation, j, 17)
    if tampered is None:
        return
    store, expected = tampered
    key = pristine[2]
    assert _fault(store, key, 8) == expected
    assert _fault(store, key, 4096) == expected
    with ThreadPoolExecutor(2) as pool:
        assert _parallel_fault(store, key, 8, pool) == expected


def _tampered(
    pristine: tuple[list[Entry], list[str], str], mutation: str, j: int, k: int
) -> tuple[InMemoryLedgerStore, tuple[int, str]] | None:
    """The pristine ledger with one ``mutation`` at ``j`` (``k``: the other entry of a swap),
    and the (seq, kind) verification must report; None when the mutation does not apply."""
    store = _store(pristine)
    records = store.records
    entry = records[j]
    header = dict(parse_header(entry.header))
    if mutation in ("header", "header+leaf"):
        header["decision"] = "deny" if header["decision"] == "permit" else "permit"
        records[j] = _rewrite(entry, header, mutation == "header+leaf")
        expected = (j, "modified")
    elif mutation == "prev+leaf":
        if j == 0:
            return None
        header["prev"] = sha256(b"x").hexdigest()
        records[j] = _rewrite(entry, header, True)
        expected = (j, "modified")
    elif mutation == "payload":
        assert entry.payload is not None
        records[j] = dataclasses.replace(entry, payload=entry.payload.replace(b"D", b"E", 1))
        expected = (j, "payload_mismatch")
    elif mutation == "salt":
        assert entry.salt is not None
        records[j] = dataclasses.replace(entry, salt=bytes([entry.salt[0] ^ 1]) + entry.salt[1:])
        expected = (j, "payload_mismatch")
    elif mutation == "swap":
        other = (j + k) % N
        if other == j:
            return None
        records[j], records[other] = records[other], records[j]
        expected = (min(j, other), "reordered")
    elif mutation == "delete":
        del records[j]
        expected = (j, "deleted") if j < N - 1 else (N - 1, "truncated")
    elif mutation == "insert_forged":
        if j == 0:
            return None
        header["prev"] = records[j - 1].leaf_hash.hex()
        header["reason"] = "forged"
        forged = _rewrite(entry, header, True)
        records.insert(j, forged)
        expected = (j, "inserted")
    elif mutation == "insert_duplicate":
        records.insert(j, records[j])
        expected = (j, "inserted")
    elif mutation == "truncate":
        keep = j
        del records[keep:]
        expected = (keep, "truncated")
    else:  # erase_unjustified: a payload destroyed without an erasure entry
        records[j] = dataclasses.replace(entry, payload=None, salt=None)
        expected = (j, "payload_mismatch")
    return store, expected


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(MUTATIONS), st.integers(0, N - 1), st.integers(1, N - 1),
       st.sampled_from([1, 4, 8, 64]))  # fmt: skip
def test_any_single_tampering_is_detected_and_located(
    pristine: tuple[list[Entry], list[str], str], mutation: str, j: int, k: int, chunk_size: int
) -> None:
    tampered = _tampered(pristine, mutation, j, k)
    if tampered is not None:
        store, expected = tampered
        assert _fault(store, pristine[2], chunk_size) == expected


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(MUTATIONS), st.integers(0, N - 1), st.integers(1, N - 1),
       st.sampled_from([1, 4, 8, 16]))  # fmt: skip
def test_parallel_verification_finds_the_same_fault(
    pristine: tuple[list[Entry], list[str], str],
    threads: ThreadPoolExecutor,
    mutation: str,
    j: int,
    k: int,
    chunk_size: int,
) -> None:
    """Workers (threads here, processes in the service) check chunks ahead; the fault named is
    the one the sequential verification names."""
    tampered = _tampered(pristine, mutation, j, k)
    if tampered is not None:
        store, expected = tampered
        assert _parallel_fault(store, pristine[2], chunk_size, threads) == expected


@pytest.mark.parametrize("mutation", [None, *MUTATIONS])
def test_one_process_with_a_reader_reads_ahead_and_finds_the_same(
    pristine: tuple[list[Entry], list[str], str],
    monkeypatch: pytest.MonkeyPatch,
    mutation: str | None,
) -> None:
    """With a reader and one worker, chunks are read and scanned ahead in a thread of this
    process (from PARALLEL_MIN entries on, lowered here): the same report, the same fault."""
    tampered = (
        (_store(pristine), None) if mutation is None else _tampered(pristine, mutation, 21, 9)
    )
    assert tampered is not None
    store, expected = tampered
    key = pristine[2]
    monkeypatch.setattr(full, "PARALLEL_MIN", 1)
    if expected is None:
        report = verify_ledger(store, key, chunk_size=8, reader=_reader(store), workers=1)
        assert report == verify_ledger(store, key, chunk_size=8)
        assert report.parallel == N - N % 8
        return
    with pytest.raises(LedgerFault) as caught:
        verify_ledger(store, key, chunk_size=8, reader=_reader(store), workers=1)
    assert (caught.value.seq, caught.value.kind) == expected == _fault(store, key, 8)


def test_full_rewrite_of_a_signed_entry_is_caught_by_the_checkpoint(
    pristine: tuple[list[Entry], list[str], str],
) -> None:
    """Rewriting the last covered entry and every later link still hits the signed root."""
    store = _store(pristine)
    records = store.records[:30]
    store.records = records
    store.notes = store.notes[:2]  # checkpoints 13 and 30
    header = dict(parse_header(records[29].header))
    header["decision"] = "deny" if header["decision"] == "permit" else "permit"
    records[29] = _rewrite(records[29], header, True)
    assert _fault(store, pristine[2], 8) == (29, "modified")


def test_bad_signature_and_forks(pristine: tuple[list[Entry], list[str], str]) -> None:
    store = _store(pristine)
    note = store.notes[1]
    store.notes[1] = note.replace("vigie.local/ledger\n30\n", "vigie.local/ledger\n31\n")
    assert _fault(store, pristine[2], 8) == (30, "bad_signature")
    other = lf.note_signer(9)
    assert _fault(_store(pristine), str(other.verifier), 8)[1] == "bad_signature"

    fork = lf.build(30, patients=2, checkpoints=(30,), batch=5, seed=0)
    forked_store = _store(pristine)
    forked_store.notes.append(fork.store.checkpoints()[-1])  # same key, other tree, size 30
    assert _fault(forked_store, pristine[2], 8) == (29, "forked")

    fork20 = lf.build(20, patients=2, checkpoints=(20,), batch=5, seed=0)
    forked_store = _store(pristine)
    forked_store.notes.insert(0, fork20.store.checkpoints()[-1])  # size 20: not this tree
    assert _fault(forked_store, pristine[2], 8) == (19, "forked")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, N - 1), st.integers(0, 10_000), st.binary(min_size=1, max_size=3))
def test_fast_scan_accepts_only_what_the_reference_accepts(
    pristine: tuple[list[Entry], list[str], str], j: int, offset: int, junk: bytes
) -> None:
    """Splice bytes into one header (and fix its stored leaf hash, as a forger would): the fast
    pass may accept the chunk only if the header still parses as canonical v1."""
    records = list(pristine[0])
    entry = records[j]
    at = offset % len(entry.header)
    mutated = entry.header[:at] + junk + entry.header[at + 1 :]
    records[j] = dataclasses.replace(entry, header=mutated, leaf_hash=leaf_hash(mutated))
    leaves = [leaf_hash(e.header) for e in records]
    accepted = Scanner().chunk(ScanState(), records, leaves)
    if accepted:
        parse_header(mutated)
    store = _store(pristine)
    store.records = records
    if mutated != entry.header:
        with pytest.raises(LedgerFault) as caught:
            verify_ledger(store, pristine[2], chunk_size=64)
        assert caught.value.seq in (j, j - 1, j + 1)


@pytest.mark.parametrize("where", ["patient_ref twice", "patient_ref", "reason", "patient_seq"])
def test_a_raw_newline_in_a_header_is_a_located_fault(
    pristine: tuple[list[Entry], list[str], str], threads: ThreadPoolExecutor, where: str
) -> None:
    """The fast pass joins header parts with newlines; a forged header holding one (even one
    whose pieces each look like a valid part) is declined there and named by the reference
    path, with or without workers."""
    # the last entry of a chunk of 8: its successor's prev link is only checked in the next one
    j = next(i for i, e in enumerate(pristine[0]) if e.patient_ref is not None and i % 8 == 7)
    store = _store(pristine)
    entry = store.records[j]
    name = where.split(maxsplit=1)[0].encode()
    at = entry.header.index(b'"%s":' % name) + len(name) + 3
    if where == "patient_ref twice":
        at += 66  # after the value: the part becomes 'patient_ref":"<r>"\npatient_ref":"<r>"'
        insert = b'\npatient_ref":"%s"' % entry.patient_ref.encode()  # type: ignore[union-attr]
    else:
        insert = b"\n"
    mutated = entry.header[:at] + insert + entry.header[at:]
    store.records[j] = dataclasses.replace(entry, header=mutated, leaf_hash=leaf_hash(mutated))
    assert _fault(store, pristine[2], 8) == (j, "modified")
    assert _parallel_fault(store, pristine[2], 8, threads) == (j, "modified")


def test_state_is_unchanged_when_the_fast_scan_declines(
    pristine: tuple[list[Entry], list[str], str],
) -> None:
    records = list(pristine[0])
    scanner, state = Scanner(), ScanState()
    assert scanner.chunk(state, records[:20], [e.leaf_hash for e in records[:20]])
    before = (state.position, dict(state.patient_seqs), dict(state.patient_leaves))
    bad = records[20:40]
    bad[10] = dataclasses.replace(bad[10], salt=b"\x00" * 32)
    assert not scanner.chunk(state, bad, [e.leaf_hash for e in bad])
    assert (state.position, state.patient_seqs, state.patient_leaves) == before


def test_reads_of_many_scan_blocks_locate_faults_in_any_block() -> None:
    """A read of 4096 entries is scanned a block at a time; a fault in a later block is still
    located, erasures in any block are accounted for, and the state carries across blocks."""
    w = lf.build(2600, patients=30, checkpoints=(1500, 2600), batch=100, seed=3)
    w.erase_patient("P0007", erased_by="dpo", legal_basis="art. 17", policy_version=lf.POLICY)
    assert isinstance(w.store, InMemoryLedgerStore)
    key = str(w.signer.verifier)
    report = verify_ledger(w.store, key)
    assert (report.entries, report.checkpoints) == (2601, 2)
    assert report.erased == len(w.store.entries_for_patient(w.appender.patient_ref("P0007"))) - 1
    records = list(w.store.records)
    for j in (5, 1030, 2100, 2599):
        entry = records[j]
        if entry.payload is None:
            continue
        w.store.records = list(records)
        w.store.records[j] = dataclasses.replace(entry, payload=entry.payload + b" ")
        with pytest.raises(LedgerFault) as caught:
            verify_ledger(w.store, key)
        assert (caught.value.seq, caught.value.kind) == (j, "payload_mismatch")
    w.store.records = records
