"""The floor any ARI application pays, next to the router: the same calls, the same simulator, the same machine.

Run: .venv/bin/python bench/bench_floor.py

The floor is the smallest hand-written aiohttp ARI loop that does the same first steps for a call:
on StasisStart, answer and play the prompts the router plays (the closed-hour guidance, one request
of 28 sounds, in Danish). Setup latency is measured
the same way for both (StasisStart sent -> the caller hears the first sound, by the simulator's
clock), at 10 and 100 new calls per second and at 1,000/s (about the most this machine sustains
with the simulator in the same process). The router's figure is given as a ratio to the floor's.
Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import platform
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
from bench_router import burst, guidance_media, place_and_measure  # this folder: runs as bench/bench_floor.py

from asterisk_sim import Simulator
from asterisk_sim.settings import ROUTER_EXAMPLE, load_settings

RATES = ((10, 10), (100, 100), (2000, 1000))


async def read_events(
    ws: aiohttp.ClientWebSocketResponse,
    handle: Callable[[dict[str, Any]], Coroutine[Any, Any, None]],
    tasks: set[asyncio.Task[None]],
) -> None:
    """The floor's whole event loop: every event handled in a task of its own."""
    async for message in ws:
        task = asyncio.create_task(handle(json.loads(message.data)))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


async def floor_burst(calls: int, rate: float) -> tuple[float, float, float]:
    media = guidance_media()
    sim = Simulator("router", "bench", sound_seconds=30, settings=load_settings(ROUTER_EXAMPLE))
    sim.world.sounds.update((m.removeprefix("sound:") for m in media.split(",")), "da", "slin")
    await sim.start()
    auth = {"Authorization": "Basic " + base64.b64encode(b"router:bench").decode()}
    async with aiohttp.ClientSession(headers=auth) as http:
        rest = f"{sim.url}/ari"

        async def handle(event: dict[str, object]) -> None:
            channel = event.get("channel")
            if not isinstance(channel, dict):
                return
            if event["type"] == "StasisStart":
                await (await http.post(f"{rest}/channels/{channel['id']}/answer")).release()
                params = {"media": media, "lang": "da"}
                await (await http.post(f"{rest}/channels/{channel['id']}/play", params=params)).release()

        tasks: set[asyncio.Task[None]] = set()
        async with http.ws_connect(f"{sim.url}/ari/events?app=router") as ws:
            while "router" not in sim.world.connected_apps:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

            reader = asyncio.create_task(read_events(ws, handle, tasks))
            cpu = time.process_time()
            setup = await place_and_measure(sim, calls, rate)
            cpu = (time.process_time() - cpu) / calls
            reader.cancel()
    await sim.stop()
    cuts = statistics.quantiles(setup, n=100) if len(setup) > 1 else [setup[0]] * 99
    print(
        f"floor: {calls:5d} calls at {rate:5.0f}/s: setup p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms; "
        f"CPU {cpu * 1000:.2f} ms a call (the simulator's included)"
    )
    return cuts[49], cuts[98], cpu


async def main() -> None:
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    for calls, rate in RATES:
        floor = await floor_burst(calls, rate)
        router = await burst(calls, rate)
        print(
            f"  -> router / floor at {rate:.0f}/s: p50 {router[0] / floor[0]:.1f}x, p99 {router[1] / floor[1]:.1f}x; "
            f"CPU a call {router[2] / floor[2]:.2f}x"
        )


if __name__ == "__main__":
    asyncio.run(main())
