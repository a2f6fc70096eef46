"""The schedule the router serves, reloaded when its file changes: only ever a complete, valid one.

Theory of operation
-------------------
Operators edit the YAML while calls go on, and editors save in steps (truncate, then write; or write
a temporary file and rename). So a change is taken only once the file has *settled*: the same
content seen on two looks `settle_seconds` apart. Then it is validated completely; only a valid
schedule replaces the one in service, in one assignment, so a call sees either the old or the new
schedule, never a mix (and a call already in progress keeps the decision it got). An invalid file
never replaces a good one: the last good schedule keeps serving, and the rejection, with file, line
and column, stays visible (`rejected`) until the file is fixed.

`check()` does one look and is what a SIGHUP calls; `watch()` looks every `interval` seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from router.schedule.timeline import Schedule
from router.schedule.yaml_nodes import ScheduleError
from router.schedule.yaml_reader import load_schedule, parse_schedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rejection:
    digest: str
    error: str
    at: datetime
    line: int | None = None  # where in the file, when the error has a place
    column: int | None = None
    message: str = ""  # the error without its place


@dataclass(frozen=True)
class FileState:
    """The schedule file against the schedule in service, for people (the web console)."""

    path: Path
    in_service: bool  # the file on disk is the schedule in service
    loaded_at: datetime  # when the schedule in service was read
    rejected: Rejection | None  # the file on disk, if it was rejected


class ScheduleSource:
    """The schedule in service, and what became of the latest change to its file."""

    def __init__(
        self, path: Path, *, settle_seconds: float = 0.5, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.path = path
        self.settle_seconds = settle_seconds
        self._clock = clock
        self.current: Schedule = load_schedule(path)  # the first must be valid: raises ScheduleError
        self._seen = _stat(path)
        self._digest = _digest(path.read_bytes())
        self.loaded_at = clock()
        self.rejected: Rejection | None = None
        self.reloads = 0
        self.rejections = 0

    def __call__(self) -> Schedule:
        return self.current

    async def check(self) -> bool:
        """Look at the file once; True if a new schedule went into service."""
        # A stat first: reading and hashing the file every second was a visible cost under load
        # (BENCHMARKS.md); an editor's save changes its size, time or inode.
        seen = _stat(self.path)
        if seen is not None and seen == self._seen:
            return False
        first = await asyncio.to_thread(_read, self.path)
        if first is None:
            return False
        digest = _digest(first)
        if digest == self._digest or (self.rejected is not None and digest == self.rejected.digest):
            self._seen = seen
            return False  # unchanged, or the same broken file: already reported
        await asyncio.sleep(self.settle_seconds)
        if await asyncio.to_thread(_read, self.path) != first:
            return False  # still being written: look again later (its stat is not taken as seen)
        self._seen = seen  # settled: taken, or rejected, as it is now
        try:
            schedule = parse_schedule(first.decode("utf-8"), str(self.path))
        except ScheduleError as e:
            path = f"{e.path}: " if e.path else ""
            return self._reject(Rejection(digest, str(e), self._clock(), e.line, e.column, path + e.message))
        except UnicodeDecodeError as e:
            return self._reject(Rejection(digest, f"{self.path}: not UTF-8 text: {e}", self._clock(), message=str(e)))
        self.current, self._digest, self.rejected = schedule, digest, None
        self.loaded_at = self._clock()
        self.reloads += 1
        log.info("schedule: %s reloaded (%s)", self.path, ", ".join(schedule.lines))
        return True

    def _reject(self, rejection: Rejection) -> bool:
        self.rejected = rejection
        self.rejections += 1
        log.error("schedule: keeping the schedule in service; the changed file is rejected: %s", rejection.error)
        return False

    def state(self) -> FileState:
        """Compare the file on disk with the schedule in service (reads the file: call it in a thread)."""
        on_disk = _read(self.path)
        same = on_disk is not None and _digest(on_disk) == self._digest
        return FileState(self.path, same, self.loaded_at, self.rejected)

    async def watch(self, interval: float = 1.0) -> None:
        """Look for changes until cancelled."""
        while True:
            try:
                await self.check()
            except OSError as e:  # e.g. the file is briefly missing during a rename
                log.warning("schedule: cannot read %s: %s", self.path, e)
            await asyncio.sleep(interval)


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_mtime_ns, found.st_size, found.st_ino


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
