"""Alembic environment: migrates the connection ``models.migrate`` hands over, or the
``-x url=...`` database when run by the ``alembic`` command. SQLite uses batch mode (it cannot
ALTER most things); PostgreSQL takes an advisory lock so concurrent upgrades queue up."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

import models.table  # noqa: F401  (registers every table on Base.metadata)
from models.backends import EngineLimits
from models.base import Base
from models.connection import make_engine

MIGRATION_LOCK_KEY = 0x56494749  # "VIGI"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the given connection, else a connection to ``sqlalchemy.url``."""
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise RuntimeError("pass -x url=<database URL>, or migrate with models.migrate.upgrade")
    engine = make_engine(url, EngineLimits(statement_timeout_ms=None, pool_size=1))
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
