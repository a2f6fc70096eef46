"""How every call ended, kept for the statistics (`callrouter report`). No personal data: no numbers.

In the office's store (office/store.py), with the messages. The router hands records over in
batches (`note()`, then `flush()` about once a second and at the end) rather than one thread
hand-off and one transaction per call, which profiling showed to be the router's largest cost per
call under load (BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from router.office.store import Store
from router.office.tables import calls

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
    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[CallRecord] = []

    def add(self, record: CallRecord) -> None:
        self.add_all([record])

    def add_all(self, records: Sequence[CallRecord]) -> None:
        """Store records in one transaction (a record stored before is replaced)."""
        if not records:
            return
        rows = [
            {
                "id": r.id,
                "line": r.line,
                "arrived": r.arrived,
                "in_hours": r.in_hours,
                "outcome": r.outcome,
                "seconds": r.seconds,
                "waited": r.waited,
            }
            for r in records
        ]
        with self._store.begin() as db:
            db.execute(delete(calls).where(calls.c.id.in_([r.id for r in records])))
            db.execute(calls.insert(), rows)

    def note(self, record: CallRecord) -> None:
        """Keep `record` for the next flush (no I/O: the runtime calls this in the event loop)."""
        self._pending.append(record)

    def flush(self) -> int:
        """Store what was noted, here and now (blocking). Returns how many."""
        batch, self._pending = self._pending, []
        if not self._write(batch):
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
                if batch and not await asyncio.to_thread(self._write, batch):
                    self._pending = batch + self._pending  # kept for the next round
        finally:
            self.flush()

    def _write(self, batch: list[CallRecord]) -> bool:
        """Write a batch; False (logged) if it could not be: statistics must never stop the router."""
        try:
            self.add_all(batch)
        except Exception:
            log.exception("call log: could not store %d record(s); trying again", len(batch))
            return False
        return True

    def between(self, start: datetime, end: datetime) -> list[CallRecord]:
        """Calls that arrived in [start, end), in order."""
        with self._store.begin() as db:
            rows = db.execute(
                select(calls).where(calls.c.arrived >= start, calls.c.arrived < end).order_by(calls.c.arrived)
            ).all()
        return [CallRecord(r.id, r.line, r.arrived, bool(r.in_hours), r.outcome, r.seconds, r.waited) for r in rows]
