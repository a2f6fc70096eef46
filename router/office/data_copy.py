"""Moving a site's data: the files of routers before the store (taken in once), and one store into
another (`callrouter db copy`, from the embedded file into PostgreSQL).

Both only add: a row the target has already (the same message id, user name, ...) is kept as it
is, so a copy interrupted half-way is simply run again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Table, func, select, text

from router.office.site_files import LEGACY_FILES
from router.office.store import Store, StoreConfig, StoreError, open_store
from router.office.tables import COPY_ORDER, Instant, audit, calls, messages, outbox, overrides, sessions, users

log = logging.getLogger(__name__)

TAKEN_IN = ".taken-in"  # a legacy file is renamed so once its rows are in the store
_BATCH = 500


def take_in_legacy_files(store: Store, data_dir: Path) -> dict[str, int]:
    """Put the rows of the data directory's legacy files into `store`, then rename the files.
    Returns how many rows each table received."""
    found = [data_dir / name for name in LEGACY_FILES if (data_dir / name).exists()]
    added: dict[str, int] = {}
    for path in found:
        try:
            for table, rows in _legacy_rows(path):
                added[table.name] = added.get(table.name, 0) + _insert(store, table, rows)
            path.rename(path.with_name(path.name + TAKEN_IN))
        except FileNotFoundError:
            continue  # another process (the router, a command) took it in at the same moment
        except (ValueError, KeyError, TypeError, sqlite3.Error) as e:
            # Kept as it is (what it gave so far is in the store, and is ignored when taken in again).
            raise StoreError(
                f"{path}: cannot take it into the store ({type(e).__name__}: {e}); mend or move it"
            ) from None
        for extra in ("-wal", "-shm"):
            path.with_name(path.name + extra).unlink(missing_ok=True)
        log.info("store: took in %s (renamed %s%s)", path, path.name, TAKEN_IN)
    return added


def copy_store(source: Store, target: Store) -> dict[str, int]:
    """Copy every row of `source` that `target` lacks. Returns how many each table received."""
    added: dict[str, int] = {}
    for table in COPY_ORDER:
        with source.begin() as db:
            rows = [dict(r._mapping) for r in db.execute(select(table)).all()]
        added[table.name] = _insert(target, table, rows)
    return added


def _insert(store: Store, target: Table, rows: list[dict[str, Any]]) -> int:
    added = 0
    for start in range(0, len(rows), _BATCH):
        with store.begin() as db:
            statement = store.insert_ignoring_duplicates(target).returning(*target.primary_key.columns)
            added += len(db.execute(statement, rows[start : start + _BATCH]).all())
    if target is audit and store.shared:  # the ids were copied; PostgreSQL's sequence must go on after them
        with store.begin() as db:
            top = db.execute(select(func.max(audit.c.id))).scalar()
            if top is not None:
                db.execute(text("SELECT setval(pg_get_serial_sequence('audit', 'id'), :top)"), {"top": top})
    return added


def _legacy_rows(path: Path) -> Iterator[tuple[Table, list[dict[str, Any]]]]:
    if path.name == "overrides.json":
        data = json.loads(path.read_text(encoding="utf-8"))
        yield overrides, [
            {**{k: o[k] for k in ("line", "open", "reason")}, "since": _at(o["since"]), "until": _at(o["until"]),
             "note": o.get("note")}
            for o in data
        ]  # fmt: skip
        return
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in (messages, outbox, calls, users, sessions, audit):
            if table.name not in tables:
                continue
            columns = [c.name for c in table.columns]
            present = {r[1] for r in db.execute(f"PRAGMA table_info({table.name})")}
            rows = []
            for row in db.execute(f"SELECT * FROM {table.name}"):
                rows.append({c: _value(table.c[c].type, row[c]) for c in columns if c in present})
            yield table, rows
    finally:
        db.close()


def _value(kind: object, value: Any) -> Any:
    if isinstance(kind, Instant) and isinstance(value, str):
        return _at(value)
    if isinstance(kind, Boolean) and value is not None:
        return bool(value)  # SQLite kept 0 and 1
    return value


def _at(text_value: str) -> datetime:
    return datetime.fromisoformat(text_value)


def open_site_store(config: StoreConfig, data_dir: Path) -> Store:
    """The site's store, as the router and every command open it: schema up to date, and (embedded)
    the files of an older router taken in. PostgreSQL gets them with `callrouter db copy`, which
    takes them into the embedded store first."""
    store = open_store(config, data_dir)
    if store.shared:
        return store
    try:
        take_in_legacy_files(store, data_dir)
    except BaseException:
        store.close()
        raise
    return store
