"""Emergency overrides, kept in the office's store so they survive restarts and every process and
node sees the same ones.

An override always has an expiry (a forgotten "closed" is the classic failure of phone systems with
this feature), at most MAX_DAYS ahead; expired overrides are dropped whenever one is set or cleared.
The router decides calls without waiting for the database: it reads a copy (`cached=True`) that
`keep_refreshing()` renews every REFRESH_SECONDS, so an override set on another node applies here
within that, and a database that is down leaves the last copy in force rather than stopping calls.
The embedded store is asked first whether anything was committed since the last read (its data
version), so that an idle router does not read the same rows twice a second.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select

from router.office.refreshing import keep_refreshing
from router.office.store import Store
from router.office.tables import overrides
from router.schedule import Override, Schedule, decide

log = logging.getLogger(__name__)

MAX_DAYS = 31
REFRESH_SECONDS = 0.5
_REASON = re.compile(r"^[a-z][a-z0-9_]*$")


class OverrideError(Exception):
    """An override that cannot be set, or a file that cannot be read."""


def resolve_until(text: str | None, schedule: Schedule, line: str, now: datetime) -> datetime:
    """An override's end from `next-change` (the schedule's next change) or an ISO 8601 time
    (without an offset: the schedule's wall clock)."""
    if not text:
        raise OverrideError("an override always ends: give `until` (a time, or next-change)")
    if text == "next-change":
        until = decide(schedule, line, now).next_change
        if until is None:
            raise OverrideError(f"line {line} has no scheduled change within two years; give a time")
        return until
    try:
        until = datetime.fromisoformat(text)
    except ValueError:
        raise OverrideError(f"`until` is a time like 2024-01-09T10:00 or next-change, not {text!r}") from None
    return until if until.tzinfo is not None else until.replace(tzinfo=schedule.tz)


class OverrideStore:
    def __init__(self, store: Store, *, cached: bool = False) -> None:
        self._store = store
        self._cached = cached
        self._copy: tuple[Override, ...] | None = None
        self._copy_version: int | None = None  # the store's data version when the copy was read

    def all(self) -> tuple[Override, ...]:
        """Every override (expired ones included until the next write): the copy, if cached."""
        if self._cached and self._copy is not None:
            return self._copy
        return self._read()

    def active(self, line: str, now: datetime) -> Override | None:
        return next((o for o in self.all() if o.line == line and o.active_at(now)), None)

    def refresh(self) -> None:
        """Renew the copy from the store, unless the embedded store says nothing was committed since."""
        version = self._store.data_version()  # before the read: a commit in between is read next time
        if version is not None and version == self._copy_version and self._copy is not None:
            return
        before, self._copy, self._copy_version = self._copy, self._read(), version
        if self._cached and before is not None:
            _log_changes(before, self._copy)

    async def keep_refreshing(self, every: float = REFRESH_SECONDS) -> None:
        """Renew the copy every `every` seconds until cancelled; a failure keeps the last copy
        (office/refreshing.py)."""
        await keep_refreshing(self._store, self.refresh, "overrides", every, on_failure=self._keep_none_as_empty)

    def _keep_none_as_empty(self) -> None:
        if self._copy is None:
            self._copy = ()

    def set(self, override: Override, now: datetime) -> None:
        """Put `override` in force for its line, replacing any other for that line."""
        if not _REASON.match(override.reason):
            raise OverrideError(
                f"a reason is a short token of a-z, 0-9 and _, like staff_shortage; not {override.reason!r}"
            )
        if override.until <= now:
            raise OverrideError(f"the override would end at {override.until.isoformat()}, which has passed")
        if override.until - now > timedelta(days=MAX_DAYS):
            raise OverrideError(f"an override lasts at most {MAX_DAYS} days; for longer, add a closure to the schedule")
        with self._store.begin() as db:
            db.execute(delete(overrides).where(or_(overrides.c.line == override.line, overrides.c.until <= now)))
            db.execute(
                insert(overrides).values(
                    line=override.line,
                    open=override.open,
                    reason=override.reason,
                    since=override.since,
                    until=override.until,
                    note=override.note,
                )
            )
        self._after_write()

    def clear(self, line: str, now: datetime) -> bool:
        """End the override of `line`. True if there was one in force."""
        with self._store.begin() as db:
            row = db.execute(select(overrides.c.since, overrides.c.until).where(overrides.c.line == line)).first()
            db.execute(delete(overrides).where(or_(overrides.c.line == line, overrides.c.until <= now)))
        self._after_write()
        return row is not None and row.since <= now < row.until

    def _after_write(self) -> None:
        """This process sees its own change at once (other nodes at their next refresh)."""
        if self._cached:
            try:
                self.refresh()
            except Exception:
                log.warning("overrides: stored, but not read back; the next refresh will", exc_info=True)

    def _read(self) -> tuple[Override, ...]:
        with self._store.read() as db:
            rows = db.execute(select(overrides).order_by(overrides.c.line)).all()
        return tuple(Override(r.line, bool(r.open), r.reason, r.since, r.until, r.note) for r in rows)


def _log_changes(before: tuple[Override, ...], after: tuple[Override, ...]) -> None:
    """Say when this router starts or stops deciding by an override: an operator who set one on any
    node (or from the console) sees in this node's log that it is in force here."""
    for override in sorted(set(after) - set(before), key=lambda o: o.line):
        state = "open" if override.open else "closed"
        log.info("overrides: line %s %s until %s (%s), read from the store", override.line, state,
                 override.until.isoformat(), override.reason)  # fmt: skip
    for line in sorted({o.line for o in before} - {o.line for o in after}):
        log.info("overrides: line %s has none any more, read from the store", line)
