"""Fixtures shared by every test package.

PostgreSQL: tests marked ``postgres`` get a fresh database of their own on the server named by
``VIGIE_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``), dropped afterwards.
With ``CI=true`` an unreachable server fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

PG_ADMIN_URL = os.environ.get("VIGIE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pg_admin_connect() -> psycopg.Connection:  # type: ignore[type-arg]
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def pg_available() -> bool:
    try:
        with pg_admin_connect() as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        if _in_ci():
            pytest.fail(f"PostgreSQL unreachable at {PG_ADMIN_URL} in CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc}")
    return True


@pytest.fixture
def pg_database_url(pg_available: bool) -> Iterator[str]:
    """A SQLAlchemy URL to a brand-new PostgreSQL database, dropped after the test."""
    with new_pg_database() as url:
        yield url


@contextmanager
def new_pg_database() -> Iterator[str]:
    """A SQLAlchemy URL to a brand-new PostgreSQL database, dropped on exit."""
    name = f"vigie_test_{uuid.uuid4().hex[:12]}"
    with pg_admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with pg_admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database on each backend in turn: a SQLite file, then a fresh PostgreSQL
    database (dropped after the test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'vigie.db'}"
    return str(request.getfixturevalue("pg_database_url"))


@pytest.fixture
def database(db_url: str) -> Iterator[object]:
    """A ``models.database.Database`` on ``db_url``, migrated to head, disposed after."""
    from models.database import Database

    db = Database(db_url, statement_timeout_ms=10_000)
    db.upgrade()
    try:
        yield db
    finally:
        db.dispose()
