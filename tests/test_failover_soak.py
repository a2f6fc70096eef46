"""A soak of the two-router site: callers wait in the queue, leave messages and listen to the guidance
while the active router is killed (SIGKILL), frozen (SIGSTOP for longer than its lease) and the
database restarted, at random moments. A supervisor starts a router again when one exits, as a
site's restart policy does.

Afterwards, for every caller: what they were told ("besked modtaget") against what the store holds.
Nothing told "received" may be missing, no caller's message stored twice, and no channel or bridge
of the routers left in Asterisk. CI runs CALLROUTER_SOAK_SECONDS (default 30) of chaos;
bench/bench_failover_soak.py runs it for several minutes. The counts are printed (pytest -s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from asterisk_sim import AgentScript, Simulator
from router.calls.queue_runner import HOLDING_PREFIX as HOLDING
from router.office.messages import MessageStore
from router.office.overrides import OverrideStore
from router.office.store import Store
from router.schedule import Override, Schedule
from tests import real_asterisk
from tests.ari_helpers import until
from tests.conftest import ROOT, local
from tests.postgres import PostgresServer
from tests.router_process import RouterProcess, router_process
from tests.test_router_sim import simulator
from tests.test_two_nodes import heard

SECONDS = float(os.environ.get("CALLROUTER_SOAK_SECONDS", "30"))
AT = "2024-01-04 14:30:00"  # 15:30 in Copenhagen: 1818 is open (the queue); 89591001 is closed by an override
CLOSED_LINE = "89591001"
SAVED = "sound:callrouter/message-saved"
MESSAGE_SAVED_WITHIN = 30.0  # a caller who pressed # waits this long for the answer, then hangs up


@dataclass
class Site:
    """Two router slots on one Asterisk, each restarted when its router exits."""

    sim: Simulator
    tmp: Path
    env: dict[str, str]
    routers: list[RouterProcess | None] = field(default_factory=lambda: [None, None])
    starts: int = 0

    async def keep_running(self, slot: int) -> None:
        schedule = ROOT / "schedule.yaml"
        while True:
            data = self.tmp / f"router{slot}"  # its spool survives its restarts, as a volume does
            async with router_process(self.sim.url, schedule, data, AT, self.env) as router:
                self.routers[slot] = router
                self.starts += 1
                await router.process.wait()
            self.routers[slot] = None
            await asyncio.sleep(0.5)

    def active(self) -> RouterProcess | None:
        """The router that took the calls last (by its log), if it still runs."""
        live = [r for r in self.routers if r is not None and r.process.returncode is None]
        taking = [r for r in live if any("active for Asterisk" in line for line in r.lines)]
        return taking[-1] if len(taking) == 1 else (max(taking, key=_took_at) if taking else None)


def _took_at(router: RouterProcess) -> int:
    return max(n for n, line in enumerate(router.lines) if "active for Asterisk" in line)


@dataclass
class Tally:
    told: set[str] = field(default_factory=set)  # heard "besked modtaget"
    kinds: Counter[str] = field(default_factory=Counter)
    callers: list[str] = field(default_factory=list)
    chaos: Counter[str] = field(default_factory=Counter)


async def caller(sim: Simulator, rng: random.Random, number: str, tally: Tally) -> None:
    kind = rng.choice(["waits", "message", "message", "listens"])
    tally.kinds[kind] += 1
    line = "1818" if kind == "waits" else CLOSED_LINE
    call = sim.world.place_call(number, line, "router", [line]).id
    tally.callers.append(call)
    channel = sim.world.channels[call]

    def present() -> bool:
        return not channel.gone and channel.dialplan_after is None

    with contextlib.suppress(TimeoutError):
        if kind == "message":
            await until(lambda: bool(heard(sim, call)) or not present(), within=15)
            if present():
                sim.world.send_dtmf(call, "1")  # barges in on the guidance
                recording = f"msg-{call}"
                await until(lambda: recording in sim.world.live_recordings or not present(), within=15)
                await asyncio.sleep(rng.uniform(0.3, 2.0))  # speaks
                if present() and rng.random() < 0.7:
                    sim.world.send_dtmf(call, "#")
                    await until(lambda: SAVED in heard(sim, call) or not present(), within=MESSAGE_SAVED_WITHIN)
                    await asyncio.sleep(0.3)
        else:
            await asyncio.sleep(rng.uniform(1.0, 6.0))
    if SAVED in heard(sim, call):
        tally.told.add(call)
    if not channel.gone:
        sim.world.caller_hangs_up(call)


async def chaos(site: Site, postgres: PostgresServer, rng: random.Random, tally: Tally, until_at: float) -> None:
    kinds: list[str] = []
    while time.monotonic() < until_at:
        await asyncio.sleep(rng.uniform(3.0, 7.0))
        active = site.active()
        if not kinds:  # each in turn, in a random order: even a short soak has all three
            kinds = rng.sample(["kill", "freeze", "database"], 3)
        what = kinds.pop()
        if active is None and what != "database":  # between two actives: its turn comes again
            kinds.append(what)
            continue
        if what == "database":
            await asyncio.to_thread(postgres.restart, rng.uniform(0.5, 2.5))
        elif what == "kill":
            assert active is not None
            active.kill()
        else:
            assert active is not None
            os.killpg(active.process.pid, signal.SIGSTOP)
            await asyncio.sleep(rng.uniform(4.0, 6.0))  # longer than the lease: the standby takes over
            with contextlib.suppress(ProcessLookupError):
                os.killpg(active.process.pid, signal.SIGCONT)
        tally.chaos[what] += 1


@contextlib.asynccontextmanager
async def supervised(sim: Simulator, tmp: Path, env: dict[str, str]) -> AsyncIterator[Site]:
    site = Site(sim, tmp, env)
    slots = [asyncio.create_task(site.keep_running(n)) for n in range(2)]
    try:
        yield site
    finally:
        for task in slots:
            task.cancel()
        await asyncio.gather(*slots, return_exceptions=True)


async def soak(
    shipped: Schedule, tmp_path: Path, postgres: PostgresServer, database: dict[str, str], shared: Store
) -> str:
    rng = random.Random(31)
    tally = Tally()
    # The routers' clock is the 4th of January 2024 (faketime): the override runs from then.
    closed = Override(CLOSED_LINE, False, "staff_shortage", local("2024-01-04T00:00"), local("2024-01-06T00:00"))
    await asyncio.to_thread(OverrideStore(shared).set, closed, local("2024-01-04T00:00"))
    async with simulator(shipped, 0.3, user=real_asterisk.USER, password=real_asterisk.PASSWORD) as sim:
        for agent in ("agent1", "agent2", "agent3"):
            sim.world.set_endpoint(f"PJSIP/{agent}", AgentScript("no-answer"))
        async with supervised(sim, tmp_path, database) as site:
            await until(lambda: site.active() is not None and "router" in sim.world.connected_apps, within=30)
            began = time.monotonic()
            chaos_task = asyncio.create_task(chaos(site, postgres, random.Random(35), tally, began + SECONDS))
            callers: list[asyncio.Task[None]] = []
            number = 0
            while time.monotonic() < began + SECONDS:
                number += 1
                callers.append(asyncio.create_task(caller(sim, rng, f"{30000000 + number}", tally)))
                await asyncio.sleep(rng.uniform(0.2, 0.8))
            await chaos_task
            await asyncio.gather(*callers)
            # Settled: one router takes the calls, every spool has moved into the store.
            await until(lambda: site.active() is not None and "router" in sim.world.connected_apps, within=30)
            spools = [tmp_path / f"router{n}" / "spool" for n in range(2)]
            await until(lambda: not any(any(s.glob("*.json")) for s in spools if s.exists()), within=30)
            # What a minute's reconcile would store (a recording whose router died) is stored by now.
            with contextlib.suppress(TimeoutError):
                await until(lambda: not any(n.startswith("msg-") for n in sim.world.stored_recordings), within=90)
            unstored = sorted(n for n in sim.world.stored_recordings if n.startswith("msg-"))
            messages = await asyncio.to_thread(MessageStore(shared).all)
            by_call = Counter(m.id.split("@")[0] for m in messages)

            def ours_left() -> list[str]:
                # Still the routers': not hung up, and not handed to the dialplan (the fallback's).
                channels = [c.id for c in sim.world.channels.values() if not c.gone and c.dialplan_after is None]
                bridges = [b.id for b in sim.world.bridges.values() if b.channels or not b.id.startswith(HOLDING)]
                return channels + bridges

            try:
                await until(lambda: not ours_left(), within=30)
            except TimeoutError:
                pytest.fail(f"left behind: {ours_left()}")
            starts = site.starts
    lost = sorted(tally.told - set(by_call))
    doubled = sorted(c for c, n in by_call.items() if n > 1)
    untold = len(set(by_call) - tally.told)
    summary = (
        f"soak {SECONDS:.0f} s: {len(tally.callers)} callers {dict(tally.kinds)}; chaos {dict(tally.chaos)}; "
        f"{starts} router starts; told 'received' {len(tally.told)}, stored {len(by_call)} "
        f"({untold} from callers who hung up while speaking), lost {len(lost)}, doubled {len(doubled)}, "
        f"recordings no store took {len(unstored)}"
    )
    print("\n" + summary)
    assert unstored == []
    assert lost == []
    assert doubled == []
    assert set(tally.chaos) == {"kill", "freeze", "database"}
    return summary


async def test_soak_callers_meet_killed_frozen_routers_and_database_restarts_and_lose_nothing(
    shipped: Schedule, tmp_path: Path, postgres: PostgresServer, database: dict[str, str], shared: Store
) -> None:
    await soak(shipped, tmp_path, postgres, database, shared)
