"""Where the office's data lives: one database, embedded (SQLite) or shared (PostgreSQL).

The embedded default is one SQLite file in the data directory (`callrouter.sqlite3`), in WAL mode
with synchronous=FULL: a write that returned is on disk. No server to run, for a single box. With
CALLROUTER_DATABASE=postgresql://user@host:port/name (the password from the file named by
CALLROUTER_DATABASE_PASSWORD_FILE), every router and `callrouter` command of a site uses one
PostgreSQL database instead, and several routers share what they keep.

Both go through SQLAlchemy Core and one schema (office/tables.py), changed only by the Alembic
migrations in office/migrations/: `upgrade()` brings a database to the newest schema, and refuses
one made by a newer router rather than guess at it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, Insert, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from router.office.site_files import DATABASE_ENV, EMBEDDED_FILE

MIGRATIONS = Path(__file__).with_name("migrations")
_UPGRADE_LOCK = 0x63616C6C  # pg_advisory_xact_lock key: one upgrade at a time across a site's nodes
_READ_ONLY = "callrouter_read_only"  # an execution option: this transaction only reads


class StoreError(Exception):
    """A database that cannot be used as configured; the message says why and what to do."""


@dataclass(frozen=True)
class StoreConfig:
    url: URL | None = None  # None: the embedded file in the data directory

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StoreConfig:
        raw = env.get(DATABASE_ENV, "").strip()
        if not raw:
            return cls()
        try:
            url = make_url(raw)
        except ArgumentError:
            raise StoreError(f"CALLROUTER_DATABASE is not a database URL: {_hide_password(raw)!r}") from None
        if url.get_backend_name() != "postgresql":
            raise StoreError(
                "CALLROUTER_DATABASE names a PostgreSQL database (postgresql://user@host:port/name); "
                f"unset, the embedded file is used. Not {url.get_backend_name()!r}"
            )
        if url.password is not None:
            raise StoreError(
                "CALLROUTER_DATABASE must not carry the password; put it in CALLROUTER_DATABASE_PASSWORD_FILE"
            )
        secret = env.get("CALLROUTER_DATABASE_PASSWORD_FILE")
        if secret:
            try:
                password = Path(secret).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise StoreError(f"CALLROUTER_DATABASE_PASSWORD_FILE: cannot read {secret}: {e.strerror}") from None
            url = url.set(password=password)
        return cls(url.set(drivername="postgresql+psycopg"))

    def describe(self) -> str:
        """For logs and /status: the database without its password."""
        return "embedded" if self.url is None else self.url.render_as_string(hide_password=True)


class Store:
    """A connection pool to the office's database, and the few things that differ between backends."""

    def __init__(self, engine: Engine, *, described: str, file: Path | None = None) -> None:
        self.engine = engine
        self.described = described
        self.shared = engine.dialect.name == "postgresql"
        self._file = file  # the embedded database's
        self._watch: sqlite3.Connection | None = None  # kept for data_version(), which is per connection
        self._watch_lock = threading.Lock()

    @contextlib.contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction: committed when the block ends, rolled back on an exception."""
        with self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads. In SQLite it begins deferred: in WAL mode a reader never waits
        for a writer, where begin()'s BEGIN IMMEDIATE waits for the write lock like a writer."""
        with self.engine.connect().execution_options(**{_READ_ONLY: True}) as connection, connection.begin():
            yield connection

    def data_version(self) -> int | None:
        """A number that changes whenever another connection commits to the embedded database
        (SQLite's PRAGMA data_version, asked on a connection kept for it: under 0.1 ms, and it never
        waits for a writer), so that a reader can skip a read that would find nothing new. None for
        PostgreSQL, which has no such number: read again."""
        if self._file is None:
            return None
        with self._watch_lock:
            if self._watch is None:
                self._watch = sqlite3.connect(self._file, timeout=5, isolation_level=None, check_same_thread=False)
            return int(self._watch.execute("PRAGMA data_version").fetchone()[0])

    def insert_ignoring_duplicates(self, table: Table) -> Insert:
        """INSERT ... ON CONFLICT DO NOTHING, in this backend's words."""
        if self.shared:
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (nothing to do if it is there)."""
        with self.engine.begin() as connection:
            if self.shared:  # two nodes starting together must not both create the tables
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
            current = MigrationContext.configure(connection).get_current_revision()
            config = _alembic_config()
            scripts = ScriptDirectory.from_config(config)
            if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
                raise StoreError(f"the database's schema ({current}) is of a newer router; upgrade the router")
            if current == scripts.get_current_head():
                return
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def schema_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def close(self, wait: float = 5.0) -> None:
        """Close the pool's connections, once the threads still using one (a task cancelled while its
        thread runs on) have given it back: a connection dropped unclosed is only closed by GC."""
        deadline = time.monotonic() + wait
        while getattr(self.engine.pool, "checkedout", lambda: 0)() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.engine.dispose()
        with self._watch_lock:
            if self._watch is not None:
                self._watch.close()
                self._watch = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_store(config: StoreConfig, data_dir: Path, *, upgrade: bool = True) -> Store:
    """The configured database, its schema brought up to date (unless `upgrade` is False)."""
    if config.url is None:
        store = _embedded(data_dir / EMBEDDED_FILE)
    else:
        engine = create_engine(
            config.url,
            pool_pre_ping=True,  # a connection from before PostgreSQL restarted is replaced, not used
            pool_size=5,
            max_overflow=5,
            pool_timeout=5,
            connect_args={"connect_timeout": 3, "application_name": "callrouter"},
        )
        store = Store(engine, described=config.describe())
    if upgrade:
        try:
            store.upgrade()
        except BaseException:
            store.close()
            raise
    return store


def _embedded(path: Path) -> Store:
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 5})

    # pysqlite's own transaction handling would begin lazily and deferred; the store wants every
    # transaction to take the write lock at once (BEGIN IMMEDIATE), so that two processes writing
    # together wait for each other instead of failing half-way (SQLAlchemy's documented recipe).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        reads_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if reads_only else "BEGIN IMMEDIATE")

    return Store(engine, described=f"embedded ({path})", file=path)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _hide_password(raw: str) -> str:
    head, at, tail = raw.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return raw
    scheme_user = head.rsplit(":", 1)[0]
    return f"{scheme_user}:***@{tail}"
