"""Declarative base, constraint naming convention and reusable column types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, LargeBinary, MetaData, String
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, mapped_column
from sqlalchemy.sql import expression
from sqlalchemy.types import TypeDecorator

from models.backends import backend_named

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC. Precondition: it is timezone-aware (a naive datetime is refused,
    since its zone would be a guess)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: timestamps must be timezone-aware")
    return moment.astimezone(UTC)


def read_time(value: Any) -> datetime | None:
    """A stored timestamp (a datetime, or SQLite's text) as an aware UTC datetime."""
    if value is None:
        return None
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC datetime.

    Precondition for binds: the value is timezone-aware (a naive datetime is refused, since
    its zone would be a guess). SQLite keeps the UTC wall time without an offset."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return backend_named(dialect.name).column_time(as_utc(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return read_time(value)


#: A 64-bit integer that is SQLite's rowid when it is the whole primary key.
BigId = BigInteger().with_variant(Integer(), "sqlite")

Ident = Annotated[str, mapped_column(String(128))]
"""A patient, professional, person or document identifier."""
Code = Annotated[str, mapped_column(String(64))]
"""A short code: a type or class code, an action, a reason id, an actor type."""
Hex64 = Annotated[str, mapped_column(String(64))]
"""64 lowercase hex digits (a patient_ref)."""
Blob = Annotated[bytes, mapped_column(LargeBinary)]
UtcTime = Annotated[datetime, mapped_column(UtcDateTime())]
_BOOL = Boolean(create_constraint=False)
FlagFalse = Annotated[bool, mapped_column(_BOOL, default=False, server_default=expression.false())]
"""A boolean defaulting to false."""
FlagTrue = Annotated[bool, mapped_column(_BOOL, default=True, server_default=expression.true())]
"""A boolean defaulting to true."""


class Base(DeclarativeBase):
    """Every table of Vigie; ``Base.metadata`` is what the migrations must reproduce."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
