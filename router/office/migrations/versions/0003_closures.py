"""The office's planned closures (made in the console or with `callrouter closures`).

Revision ID: 0003_closures
Revises: 0002_failover
"""

import sqlalchemy as sa
from alembic import op

from router.office.tables import Instant

revision = "0003_closures"
down_revision = "0002_failover"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "planned_closures",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("line", sa.String, nullable=False),
        sa.Column("first", sa.Date, nullable=False),
        sa.Column("last", sa.Date, nullable=False),
        sa.Column("start", sa.Integer, nullable=False),
        sa.Column("end", sa.Integer, nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("by", sa.String, nullable=False),
        sa.Column("at", Instant, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("planned_closures")
