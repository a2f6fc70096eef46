"""How every call ended, kept for the statistics (`callrouter report`). No personal data: no numbers.

SQLite in WAL mode, like the message store, in its own file: losing the last record in a power cut
costs a line of statistics, not a caller's message, so it is written with synchronous=NORMAL.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from router.office.messages import open_database


@dataclass(frozen=True)
class CallRecord:
    id: str
    line: str
    arrived: datetime  # aware
    in_hours: bool  # the line was open (the schedule, or an override) when the call arrived
    outcome: str  # answered, caller_gave_up, overflow, message_left, guidance_played, ...
    seconds: float  # from arrival to the end
    waited: float | None = None  # in the queue, for calls that went to it


class CallLog:
    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = open_database(path, synchronous="NORMAL")
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS calls (
                id TEXT PRIMARY KEY, line TEXT NOT NULL, arrived TEXT NOT NULL, in_hours INTEGER NOT NULL,
                outcome TEXT NOT NULL, seconds REAL NOT NULL, waited REAL)"""
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS calls_arrived ON calls (arrived)")

    def add(self, record: CallRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.line,
                    _utc_text(record.arrived),
                    int(record.in_hours),
                    record.outcome,
                    record.seconds,
                    record.waited,
                ),
            )

    def between(self, start: datetime, end: datetime) -> list[CallRecord]:
        """Calls that arrived in [start, end). Stored times are UTC, so text order is time order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM calls WHERE arrived >= ? AND arrived < ? ORDER BY arrived",
                (_utc_text(start), _utc_text(end)),
            ).fetchall()
        return [CallRecord(r[0], r[1], datetime.fromisoformat(r[2]), bool(r[3]), r[4], r[5], r[6]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat()
