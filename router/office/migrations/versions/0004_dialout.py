"""Dialling from the console: a message's claim (who is calling the citizen back, until when) and
each account's phone (the staff member's PJSIP endpoint).

Revision ID: 0004_dialout
Revises: 0002_mail
"""

import sqlalchemy as sa
from alembic import op

from router.office.tables import Instant

revision = "0004_dialout"
down_revision = "0002_mail"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String))
        batch.add_column(sa.Column("claimed_until", Instant))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone", sa.String))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("phone")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
