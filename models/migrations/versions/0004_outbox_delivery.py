"""Outbox delivery state: ``notifications.delivered_at`` (set by ``vigie notify relay`` once
the broker confirmed the message) and a partial index over the pending rows only, so that the
relay's "oldest pending first" read and the backlog metrics stay index scans however many
delivered rows accumulate. Both backends support partial indexes.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        op.f("ix_notifications_pending"),
        "notifications",
        ["id"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_notifications_pending"), table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("delivered_at")
