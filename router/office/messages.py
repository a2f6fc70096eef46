"""Messages left by callers, and the e-mails that tell the staff about them.

SQLite (standard library) in WAL mode with synchronous=FULL: a message whose save returned is on
disk, even if the machine loses power right after. The audio stays in Asterisk as a stored
recording; this keeps who called, which line, when, and the recording's name.

Theory of operation of the outbox. A message and its "to be e-mailed" row are written in one
transaction, so there is never a message nobody will hear about, nor an e-mail about a message
that was not kept. The sender (office/outbox.py) takes the rows that are due, sends, and only then
marks them sent: a crash between the two sends the e-mail again, with the same Message-ID, so a
mailbox or a person sees it is the same one. A transient failure moves the row's next try further
away (backoff); a permanent refusal (a 5xx from the server) marks it failed, to be shown, not
retried for ever. Deleting a message deletes its row: no e-mail about a message staff deleted.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 2  # 1: messages only; 2: who handled a message and when, and the outbox


@dataclass(frozen=True)
class Message:
    id: str
    line: str
    caller: str
    received_at: datetime
    recording: str
    seconds: int | None
    handled: bool = False
    handled_by: str | None = None
    handled_at: datetime | None = None


@dataclass(frozen=True)
class PendingMail:
    message: Message
    recipients: tuple[str, ...]
    attempts: int  # tries so far


@dataclass(frozen=True)
class MailCounts:
    pending: int
    failed: int
    sent: int
    oldest_pending: datetime | None  # when the oldest unsent message was received


_FALLBACK_CALLER = re.compile(r"(fallback-[A-Za-z0-9_+-]+?-\d{8}T\d{6}Z-)[0-9+]*")


def loggable(text: str) -> str:
    """A message's id, or any text naming one (an ARI error's path), for logs and the audit log: without
    the caller's number, which the fallback dialplan's recordings carry at the end of their names
    (fallback-<line>-<time>-<caller>)."""
    return _FALLBACK_CALLER.sub(r"\1…", text)


def open_database(path: Path, *, synchronous: Literal["FULL", "NORMAL"]) -> sqlite3.Connection:
    """A SQLite file for one of the router's stores: WAL, autocommit, usable from worker threads
    (each store serialises its own use with a lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=5000")  # the CLI and the router may write at the same moment
    return db


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on an exception, on a connection of `open_database()`
    (autocommit mode). Each store holds its own lock around it."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class MessageStore:
    """Messages and their outbox. Thread-safe: the router calls it through asyncio.to_thread."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = open_database(path, synchronous="FULL")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock, transaction(self._db):
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(f"the message store is of a newer router (schema {version}); upgrade the router")
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS messages (
                    id TEXT PRIMARY KEY, line TEXT NOT NULL, caller TEXT NOT NULL, received_at TEXT NOT NULL,
                    recording TEXT NOT NULL, seconds INTEGER, handled INTEGER NOT NULL DEFAULT 0)"""
            )
            if version < 2:
                self._db.execute("ALTER TABLE messages ADD COLUMN handled_by TEXT")
                self._db.execute("ALTER TABLE messages ADD COLUMN handled_at TEXT")
                self._db.execute(
                    """CREATE TABLE outbox (
                        message_id TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
                        recipients TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
                        attempts INTEGER NOT NULL DEFAULT 0, next_try TEXT NOT NULL,
                        last_error TEXT, sent_at TEXT)"""
                )
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def save(self, message: Message, notify: tuple[str, ...] = ()) -> bool:
        """Store a message and, if anyone is to hear of it, its e-mail, together. Saving the same id
        again changes nothing (returns False)."""
        with self._lock, transaction(self._db):
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO messages (id, line, caller, received_at, recording, seconds, handled) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    message.id,
                    message.line,
                    message.caller,
                    message.received_at.isoformat(),
                    message.recording,
                    message.seconds,
                    int(message.handled),
                ),
            )
            created = cursor.rowcount == 1
            if created and notify:
                self._db.execute(
                    "INSERT INTO outbox (message_id, recipients, next_try) VALUES (?, ?, ?)",
                    (message.id, json.dumps(list(notify)), message.received_at.isoformat()),
                )
        return created

    def all(self) -> list[Message]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM messages m ORDER BY m.received_at").fetchall()
        return [_message(r) for r in rows]

    def get(self, message_id: str) -> Message | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM messages m WHERE m.id = ?", (message_id,)).fetchone()
        return None if row is None else _message(row)

    def received_before(self, instant: datetime) -> list[Message]:
        """Messages older than `instant` (for deleting them after the retention period)."""
        return [m for m in self.all() if m.received_at < instant]

    def delete(self, message_id: str) -> bool:
        with self._lock, transaction(self._db):
            self._db.execute("DELETE FROM outbox WHERE message_id = ?", (message_id,))
            cursor = self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        return cursor.rowcount == 1

    def mark_handled(self, message_id: str, by: str | None = None, at: datetime | None = None) -> bool:
        """Mark a message as dealt with (the caller was called back), by whom and when. False if there
        is no such message."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE messages SET handled = 1, handled_by = ?, handled_at = ? WHERE id = ?",
                (by, at.isoformat() if at else None, message_id),
            )
        return cursor.rowcount == 1

    # The outbox.

    def due_mail(self, now: datetime, limit: int = 20) -> list[PendingMail]:
        """E-mails to send now: pending, their next try reached; oldest message first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS}, o.recipients, o.attempts, o.next_try FROM outbox o "
                "JOIN messages m ON m.id = o.message_id WHERE o.state = 'pending' ORDER BY m.received_at",
            ).fetchall()
        # Compared as instants, not as text: the times are stored with their offsets.
        due = [r for r in rows if datetime.fromisoformat(r[11]) <= now]
        return [PendingMail(_message(r[:9]), tuple(json.loads(r[9])), r[10]) for r in due[:limit]]

    def next_mail_due(self) -> datetime | None:
        """When the next pending e-mail is due, if any is pending."""
        with self._lock:
            rows = self._db.execute("SELECT next_try FROM outbox WHERE state = 'pending'").fetchall()
        return min((datetime.fromisoformat(r[0]) for r in rows), default=None)

    def mail_sent(self, message_id: str, at: datetime) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET state = 'sent', sent_at = ?, attempts = attempts + 1, last_error = NULL "
                "WHERE message_id = ?",
                (at.isoformat(), message_id),
            )

    def mail_retry(self, message_id: str, next_try: datetime, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_try = ?, last_error = ? WHERE message_id = ?",
                (next_try.isoformat(), error, message_id),
            )

    def mail_failed(self, message_id: str, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ? WHERE message_id = ?",
                (error, message_id),
            )

    def mail_state(self, message_id: str) -> tuple[str, int, str | None] | None:
        """(state, attempts, last error) of a message's e-mail, or None if it has none."""
        with self._lock:
            row = self._db.execute(
                "SELECT state, attempts, last_error FROM outbox WHERE message_id = ?", (message_id,)
            ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def mail_counts(self) -> MailCounts:
        with self._lock:
            counts = dict(self._db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
            oldest = self._db.execute(
                "SELECT min(m.received_at) FROM outbox o JOIN messages m ON m.id = o.message_id "
                "WHERE o.state = 'pending'"
            ).fetchone()[0]
        return MailCounts(
            counts.get("pending", 0),
            counts.get("failed", 0),
            counts.get("sent", 0),
            datetime.fromisoformat(oldest) if oldest else None,
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()


_COLUMNS = "m.id, m.line, m.caller, m.received_at, m.recording, m.seconds, m.handled, m.handled_by, m.handled_at"


def _message(row: tuple[Any, ...]) -> Message:
    return Message(
        row[0],
        row[1],
        row[2],
        datetime.fromisoformat(row[3]),
        row[4],
        row[5],
        bool(row[6]),
        row[7],
        datetime.fromisoformat(row[8]) if row[8] else None,
    )
