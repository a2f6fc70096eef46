"""Alembic's migrations of the office's database (see office/store.py); run by `callrouter db upgrade`
and by every router and command at start."""
