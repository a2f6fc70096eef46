"""How every call ended, kept for the statistics (`callrouter report`). No personal data: no numbers.

SQLite in WAL mode, like the message store, in its own file: losing the last record in a power cut
costs a line of statistics, not a caller's message, so it is written with synchronous=NORMAL, and
the router hands records over in batches (`note()`, then `flush()` about once a second and at the
end) rather than one thread hand-off and one transaction per call, which profiling showed to be the
router's largest cost per call under load (BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from router.office.messages import open_database, transaction

log = logging.getLogger(__name__)


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
        self._pending: list[CallRecord] = []

    def add(self, record: CallRecord) -> None:
        self.add_all([record])

    def add_all(self, records: Sequence[CallRecord]) -> None:
        """Store records in one transaction."""
        rows = [(r.id, r.line, _utc_text(r.arrived), int(r.in_hours), r.outcome, r.seconds, r.waited) for r in records]
        with self._lock, transaction(self._db):
            self._db.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def note(self, record: CallRecord) -> None:
        """Keep `record` for the next flush (no I/O: the runtime calls this in the event loop)."""
        self._pending.append(record)

    def flush(self) -> int:
        """Store what was noted, here and now (blocking). Returns how many."""
        batch, self._pending = self._pending, []
        if not self._store(batch):
            self._pending = batch + self._pending
            return 0
        return len(batch)

    async def keep_flushing(self, every: float = 1.0) -> None:
        """Store what was noted every `every` seconds until cancelled, then the rest. The batch is taken
        in the event loop, where `note()` runs, and written in a thread."""
        try:
            while True:
                await asyncio.sleep(every)
                batch, self._pending = self._pending, []
                if batch and not await asyncio.to_thread(self._store, batch):
                    self._pending = batch + self._pending  # kept for the next round
        finally:
            self.flush()

    def _store(self, batch: list[CallRecord]) -> bool:
        """Write a batch; False (logged) if it could not be: statistics must never stop the router."""
        try:
            self.add_all(batch)
        except Exception:
            log.exception("call log: could not store %d record(s); trying again", len(batch))
            return False
        return True

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
