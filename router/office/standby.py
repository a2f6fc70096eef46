"""Which of the routers of one Asterisk takes its calls: the one holding the active lease.

Theory of operation. Two routers that both connect to one Asterisk as the same application take it
from each other (ApplicationReplaced), and with a restart policy they do so in turns. So a router
first takes a lease named for the Asterisk (its entity id, from /asterisk/ping) and the application,
and only then connects; the other waits as a standby. Where the routers' data lives decides how:

- PostgreSQL: a row of `active_lease` (holder, generation, renewals). The active router renews it
  every RENEW_SECONDS from its event loop, so a router that stops serving (frozen, or its loop
  stuck) stops renewing. A standby watches the row and takes it (compare-and-set on what it saw)
  only from a router that is gone:
  * one it has not seen renew for LEASE_SECONDS of its own unbroken watch: a hung router. A watch
    broken by the database (a restart, a cut connection) starts again, so that a healthy active
    router, renewing as soon as the database is back, keeps its role through an outage;
  * or, faster, one not seen renewing for CRASH_SECONDS whose process is gone: each router holds
    a session-level advisory lock of its own on its lease connection, which PostgreSQL frees when
    that connection ends (a SIGKILLed router's kernel closes it at once).
- The embedded store: an flock() on a file in the data directory, which the kernel frees when the
  process dies: two routers on one box (or one volume) share it.

Fencing. A router that lost its role must never act again. The active router acts (ARI requests,
its event WebSocket) only within FENCE_SECONDS of the start of its last renewal that found the
lease still its own (`allowed()`); after a freeze it renews first and, if the lease is another's,
stops without sending anything. FENCE_SECONDS < LEASE_SECONDS, so it has stopped before any
standby may take over. While the database does not answer, renewals that find it away extend the
role (nobody can take it), and Asterisk itself fences: a standby that takes over connects its
WebSocket, Asterisk ends ours (one WebSocket per application, ApplicationReplaced) and the router
stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg

from router.office.store import Store

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25  # a standby's look at the lease
RENEW_SECONDS = 0.5  # the active router's renewal
CRASH_SECONDS = 1.0  # a holder whose process is gone, not seen renewing this long, is replaced
LEASE_SECONDS = 3.0  # a holder not seen renewing this long is replaced (a hung router)
# ... and only by a standby whose connection has lasted this long: after a database restart every
# advisory lock is free until its holder reconnects, which a healthy active router does within a renewal.
WATCHED_SECONDS = 1.5
FENCE_SECONDS = 2.5  # the active router acts only this long after its last renewal began
DATABASE_SECONDS = 1.0  # one question to the database about the lease, at most

Renewal = Literal["held", "lost", "unreachable"]


class LockLost(Exception):
    """Another router holds the lease now: this one must stop taking calls."""


class ActiveLock(Protocol):
    problem: str | None  # why a standby cannot take over now (the database does not answer), if so

    async def try_take(self) -> bool: ...

    async def renew(self) -> Renewal: ...

    async def allowed(self) -> bool:
        """True if this router may act now: the fence of every ARI request and connection."""
        ...

    async def release(self) -> None: ...


def lock_key(group: str) -> int:
    """A signed 64-bit key for pg_try_advisory_lock() from the group's name."""
    return int.from_bytes(hashlib.sha256(group.encode()).digest()[:8], "big", signed=True)


class Lease:
    """The PostgreSQL lease, asked on a connection outside the store's pool."""

    def __init__(self, store: Store, group: str, clock: Callable[[], float] = time.monotonic) -> None:
        url = store.engine.url
        # As parameters, not a URL: a password may hold any character.
        self._params: dict[str, Any] = {
            "host": url.host, "port": url.port, "user": url.username, "password": url.password, "dbname": url.database,
            "autocommit": True, "connect_timeout": 2, "application_name": "callrouter-lease",
        }  # fmt: skip
        self._group = group
        self.holder = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._connection: psycopg.AsyncConnection[tuple[Any, ...]] | None = None
        self._connected_at = 0.0
        self._generation: int | None = None
        self._seen: tuple[Any, ...] | None = None  # the row as the standby last saw it change
        self._seen_at = 0.0
        self._checked_at: float | None = None  # when the last renewal that found the lease ours began
        self._lost = False
        self._renewing = asyncio.Lock()
        self.problem: str | None = None

    async def try_take(self) -> bool:
        try:
            return await asyncio.wait_for(self._try_take(), DATABASE_SECONDS * 3)
        except (psycopg.Error, OSError, TimeoutError) as e:
            if self.problem is None:
                log.warning("standby: the database does not answer for the active lease (%s); trying again", e)
            self.problem = f"the database does not answer ({type(e).__name__}): cannot take over"
            self._seen = None  # the watch starts again when it answers
            await self._drop()
            return False

    async def _try_take(self) -> bool:
        db = await self._connect()
        self.problem = None
        row = await (
            await db.execute("SELECT holder, generation, renewals FROM active_lease WHERE grp = %s", (self._group,))
        ).fetchone()
        now = self._clock()
        if row is None:
            taken = await db.execute(
                "INSERT INTO active_lease (grp, holder, generation, renewals) VALUES (%s, %s, 1, 0) "
                "ON CONFLICT DO NOTHING RETURNING generation",
                (self._group, self.holder),
            )
            return self._took(await taken.fetchone(), now)
        if row != self._seen:
            self._seen, self._seen_at = row, now
            return False
        still = now - self._seen_at
        gone = still >= LEASE_SECONDS or (
            still >= CRASH_SECONDS and now - self._connected_at >= WATCHED_SECONDS and await self._gone(row[0])
        )
        if not gone:
            return False
        taken = await db.execute(
            "UPDATE active_lease SET holder = %s, generation = generation + 1, renewals = 0 "
            "WHERE grp = %s AND holder = %s AND generation = %s AND renewals = %s RETURNING generation",
            (self.holder, self._group, *row),
        )
        if self._took(await taken.fetchone(), now):
            log.warning("standby: router %s stopped renewing the active lease %.1f s ago; taking over", row[0], still)
            return True
        return False

    def _took(self, row: tuple[Any, ...] | None, now: float) -> bool:
        if row is None:
            return False
        self._generation, self._checked_at, self._lost = int(row[0]), now, False
        return True

    async def _gone(self, holder: str) -> bool:
        """True if `holder`'s process is gone: its advisory lock is free (we take it, and let go)."""
        assert self._connection is not None
        key = lock_key(f"{self._group}/alive/{holder}")
        cursor = await self._connection.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        row = await cursor.fetchone()
        if row and row[0]:
            await self._connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
            return True
        return False

    async def renew(self) -> Renewal:
        async with self._renewing:
            started = self._clock()
            try:
                renewal = await asyncio.wait_for(self._renew(), DATABASE_SECONDS * 3)
            except (psycopg.Error, OSError, TimeoutError) as e:
                await self._drop()
                if self.problem is None:
                    log.warning("active lease: the database does not answer (%s); keeping the calls", e)
                self.problem = f"the database does not answer ({type(e).__name__})"
                # Nobody can take the lease while the database is away: the role holds, as long as
                # this router's renewals are unbroken (a frozen router's are not).
                if self._checked_at is not None and started - self._checked_at <= FENCE_SECONDS:
                    self._checked_at = started
                return "unreachable"
            self.problem = None
            if renewal == "held":
                self._checked_at = started
            else:
                self._lost = True
            return renewal

    async def _renew(self) -> Renewal:
        db = await self._connect()
        cursor = await db.execute(
            "UPDATE active_lease SET renewals = renewals + 1 WHERE grp = %s AND holder = %s AND generation = %s "
            "RETURNING renewals",
            (self._group, self.holder, self._generation),
        )
        return "held" if await cursor.fetchone() else "lost"

    async def allowed(self) -> bool:
        if self._lost or self._checked_at is None:
            return False
        if self._clock() - self._checked_at <= FENCE_SECONDS:
            return True
        # This router did not renew for a while (it was frozen, or its loop stuck): ask first.
        await self.renew()
        return not self._lost and self._clock() - (self._checked_at or 0.0) <= FENCE_SECONDS

    async def release(self) -> None:
        if self._generation is not None and not self._lost and self._connection is not None:
            with contextlib.suppress(psycopg.Error, OSError, TimeoutError):  # the next router starts at once
                await asyncio.wait_for(
                    self._connection.execute(
                        "DELETE FROM active_lease WHERE grp = %s AND holder = %s AND generation = %s",
                        (self._group, self.holder, self._generation),
                    ),
                    DATABASE_SECONDS,
                )
        self._lost = True
        await self._drop()

    async def _connect(self) -> psycopg.AsyncConnection[tuple[Any, ...]]:
        """The lease's connection, holding this router's own advisory lock (see _gone)."""
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(**self._params)
            await self._connection.execute(
                "SELECT pg_advisory_lock(%s)", (lock_key(f"{self._group}/alive/{self.holder}"),)
            )
            self._connected_at = self._clock()
        return self._connection

    async def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await self._connection.close()
        self._connection = None


class FileLock:
    """The embedded store's lock: flock() on a file in the data directory."""

    problem: str | None = None

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

    async def renew(self) -> Renewal:
        return "held" if self._fd is not None else "lost"

    async def allowed(self) -> bool:
        return self._fd is not None

    async def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def active_lock(store: Store, data_dir: Path, group: str) -> ActiveLock:
    return Lease(store, group) if store.shared else FileLock(data_dir, group)


async def wait_until_taken(lock: ActiveLock, poll: float = POLL_SECONDS) -> None:
    """Return once this router holds the lease."""
    waited = False
    while not await lock.try_take():
        if not waited:
            log.info("standby: another router takes this Asterisk's calls; waiting to take over")
            waited = True
        await asyncio.sleep(poll)


async def hold(lock: ActiveLock, every: float = RENEW_SECONDS) -> None:
    """Renew the lease every `every` seconds; raise LockLost when another router has it."""
    while True:
        await asyncio.sleep(every)
        if await lock.renew() == "lost":
            raise LockLost("another router holds the active lease now")
