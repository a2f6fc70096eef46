"""Many callers waiting in the queue at once: call-setup latency, the router's memory, event-loop lag.

Run: .venv/bin/python bench/bench_queue.py [N ...]      (default: 100 1000 5000)

Against the simulated Asterisk, in one process on loopback. The one agent is on a call of its own,
so every caller stays waiting (welcome, holding bridge, music; position announcements every 60 s;
the queue asks Asterisk every 5 s whether the agent is free).

- setup: StasisStart sent -> the caller hears the welcome (the simulator's first media on the channel);
- memory: what the router's own code holds for the waiting callers (tracemalloc, allocations made in
  router/ that are still alive), in total and per caller; a second, untraced pass gives the latencies;
- lag: how late a 10 ms timer fires on the router's event loop while they wait (p50/p99/max over 5 s).

Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import asyncio
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench_router import NO_SHEDDING  # this folder: the script runs as bench/bench_queue.py

from asterisk_sim import AgentScript, Simulator
from asterisk_sim.settings import ROUTER_EXAMPLE, load_settings
from router.app import RouterConfig, running
from router.ari import AriConfig
from router.calls.prompts import DEFAULT_MANIFEST, load_manifest
from router.schedule import QueueConfig, Schedule, load_schedule

ROOT = Path(__file__).resolve().parent.parent
OPEN = datetime(2024, 1, 4, 15, 30, tzinfo=ZoneInfo("Europe/Copenhagen"))  # Thursday: open 15-17
RATE = 500  # new calls per second while the queue fills


def schedule() -> Schedule:
    shipped = load_schedule(ROOT / "schedule.yaml")
    config = QueueConfig(("agent1",), max_wait_seconds=3600, announce_seconds=60, retry_seconds=5)
    line = replace(shipped.lines["1818"], open_to=config)
    return replace(shipped, lines={**shipped.lines, "1818": line})


def quantiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100)
    return cuts[49], cuts[98]


async def loop_lag(seconds: float) -> list[float]:
    lags = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        before = time.monotonic()
        await asyncio.sleep(0.01)
        lags.append(time.monotonic() - before - 0.01)
    return lags


def router_bytes(snapshot: tracemalloc.Snapshot) -> int:
    router_dir = str(ROOT / "router")
    return sum(
        stat.size for stat in snapshot.statistics("filename") if stat.traceback[0].filename.startswith(router_dir)
    )


async def fill(n: int, traced: bool) -> None:
    sched = schedule()
    texts = load_manifest().texts_for(sched, range(2023, 2026))
    sim = Simulator("router", "bench", sound_seconds=0.2, settings=load_settings(ROUTER_EXAMPLE))
    sim.world.sounds.update((f"callrouter/{name}" for name in texts), "da", "slin")
    sim.world.set_endpoint("PJSIP/agent1", AgentScript("answer", on_own_call=True))
    await sim.start()
    with tempfile.TemporaryDirectory() as data:
        ari = AriConfig(url=sim.url, app="router", user="router", password="bench")
        began = time.monotonic()
        config = RouterConfig(ari, sched, Path(data), DEFAULT_MANIFEST, max_calls_in_setup=NO_SHEDDING)
        async with running(config, clock=lambda: OPEN + timedelta(seconds=time.monotonic() - began)) as router:
            while "router" not in sim.world.connected_apps:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            if traced:
                tracemalloc.start()
                base = router_bytes(tracemalloc.take_snapshot())
            ids = []
            start = time.monotonic()
            for i in range(n):
                ids.append(sim.world.place_call(f"{10000000 + i}", "1818", "router", ["1818"]).id)
                await asyncio.sleep(max(0.0, start + (i + 1) / RATE - time.monotonic()))
            lines = router.runtime.queues.lines
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and (  # noqa: ASYNC110
                "1818" not in lines or len(lines["1818"].queue.waiting) < n
            ):
                await asyncio.sleep(0.05)
            filled = time.monotonic() - start
            waiting = len(lines["1818"].queue.waiting) if "1818" in lines else 0
            if traced:
                await asyncio.sleep(2.0)  # events still on their way settle first
                snapshot = tracemalloc.take_snapshot()
                if "-v" in sys.argv:
                    for stat in snapshot.statistics("lineno")[:8]:
                        print("   ", stat)
                held = router_bytes(snapshot) - base
                tracemalloc.stop()
                print(
                    f"{n:5d} waiting: router's own code holds {held / 2**20:6.1f} MiB "
                    f"({held / max(1, waiting) / 1024:.1f} KiB per waiting caller; tracemalloc)"
                )
            else:
                # The first thing the caller hears with a time (media or music): the simulator also
                # notes what has none, such as ringing or a bridge.
                heard = {c: [h["at"] for h in sim.world.channels[c].heard if "at" in h] for c in ids}
                setup = [times[0] - sim.world.channels[c].started for c, times in heard.items() if times]
                p50, p99 = quantiles(setup)
                lags = await loop_lag(5.0)
                lag50, lag99 = quantiles(lags)
                print(
                    f"{n:5d} waiting ({waiting} in the queue after {filled:.1f} s at {RATE}/s): "
                    f"setup p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms; "
                    f"loop lag p50 {lag50 * 1000:.2f} ms, p99 {lag99 * 1000:.2f} ms, max {max(lags) * 1000:.1f} ms"
                )
    await sim.stop()


async def main(sizes: list[int]) -> None:
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    for n in sizes:
        await fill(n, traced=False)
        await fill(n, traced=True)


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:] if a.isdigit()] or [100, 1000, 5000]))
