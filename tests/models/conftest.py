"""Fixtures of the persistence tests. Every database fixture runs on SQLite and PostgreSQL
(``db_url`` and ``database`` of ``tests/conftest.py``); ``tests/ledger`` is put on the path
so the shared store contract and ledger builders can be reused."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ledger"))

import ledger_factory as lf

from engine.model import Actor, DossierSettings
from engine.vocabulary import ActorType
from ledger.entry import Draft, Entry
from ledger.writer import LedgerWriter
from models.database import Database, UnitOfWork
from models.driver import Driver

T0 = datetime(2026, 3, 2, 9, 15, 30, 123456, tzinfo=UTC)
DOCTOR = Actor("810000000001", ActorType.PROFESSIONAL, profession="10")
NURSE = Actor("860000000002", ActorType.PROFESSIONAL, profession="60")
PATIENT = Actor("P1", ActorType.PATIENT)
PARENT = Actor("R1", ActorType.REPRESENTATIVE)
AUDITOR = Actor("A1", ActorType.AUDITOR)


@pytest.fixture
def db(database: Database) -> Database:
    """A migrated, empty database (SQLite, then PostgreSQL)."""
    return database


@pytest.fixture
def uow(db: Database) -> Iterator[UnitOfWork]:
    """One write unit of work spanning the test, committed at the end."""
    with db.unit_of_work() as unit:
        yield unit


class Ledger:
    """Appends through ``ledger.writer.LedgerWriter`` over a fresh unit of work each time, as
    the service does (each checkpoint resumes from the one the database keeps)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.appender = lf.appender()
        self.signer = lf.note_signer()

    def writer(self, unit: UnitOfWork) -> LedgerWriter:
        return LedgerWriter(unit.ledger, self.appender, self.signer, lf.ORIGIN)

    def append(self, drafts: Sequence[Draft]) -> tuple[Entry, ...]:
        with self.db.unit_of_work() as unit:
            return self.writer(unit).append(drafts)

    @property
    def key(self) -> str:
        return str(self.signer.verifier)


@pytest.fixture
def ledger(db: Database) -> Ledger:
    return Ledger(db)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def settings(**changes: bool) -> DossierSettings:
    return DossierSettings(**changes)


def spy_driver(monkeypatch: pytest.MonkeyPatch, method: str) -> list[Any]:
    """Record the first argument of every ``Driver.<method>`` call (the SQL of ``rows``, the
    statement list of ``queries``); the real method still runs."""
    calls: list[Any] = []
    real = getattr(Driver, method)

    def recorded(driver: Driver, first: Any, *rest: Any, **options: Any) -> Any:
        calls.append(first)
        return real(driver, first, *rest, **options)

    monkeypatch.setattr(Driver, method, recorded)
    return calls
