"""Failover: the active router's lease (office/standby.py), the messages being recorded (so that any
router can store one whose router died), and the console's failed sign-ins (so that the limit holds
across nodes and restarts).

Revision ID: 0002_failover
Revises: 0002_mail
"""

import sqlalchemy as sa
from alembic import op

from router.office.tables import Instant

revision = "0002_failover"
down_revision = "0002_mail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recording_messages",
        sa.Column("message_id", sa.String, primary_key=True),
        sa.Column("line", sa.String, nullable=False),
        sa.Column("caller", sa.String, nullable=False),
        sa.Column("arrived", Instant, nullable=False),
    )
    op.create_table(
        "active_lease",
        sa.Column("grp", sa.String, primary_key=True),
        sa.Column("holder", sa.String, nullable=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("renewals", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("at", Instant, nullable=False),
    )
    op.create_index("sign_in_failures_key", "sign_in_failures", ["key", "at"])


def downgrade() -> None:
    op.drop_index("sign_in_failures_key", "sign_in_failures")
    op.drop_table("sign_in_failures")
    op.drop_table("active_lease")
    op.drop_table("recording_messages")
