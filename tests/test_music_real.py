"""What a caller waiting in the queue hears on the real Asterisk 22: music, measured at their phone.

Asterisk plays the music on hold (Debian's asterisk-moh-opsound-gsm, the `default` class, which
scripts/asterisk-root installs) into the line's holding bridge through a channel of its own, which
leaves that bridge with its last caller. Each caller here is a real SIP phone (baresip) that dials
1818 at a Thursday 15:30 (open; the agents' phones are off, so callers wait), waits a few seconds in
the holding bridge and hangs up; the audio energy of what the phone recorded in that wait must be
music's, not silence's:

- the first caller of the line, and the next one after the queue has been empty once;
- after a router restart (SIGKILL, then `callrouter run` again): the caller who waited through it,
  and the next one after they hung up;
- after a standby takeover (two routers sharing a real PostgreSQL, the active one SIGKILLed): the
  caller who waited through it, and the next one.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from router.calls.queue_runner import HOLDING_PREFIX
from tests import real_asterisk
from tests.postgres import PostgresServer
from tests.router_process import RouterProcess, router_process
from tests.sip_phone import MUSIC, Phone, loudness, silence
from tests.test_queue_real import THURSDAY_OPEN_UTC, schedule_with_real_agents
from tests.test_router_killed_real import Asterisk

WAIT = 6.0  # seconds each caller waits in the holding bridge
MEASURED = 4.0  # the last seconds of that wait, measured (the music has started by then)


@dataclass
class Waiting:
    """A call in the queue: its channel, and when it began and reached the holding bridge (loop time)."""

    channel: str
    began: float
    held: float


@dataclass
class Line:
    """The caller's phone and what the test reads of Asterisk and the routers."""

    caller: Phone
    asterisk: Asterisk
    known: set[str]  # callers' channels seen so far

    async def dial(self, router: RouterProcess) -> Waiting:
        """The caller dials 1818 and waits until they are in the holding bridge."""
        loop = asyncio.get_running_loop()
        await self.caller.send("/dial sip:1818@127.0.0.1:5060\n")
        async with asyncio.timeout(20):
            while (channel := self._new_call(router)) is None:  # noqa: ASYNC110 -- reads the router's log
                await asyncio.sleep(0.05)
        began = loop.time()
        async with asyncio.timeout(20):
            while channel not in await self.held():  # noqa: ASYNC110 -- polls Asterisk
                await asyncio.sleep(0.1)
        return Waiting(channel, began, loop.time())

    def _new_call(self, router: RouterProcess) -> str | None:
        for line in router.lines:
            found = re.search(r"call (\S+) from \S+ to 1818", line)
            if found and found.group(1) not in self.known:
                self.known.add(found.group(1))
                return found.group(1)
        return None

    async def held(self) -> set[str]:
        """The callers in the line's holding bridges, as Asterisk lists them."""
        bridges = await self.asterisk.request("GET", "/bridges")
        return {c for b in bridges if b["id"].startswith(HOLDING_PREFIX) for c in b["channels"]}

    async def hang_up(self, waiting: Waiting) -> float:
        """The caller hangs up; the loudness of the last MEASURED seconds of their wait, at their phone."""
        loop = asyncio.get_running_loop()
        assert loop.time() - waiting.held >= MEASURED + 0.5, "waited long enough to measure"
        end = loop.time() - waiting.began - 0.5  # the phone's recording starts with the call
        recordings = len(self.caller.heard())
        await self.caller.send("/hangup\n")
        async with asyncio.timeout(15):
            while waiting.channel in await self.held():  # noqa: ASYNC110 -- polls Asterisk
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # the phone writes what it heard
        heard = self.caller.heard()
        assert len(heard) >= max(1, recordings), "the caller's phone recorded the call"
        return loudness(heard[-1], end - MEASURED, end)

    async def call_and_wait(self, router: RouterProcess) -> float:
        """A call that waits WAIT seconds in the queue, then hangs up; the loudness of its wait."""
        waiting = await self.dial(router)
        await asyncio.sleep(WAIT)
        return await self.hang_up(waiting)

    async def through_and_after(self, router: RouterProcess, through: Waiting, what: str) -> dict[str, float]:
        """After `what` (a restart, a takeover): the caller who waited through it waits on and hangs up,
        then the next caller calls and waits; the loudness of each wait."""
        await router.wait_for_line(rf"call {through.channel} from \S+ to 1818 waits on", within=20)
        await asyncio.sleep(WAIT)
        heard = {f"waited through the {what}": await self.hang_up(through)}
        heard[f"after the {what}"] = await self.call_and_wait(router)
        return heard


@asynccontextmanager
async def line_with_a_caller(url: str, folder: Path) -> AsyncIterator[Line]:
    if not real_asterisk.music_files():
        pytest.fail(f"no music on hold in {real_asterisk.ROOT}: run scripts/asterisk-root (asterisk-moh-opsound-gsm)")
    (folder / "caller").mkdir()
    async with (
        aiohttp.ClientSession(headers=real_asterisk.AUTHORIZATION) as session,
        Phone(folder / "caller", "citizen", 5070, silence(folder / "caller/quiet.wav", 300)) as caller,
    ):
        yield Line(caller, Asterisk(session, url), set())


def connected(router: RouterProcess) -> bool:
    return any("ARI events: connected" in line for line in router.lines)


def assert_music(heard: dict[str, float], router: RouterProcess) -> None:
    print("\nloudness of each wait (RMS, 0-1):", {who: round(rms, 4) for who, rms in heard.items()})
    silent = [who for who, rms in heard.items() if rms < MUSIC]
    log = "\n".join(router.lines[-30:])
    assert not silent, f"silence, not music, for: {silent} (loudness {heard}, music is over {MUSIC})\n{log}"


async def test_the_first_caller_and_the_next_after_the_queue_emptied_hear_music(real_asterisk_url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        schedule = schedule_with_real_agents(folder)
        async with (
            line_with_a_caller(real_asterisk_url, folder) as line,
            router_process(real_asterisk_url, schedule, folder / "data", THURSDAY_OPEN_UTC) as router,
        ):
            await router.wait_for_line(r"ARI events: connected", within=20)
            heard = {"first caller": await line.call_and_wait(router)}
            assert await line.held() == set(), "the queue is empty"
            heard["after the queue emptied"] = await line.call_and_wait(router)
        assert_music(heard, router)


async def test_callers_hear_music_through_and_after_a_router_restart(real_asterisk_url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        schedule, data = schedule_with_real_agents(folder), folder / "data"
        async with line_with_a_caller(real_asterisk_url, folder) as line:
            async with router_process(real_asterisk_url, schedule, data, THURSDAY_OPEN_UTC) as router:
                await router.wait_for_line(r"ARI events: connected", within=20)
                through = await line.dial(router)
                router.kill()
                await router.process.wait()
            async with router_process(real_asterisk_url, schedule, data, THURSDAY_OPEN_UTC) as router:
                heard = await line.through_and_after(router, through, "restart")
        assert_music(heard, router)


async def test_callers_hear_music_through_and_after_a_standby_takeover(
    real_asterisk_url: str, postgres: PostgresServer
) -> None:
    database = postgres.environment(postgres.fresh_database())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        schedule = schedule_with_real_agents(folder)
        async with (
            line_with_a_caller(real_asterisk_url, folder) as line,
            router_process(real_asterisk_url, schedule, folder / "one", THURSDAY_OPEN_UTC, database) as one,
            router_process(real_asterisk_url, schedule, folder / "two", THURSDAY_OPEN_UTC, database) as two,
        ):
            async with asyncio.timeout(30):  # one takes the lock and connects, the other stands by
                while not (active := [r for r in (one, two) if connected(r)]):  # noqa: ASYNC110 -- reads logs
                    await asyncio.sleep(0.1)
            [active_one] = active
            standby = two if active_one is one else one
            through = await line.dial(active_one)
            active_one.kill()
            await active_one.process.wait()
            heard = await line.through_and_after(standby, through, "takeover")
        assert_music(heard, standby)
