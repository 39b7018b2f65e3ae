"""The professional directory keeps each professional's latest card, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from engine.model import Actor
from models.database import Database

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _ps(sub: str, **card: str) -> Actor:
    return Actor(sub, "professional", card.pop("profession", "10"), **card)  # type: ignore[arg-type]


def test_remember_and_lookup(database: Database) -> None:
    with database.unit_of_work() as uow:
        uow.directory.remember([_ps("A", name="Dr Chloé Durand", structure="CH Lyon")], T0)
        uow.directory.remember([_ps("B", profession="60")], T0)
    later = T0 + timedelta(days=1)
    with database.unit_of_work() as uow:
        uow.directory.remember([_ps("A", name="Dr Chloé Durand-Petit", specialty="SM26")], later)
    with database.read_only() as uow:
        found = uow.directory.lookup(["A", "B", "C"])
    assert set(found) == {"A", "B"}
    assert found["A"].name == "Dr Chloé Durand-Petit" and found["A"].structure is None
    assert found["A"].specialty == "SM26" and found["A"].updated_at == later
    assert found["B"].profession == "60" and found["B"].name is None
