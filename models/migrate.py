"""Alembic migrations, driven from code (``vigie db upgrade`` and ``/readyz`` call these).

The configuration is built here, not read from a file, so an installed package migrates
without ``alembic.ini``; that file only serves developers running ``alembic`` by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from models.backends import EngineLimits
from models.connection import make_engine
from models.errors import wrap_errors

MIGRATIONS = Path(__file__).resolve().with_name("migrations")


def config() -> Config:
    """An Alembic configuration pointing at this package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration found in {MIGRATIONS}")
    return head


def _engine(target: str | URL | Engine) -> tuple[Engine, bool]:
    if isinstance(target, Engine):
        return target, False
    return make_engine(target, EngineLimits(statement_timeout_ms=None, pool_size=1)), True


def _command(
    target: str | URL | Engine, action: Callable[[Config, str], None], revision: str
) -> None:
    engine, owned = _engine(target)
    try:
        with wrap_errors(), engine.connect() as connection:
            cfg = config()
            cfg.attributes["connection"] = connection
            action(cfg, revision)
            connection.commit()
    finally:
        if owned:
            engine.dispose()


def upgrade(target: str | URL | Engine, revision: str = "head") -> None:
    """Migrate the database at ``target`` (a URL, or an engine such as ``Database.engine``)
    to ``revision``, in one transaction. Raises StoreUnavailableError if it is unreachable."""
    _command(target, command.upgrade, revision)


def downgrade(target: str | URL | Engine, revision: str) -> None:
    """Migrate the database at ``target`` back to ``revision`` (``"base"``: drop everything).
    For development and tests; the service only ever upgrades."""
    _command(target, command.downgrade, revision)


def current_revision(target: str | URL | Engine) -> str | None:
    """The revision the database is at (None when it was never migrated)."""
    engine, owned = _engine(target)
    try:
        with wrap_errors(), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def is_current(target: str | URL | Engine) -> bool:
    """Whether the database is at the head revision."""
    return current_revision(target) == head_revision()
