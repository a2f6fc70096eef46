"""Alembic's entry point: migrate on the connection office/store.py hands over, in its transaction."""

from alembic import context

from router.office.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
