"""Initial schema: dossier state, notification outbox, ledger entries, Merkle nodes, ledger
head (the append lock, seeded with the empty ledger) and checkpoints.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ident(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.String(length=128), nullable=nullable)


def _code(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.String(length=64), nullable=nullable)


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _flag(name: str, default: bool = False) -> sa.Column:  # type: ignore[type-arg]
    server_default = sa.true() if default else sa.false()
    return sa.Column(name, sa.Boolean(), server_default=server_default, nullable=False)


def _dossier_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["patient_id"],
        ["dossiers.patient_id"],
        name=op.f(f"fk_{table}_patient_id_dossiers"),
        ondelete="CASCADE",
    )


def _dossier_pair(table: str, other: str, *columns: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        table,
        _ident("patient_id"),
        _ident(other),
        *columns,
        _dossier_fk(table),
        sa.PrimaryKeyConstraint("patient_id", other, name=op.f(f"pk_{table}")),
    )


def upgrade() -> None:
    op.create_table(
        "dossiers",
        _ident("patient_id"),
        sa.Column("status", sa.String(length=8), nullable=False),
        _time("closed_at", nullable=True),
        _flag("minor"),
        _ident("treating_doctor", nullable=True),
        _flag("break_glass_allowed", default=True),
        _flag("regulation_allowed", default=True),
        _flag("emergency_sees_masked"),
        _time("created_at"),
        _time("updated_at"),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("ck_dossiers_status")),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_dossiers")),
    )
    _dossier_pair(
        "dossier_authorizations",
        "professional_id",
        _flag("self_declared"),
        _time("granted_at"),
    )
    _dossier_pair("dossier_blocks", "professional_id", _time("blocked_at"))
    _dossier_pair(
        "dossier_oppositions",
        "professional_id",
        sa.Column("reason", sa.Text(), nullable=True),
        _time("opposed_at"),
    )
    _dossier_pair("dossier_representatives", "person_id", _time("added_at"))
    _dossier_pair("professional_accesses", "professional_id", _time("first_at"))
    op.create_table(
        "documents",
        _ident("patient_id"),
        _ident("document_id"),
        _code("type_code"),
        _code("class_code"),
        _ident("author_id"),
        _code("author_type"),
        _time("deposited_at"),
        sa.Column("status", sa.String(length=8), nullable=False),
        _flag("masked"),
        _flag("invisible_to_patient"),
        _flag("invisible_to_representatives"),
        _flag("representatives_flag_cleared"),
        sa.CheckConstraint("status IN ('active', 'deleted')", name=op.f("ck_documents_status")),
        _dossier_fk("documents"),
        sa.PrimaryKeyConstraint("patient_id", "document_id", name=op.f("pk_documents")),
    )
    op.create_index(
        op.f("ix_documents_patient_id_author_id"), "documents", ["patient_id", "author_id"]
    )
    op.create_table(
        "notifications",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        _ident("patient_id"),
        _code("type"),
        sa.Column("recipients", sa.JSON(), nullable=False),
        _ident("document_id", nullable=True),
        sa.Column("entry_seq", sa.BigInteger(), nullable=False),
        _time("created_at"),
        sa.Column("status", sa.String(length=16), nullable=False),
        _dossier_fk("notifications"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(op.f("ix_notifications_patient_id_id"), "notifications", ["patient_id", "id"])
    op.create_table(
        "ledger_entries",
        sa.Column("seq", _BIG_ID, autoincrement=False, nullable=False),
        sa.Column("header", sa.LargeBinary(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("salt", sa.LargeBinary(), nullable=True),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("patient_ref", sa.String(length=64), nullable=True),
        sa.Column("patient_seq", sa.BigInteger(), nullable=True),
        _time("time"),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _code("action"),
        _code("mode"),
        sa.Column("decision", sa.String(length=8), nullable=False),
        _code("reason"),
        _ident("actor_id", nullable=True),
        _code("actor_type", nullable=True),
        _ident("document_id", nullable=True),
        _code("decision_id", nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint(
            "patient_ref",
            "patient_seq",
            name=op.f("uq_ledger_entries_patient_ref_patient_seq"),
        ),
    )
    op.create_index(
        op.f("ix_ledger_entries_patient_ref_seq"), "ledger_entries", ["patient_ref", "seq"]
    )
    op.create_index(op.f("ix_ledger_entries_actor_id_seq"), "ledger_entries", ["actor_id", "seq"])
    op.create_index(op.f("ix_ledger_entries_time"), "ledger_entries", ["time"])
    op.create_table(
        "merkle_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_merkle_nodes")),
        sqlite_with_rowid=False,
    )
    heads = op.create_table(
        "ledger_heads",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_ledger_heads_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_heads")),
    )
    op.bulk_insert(heads, [{"id": 1, "size": 0, "leaf_hash": None}])
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        _time("signed_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
    )


def downgrade() -> None:
    for table in (
        "ledger_checkpoints",
        "ledger_heads",
        "merkle_nodes",
        "ledger_entries",
        "notifications",
        "documents",
        "professional_accesses",
        "dossier_representatives",
        "dossier_oppositions",
        "dossier_blocks",
        "dossier_authorizations",
        "dossiers",
    ):
        op.drop_table(table)
