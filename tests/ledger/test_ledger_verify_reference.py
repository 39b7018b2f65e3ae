"""The reference path alone (``verify_ledger(..., fast=False)``, the specification) against
the fast path and the parallel path: over random ledgers, clean or with one random byte
changed, all three give the same verdict (the same report, or the same first fault seq and
kind)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import ledger_factory as lf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import merkle
from ledger.entry import Entry
from ledger.hashing import leaf_hash
from ledger.store import InMemoryLedgerStore
from ledger.verify import Columns, LedgerFault, LedgerReport, verify_ledger

FIELDS = ("header", "header+leaf", "payload", "salt", "leaf_hash")


@pytest.fixture(scope="module")
def threads() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        yield pool


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[InMemoryLedgerStore, str]:
    """A random valid ledger: size, patients, batches, checkpoints, and sometimes an erasure."""
    n = draw(st.integers(1, 90))
    checkpoints = draw(st.lists(st.integers(1, n), max_size=4, unique=True))
    w = lf.build(
        n,
        patients=draw(st.integers(1, 6)),
        checkpoints=sorted(checkpoints),
        batch=draw(st.integers(1, 12)),
        seed=draw(st.integers(0, 3)),
    )
    if draw(st.booleans()):
        w.erase_patient("P0000", erased_by="dpo", legal_basis="art. 17", policy_version=lf.POLICY)
        if draw(st.booleans()):
            w.checkpoint()
    assert isinstance(w.store, InMemoryLedgerStore)
    return w.store, str(w.signer.verifier)


def _verdict(store: InMemoryLedgerStore, key: str, **options: object) -> object:
    """The report of a verification, or the (seq, kind) of the fault it raised."""
    try:
        report: LedgerReport = verify_ledger(store, key, **options)  # type: ignore[arg-type]
    except LedgerFault as fault:
        return (fault.seq, fault.kind)
    return report


def _flip(entry: Entry, field: str, at: int, xor: int) -> Entry:
    """``entry`` with one byte of ``field`` changed (``header+leaf``: the stored leaf hash
    then fixed, as a forger would); unchanged when the field is gone (an erased payload)."""
    name = "header" if field == "header+leaf" else field
    value: bytes | None = getattr(entry, name)
    if not value:
        return entry
    i = at % len(value)
    changed = value[:i] + bytes([value[i] ^ xor]) + value[i + 1 :]
    entry = dataclasses.replace(entry, **{name: changed})
    if field == "header+leaf":
        entry = dataclasses.replace(entry, leaf_hash=leaf_hash(changed))
    return entry


def _three_ways(
    store: InMemoryLedgerStore, key: str, chunk_size: int, pool: ThreadPoolExecutor
) -> object:
    """The verdict of the reference alone, asserted equal to the fast and the parallel one."""
    reference = _verdict(store, key, chunk_size=chunk_size, fast=False)
    assert _verdict(store, key, chunk_size=chunk_size) == reference
    reader = lambda first, limit: Columns.of(store.entries(first, limit))  # noqa: E731
    parallel = _verdict(store, key, chunk_size=chunk_size, reader=reader, workers=2, executor=pool)
    assert parallel == reference
    return reference


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ledgers(), st.sampled_from([1, 8, 64, 4096]))
def test_the_reference_alone_accepts_a_clean_ledger_with_the_same_report(
    threads: ThreadPoolExecutor, ledger: tuple[InMemoryLedgerStore, str], chunk_size: int
) -> None:
    store, key = ledger
    report = _three_ways(store, key, chunk_size, threads)
    assert isinstance(report, LedgerReport)
    tree = merkle.CompactRange()
    for entry in store.records:
        tree.push_leaf(entry.leaf_hash)
    assert (report.entries, report.root) == (store.head().size, tree.root())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ledgers(),
    st.data(),
    st.sampled_from(FIELDS),
    st.integers(0, 1 << 16),
    st.integers(1, 255),
    st.sampled_from([1, 8, 64, 4096]),
)
def test_one_changed_byte_gets_the_same_verdict_from_reference_fast_and_parallel(
    threads: ThreadPoolExecutor,
    ledger: tuple[InMemoryLedgerStore, str],
    data: st.DataObject,
    field: str,
    at: int,
    xor: int,
    chunk_size: int,
) -> None:
    """Any single changed byte of a header, payload, salt or stored leaf hash: the fast and
    parallel paths find exactly the first fault the reference finds, or all accept. All must
    notice the change unless nothing changed (an erased entry has no payload to change) or a
    forger rewrote the last entry, signed by no checkpoint, and its stored leaf hash with it."""
    store, key = ledger
    clean = verify_ledger(store, key)
    j = data.draw(st.integers(0, len(store.records) - 1))
    original = store.records[j]
    store.records[j] = _flip(original, field, at, xor)
    verdict = _three_ways(store, key, chunk_size, threads)
    unsigned_tip = j == clean.entries - 1 and clean.largest_checkpoint < clean.entries
    if store.records[j] != original and not (field == "header+leaf" and unsigned_tip):
        assert not isinstance(verdict, LedgerReport), "a changed byte went unnoticed"
        seq, _kind = verdict  # type: ignore[misc]
        assert abs(seq - j) <= 1
