"""The database tests need a real PostgreSQL; this checks the server answers (fails in CI)."""

import psycopg


def test_postgres_answers(pg_database_url: str) -> None:
    url = pg_database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1 + 1").fetchone() == (2,)
