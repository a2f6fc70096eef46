"""Emergency overrides, kept in a file so they survive restarts and every process sees the same ones.

An override always has an expiry (a forgotten "closed" is the classic failure of phone systems with
this feature), at most MAX_DAYS ahead. The file is rewritten atomically (a temporary file, fsync,
rename), so a reader sees the old list or the new one, never half of one; expired overrides are
dropped whenever it is written. Readers cache by the file's modification time, so the router can
ask for every call.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from router.schedule import Override, Schedule, decide

MAX_DAYS = 31
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


@dataclass
class OverrideStore:
    path: Path
    _cache: tuple[float, tuple[Override, ...]] | None = None

    def all(self) -> tuple[Override, ...]:
        """Every override in the file (expired ones included until the next write)."""
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return ()
        if self._cache is not None and self._cache[0] == mtime:
            return self._cache[1]
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            found = tuple(
                Override(
                    line=str(o["line"]),
                    open=bool(o["open"]),
                    reason=str(o["reason"]),
                    since=datetime.fromisoformat(o["since"]),
                    until=datetime.fromisoformat(o["until"]),
                    note=o.get("note"),
                )
                for o in data
            )
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise OverrideError(f"{self.path}: cannot read the overrides: {e}") from None
        self._cache = (mtime, found)
        return found

    def active(self, line: str, now: datetime) -> Override | None:
        return next((o for o in self.all() if o.line == line and o.active_at(now)), None)

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
        self._write([o for o in self.all() if o.line != override.line and o.until > now] + [override])

    def clear(self, line: str, now: datetime) -> bool:
        """End the override of `line`. True if there was one in force."""
        before = self.all()
        self._write([o for o in before if o.line != line and o.until > now])
        return any(o.line == line and o.active_at(now) for o in before)

    def _write(self, overrides: Sequence[Override]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = [
            {
                "line": o.line,
                "open": o.open,
                "reason": o.reason,
                "since": o.since.isoformat(),
                "until": o.until.isoformat(),
                "note": o.note,
            }
            for o in overrides
        ]
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".overrides-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._cache = None
