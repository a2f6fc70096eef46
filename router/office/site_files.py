"""Where a site's office data lives, known without opening it. The commands that mostly read the schedule
(`callrouter at`) look here before they load the database libraries, which take longer to import than
the command takes to answer."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

DATABASE_ENV = "CALLROUTER_DATABASE"  # a shared PostgreSQL; unset: the embedded file
EMBEDDED_FILE = "callrouter.sqlite3"
LEGACY_FILES = ("messages.sqlite3", "calls.sqlite3", "office.sqlite3", "overrides.json")  # older routers'


def has_embedded_data(data_dir: Path) -> bool:
    """Whether a router has kept anything in `data_dir` (the store's file, or an older router's)."""
    return any((data_dir / name).exists() for name in (EMBEDDED_FILE, *LEGACY_FILES))


def has_store(data_dir: Path, env: Mapping[str, str]) -> bool:
    """Whether the site has a store to open: a shared database, or the embedded one in `data_dir`."""
    return bool(env.get(DATABASE_ENV, "").strip()) or has_embedded_data(data_dir)
