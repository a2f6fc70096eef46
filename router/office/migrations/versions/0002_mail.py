"""The caller's name with each message (the name the call carried; empty for older messages).

Revision ID: 0002_mail
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_mail"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("caller_name", sa.String, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("caller_name")
