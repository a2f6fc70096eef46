"""The office's store: messages and their audio, the e-mail outbox, overrides, the call log, the
console's accounts, sessions and audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from router.office.tables import Instant

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("line", sa.String, nullable=False),
        sa.Column("caller", sa.String, nullable=False),
        sa.Column("received_at", Instant, nullable=False),
        sa.Column("recording", sa.String, nullable=False),
        sa.Column("seconds", sa.Integer),
        sa.Column("handled", sa.Boolean, nullable=False),
        sa.Column("handled_by", sa.String),
        sa.Column("handled_at", Instant),
    )
    op.create_index("messages_received_at", "messages", ["received_at"])
    op.create_table(
        "message_audio",
        sa.Column("message_id", sa.String, sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("wav", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("message_id", sa.String, sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_try", Instant, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", Instant),
    )
    op.create_table(
        "overrides",
        sa.Column("line", sa.String, primary_key=True),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String, nullable=False),
        sa.Column("since", Instant, nullable=False),
        sa.Column("until", Instant, nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_table(
        "calls",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("line", sa.String, nullable=False),
        sa.Column("arrived", Instant, nullable=False),
        sa.Column("in_hours", sa.Boolean, nullable=False),
        sa.Column("outcome", sa.String, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("waited", sa.Float),
    )
    op.create_index("calls_arrived", "calls", ["arrived"])
    op.create_table(
        "users",
        sa.Column("name", sa.String, primary_key=True),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("password", sa.String, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String, primary_key=True),
        sa.Column("name", sa.String, sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
        sa.Column("csrf", sa.String, nullable=False),
        sa.Column("started", Instant, nullable=False),
        sa.Column("last_seen", Instant, nullable=False),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", Instant, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("action", sa.String, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit", "sessions", "users", "calls", "overrides", "outbox", "message_audio", "messages"):
        op.drop_table(table)
