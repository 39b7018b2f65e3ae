"""``SqlLedgerStore``: the :class:`ledger.store.LedgerStore` port over SQLAlchemy.

Every method runs in the caller's session and transaction (a ``UnitOfWork``); appends rely on
the unit of work holding the append lock (the ``ledger_heads`` row), and ``append`` itself
refuses a batch whose first seq is not the stored size, so even a caller that forgot the lock
cannot fork the chain. An append also fills the search columns beside each entry (see
``models.ledger_index``, which searches and checks them). The service writes it only through
``ledger.writer.LedgerWriter``; what an append reads under the lock is one round trip
(``append_plan``), which ``models.database.UnitOfWork.read_batch`` shares with the facts.

Bulk appends (``COPY_THRESHOLD`` entries or more) use ``COPY`` on PostgreSQL; everything else
is one ``executemany`` per table.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ledger.checkpoint import SignedCheckpoint
from ledger.entry import Entry, LedgerHead, PatientHead
from ledger.errors import LedgerStoreError
from ledger.hashing import HASH_SIZE
from ledger.merkle import Node, NodeKey
from ledger.store import AppendReads, StoredCheckpoint
from ledger.verify import Columns
from models.backends import Backend
from models.driver import Driver, Plan, stored_time
from models.ledger_index import SearchColumns, index_from_payload
from models.table import (
    CheckpointRow,
    LedgerEntryRow,
    table_of,
)

_CHECKPOINTS = table_of(CheckpointRow)
_E = LedgerEntryRow
# The statements of every append run on the driver (models/driver.py); the two whose SQL
# differs by backend (the patients' heads, the nodes by key) are in models/backends.py.
# Many stored nodes at once (an export's proofs: 120 k keys at 10 M entries), on PostgreSQL:
# one index scan per level over that level's sorted keys (``idx = ANY``, about 2.6 us a key
# against 4 for the probes above), each level's hashes coming back as one concatenated bytea
# with its count. Each level's keys travel as comma-separated text, the levels split by ';'.
_NODES_PER_LEVEL = (
    "SELECT k.level, n.found, n.hashes FROM unnest(CAST(string_to_array(:levels, ',') AS"
    " smallint[]), string_to_array(:idxs, ';')) AS k(level, idxs),"
    " LATERAL (SELECT count(*) AS found, string_agg(hash, ''::bytea ORDER BY idx) AS hashes"
    " FROM merkle_nodes WHERE level = k.level"
    " AND idx = ANY(CAST(string_to_array(k.idxs, ',') AS bigint[]))) AS n"
)
_IDX_BITS = 63  # node indices are below 2^63 (bigint): a packed key puts the level above
_IDX_MASK = (1 << _IDX_BITS) - 1
BULK_NODES = 512
"""From this many keys on, PostgreSQL reads nodes level by level (:data:`_NODES_PER_LEVEL`)."""
NODES_PER_STATEMENT = 16_384
"""Keys per level-by-level statement. From a cold cache a key costs up to ~50 us of random
reads (10 M entries: 120 k keys, 4.6 s in one statement), so an export's nodes are read in
several statements, each well inside the statement timeout. From memory the extra round trips
are lost in the noise (1 M entries, 10 k spread leaves: 0.33-0.44 s against 0.30-0.40 s)."""
HEAD_SQL = "SELECT size, leaf_hash FROM ledger_heads WHERE id = 1"
# The frontier of the stored tree (merkle.frontier_keys of its size), keys computed in SQL so
# that it can be read in the same round trip as the head.
_FRONTIER = (
    "WITH RECURSIVE levels(level) AS (SELECT 0 UNION ALL SELECT level + 1 FROM levels"
    " WHERE level < 62)"
    " SELECT n.level, n.idx, n.hash FROM ledger_heads AS h CROSS JOIN levels AS l"
    " JOIN merkle_nodes AS n ON n.level = l.level AND n.idx = (h.size >> l.level) - 1"
    " WHERE h.id = 1 AND ((h.size >> l.level) & 1) = 1"
)
_MOVE_HEAD = (
    "UPDATE ledger_heads SET size = :size, leaf_hash = :leaf_hash WHERE id = 1 AND size = :first"
)
_ROW_KEYS = (
    "seq", "header", "payload", "salt", "leaf_hash", "patient_ref", "patient_seq", "time",
    "kind", "action", "mode", "decision", "reason", "actor_id", "actor_type", "document_id",
    "decision_id",
)  # fmt: skip
_COLUMNS, _VALUES = ", ".join(_ROW_KEYS), ", ".join(":" + key for key in _ROW_KEYS)
_INSERT_ENTRY = f"INSERT INTO ledger_entries ({_COLUMNS}) VALUES ({_VALUES})"  # noqa: S608
_ENTRIES_FROM = (
    "SELECT seq, header, payload, salt, leaf_hash, patient_ref, patient_seq FROM ledger_entries"
    " WHERE seq >= :first ORDER BY seq LIMIT :limit"
)
_COLUMNS_FROM = (
    "SELECT header, payload, salt, leaf_hash FROM ledger_entries"
    " WHERE seq >= :first ORDER BY seq LIMIT :limit"
)
_ENTRIES_OF_PATIENT = (
    "SELECT seq, header, payload, salt, leaf_hash, patient_ref, patient_seq FROM ledger_entries"
    " WHERE patient_ref = :ref ORDER BY patient_seq"
)
_INSERT_NODE = "INSERT INTO merkle_nodes (level, idx, hash) VALUES (:level, :idx, :hash)"
COPY_THRESHOLD = 64
"""Batches at least this long go to PostgreSQL by ``COPY`` (several times faster than
``executemany`` for bulk loads; smaller ones use plain inserts)."""


def _entry_row(entry: Entry, index: SearchColumns | None, backend: Backend) -> dict[str, Any]:
    """The column values of ``entry`` as the driver binds them."""
    header = json.loads(entry.header)
    if index is None:
        index = index_from_payload(entry.payload)
    return {
        "seq": entry.seq,
        "header": entry.header,
        "payload": entry.payload,
        "salt": entry.salt,
        "leaf_hash": entry.leaf_hash,
        "patient_ref": entry.patient_ref,
        "patient_seq": entry.patient_seq,
        "time": stored_time(datetime.fromisoformat(header["time"]), backend),
        "kind": header["kind"],
        "action": header["action"],
        "mode": header["mode"],
        "decision": header["decision"],
        "reason": header["reason"],
        "actor_id": index.actor_id,
        "actor_type": index.actor_type,
        "document_id": index.document_id,
        "decision_id": index.decision_id,
    }


class SqlLedgerStore:
    """A :class:`ledger.store.LedgerStore` over one SQLAlchemy session (see the module
    docstring). Precondition for writes: the session's transaction holds the append lock."""

    def __init__(self, session: Session, locked_head: LedgerHead | None = None) -> None:
        self.session = session
        self.driver = Driver(session)
        self._head = locked_head  # known while this transaction holds the append lock

    def head(self) -> LedgerHead:
        if self._head is not None:
            return self._head
        return self._read_head(self.driver.rows(HEAD_SQL, {}))

    @staticmethod
    def _read_head(rows: list[Any]) -> LedgerHead:
        if not rows:
            raise LedgerStoreError("ledger_heads has no row 1: the schema is not migrated")
        return LedgerHead(rows[0][0], rows[0][1])

    def append_reads(self, patient_refs: Collection[str]) -> AppendReads:
        """:meth:`append_plan` alone, in one round trip."""
        reads: AppendReads = self.driver.run(self.append_plan(patient_refs))[0]
        return reads

    def _patient_heads_query(self, patient_refs: Collection[str]) -> tuple[str, dict[str, Any]]:
        """A top-1 index probe per patient (a GROUP BY would read every entry of those
        patients, or the whole table)."""
        backend = self.driver.backend
        return backend.patient_heads_sql, {"refs": backend.listed(patient_refs)}

    def append_plan(self, patient_refs: Collection[str]) -> Plan[AppendReads]:
        """Read what an append needs (the head, the tree's frontier, the heads of
        ``patient_refs``) in one round trip, possibly with other reads; the head is read
        only if taking the lock did not already. Precondition: the transaction holds the
        append lock, so none of it can change before the append."""
        known = self._head
        statements: list[tuple[str, Mapping[str, Any]]] = [(_FRONTIER, {})]
        if known is None:
            statements.append((HEAD_SQL, {}))
        if patient_refs:
            statements.append(self._patient_heads_query(patient_refs))

        def parse(results: list[list[Any]]) -> AppendReads:
            frontier_rows, *rest = results
            head = known if known is not None else self._read_head(rest.pop(0))
            frontier = {(level, idx): digest for level, idx, digest in frontier_rows}
            if len(frontier) != head.size.bit_count():
                raise LedgerStoreError(f"node store lacks frontier nodes of size {head.size}")
            heads = rest[0] if patient_refs else []
            return AppendReads(
                head,
                {ref: PatientHead(patient_seq, leaf) for ref, patient_seq, leaf in heads},
                frontier,
            )

        return Plan(statements, parse)

    def append(
        self,
        entries: Sequence[Entry],
        nodes: Sequence[Node],
        index: Sequence[SearchColumns] | None = None,
    ) -> None:
        """Insert ``entries`` (seq = size, size + 1, ...), their Merkle ``nodes`` and the new
        head, in the caller's transaction. ``index`` (same length as ``entries``) gives the
        personal search columns; None reads them from each payload. Raises
        LedgerStoreError, writing nothing, if the first seq is not the stored size or the
        seqs are not consecutive.

        Under the append lock (the head is known) the check is made before anything is sent
        and the head update and the inserts go in one round trip; otherwise the head is
        moved first, and only if it moved are the rows inserted."""
        if not entries:
            if nodes:
                raise LedgerStoreError("Merkle nodes given without entries")
            return
        if index is not None and len(index) != len(entries):
            raise LedgerStoreError(f"{len(index)} index rows for {len(entries)} entries")
        first = entries[0].seq
        for offset, entry in enumerate(entries):
            if entry.seq != first + offset:
                raise LedgerStoreError(f"append of seq {entry.seq} at position {first + offset}")
        if self._head is not None and self._head.size != first:
            raise LedgerStoreError(f"append of seq {first} at size {self._head.size}")
        backend = self.driver.backend
        rows = [
            _entry_row(entry, None if index is None else index[i], backend)
            for i, entry in enumerate(entries)
        ]
        node_rows = [{"level": level, "idx": idx, "hash": digest} for level, idx, digest in nodes]
        move = {"size": first + len(entries), "leaf_hash": entries[-1].leaf_hash, "first": first}
        if len(rows) >= COPY_THRESHOLD and backend.bulk_copy:  # bulk: COPY, no pipeline
            self._move_head(move)
            self._copy("ledger_entries", rows)
            self._copy("merkle_nodes", node_rows)
        elif self._head is None:
            self._move_head(move)
            self.driver.executemany(_INSERT_ENTRY, rows)
            self.driver.executemany(_INSERT_NODE, node_rows)
        else:
            with self.driver.batch():
                moved = self.driver.counted(_MOVE_HEAD, move)
                self.driver.executemany(_INSERT_ENTRY, rows)
                self.driver.executemany(_INSERT_NODE, node_rows)
            if moved.rowcount != 1:  # cannot happen under the lock; the caller rolls back
                raise LedgerStoreError(f"append of seq {first}: the head moved under the lock")
        if self._head is not None:
            self._head = LedgerHead(first + len(entries), entries[-1].leaf_hash)

    def _move_head(self, move: dict[str, Any]) -> None:
        if self.driver.execute(_MOVE_HEAD, move) != 1:
            self._head = None
            raise LedgerStoreError(f"append of seq {move['first']} at size {self.head().size}")

    def _copy(self, table: str, rows: list[dict[str, Any]]) -> None:
        """PostgreSQL ``COPY FROM STDIN`` of ``rows`` (all with the same keys, values already
        in their database form) in the session's transaction."""
        if not rows:
            return
        columns = list(rows[0])
        driver = self.session.connection().connection.driver_connection
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row([row[c] for c in columns])

    def entries(self, from_seq: int, limit: int) -> list[Entry]:
        """Up to ``limit`` entries from ``from_seq`` on (whole-ledger verification reads the
        ledger through this, chunk by chunk: on the driver, without SQLAlchemy's per-row
        processing)."""
        rows = self.driver.rows(_ENTRIES_FROM, {"first": from_seq, "limit": limit}, binary=True)
        return [Entry(*row) for row in rows]

    def entry_columns(self, from_seq: int, limit: int) -> Columns:
        """What :meth:`entries` gives, as the columns the verification's fast pass reads (no
        object per entry: a parallel verification's workers read through this)."""
        rows = self.driver.rows(_COLUMNS_FROM, {"first": from_seq, "limit": limit}, binary=True)
        if not rows:
            return Columns((), (), (), ())
        return Columns(*zip(*rows, strict=True))

    def entries_for_patient(self, patient_ref: str) -> list[Entry]:
        rows = self.driver.rows(_ENTRIES_OF_PATIENT, {"ref": patient_ref}, binary=True)
        return [Entry(*row) for row in rows]

    def nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        """One query up to :data:`NODES_PER_STATEMENT` keys (one more per as many again on
        PostgreSQL), whatever the number of keys on SQLite."""
        if not keys:
            return {}
        if self.driver.backend.nodes_by_level and len(keys) >= BULK_NODES:
            found = self._nodes_per_level(keys)
            if found is not None:
                return found
        rows = self.driver.rows(*self._nodes_query(keys), binary=True)
        return {(level, idx): digest for level, idx, digest in rows if digest is not None}

    def _nodes_per_level(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes] | None:
        """Every node of ``keys``, or None when one is absent or not HASH_SIZE bytes long (the
        key-by-key query then returns exactly those found, and the caller names the gap).
        One statement per :data:`NODES_PER_STATEMENT` keys."""
        packed = sorted({level << _IDX_BITS | idx for level, idx in keys})  # level, then idx
        found: dict[NodeKey, bytes] = {}
        for first in range(0, len(packed), NODES_PER_STATEMENT):
            part = self._packed_nodes(packed[first : first + NODES_PER_STATEMENT])
            if part is None:
                return None
            found.update(part)
        return found

    def _packed_nodes(self, packed: list[int]) -> dict[NodeKey, bytes] | None:
        wanted: dict[int, list[int]] = {}
        start = 0
        while start < len(packed):
            level = packed[start] >> _IDX_BITS
            end = bisect_left(packed, (level + 1) << _IDX_BITS, start)
            wanted[level] = [key & _IDX_MASK for key in packed[start:end]]
            start = end
        parameters = {
            "levels": ",".join(map(str, wanted)),
            "idxs": ";".join([",".join(map(str, idxs)) for idxs in wanted.values()]),
        }
        rows = self.driver.rows(_NODES_PER_LEVEL, parameters, binary=True)
        found: dict[NodeKey, bytes] = {}
        for level, count, hashes in rows:
            idxs = wanted.pop(level, None)
            if idxs is None or count != len(idxs) or len(hashes or b"") != HASH_SIZE * count:
                return None
            cut = [hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)]
            found.update(zip(zip(repeat(level), idxs), cut, strict=True))
        return None if wanted else found

    def _nodes_query(self, keys: Collection[NodeKey]) -> tuple[str, Mapping[str, Any]]:
        return self.driver.backend.nodes_by_key(sorted(set(keys)))

    def checkpoints(self) -> list[str]:
        return list(self.session.scalars(select(CheckpointRow.note).order_by(CheckpointRow.id)))

    def add_checkpoint(self, signed: SignedCheckpoint, signed_at: datetime | None = None) -> None:
        """Keep ``signed``; ``signed_at`` (aware) defaults to now."""
        self.session.execute(
            _CHECKPOINTS.insert(),
            {
                "size": signed.checkpoint.size,
                "root": signed.checkpoint.root,
                "note": signed.note,
                "signed_at": signed_at or datetime.now(UTC),
            },
        )

    def checkpoint_latest(self) -> StoredCheckpoint | None:
        """The checkpoint kept last, or None before the first one."""
        c = CheckpointRow
        row = self.session.execute(
            select(c.size, c.root, c.note, c.signed_at).order_by(c.id.desc()).limit(1)
        ).one_or_none()
        return None if row is None else StoredCheckpoint(row[0], row[1], row[2], row[3])

    def erase_patient(self, patient_ref: str) -> int:
        """Destroy payload, salt and the personal search columns (actor, document) of every
        entry of that patient; return how many entries still had a payload or salt."""
        kept = or_(_E.payload.is_not(None), _E.salt.is_not(None))
        still = self.session.scalar(
            select(func.count()).select_from(_E).where(_E.patient_ref == patient_ref, kept)
        )
        self.session.execute(
            update(LedgerEntryRow)
            .where(LedgerEntryRow.patient_ref == patient_ref)
            .values(payload=None, salt=None, actor_id=None, actor_type=None, document_id=None)
            .execution_options(synchronize_session=False)
        )
        return int(still or 0)
