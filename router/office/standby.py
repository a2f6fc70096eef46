"""Which of the routers of one Asterisk takes its calls: the one holding the active lock.

Theory of operation. Two routers that both connect to one Asterisk as the same application take it
from each other (ApplicationReplaced), and with a restart policy they do so in turns. So a router
first takes a lock named for the Asterisk (its entity id, from /asterisk/ping) and the application,
and only then connects; the other waits as a standby, trying every POLL_SECONDS. The lock lives
where the routers' data lives:

- PostgreSQL: a session-level advisory lock, on a connection of its own. PostgreSQL frees it the
  moment that connection ends, which a SIGKILLed router's kernel does at once, so the standby takes
  over within a poll. The holder checks its connection every CHECK_SECONDS; if PostgreSQL
  restarted, it takes the lock again, and if another router got it meanwhile, it steps down.
- The embedded store: an flock() on a file in the data directory, which the kernel frees when the
  process dies: two routers on one box (or one volume) share it.

A database that is down does not stop an active router: it keeps its calls, and can only lose the
lock to a router that reached the database, after which it steps down.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import psycopg

from router.office.store import Store

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
CHECK_SECONDS = 1.0


class LockLost(Exception):
    """Another router holds the lock now: this one must stop taking calls."""


class ActiveLock(Protocol):
    async def try_take(self) -> bool: ...

    async def still_held(self) -> bool:
        """False once another router holds it; raises nothing (a database that does not answer is
        not another router)."""
        ...

    async def release(self) -> None: ...


def lock_key(group: str) -> int:
    """A signed 64-bit key for pg_try_advisory_lock() from the group's name."""
    return int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "big", signed=True)


class AdvisoryLock:
    """The PostgreSQL lock, held by a connection outside the store's pool."""

    def __init__(self, store: Store, group: str) -> None:
        url = store.engine.url
        # As parameters, not a URL: a password may hold any character.
        self._params: dict[str, Any] = {
            "host": url.host, "port": url.port, "user": url.username, "password": url.password, "dbname": url.database,
            "autocommit": True, "connect_timeout": 3, "application_name": "callrouter-lock",
        }  # fmt: skip
        self._key = lock_key(group)
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._unreachable = False

    async def _take(self) -> bool:
        """Connect if need be and ask for the lock (raises psycopg.Error)."""
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(**self._params)
        cursor = await self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self._key,))
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def try_take(self) -> bool:
        try:
            taken = await self._take()
        except psycopg.Error as e:
            if not self._unreachable:
                log.warning("standby: the database does not answer for the active lock (%s); trying again", e)
            self._unreachable = True
            await self._drop()
            return False
        self._unreachable = False
        return taken

    async def still_held(self) -> bool:
        try:
            if self._connection is not None and not self._connection.closed:
                await self._connection.execute("SELECT 1")
                return True
        except psycopg.Error:
            await self._drop()
        # The connection, and with it the lock, is gone (PostgreSQL restarted, or the network).
        try:
            taken = await self._take()
        except psycopg.Error:
            await self._drop()
            return True  # nobody can take it from us while the database is away
        if taken:
            log.info("standby: the active lock was lost with the database connection, and taken again")
        return taken

    async def release(self) -> None:
        await self._drop()

    async def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error):
                await self._connection.close()
        self._connection = None


class FileLock:
    """The embedded store's lock: flock() on a file in the data directory."""

    def __init__(self, data_dir: Path, group: str) -> None:
        self.path = data_dir / f"active-{lock_key(group) & 0xFFFFFFFFFFFF:012x}.lock"
        self._fd: int | None = None

    async def try_take(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def still_held(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def active_lock(store: Store, data_dir: Path, group: str) -> ActiveLock:
    return AdvisoryLock(store, group) if store.shared else FileLock(data_dir, group)


async def wait_until_taken(lock: ActiveLock, poll: float = POLL_SECONDS) -> None:
    """Return once this router holds the lock."""
    waited = False
    while not await lock.try_take():
        if not waited:
            log.info("standby: another router takes this Asterisk's calls; waiting to take over")
            waited = True
        await asyncio.sleep(poll)


async def hold(lock: ActiveLock, every: float = CHECK_SECONDS) -> None:
    """Check the lock every `every` seconds; raise LockLost when another router has it."""
    while True:
        await asyncio.sleep(every)
        if not await lock.still_held():
            raise LockLost("another router holds the active lock now")
