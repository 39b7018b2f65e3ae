"""Entries: header schema, chains built by the appender, patient_ref, entries without patient."""

from __future__ import annotations

import hmac
from datetime import datetime
from hashlib import sha256

import ledger_factory as lf
import pytest

from ledger.canonical import canonicalize
from ledger.entry import (
    HEADER_KEYS,
    Appender,
    LedgerHead,
    PatientHead,
    check_header,
    parse_header,
)
from ledger.errors import EntryError
from ledger.hashing import leaf_hash


def test_batch_chains_and_commitments() -> None:
    app = lf.appender(3)
    drafts = [lf.draft(i, lf.patient_of(i, 2)) for i in range(15)]
    prev_leaf = sha256(b"previous").digest()
    known = app.patient_ref("P0000")
    batch = app.build(LedgerHead(100, prev_leaf), {known: PatientHead(4, b"\x07" * 32)}, drafts)
    assert [e.seq for e in batch.entries] == list(range(100, 115))
    last_of: dict[str, tuple[int, bytes]] = {known: (4, b"\x07" * 32)}
    previous = prev_leaf
    for entry, draft in zip(batch.entries, drafts, strict=True):
        header = parse_header(entry.header)
        assert set(header) == HEADER_KEYS
        assert entry.header == canonicalize(header)
        assert entry.leaf_hash == sha256(b"\x00" + entry.header).digest()
        assert header["prev"] == previous.hex()
        assert entry.salt is not None
        assert len(entry.salt) == 32
        assert entry.payload is not None
        assert header["payload_hash"] == sha256(entry.salt + entry.payload).hexdigest()
        payload = entry.payload_dict()
        assert payload is not None
        if draft.patient_id is None:
            assert (header["patient_ref"], header["patient_seq"], header["patient_prev"]) == (
                None, None, None,
            )  # fmt: skip
            assert "patient_id" not in payload
        else:
            ref = hmac.new(lf.SECRET, draft.patient_id.encode(), sha256).hexdigest()
            assert header["patient_ref"] == ref == entry.patient_ref
            last = last_of.get(ref)
            assert header["patient_seq"] == (0 if last is None else last[0] + 1)
            assert header["patient_prev"] == (None if last is None else last[1].hex())
            assert payload["patient_id"] == draft.patient_id
            last_of[ref] = (header["patient_seq"], entry.leaf_hash)
        previous = entry.leaf_hash
    assert batch.head == LedgerHead(115, previous)
    assert {r: (h.patient_seq, h.leaf_hash) for r, h in batch.patient_heads.items()} == last_of
    datetime.fromisoformat(parse_header(batch.entries[0].header)["time"].replace("Z", "+00:00"))


def test_header_schema_violations_are_named() -> None:
    entry = lf.appender().build(LedgerHead(0, None), {}, [lf.draft(0, "P1")]).entries[0]
    good = dict(parse_header(entry.header))
    assert good["prev"] is None
    check_header(good)  # type: ignore[arg-type]
    cases = {
        "v": 2, "seq": -1, "time": "2026-07-01T08:30:00Z", "kind": "other", "decision": "maybe",
        "policy_version": "ABC", "patient_seq": None, "prev": "00" * 32, "obligations": [{}],
        "payload_hash": None,
    }  # fmt: skip
    for field, value in cases.items():
        bad = {**good, field: value}
        with pytest.raises(EntryError, match=field.split("_")[0]):
            check_header(bad)  # type: ignore[arg-type]
    with pytest.raises(EntryError, match="missing"):
        check_header({k: v for k, v in good.items() if k != "reason"})  # type: ignore[arg-type]
    with pytest.raises(EntryError, match="not canonical"):
        parse_header(entry.header.replace(b'{"action"', b'{ "action"'))
    assert leaf_hash(entry.header) == entry.leaf_hash


def test_appender_preconditions() -> None:
    app = lf.appender()
    with pytest.raises(EntryError, match="nothing"):
        app.build(LedgerHead(0, None), {}, [])
    with pytest.raises(EntryError, match="inconsistent head"):
        app.build(LedgerHead(3, None), {}, [lf.draft(0, "P1")])
    with pytest.raises(EntryError, match="at least 16"):
        Appender(b"short", lf.Clock(), bytes)
    naive_clock = Appender(lf.SECRET, lambda: datetime(2026, 1, 1), bytes)
    with pytest.raises(EntryError, match="timezone"):
        naive_clock.build(LedgerHead(0, None), {}, [lf.draft(0, "P1")])
    weak = Appender(lf.SECRET, lf.Clock(), lambda n: b"\x00" * (n - 1))
    with pytest.raises(EntryError, match="randomness"):
        weak.build(LedgerHead(0, None), {}, [lf.draft(0, "P1")])
    draft = lf.draft(0, "P1")
    conflicting = type(draft)(**{**{f: getattr(draft, f) for f in draft.__slots__},
                                 "payload": {"patient_id": "P2"}})  # fmt: skip
    with pytest.raises(EntryError, match="differs"):
        app.build(LedgerHead(0, None), {}, [conflicting])
