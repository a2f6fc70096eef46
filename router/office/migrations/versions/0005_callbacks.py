"""The queues' callbacks ("keep my place and call me back"), and on a message what a callback that could
not be made tried.

Revision ID: 0005_callbacks
Revises: 0004_dialout
"""

import sqlalchemy as sa
from alembic import op

from router.office.tables import Instant

revision = "0005_callbacks"
down_revision = "0004_dialout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("callback", sa.Text))
    op.create_table(
        "callbacks",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("line", sa.String, nullable=False),
        sa.Column("caller", sa.String, nullable=False),
        sa.Column("number", sa.String, nullable=False),
        sa.Column("arrived", Instant, nullable=False),
        sa.Column("requested", Instant, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt", Instant, nullable=False),
        sa.Column("claimed_by", sa.String),
        sa.Column("claimed_until", Instant),
        sa.Column("outcomes", sa.Text, nullable=False, server_default=""),
        sa.Column("ended", Instant),
    )
    op.create_index("callbacks_state", "callbacks", ["state", "line"])


def downgrade() -> None:
    op.drop_index("callbacks_state", "callbacks")
    op.drop_table("callbacks")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("callback")
