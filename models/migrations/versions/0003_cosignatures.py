"""Witness cosignatures beside the checkpoints: ``ledger_cosignatures(size, witness, line,
cosigned_at, received_at)``, one row per witness and checkpoint size (C2SP cosignature/v1
note lines, as the witnesses returned them); an index on ``ledger_checkpoints.size`` for the
checkpoints an incremental verification reads (those at or after its verified size).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "ledger_cosignatures",
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("witness", sa.String(128), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("size", "witness", name=op.f("pk_ledger_cosignatures")),
    )

    op.create_index(op.f("ix_ledger_checkpoints_size"), "ledger_checkpoints", ["size"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_checkpoints_size"), table_name="ledger_checkpoints")
    op.drop_table("ledger_cosignatures")
