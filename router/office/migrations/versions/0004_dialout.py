"""Dialling from the console: a message's claim (who is calling the citizen back, until when), each
account's phone (the staff member's PJSIP endpoint), and every "Ring op" attempt on a message.

Revision ID: 0004_dialout
Revises: 0003_closures
"""

import sqlalchemy as sa
from alembic import op

from router.office.tables import Instant

revision = "0004_dialout"
down_revision = "0003_closures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String))
        batch.add_column(sa.Column("claimed_until", Instant))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone", sa.String))
    op.create_table(
        "dial_attempts",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("message_id", sa.String, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("staff", sa.String, nullable=False),
        sa.Column("started", Instant, nullable=False),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("seconds", sa.Float),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("dial_attempts_message", "dial_attempts", ["message_id"])


def downgrade() -> None:
    op.drop_index("dial_attempts_message", "dial_attempts")
    op.drop_table("dial_attempts")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("phone")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
