"""Messages left by callers: stored durably before the caller hears that they were received.

SQLite (standard library) in WAL mode with synchronous=FULL: a message whose save returned is on
disk, even if the machine loses power right after. The audio stays in Asterisk as a stored
recording; this keeps who called, which line, when, and the recording's name.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class Message:
    id: str
    line: str
    caller: str
    received_at: datetime
    recording: str
    seconds: int | None
    handled: bool = False


def open_database(path: Path, *, synchronous: Literal["FULL", "NORMAL"]) -> sqlite3.Connection:
    """A SQLite file for one of the router's stores: WAL, autocommit, usable from worker threads
    (each store serialises its own use with a lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    return db


class MessageStore:
    """A small table of messages. Thread-safe: the router calls it through asyncio.to_thread."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = open_database(path, synchronous="FULL")
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS messages (
                id TEXT PRIMARY KEY, line TEXT NOT NULL, caller TEXT NOT NULL, received_at TEXT NOT NULL,
                recording TEXT NOT NULL, seconds INTEGER, handled INTEGER NOT NULL DEFAULT 0)"""
        )

    def save(self, message: Message) -> None:
        """Store a message; saving the same id again changes nothing."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)",
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

    def all(self) -> list[Message]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM messages ORDER BY received_at").fetchall()
        return [_message(r) for r in rows]

    def get(self, message_id: str) -> Message | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        return None if row is None else _message(row)

    def received_before(self, instant: datetime) -> list[Message]:
        """Messages older than `instant` (for deleting them after the retention period)."""
        return [m for m in self.all() if m.received_at < instant]

    def delete(self, message_id: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        return cursor.rowcount == 1

    def mark_handled(self, message_id: str) -> bool:
        """Mark a message as dealt with (the caller was called back). False if there is no such message."""
        with self._lock:
            cursor = self._db.execute("UPDATE messages SET handled = 1 WHERE id = ?", (message_id,))
        return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _message(row: tuple[Any, ...]) -> Message:
    return Message(row[0], row[1], row[2], datetime.fromisoformat(row[3]), row[4], row[5], bool(row[6]))
