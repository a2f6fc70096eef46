"""Every "Ring op" from the console, kept with its message: who, when, how it went, how long, a note.

A message's attempts go with it: deleting the message deletes them (the foreign key cascades, and
`MessageStore.delete` deletes them first on a store that does not enforce foreign keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update

from router.office.store import Store
from router.office.tables import dial_attempts

NOTE_LIMIT = 200  # characters: a short note ("lovede at betale fredag"), not a case file


@dataclass(frozen=True)
class DialAttempt:
    id: str
    message_id: str
    staff: str
    started: datetime
    outcome: str  # talked, busy, no-answer, cancelled, staff-unanswered
    seconds: float | None
    note: str = ""


class DialAttemptStore:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, attempt: DialAttempt) -> None:
        with self._store.begin() as db:
            db.execute(insert(dial_attempts).values(**attempt.__dict__))

    def of_message(self, message_id: str) -> list[DialAttempt]:
        """A message's attempts, oldest first."""
        with self._store.begin() as db:
            rows = db.execute(
                select(dial_attempts)
                .where(dial_attempts.c.message_id == message_id)
                .order_by(dial_attempts.c.started, dial_attempts.c.id)
            ).all()
        return [DialAttempt(**row._mapping) for row in rows]

    def of_messages(self, message_ids: list[str]) -> dict[str, list[DialAttempt]]:
        """The attempts of a page of messages, each message's oldest first."""
        found: dict[str, list[DialAttempt]] = {}
        if not message_ids:
            return found
        with self._store.begin() as db:
            rows = db.execute(
                select(dial_attempts)
                .where(dial_attempts.c.message_id.in_(message_ids))
                .order_by(dial_attempts.c.started, dial_attempts.c.id)
            ).all()
        for row in rows:
            found.setdefault(row.message_id, []).append(DialAttempt(**row._mapping))
        return found

    def note(self, attempt_id: str, staff: str, text: str) -> bool:
        """Set the note of one's own attempt. False if there is no such attempt of `staff`'s."""
        with self._store.begin() as db:
            changed = db.execute(
                update(dial_attempts)
                .where(dial_attempts.c.id == attempt_id, dial_attempts.c.staff == staff)
                .values(note=text[:NOTE_LIMIT])
            )
            return changed.rowcount == 1
