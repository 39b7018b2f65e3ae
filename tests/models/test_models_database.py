"""Database and UnitOfWork: atomicity, error mapping, timeouts, and one linear chain under
concurrent writers (threads with their own engines, and separate processes)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import ledger_factory as lf
import pytest
from sqlalchemy import text

from engine.model import DocumentDraft, DossierSettings, Obligation
from engine.vocabulary import ObligationType, Recipient
from ledger.verify import verify_ledger
from ledger.writer import LedgerWriter
from models import migrate
from models.database import Database
from models.errors import ConflictError, StoreError, StoreUnavailableError
from tests.models.conftest import DOCTOR, T0, Ledger

FIRST = Obligation(ObligationType.FIRST_ACCESS, (Recipient.PATIENT,))


def _counts(db: Database) -> dict[str, int]:
    tables = ("dossiers", "documents", "notifications", "ledger_entries", "merkle_nodes")
    with db.read_only() as unit:
        counts = {t: unit.session.scalar(text(f"SELECT count(*) FROM {t}")) for t in tables}
        counts["head"] = unit.ledger.head().size
    return counts  # type: ignore[return-value]


def test_an_exception_rolls_back_state_and_entries(db: Database, ledger: Ledger) -> None:
    empty = _counts(db)

    def fail_after_writing() -> None:
        with db.unit_of_work() as unit:
            unit.dossiers.create(
                "P1", minor=False, representatives=[], settings=DossierSettings(), now=T0
            )
            unit.dossiers.add_document("P1", DocumentDraft("D1", "11502-2"), "10", DOCTOR, T0)
            (entry,) = ledger.writer(unit).append([lf.draft(0, "P1")])
            unit.dossiers.add_notifications("P1", [FIRST], entry.seq, "D1", T0)
            assert _counts(db) == empty  # not visible to others before the commit
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_after_writing()
    assert _counts(db) == empty
    ledger.append([lf.draft(0, "P1")])
    assert _counts(db)["ledger_entries"] == 1


def test_integrity_errors_become_conflicts_and_roll_back(db: Database) -> None:
    def break_a_foreign_key() -> None:
        with db.unit_of_work() as unit:
            unit.dossiers.create(
                "P1", minor=False, representatives=[], settings=DossierSettings(), now=T0
            )
            unit.dossiers.add_notifications("nobody", [FIRST], 0, None, T0)

    with pytest.raises(ConflictError, match="refused the write") as caught:
        break_a_foreign_key()
    assert "nobody" not in str(caught.value)
    assert _counts(db)["dossiers"] == 0


def test_unreachable_postgresql_is_unavailable() -> None:
    url = "postgresql://postgres@127.0.0.1:1/vigie"
    db = Database(url, connect_timeout_s=1)
    assert db.engine.url.drivername == "postgresql+psycopg"
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="unavailable"):
        db.check_ready()
    with pytest.raises(StoreUnavailableError), db.unit_of_work():
        pass
    with pytest.raises(StoreUnavailableError):
        migrate.upgrade(url)
    assert time.monotonic() - started < 5
    db.dispose()


def test_unopenable_sqlite_is_unavailable(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/missing/dir/vigie.db")
    with pytest.raises(StoreUnavailableError):
        db.check_ready()
    db.dispose()


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "mysql://x@y/z", "postgresql+asyncpg://x@y/z"]
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(StoreError):
        Database(url)


def test_repr_hides_the_password() -> None:
    db = Database("postgresql+psycopg://vigie:s3cret@127.0.0.1:1/vigie")
    assert "s3cret" not in repr(db)
    db.dispose()


@pytest.mark.postgres
def test_statement_timeout_is_unavailable_and_quick(pg_database_url: str) -> None:
    db = Database(pg_database_url, statement_timeout_ms=200)
    db.upgrade()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="QueryCanceled"), db.unit_of_work() as unit:
        unit.session.execute(text("SELECT pg_sleep(2)"))
    assert time.monotonic() - started < 1.5
    with db.unit_of_work() as unit:
        assert unit.session.scalar(text("SELECT 1")) == 1
    db.dispose()


def test_a_writer_waits_for_the_append_lock_and_readers_do_not(db: Database, db_url: str) -> None:
    impatient = Database(db_url, statement_timeout_ms=200, busy_timeout_ms=200)
    try:
        with db.unit_of_work() as holder:
            holder.ledger.head()
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError), impatient.unit_of_work():
                pass
            assert 0.15 < time.monotonic() - started < 2
            with impatient.read_only() as reader:
                assert reader.ledger.head().size == 0
        with impatient.unit_of_work() as unit:
            assert unit.ledger.head().size == 0
    finally:
        impatient.dispose()


WORKERS, APPENDS = 4, 50


def _append(url: str, worker: int, count: int) -> None:
    db = Database(url, statement_timeout_ms=30_000, busy_timeout_ms=30_000, pool_size=1)
    appender = lf.appender(seed=worker + 1)
    signer = lf.note_signer()
    try:
        for i in range(count):
            with db.unit_of_work() as unit:
                patient = f"P{(worker + i) % 3}"
                LedgerWriter(unit.ledger, appender, signer, lf.ORIGIN).append(
                    [lf.draft(i, patient)]
                )
    finally:
        db.dispose()


def _check_one_linear_chain(db: Database, size: int) -> None:
    signer = lf.note_signer()
    with db.unit_of_work() as unit:
        LedgerWriter(unit.ledger, lf.appender(), signer, lf.ORIGIN).checkpoint()
    with db.read_only() as unit:
        report = verify_ledger(unit.ledger, str(signer.verifier), origin=lf.ORIGIN)
        seqs = [e.seq for e in unit.ledger.entries(0, size + 1)]
    assert report.entries == size
    assert seqs == list(range(size))


def test_concurrent_writers_make_one_linear_chain(database: Database, db_url: str) -> None:
    with ThreadPoolExecutor(WORKERS) as pool:
        jobs = [pool.submit(_append, db_url, w, APPENDS) for w in range(WORKERS)]
        for job in jobs:
            job.result()
    _check_one_linear_chain(database, WORKERS * APPENDS)


def test_concurrent_processes_make_one_linear_chain(database: Database, db_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_append, args=(db_url, w, APPENDS // 2)) for w in range(2)]
    for process in processes:
        process.start()
    _append(db_url, 2, APPENDS // 2)
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    _check_one_linear_chain(database, 3 * (APPENDS // 2))


def test_threads_share_one_database(database: Database) -> None:
    errors: list[BaseException] = []
    ledger = Ledger(database)
    lock = threading.Lock()

    def work() -> None:
        try:
            for _ in range(10):
                with lock:  # the appender's test clock is not thread-safe; the store is
                    drafts = [lf.draft(0, "P1")]
                ledger.append(drafts)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _check_one_linear_chain(database, 40)


@pytest.mark.postgres
def test_read_only_units_refuse_writes_on_postgresql(pg_database_url: str) -> None:
    db = Database(pg_database_url)
    db.upgrade()

    def write_in_a_read() -> None:
        with db.read_only() as unit:
            unit.dossiers.create(
                "P1", minor=False, representatives=[], settings=DossierSettings(), now=T0
            )

    with pytest.raises(StoreError, match="ReadOnlySqlTransaction"):
        write_in_a_read()
    with db.unit_of_work() as unit:  # the pooled connection is writable again
        unit.dossiers.create(
            "P1", minor=False, representatives=[], settings=DossierSettings(), now=T0
        )
    db.dispose()


def _use_inherited(db: Database) -> None:
    assert db.engine.pool.checkedin() == 0  # type: ignore[attr-defined]  # parent's: dropped
    with db.unit_of_work() as unit:
        unit.dossiers.create(
            "P2", minor=False, representatives=[], settings=DossierSettings(), now=T0
        )


def test_a_forked_child_opens_its_own_connections(database: Database) -> None:
    with database.unit_of_work() as unit:
        unit.dossiers.create(
            "P1", minor=False, representatives=[], settings=DossierSettings(), now=T0
        )
    assert database.engine.pool.checkedin() >= 1  # type: ignore[attr-defined]
    child = multiprocessing.get_context("fork").Process(target=_use_inherited, args=(database,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    with database.read_only() as unit:
        assert unit.dossiers.get("P1") is not None
        assert unit.dossiers.get("P2") is not None
