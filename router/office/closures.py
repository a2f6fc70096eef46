"""Planned closures (schedule/planned.py), kept in the office's store so that every node obeys them.

Each change is checked against the schedule in the same transaction that writes it, and audited in
that transaction too (who, when, the closure before and after), so that the log never misses a
change nor records one that did not happen. A closure can be changed or deleted only until it
begins: from then on it is what callers met, and the record of it stays.

Like the overrides, the router reads a copy (`cached=True`) renewed by `keep_refreshing()`; a
store that is down leaves the last copy in force.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import replace
from datetime import date, datetime

from sqlalchemy import Connection, delete, insert, select, update

from router.office import caller_id
from router.office.refreshing import keep_refreshing
from router.office.store import Store
from router.office.tables import audit, planned_closures
from router.schedule import Schedule, TimeRange, clock
from router.schedule.planned import PlannedClosure, Refusal, refusal

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0
NOTE_LIMIT = 200
_REASON = re.compile(r"^[a-z][a-z0-9_]*$")


class ClosureError(Exception):
    """A planned closure that cannot be kept; `refusal` says why in both languages."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.english)
        self.refusal = refusal


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def clean_note(text: str) -> str:
    """One bounded line, as the console and a terminal can show it safely (office/caller_id.py)."""
    return caller_id.display(text.strip(), NOTE_LIMIT) if text.strip() else ""


def describe(closure: PlannedClosure) -> str:
    """`1818 2026-12-08..2026-12-09 10:00-12:00 (course): note` for the audit log and the command line."""
    days = str(closure.first) if closure.first == closure.last else f"{closure.first}..{closure.last}"
    time = "hele dagen" if closure.whole_day else f"{clock(closure.time.start)}-{clock(closure.time.end)}"
    note = f": {closure.note}" if closure.note else ""
    return f"{closure.line} {days} {time} ({closure.reason}){note}"


class ClosureStore:
    def __init__(self, store: Store, *, cached: bool = False) -> None:
        self._store = store
        self._cached = cached
        self._copy: tuple[PlannedClosure, ...] | None = None
        self._copy_version: int | None = None

    def all(self) -> tuple[PlannedClosure, ...]:
        """Every planned closure, the first first: the copy, if cached."""
        if self._cached and self._copy is not None:
            return self._copy
        return self._read()

    def refresh(self) -> None:
        version = self._store.data_version()
        if version is not None and version == self._copy_version and self._copy is not None:
            return
        self._copy, self._copy_version = self._read(), version

    async def keep_refreshing(self, every: float = REFRESH_SECONDS) -> None:
        """Renew the copy every `every` seconds until cancelled; a failure keeps the last copy
        (office/refreshing.py)."""
        await keep_refreshing(self._store, self.refresh, "planned closures", every)

    def add(self, closure: PlannedClosure, schedule: Schedule, now: datetime) -> None:
        """Keep `closure` (by `closure.by`, at `now`); raises ClosureError if the schedule does not allow it."""
        closure = replace(closure, at=now)
        with self._store.begin() as db:
            self._check(db, closure, schedule, now)
            db.execute(insert(planned_closures).values(**_row(closure)))
            db.execute(insert(audit).values(at=now, name=closure.by, action="planlagde lukning",
                                             detail=f"efter: {describe(closure)}"))  # fmt: skip
        self._after_write()

    def change(self, closure: PlannedClosure, schedule: Schedule, now: datetime) -> None:
        """Put `closure` in place of the one with its id, which must not have begun."""
        closure = replace(closure, at=now)
        with self._store.begin() as db:
            before = self._not_begun(db, closure.id, schedule, now)
            self._check(db, closure, schedule, now)
            db.execute(update(planned_closures).where(planned_closures.c.id == closure.id).values(**_row(closure)))
            db.execute(insert(audit).values(at=now, name=closure.by, action="ændrede lukning",
                                            detail=f"før: {describe(before)}; efter: {describe(closure)}"))  # fmt: skip
        self._after_write()

    def remove(self, closure_id: str, who: str, schedule: Schedule, now: datetime) -> PlannedClosure:
        """Delete the closure `closure_id`, which must not have begun; returns what it was."""
        with self._store.begin() as db:
            before = self._not_begun(db, closure_id, schedule, now)
            db.execute(delete(planned_closures).where(planned_closures.c.id == closure_id))
            db.execute(insert(audit).values(at=now, name=who, action="slettede lukning",
                                            detail=f"før: {describe(before)}"))  # fmt: skip
        self._after_write()
        return before

    def _check(self, db: Connection, closure: PlannedClosure, schedule: Schedule, now: datetime) -> None:
        if not _REASON.match(closure.reason):
            raise ClosureError(Refusal(f"a reason is a token like course, not {closure.reason!r}", "Vælg en årsag."))
        found = refusal(schedule, closure, _closures(db), now)
        if found is not None:
            raise ClosureError(found)

    def _not_begun(self, db: Connection, closure_id: str, schedule: Schedule, now: datetime) -> PlannedClosure:
        before = next((c for c in _closures(db) if c.id == closure_id), None)
        if before is None:
            raise ClosureError(Refusal(f"no planned closure {closure_id!r}", "Lukningen findes ikke (længere)."))
        if before.begins(schedule.tz) <= now:
            raise ClosureError(Refusal(
                f"closure {closure_id} has begun; it can no longer be changed (to open the line now: an override)",
                "Lukningen er begyndt og kan ikke længere ændres eller slettes. Åbn linjen under Åbn/luk i stedet.",
            ))  # fmt: skip
        return before

    def _after_write(self) -> None:
        if self._cached:
            try:
                self.refresh()
            except Exception:
                log.warning("planned closures: stored, but not read back; the next refresh will", exc_info=True)

    def _read(self) -> tuple[PlannedClosure, ...]:
        with self._store.read() as db:
            return _closures(db)


def _closures(db: Connection) -> tuple[PlannedClosure, ...]:
    t = planned_closures.c
    rows = db.execute(select(planned_closures).order_by(t.first, t.start, t.line, t.id)).all()
    return tuple(
        PlannedClosure(
            r.id, r.line, _day(r.first), _day(r.last), TimeRange(r.start, r.end), r.reason, r.note, r.by, r.at
        )
        for r in rows
    )


def _day(value: date | datetime) -> date:
    return value.date() if isinstance(value, datetime) else value


def _row(closure: PlannedClosure) -> dict[str, object]:
    return {
        "id": closure.id, "line": closure.line, "first": closure.first, "last": closure.last,
        "start": closure.time.start, "end": closure.time.end, "reason": closure.reason, "note": closure.note,
        "by": closure.by, "at": closure.at,
    }  # fmt: skip
