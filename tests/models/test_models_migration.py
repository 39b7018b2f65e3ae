"""Migrations build exactly the models' schema on both backends, and readiness sees them."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from models import migrate
from models.database import Database
from models.errors import SchemaOutdatedError
from models.table import Base


def test_upgrade_creates_exactly_the_models_schema(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert migrate.current_revision(db.engine) is None
        with pytest.raises(SchemaOutdatedError, match="vigie db upgrade"):
            db.check_ready()
        migrate.upgrade(db_url)
        assert migrate.current_revision(db.engine) == migrate.head_revision()
        assert migrate.is_current(db.engine)
        db.check_ready()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            assert compare_metadata(context, Base.metadata) == []
            if connection.dialect.name == "postgresql":  # not compared by alembic
                definition = connection.scalar(
                    text("SELECT indexdef FROM pg_indexes WHERE indexname = 'pk_merkle_nodes'")
                )
                assert definition.endswith("(level, idx) INCLUDE (hash)")
            names = set(inspect(connection).get_table_names())
            heads = connection.execute(text("SELECT id, size, leaf_hash FROM ledger_heads"))
            assert heads.all() == [(1, 0, None)]
        assert names == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        db.dispose()


def test_upgrade_twice_is_harmless(database: Database) -> None:
    database.upgrade()
    migrate.upgrade(database.engine)
    assert migrate.is_current(database.engine)


def test_downgrade_removes_everything(database: Database) -> None:
    migrate.downgrade(database.engine, "base")
    with database.engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    assert migrate.current_revision(database.engine) is None
