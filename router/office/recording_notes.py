"""Who is leaving a message now: noted in the store when the recording starts, so that a message whose
router died before storing it can be stored by whichever router finds its recording in Asterisk
(calls/reconcile.py), with the caller's number and line, not as an anonymous recording.

A note is written in the background (the caller hears the beep without waiting for the store) and
forgotten once the message is stored. A note the store did not take leaves only the caller's number
unknown if that router dies: the message itself is still stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from router.office.store import Store
from router.office.tables import recording_messages

KEPT = timedelta(days=1)  # far longer than any message takes to record and store


@dataclass(frozen=True)
class Noted:
    message_id: str
    line: str
    caller: str
    arrived: datetime


class RecordingNotes:
    """Thread-safe: the router calls it through asyncio.to_thread."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def note(self, noted: Noted) -> None:
        """Note who is leaving a message; notes older than KEPT (a call that ended elsewhere, or a
        note the store took but not its forgetting) go at the same time."""
        with self._store.begin() as db:
            db.execute(delete(recording_messages).where(recording_messages.c.arrived < noted.arrived - KEPT))
            db.execute(
                self._store.insert_ignoring_duplicates(recording_messages).values(
                    message_id=noted.message_id, line=noted.line, caller=noted.caller, arrived=noted.arrived
                )
            )

    def get(self, message_id: str) -> Noted | None:
        with self._store.read() as db:
            row = db.execute(select(recording_messages).where(recording_messages.c.message_id == message_id)).first()
        return None if row is None else Noted(row.message_id, row.line, row.caller, row.arrived)

    def forget(self, message_id: str) -> None:
        with self._store.begin() as db:
            db.execute(delete(recording_messages).where(recording_messages.c.message_id == message_id))
