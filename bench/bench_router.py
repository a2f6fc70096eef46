"""Call-setup latency of the router against the simulated Asterisk, with many calls at once.

Run: .venv/bin/python bench/bench_router.py
Setup latency is the time from a call entering the application (StasisStart sent) to the caller hearing
the first prompt (the simulator's first media on that channel), measured in one process on loopback: the
router, the simulator and the HTTP/WebSocket between them share the machine's 2 cores, so the figures are
an upper bound for the router alone. Closed-line calls (the guidance); bench_queue.py measures the queue.
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import asyncio
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from asterisk_sim import Simulator
from asterisk_sim.settings import ROUTER_EXAMPLE, load_settings
from router.app import RouterConfig, running
from router.ari import AriConfig
from router.calls import flow
from router.calls.guidance import closed_guidance
from router.calls.prompts import DEFAULT_MANIFEST, load_manifest
from router.schedule import Override, decide, load_schedule

ROOT = Path(__file__).resolve().parent.parent
# These benchmarks measure what the router itself can carry: load shedding (which a simulator in the
# same process would set off at the highest rates) is off. bench_real.py shows it on a real Asterisk.
NO_SHEDDING = 1_000_000
CLOSED = datetime(2024, 1, 4, 12, 30, tzinfo=ZoneInfo("Europe/Copenhagen"))  # Thursday: opens at 15


def guidance_media(at: datetime = CLOSED, overrides: Sequence[Override] = ()) -> str:
    """The prompts the router plays a caller at `at` while 1818 is closed (a play request of 28 sounds at
    CLOSED): the floors play the same."""
    schedule = load_schedule(ROOT / "schedule.yaml")
    decision = decide(schedule, "1818", at, overrides)
    assert not decision.open, f"1818 is open at {at}"
    guidance = closed_guidance(schedule, "1818", decision, load_manifest().texts)
    return ",".join(f"sound:callrouter/{name}" for name in (*guidance.prompts, "offer-message"))


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def place_and_measure(sim: Simulator, calls: int, rate: float) -> list[float]:
    """Place `calls` to 1818 at `rate` per second; each one's setup: StasisStart to its first sound."""
    ids = []
    start = time.monotonic()
    for i in range(calls):
        ids.append(sim.world.place_call(f"{10000000 + i}", "1818", "router", ["1818"]).id)
        await asyncio.sleep(max(0.0, start + (i + 1) / rate - time.monotonic()))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(sim.world.channels[c].heard for c in ids):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    channels = [sim.world.channels[c] for c in ids]
    return [c.heard[0]["at"] - c.started for c in channels if c.heard]


async def burst(calls: int, rate: float) -> tuple[float, float, float]:
    """Place `calls` at `rate` per second; print and return setup p50 and p99 in seconds, and the
    process's CPU seconds a call meanwhile (the simulator's included)."""
    schedule = load_schedule(ROOT / "schedule.yaml")
    texts = load_manifest().texts_for(schedule, range(2023, 2026))
    sim = Simulator(
        "router", "bench", sound_seconds=30, settings=load_settings(ROUTER_EXAMPLE)
    )  # callers stay in the guidance meanwhile
    sim.world.sounds.update((f"callrouter/{name}" for name in texts), "da", "slin")
    await sim.start()
    with tempfile.TemporaryDirectory() as data:
        config = RouterConfig(
            AriConfig(url=sim.url, app="router", user="router", password="bench"),
            schedule,
            Path(data),
            DEFAULT_MANIFEST,
            flow.Settings(),
            max_calls_in_setup=NO_SHEDDING,
        )
        async with running(config, clock=lambda: CLOSED) as router:
            while "router" not in sim.world.connected_apps:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            before = rss_mib()
            start, cpu = time.monotonic(), time.process_time()
            setup = await place_and_measure(sim, calls, rate)
            elapsed, cpu = time.monotonic() - start, (time.process_time() - cpu) / calls
            cuts = statistics.quantiles(setup, n=100) if len(setup) > 1 else [setup[0]] * 99
            print(
                f"{calls:5d} calls at {rate:5.0f}/s: {len(setup)} hearing the guidance after {elapsed:.1f} s; "
                f"setup p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms; "
                f"{len(router.runtime.calls)} calls live in the router; peak RSS {before:.0f} -> {rss_mib():.0f} MiB; "
                f"CPU {cpu * 1000:.2f} ms a call (the simulator's included)"
            )
    await sim.stop()
    return cuts[49], cuts[98], cpu


async def main() -> None:
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    for calls, rate in ((10, 10), (100, 100), (500, 100), (500, 500), (2000, 1000), (2000, 2000)):
        await burst(calls, rate)


if __name__ == "__main__":
    asyncio.run(main())
