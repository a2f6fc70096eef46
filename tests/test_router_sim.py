"""The router end to end against the simulated Asterisk: real HTTP and WebSocket, the shipped schedule."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio

from asterisk_sim import Fault, Simulator
from router.app import RouterConfig, Running, running
from router.ari import AriConfig, retry
from router.calls import flow
from router.calls.prompts import DEFAULT_MANIFEST, load_manifest
from router.calls.runtime import NOT_NEEDED_EVENTS
from router.schedule import Schedule
from tests import real_asterisk
from tests.ari_helpers import outcome_of, until
from tests.conftest import ROUTER_SIM, local, stored_messages

CLOSED = local("2024-01-04T12:30")  # Thursday: the phone hours start at 15
OPEN = local("2024-01-04T15:30")
FAST = flow.Settings(offer_seconds=0.4, message_max_seconds=5, message_silence_seconds=2, agent_settle_seconds=0.3)


@dataclass
class Harness:
    sim: Simulator
    router: Running
    data: Path

    async def call(self, caller: str = "12345678", line: str = "1818", name: str = "") -> str:
        return self.sim.world.place_call(caller, line, "router", [line], name=name).id

    async def outcome(self, call_id: str) -> str:
        return await outcome_of(self.router.runtime, call_id)

    async def leave_message(self, caller: str = "12345678", name: str = "") -> str:
        """A closed-hours caller (`name` <`caller`>) who presses 1, speaks, and ends with #."""
        call = await self.call(caller, name=name)
        await self.until(lambda: "sound:callrouter/offer-message" in self.heard(call))
        self.sim.world.send_dtmf(call, "1")
        await self.until(lambda: any(r.channel_id == call for r in self.sim.world.live_recordings.values()))
        await asyncio.sleep(0.05)
        self.sim.world.send_dtmf(call, "#")
        assert await self.outcome(call) == "message_left"
        return call

    def heard(self, call_id: str) -> list[str]:
        return [h["media"] for h in self.sim.world.channels[call_id].heard if "media" in h]

    async def until(self, condition: Callable[[], bool], within: float = 10) -> None:
        await until(condition, within)


def prompt_sounds(schedule: Schedule) -> list[str]:
    texts = load_manifest().texts_for(schedule, range(2023, 2026))
    return [f"callrouter/{name}" for name in texts]


@contextlib.asynccontextmanager
async def start(
    sim: Simulator, schedule: Schedule | Callable[[], Schedule], data: Path, at: datetime, **changes: Any
) -> AsyncIterator[Running]:
    """The router, its clock starting at `at` (and running), connected to the simulator; `changes`
    are RouterConfig fields."""
    ari = AriConfig(url=sim.url, app="router", user="router", password="secret")
    config = replace(RouterConfig(ari, schedule, data, DEFAULT_MANIFEST, FAST), **changes)
    began = time.monotonic()
    async with running(config, clock=lambda: at + timedelta(seconds=time.monotonic() - began)) as router:
        await until(lambda: "router" in sim.world.connected_apps, within=5)
        yield router


@contextlib.asynccontextmanager
async def simulator(
    schedule: Schedule, sound_seconds: float = 0.01, *, user: str = "router", password: str = "secret"
) -> AsyncIterator[Simulator]:
    """The simulated Asterisk, running, with every prompt the schedule can ask for; each lasts `sound_seconds`."""
    sim = Simulator(
        user, password, sound_seconds=sound_seconds, contexts=real_asterisk.dialplan_contexts(), settings=ROUTER_SIM
    )
    sim.world.sounds.update(prompt_sounds(schedule), "da", "slin")
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest_asyncio.fixture
async def sim(shipped: Schedule) -> AsyncIterator[Simulator]:
    async with simulator(shipped) as started:
        yield started


@pytest_asyncio.fixture
async def closed(sim: Simulator, shipped: Schedule, tmp_path: Path) -> AsyncIterator[Harness]:
    async with start(sim, shipped, tmp_path, CLOSED) as router:
        yield Harness(sim, router, tmp_path)


async def test_closed_caller_hears_guidance_and_leaves_a_message(closed: Harness) -> None:
    call = await closed.leave_message("12345678")

    heard = closed.heard(call)
    assert heard[:3] == ["sound:callrouter/closed-now", "sound:callrouter/hours-intro", "sound:callrouter/day-mon"]
    assert "sound:callrouter/open-again" in heard
    assert "sound:callrouter/today" in heard
    assert heard[heard.index("sound:callrouter/offer-message") :] == [
        "sound:callrouter/offer-message",
        "sound:callrouter/record-after-beep",
        "sound:beep",
        "sound:callrouter/message-saved",
        "sound:callrouter/goodbye",
    ]
    assert closed.sim.world.channels[call].gone  # the router hung up after the goodbye
    [message] = stored_messages(closed.data)
    assert (message.caller, message.line, message.recording) == ("12345678", "1818", f"msg-{call}")
    assert timedelta(0) <= message.received_at - CLOSED < timedelta(seconds=5)  # when the call arrived
    assert message.seconds is not None
    assert message.seconds >= 1


async def test_no_key_pressed_hears_goodbye(closed: Harness) -> None:
    call = await closed.call()
    assert await closed.outcome(call) == "guidance_played"
    assert closed.heard(call)[-2:] == ["sound:callrouter/offer-message", "sound:callrouter/goodbye"]
    assert closed.sim.world.channels[call].gone


async def test_the_router_asks_asterisk_not_to_send_what_it_does_not_need_at_every_connect(closed: Harness) -> None:
    not_sent = [{"type": t} for t in NOT_NEEDED_EVENTS]
    filters = closed.sim.world.event_filters
    await closed.until(lambda: filters.get("router") == {"allowed": [], "disallowed": not_sent})
    call = await closed.call()  # the guidance's prompts, without a PlaybackContinuing between them
    assert await closed.outcome(call) == "guidance_played"
    # Asterisk drops an application (and its filter) once it has neither a WebSocket nor channels.
    await closed.sim.drop_websockets()
    await closed.until(lambda: closed.router.stream.stats.connects == 2)
    await closed.until(lambda: filters.get("router") == {"allowed": [], "disallowed": not_sent})
    assert await closed.outcome(await closed.call()) == "guidance_played"


async def test_caller_hangs_up_during_the_guidance(closed: Harness) -> None:
    call = await closed.call()
    await closed.until(lambda: len(closed.heard(call)) >= 3)
    closed.sim.world.caller_hangs_up(call)
    assert await closed.outcome(call) == "caller_hung_up"
    assert closed.router.runtime.calls == {}


async def test_caller_hangs_up_while_recording_and_the_message_is_kept(closed: Harness) -> None:
    call = await closed.call("87654321")
    closed.sim.world.send_dtmf(call, "1")  # barge in during the guidance
    await closed.until(lambda: any(r.channel_id == call for r in closed.sim.world.live_recordings.values()))
    await asyncio.sleep(1.1)
    closed.sim.world.caller_hangs_up(call)
    assert await closed.outcome(call) == "message_left"
    assert [m.caller for m in stored_messages(closed.data)] == ["87654321"]


async def test_unknown_line_gets_a_polite_message(closed: Harness) -> None:
    call = await closed.call(line="4242")
    assert await closed.outcome(call) == "unknown_line"
    assert closed.heard(call) == ["sound:callrouter/line-unknown", "sound:callrouter/goodbye"]


async def test_a_failure_hands_that_call_to_the_fallback_and_spares_the_others(closed: Harness) -> None:
    tries = len(retry.PAUSES) + 1
    closed.sim.faults.append(Fault("POST /channels/*/play/*", status=500, count=tries))  # outlasts every retry
    first = await closed.call("11111111")
    assert await closed.outcome(first) == "error_fallback"
    assert closed.sim.world.channels[first].dialplan_after == {"context": "callrouter-fallback-1818", "extension": "s"}
    second = await closed.call("22222222")
    assert await closed.outcome(second) == "guidance_played"


async def test_open_line_can_go_to_the_sites_own_queue_in_the_dialplan(
    sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    line = replace(shipped.lines["1818"], open_to="my-queue")  # `open_context: my-queue` in the file
    schedule = replace(shipped, lines={**shipped.lines, "1818": line})
    async with start(sim, schedule, tmp_path, OPEN) as router:
        harness = Harness(sim, router, tmp_path)
        call = await harness.call()
        assert await harness.outcome(call) == "handed_to_dialplan"
        assert sim.world.channels[call].dialplan_after == {"context": "my-queue", "extension": "s"}


async def test_after_a_restart_orphaned_callers_go_to_the_fallback(
    sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    async with start(sim, shipped, tmp_path, CLOSED) as router:
        call = await Harness(sim, router, tmp_path).call()
    # The router is gone; the caller is still in the application (Asterisk keeps it there).
    assert not sim.world.channels[call].gone
    async with start(sim, shipped, tmp_path, CLOSED) as restarted:
        await Harness(sim, restarted, tmp_path).until(lambda: sim.world.channels[call].dialplan_after is not None)
    assert sim.world.channels[call].dialplan_after == {"context": "callrouter-fallback-1818", "extension": "s"}


async def test_reconcile_leaves_a_new_call_whose_start_is_still_on_its_way(
    sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    async with start(sim, shipped, tmp_path, CLOSED) as router:
        sim.event_delay = 0.3  # the call's StasisStart reaches the router after its reconcile has looked
        call = await Harness(sim, router, tmp_path).call()
        await router.runtime.reconcile()
        assert sim.world.channels[call].dialplan_after is None  # not mistaken for an orphan
        assert call in router.runtime.calls


async def test_a_call_whose_last_hangup_failed_is_hung_up_by_the_next_reconcile(
    sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    async with start(sim, shipped, tmp_path, CLOSED) as router:
        harness = Harness(sim, router, tmp_path)
        runtime = router.runtime
        runtime.reconciler.grace = 0.05
        talking = await harness.call("11111111")  # another call, hearing the guidance: not to be touched
        sim.faults.append(Fault("DELETE /channels/*", status=500))  # every hangup fails, its retries too
        call = await harness.call(line="4444")  # a line the schedule does not know: a message, then a hangup
        assert await harness.outcome(call) == "unknown_line"
        assert not sim.world.channels[call].gone, "the hangup failed: the caller is still there"
        sim.faults.clear()
        await runtime.reconcile(reconnected=False)
        assert not sim.world.channels[call].gone, "just finished: it may still be on its way out"
        runtime.reconciler.finished_grace = 0.0  # as if ten seconds had passed
        await runtime.reconcile(reconnected=False)
        assert sim.world.channels[call].gone
        assert not sim.world.channels[talking].gone
        assert sim.world.channels[talking].dialplan_after is None
        assert talking in runtime.calls


async def test_a_caller_leaving_a_message_when_the_router_restarts_keeps_it(
    sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    async with start(sim, shipped, tmp_path, CLOSED) as router:
        harness = Harness(sim, router, tmp_path)
        call = await harness.call("12345678")
        await harness.until(lambda: "sound:callrouter/offer-message" in harness.heard(call))
        sim.world.send_dtmf(call, "1")
        await harness.until(lambda: any(r.channel_id == call for r in sim.world.live_recordings.values()))
    # The router is gone while the caller speaks; Asterisk goes on recording.
    async with start(sim, shipped, tmp_path, CLOSED) as restarted:
        restarted.runtime.reconciler.grace = 0.05
        await until(lambda: call in restarted.runtime.calls, within=5)
        assert sim.world.channels[call].dialplan_after is None, "not handed on: that would lose the message"
        sim.world.send_dtmf(call, "#")
        assert await outcome_of(restarted.runtime, call) == "message_left"
    [message] = stored_messages(tmp_path)
    assert (message.caller, message.line, message.recording) == ("12345678", "1818", f"msg-{call}")
    heard = [h["media"] for h in sim.world.channels[call].heard if "media" in h]
    assert heard[-2:] == ["sound:callrouter/message-saved", "sound:callrouter/goodbye"]
    assert sim.world.channels[call].gone
