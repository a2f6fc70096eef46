"""The caller hangs up at every step of every flow: a named outcome, nothing of ours left, no message lost.

Against the simulated Asterisk, with sounds that last long enough (0.5 s) to hang up in the middle.
After each hangup: the router has forgotten the call, no channel is left (agents' phones stop
ringing, an agent in a conversation is hung up), no bridge but the line's empty holding bridge,
and a message that was recorded is stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_asyncio

from asterisk_sim import AgentScript, Simulator
from router.calls.queue_runner import HOLDING_PREFIX
from router.calls.runtime import Runtime
from router.schedule import QueueConfig, Schedule
from tests.ari_helpers import outcome_of, until
from tests.conftest import stored_messages
from tests.test_router_sim import CLOSED, OPEN, simulator, start

QUEUE = QueueConfig(("agent1", "agent2"), ring_seconds=30, retry_seconds=1, max_wait_seconds=3, announce_seconds=1)


def state_is(runtime: Runtime, call: str, state: str, extra: Callable[[], bool] = lambda: True) -> Callable[[], bool]:
    return lambda: call in runtime.calls and runtime.calls[call].call.state == state and extra()


@pytest_asyncio.fixture
async def sim(shipped: Schedule) -> AsyncIterator[Simulator]:
    async with simulator(shipped, sound_seconds=0.5) as started:
        yield started


@pytest.mark.parametrize(
    ("step", "keys", "expected"),
    [
        ("guidance", "", {"caller_hung_up"}),
        ("offer", "", {"guidance_played"}),
        ("record-intro", "1", {"caller_hung_up"}),
        ("recording", "1", {"message_left", "caller_hung_up"}),
        ("goodbye", "", {"guidance_played"}),
    ],
)
async def test_closed_line(
    sim: Simulator, shipped: Schedule, tmp_path: Path, step: str, keys: str, expected: set[str]
) -> None:
    async with start(sim, shipped, tmp_path, CLOSED) as router:
        runtime = router.runtime
        call = sim.world.place_call("12345678", "1818", "router", ["1818"]).id
        if keys:
            await until(state_is(runtime, call, "guidance"))
            sim.world.send_dtmf(call, keys)
        await until(state_is(runtime, call, step), within=15)
        if step == "recording":
            await until(lambda: any(r.channel_id == call for r in sim.world.live_recordings.values()))
        sim.world.caller_hangs_up(call)
        outcome = await outcome_of(runtime, call)
        assert outcome in expected
        if outcome == "message_left":
            [message] = stored_messages(tmp_path)
            assert message.id == call
        await nothing_left(sim, runtime)


@pytest.mark.parametrize(
    ("step", "agents", "expected"),
    [
        ("welcome", "no-answer", "caller_gave_up"),
        ("ringing", "no-answer", "caller_gave_up"),
        ("announcing", "busy", "caller_gave_up"),
        ("connected", "answer", "answered"),
        ("overflow", "busy", "overflow"),
        ("overflow-offer", "busy", "overflow"),
    ],
)
async def test_open_line(
    sim: Simulator, shipped: Schedule, tmp_path: Path, step: str, agents: str, expected: str
) -> None:
    for name in QUEUE.agents:
        sim.world.set_endpoint(f"PJSIP/{name}", AgentScript(agents, 0.3))
    line = replace(shipped.lines["1818"], open_to=QUEUE)
    schedule = replace(shipped, lines={**shipped.lines, "1818": line})
    async with start(sim, schedule, tmp_path, OPEN) as router:
        runtime = router.runtime
        call = sim.world.place_call("12345678", "1818", "router", ["1818"]).id
        ringing = lambda: any(c.endpoint and not c.gone and c.app is None for c in sim.world.channels.values())  # noqa: E731
        announcing = lambda: runtime.calls[call].call.playback is not None  # noqa: E731
        overflowed = lambda: runtime.calls[call].call.overflowed  # noqa: E731
        condition = {
            "welcome": state_is(runtime, call, "welcome"),
            "ringing": state_is(runtime, call, "queued", ringing),
            "announcing": state_is(runtime, call, "queued", announcing),
            "connected": state_is(runtime, call, "connected"),
            "overflow": state_is(runtime, call, "guidance", overflowed),
            "overflow-offer": state_is(runtime, call, "offer", overflowed),
        }[step]
        await until(condition, within=15)
        sim.world.caller_hangs_up(call)
        assert await outcome_of(runtime, call) == expected
        await nothing_left(sim, runtime)


async def nothing_left(sim: Simulator, runtime: Runtime, within: float = 5) -> None:
    def left() -> dict[str, list[str]]:
        # Still ours: not hung up, and not handed back to the dialplan (the fallback takes care of those).
        live = [c.id for c in sim.world.channels.values() if not c.gone and c.dialplan_after is None]
        bridges = [b.id for b in sim.world.bridges.values() if b.channels or not b.id.startswith(HOLDING_PREFIX)]
        queues = [s.queue for s in runtime.queues.lines.values()]
        busy = [str(q) for q in queues if q.waiting or q.legs or q.talking]
        found = {"channels": live, "bridges": bridges, "calls": list(runtime.calls), "queues": busy}
        return {k: v for k, v in {**found, "legs": list(runtime.queues.legs)}.items() if v}

    try:
        await until(lambda: not left(), within=within)
    except TimeoutError:
        pytest.fail(f"left behind after {within} s: {left()}")
