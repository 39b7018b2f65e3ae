"""The professional directory (``professionals``): each professional's latest display name,
profession, specialty and structure, as its verified token said, so that pages, the access
review, the security desk and the CLI name people instead of printing their ids.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "professionals",
        sa.Column("professional_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=True),
        sa.Column("profession", sa.String(length=64), nullable=True),
        sa.Column("specialty", sa.String(length=64), nullable=True),
        sa.Column("structure", sa.String(length=256), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("professional_id", name=op.f("pk_professionals")),
    )


def downgrade() -> None:
    op.drop_table("professionals")
