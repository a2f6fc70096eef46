"""The ARI client against the simulated Asterisk, over real HTTP and WebSocket on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from asterisk_sim import AgentScript, Fault, Simulator
from router.ari import (
    AriConfig,
    AriConflict,
    AriNotFound,
    AriRequestError,
    AriRest,
    AriServerError,
    AriUnavailable,
    Backoff,
    Event,
    EventStream,
)
from tests import real_asterisk
from tests.ari_helpers import Recorder, until
from tests.conftest import ROUTER_SIM

PASSWORD = "p&ss#w:rd ø"  # characters that break naive query-string or header handling


@dataclass
class Ari:
    sim: Simulator
    rest: AriRest
    events: Recorder
    stream: EventStream
    session: aiohttp.ClientSession
    config: AriConfig


@pytest_asyncio.fixture
async def ari() -> AsyncIterator[Ari]:
    sim = Simulator(
        "router", PASSWORD, sound_seconds=0.02, contexts=real_asterisk.dialplan_contexts(), settings=ROUTER_SIM
    )
    await sim.start()
    config = AriConfig(url=sim.url, app="router", user="router", password=PASSWORD)
    recorder = Recorder()
    async with aiohttp.ClientSession() as session:
        stream = EventStream(session, config, recorder, backoff=Backoff(base=0.05, cap=0.2))
        task = asyncio.create_task(stream.run())
        await asyncio.wait_for(stream.connected.wait(), 5)
        try:
            yield Ari(sim, AriRest(session, config, seen=stream.seen), recorder, stream, session, config)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await sim.stop()


async def incoming(ari: Ari, caller: str = "citizen") -> str:
    channel = ari.sim.world.place_call(caller, "1818", "router", ["1818"])
    await ari.events.wait_for("StasisStart", lambda e: e.channel is not None and e.channel.id == channel.id)
    return channel.id


async def test_queue_like_flow_with_bridges_and_an_agent(ari: Ari) -> None:
    ari.sim.world.set_endpoint("PJSIP/agent1", AgentScript("answer", answer_after=0.05))
    caller = await incoming(ari)
    await ari.rest.answer(caller)
    holding = await ari.rest.create_bridge("router-q-1818", "holding", "queue 1818")
    assert (holding.id, holding.bridge_type) == ("router-q-1818", "holding")
    with pytest.raises(AriConflict, match="already exists"):
        await ari.rest.create_bridge("router-q-1818", "holding")
    await ari.rest.add_channel(holding.id, caller)
    await ari.rest.start_bridge_moh(holding.id)
    agent = await ari.rest.originate(
        "PJSIP/agent1", channel_id="agent-leg-1", app="router", app_args=["agent", caller], caller_id="1818 <1818>"
    )
    assert agent is not None
    assert (agent.id, agent.state) == ("agent-leg-1", "Down")
    assert (await ari.rest.get_endpoint("PJSIP", "agent1")).channel_ids == ("agent-leg-1",)
    answered = await ari.events.wait_for("StasisStart", lambda e: e.channel is not None and e.channel.id == agent.id)
    assert answered.args == ("agent", caller)
    assert [e.dialstatus for e in ari.events.events if e.type == "Dial"] == ["", "RINGING", "ANSWER"]

    await ari.rest.remove_channel(holding.id, caller)
    mixing = await ari.rest.create_bridge("call-1", "mixing")
    await ari.rest.add_channel(mixing.id, caller, agent.id)
    assert set((await ari.rest.get_bridge(mixing.id)).channels) == {caller, agent.id}
    heard = ari.sim.world.channels[caller].heard
    assert {"bridged": "call-1", "with": [agent.id]} in heard

    ari.sim.world.caller_hangs_up(caller)
    await ari.events.wait_for("StasisEnd", lambda e: e.channel is not None and e.channel.id == caller)
    assert not ari.sim.world.channels[agent.id].gone  # Asterisk leaves the agent up: the app must hang up
    await ari.rest.hangup(agent.id)
    destroyed = await ari.events.wait_for("ChannelDestroyed", lambda e: e.key == agent.id)
    assert destroyed.cause == 16
    assert ari.events.types(agent.id)[-4:] == [
        "ChannelHangupRequest",
        "ChannelLeftBridge",
        "StasisEnd",
        "ChannelDestroyed",
    ]

    # The errors a router meets while cleaning up after a hangup.
    with pytest.raises(AriNotFound) as gone:
        await ari.rest.add_channel(mixing.id, caller)
    assert (gone.value.status, gone.value.message) == (400, "Channel not found")
    await ari.rest.destroy_bridge(mixing.id)
    await ari.rest.destroy_bridge(holding.id)
    with pytest.raises(AriNotFound, match="Bridge not found"):
        await ari.rest.destroy_bridge(holding.id)
    assert await ari.rest.list_bridges() == []


async def test_originate_unanswered_busy_and_offline(ari: Ari) -> None:
    world = ari.sim.world
    world.set_endpoint("PJSIP/agent2", AgentScript("no-answer"))
    world.set_endpoint("PJSIP/agent3", AgentScript("busy"))
    world.set_endpoint("PJSIP/agent4", AgentScript("offline"))
    for endpoint, leg in (("PJSIP/agent2", "leg-2"), ("PJSIP/agent3", "leg-3"), ("PJSIP/agent4", "leg-4")):
        await ari.rest.originate(endpoint, channel_id=leg, app="router", ring_timeout=1)
    causes = {}
    for leg in ("leg-2", "leg-3", "leg-4"):
        destroyed = await ari.events.wait_for("ChannelDestroyed", key_is(leg), within=3)
        causes[leg] = (destroyed.cause, destroyed.raw["cause_txt"])
        assert "StasisStart" not in ari.events.types(leg)
    assert causes == {
        "leg-2": (19, "User alerting, no answer"),
        "leg-3": (17, "User busy"),
        "leg-4": (20, "Subscriber absent"),
    }
    assert (await ari.rest.get_endpoint("PJSIP", "agent4")).state == "offline"
    with pytest.raises(AriNotFound, match="Endpoint not found"):
        await ari.rest.get_endpoint("PJSIP", "nobody")
    with pytest.raises(AriConflict):
        await ari.rest.originate("PJSIP/agent2", channel_id="leg-2", app="router")


async def test_app_cancels_a_ringing_agent(ari: Ari) -> None:
    ari.sim.world.set_endpoint("PJSIP/agent1", AgentScript("answer", answer_after=5))
    await ari.rest.originate("PJSIP/agent1", channel_id="ringing-leg", app="router")
    await ari.events.wait_for("Dial", lambda e: e.dialstatus == "RINGING")
    await ari.rest.hangup("ringing-leg")
    await ari.events.wait_for("ChannelDestroyed", lambda e: e.key == "ringing-leg")
    assert "StasisStart" not in ari.events.types("ringing-leg")
    assert (await ari.rest.get_endpoint("PJSIP", "agent1")).channel_ids == ()


async def test_recording_stops_at_max_duration(ari: Ari) -> None:
    channel_id = await incoming(ari)
    await ari.rest.answer(channel_id)
    await ari.rest.record(channel_id, "msg-2", max_duration_seconds=1)
    finished = await ari.events.wait_for("RecordingFinished", within=3)
    assert finished.recording is not None
    assert finished.recording.duration == 1


async def test_application_lists_its_channels(ari: Ari) -> None:
    channel_id = await incoming(ari)
    app = await ari.rest.get_application()
    assert (app.name, app.channel_ids) == ("router", (channel_id,))
    assert [c.id for c in await ari.rest.list_channels()] == [channel_id]
    assert (await ari.rest.get_channel(channel_id)).state == "Ring"


async def test_server_errors_and_timeouts_are_typed(ari: Ari) -> None:
    channel_id = await incoming(ari)
    ari.sim.faults.append(Fault("POST /channels/*/ring", status=500, count=1))
    with pytest.raises(AriServerError) as failed:
        await ari.rest.ring(channel_id)  # a request that is never retried
    assert failed.value.status == 500
    await ari.rest.ring(channel_id)  # the fault was for one request only
    ari.sim.faults.append(Fault("GET /channels/*", status=0, delay=1.0))
    slow = AriRest(ari.session, ari.config, timeout=0.2)
    with pytest.raises(AriUnavailable):
        await slow.get_channel(channel_id)


async def test_wrong_password_is_refused(ari: Ari) -> None:
    wrong = AriConfig(url=ari.sim.url, app="router", user="router", password="nope")
    with pytest.raises(AriRequestError) as refused:
        await AriRest(ari.session, wrong).ping()
    assert refused.value.status == 401


async def test_reconnects_within_two_seconds_and_reconciles() -> None:
    sim = Simulator(
        "router", PASSWORD, sound_seconds=0.02, contexts=real_asterisk.dialplan_contexts(), settings=ROUTER_SIM
    )
    await sim.start()
    config = AriConfig(url=sim.url, app="router", user="router", password=PASSWORD)
    recorder = Recorder()
    reconciled: list[tuple[str, ...]] = []
    async with aiohttp.ClientSession() as session:
        rest = AriRest(session, config)

        async def reconcile() -> None:
            reconciled.append((await rest.get_application()).channel_ids)

        stream = EventStream(session, config, recorder, on_connect=reconcile)
        task = asyncio.create_task(stream.run())
        await asyncio.wait_for(stream.connected.wait(), 5)
        channel = sim.world.place_call("citizen", "1818", "router")
        await recorder.wait_for("StasisStart")

        # Asterisk goes away for a while: the socket drops and ARI refuses to answer.
        sim.available = False
        await sim.drop_websockets()
        await asyncio.sleep(2.5)  # long enough for the backoff to reach its cap
        assert not stream.connected.is_set()
        sim.available = True
        back = time.monotonic()
        await asyncio.wait_for(stream.connected.wait(), 5)
        assert time.monotonic() - back < 2.0
        await asyncio.sleep(0.1)
        # The channel that was in the app while we were away is found again by reconciling.
        assert reconciled[-1] == (channel.id,)
        assert stream.stats.connects == 2
        sim.world.caller_hangs_up(channel.id)
        await recorder.wait_for("StasisEnd")

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await sim.stop()
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    assert leftover == []


async def serve_frames(frames: list[str]) -> tuple[web.AppRunner, str]:
    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for frame in frames:
            await ws.send_str(frame)
        async for _ in ws:  # until the client goes away
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ari/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def test_malformed_and_unknown_frames_are_counted_and_skipped() -> None:
    good = '{"type": "StasisStart", "args": [], "channel": {"id": "c1", "name": "x", "state": "Ring"}}'
    frames = [
        "not json",
        "[1, 2]",
        '{"no": "type"}',
        '{"type": "StasisStart", "channel": {"name": "no id"}}',
        '{"type": "SomethingNew", "channel": {"id": "c1"}}',
        '{"type": "ChannelDtmfReceived", "digit": "5", "channel": {"id": "c1"}, "extra": {"unexpected": [1]}}',
        good,
    ]
    runner, url = await serve_frames(frames)
    recorder = Recorder()
    async with aiohttp.ClientSession() as session:
        stream = EventStream(session, AriConfig(url=url, app="router", user="u", password="p"), recorder)
        task = asyncio.create_task(stream.run())
        await recorder.wait_for("StasisStart")
        assert [e.type for e in recorder.events] == ["ChannelDtmfReceived", "StasisStart"]
        assert (stream.stats.malformed, stream.stats.unknown, stream.stats.events) == (4, 1, 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await runner.cleanup()


async def test_events_of_one_channel_in_order_and_calls_in_parallel() -> None:
    frames = [
        f'{{"type": "ChannelDtmfReceived", "digit": "{d}", "channel": {{"id": "{c}"}}}}' for d in "123" for c in "ab"
    ]
    runner, url = await serve_frames(frames)
    seen: list[tuple[str, str]] = []
    release_a = asyncio.Event()

    async def handler(event: Event) -> None:
        assert event.channel is not None
        assert event.digit is not None
        if event.channel.id == "a":
            await release_a.wait()  # a slow handler for call "a" ...
        seen.append((event.channel.id, event.digit))

    async with aiohttp.ClientSession() as session:
        stream = EventStream(session, AriConfig(url=url, app="router", user="u", password="p"), handler)
        task = asyncio.create_task(stream.run())
        await until(lambda: len(seen) == 3)
        assert seen == [("b", "1"), ("b", "2"), ("b", "3")]  # ... does not hold up call "b"
        release_a.set()
        await until(lambda: len(seen) == 6)
        assert [d for c, d in seen if c == "a"] == ["1", "2", "3"]
        await stream.dispatcher.idle()
        assert stream.dispatcher.busy == 0  # workers end when their queue is empty
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await runner.cleanup()


async def test_a_failing_handler_does_not_stop_other_events() -> None:
    frames = [f'{{"type": "ChannelDtmfReceived", "digit": "{d}", "channel": {{"id": "c"}}}}' for d in "12"]
    runner, url = await serve_frames(frames)
    seen: list[str] = []

    async def handler(event: Event) -> None:
        if event.digit == "1":
            raise RuntimeError("a bug in one call")
        seen.append(str(event.digit))

    async with aiohttp.ClientSession() as session:
        stream = EventStream(session, AriConfig(url=url, app="router", user="u", password="p"), handler)
        task = asyncio.create_task(stream.run())
        await until(lambda: seen == ["2"])
        assert stream.dispatcher.handler_errors == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await runner.cleanup()


def key_is(key: str) -> Callable[[Event], bool]:
    return lambda event: event.key == key


def test_backoff_is_capped_and_jittered() -> None:
    backoff = Backoff(base=0.1, cap=1.5)
    delays = [backoff.next_delay() for _ in range(12)]
    assert all(0.05 <= d <= 1.5 for d in delays)
    assert max(delays[6:]) > 0.75  # it grows to the cap ...
    backoff.reset()
    assert backoff.next_delay() <= 0.1  # ... and starts small again after a good connection
