"""The queues' callbacks, kept in the office's store so that none is lost or made twice.

A callback is `open` from the moment the caller confirmed it until it is `done` (the citizen answered)
or became a `message` (the last attempt failed, or the phone hours ended and the line says so). Every
router that takes calls for its line holds the open ones as virtual waiters in its queue
(calls/callback_runner.py); before one calls the citizen it claims the callback here, with a compare and
set: only one router, and only once, can hold a claim. A claim lapses by itself (`claimed_until`): a
router that died while calling leaves the callback to the others, or to itself after a restart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, or_, select, update

from router.office.store import Store
from router.office.tables import callbacks


@dataclass(frozen=True)
class Callback:
    id: str
    line: str
    caller: str  # the number the call came from ("" when hidden)
    number: str  # the number to call
    arrived: datetime  # the caller's place in the queue
    requested: datetime
    next_attempt: datetime
    state: str = "open"  # open, done, message
    attempts: int = 0
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    outcomes: tuple[str, ...] = ()  # each attempt's: busy, no-answer
    ended: datetime | None = None

    def claimed(self, now: datetime) -> bool:
        return self.claimed_by is not None and self.claimed_until is not None and self.claimed_until > now


class CallbackStore:
    """Thread-safe: the router calls it through asyncio.to_thread."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def add(self, callback: Callback) -> bool:
        """Keep a new callback; the same id again changes nothing (False)."""
        values = {**callback.__dict__, "outcomes": ",".join(callback.outcomes)}
        with self._store.begin() as db:
            inserted = db.execute(
                self._store.insert_ignoring_duplicates(callbacks).values(**values).returning(callbacks.c.id)
            )
            return inserted.first() is not None

    def get(self, callback_id: str) -> Callback | None:
        with self._store.begin() as db:
            row = db.execute(select(callbacks).where(callbacks.c.id == callback_id)).first()
        return None if row is None else _callback(row)

    def open(self, line: str | None = None) -> list[Callback]:
        """The open callbacks (claimed or not), by their place: oldest arrival first."""
        where = [callbacks.c.state == "open"]
        if line is not None:
            where.append(callbacks.c.line == line)
        with self._store.begin() as db:
            rows = db.execute(select(callbacks).where(*where).order_by(callbacks.c.arrived, callbacks.c.id)).all()
        return [_callback(r) for r in rows]

    def all(self) -> list[Callback]:
        """Every callback, open or not, by place."""
        with self._store.begin() as db:
            rows = db.execute(select(callbacks).order_by(callbacks.c.arrived, callbacks.c.id)).all()
        return [_callback(r) for r in rows]

    def open_per_line(self) -> dict[str, int]:
        return dict(Counter(c.line for c in self.open()))

    def claim(self, callback_id: str, node: str, now: datetime, until: datetime) -> Callback | None:
        """Take an open callback to call the citizen now; None if it is not open, not due yet, or another
        router (or this one) holds an unlapsed claim on it."""
        free = or_(callbacks.c.claimed_until.is_(None), callbacks.c.claimed_until <= now)
        due = callbacks.c.next_attempt <= now
        with self._store.begin() as db:
            row = db.execute(
                update(callbacks)
                .where(callbacks.c.id == callback_id, callbacks.c.state == "open", free, due)
                .values(claimed_by=node, claimed_until=until)
                .returning(*callbacks.c)
            ).first()
        return None if row is None else _callback(row)

    def release(self, callback_id: str, node: str, next_attempt: datetime) -> None:
        """Give a claim back without an attempt counted (the agent left before the citizen answered)."""
        with self._store.begin() as db:
            db.execute(_mine(callback_id, node).values(claimed_by=None, claimed_until=None, next_attempt=next_attempt))

    def done(self, callback_id: str, node: str, now: datetime) -> bool:
        """The citizen answered: the callback is made."""
        with self._store.begin() as db:
            row = db.execute(
                _mine(callback_id, node)
                .values(state="done", attempts=callbacks.c.attempts + 1, ended=now, outcomes=_plus("talked"))
                .returning(callbacks.c.id)
            ).first()
        return row is not None

    def failed(self, callback_id: str, node: str, outcome: str, next_attempt: datetime) -> Callback | None:
        """An attempt that did not reach the citizen: counted, and the claim given back."""
        with self._store.begin() as db:
            row = db.execute(
                _mine(callback_id, node)
                .values(
                    attempts=callbacks.c.attempts + 1,
                    outcomes=_plus(outcome),
                    next_attempt=next_attempt,
                    claimed_by=None,
                    claimed_until=None,
                )
                .returning(*callbacks.c)
            ).first()
        return None if row is None else _callback(row)

    def to_message(self, callback_id: str, now: datetime) -> bool:
        """An open callback, not claimed by anyone now, becomes a message (the caller made it one first,
        with the same id, which the message store keeps once). False if it was not open and free."""
        free = or_(callbacks.c.claimed_until.is_(None), callbacks.c.claimed_until <= now)
        with self._store.begin() as db:
            row = db.execute(
                update(callbacks)
                .where(and_(callbacks.c.id == callback_id, callbacks.c.state == "open", free))
                .values(state="message", ended=now, claimed_by=None, claimed_until=None)
                .returning(callbacks.c.id)
            ).first()
        return row is not None


def _mine(callback_id: str, node: str) -> Any:
    return update(callbacks).where(
        callbacks.c.id == callback_id, callbacks.c.state == "open", callbacks.c.claimed_by == node
    )


def _plus(outcome: str) -> Any:
    return case((callbacks.c.outcomes == "", outcome), else_=callbacks.c.outcomes + "," + outcome)


def _callback(row: Any) -> Callback:
    values = dict(row._mapping)
    values["outcomes"] = tuple(o for o in values["outcomes"].split(",") if o)
    return Callback(**values)
