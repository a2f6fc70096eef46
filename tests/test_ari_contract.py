"""The same ARI scenarios against the simulated Asterisk and a real Asterisk 22, with the same expectations.

This is what keeps the simulator honest: every expectation here holds for both. Where the two
differ by nature (the real tier's agents are Local channels, the simulator's are PJSIP endpoints
with scripted phones), a test compares only what both must share.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from asterisk_sim import AgentScript, Simulator
from router.ari import (
    CALL_MOVED_ON,
    ApplicationReplacedError,
    AriConfig,
    AriConflict,
    AriNotFound,
    AriRest,
    AriUnprocessable,
    Event,
    EventStream,
)
from tests import real_asterisk
from tests.ari_helpers import ArrivalOrder, AsteriskQuirk, Recorder
from tests.conftest import ROUTER_SIM

_ids = itertools.count(1)
# Set, the simulator scenarios run against that simulated Asterisk (its own process, or its container)
# instead of one started in this process. scripts/test sets it for the container tier.
SIM_URL = "CALLROUTER_SIM_URL"


class Backend:
    """One Asterisk, simulated or real, as the scenarios see it."""

    name: str

    def __init__(self, session: aiohttp.ClientSession, config: AriConfig) -> None:
        self.session, self.config = session, config
        self.rest = AriRest(session, config)
        self.events = Recorder()
        self.stream = EventStream(session, config, self.events)
        self.arrived: list[Event] = []  # every event, in the order Asterisk sent it
        self.stream.dispatcher = ArrivalOrder(self.events, self.arrived)
        self.router_task: asyncio.Task[None] | None = None
        self._helpers: list[asyncio.Task[None]] = []  # the harness's own connections

    async def connect(self) -> None:
        """(Re)connect the router's WebSocket, as a router starting up does."""
        self.router_task = asyncio.create_task(self.stream.run())
        await asyncio.wait_for(self.stream.connected.wait(), 10)

    async def disconnect(self) -> None:
        """Close the router's WebSocket, as a router stopping does."""
        if self.router_task is not None:
            self.router_task.cancel()
            await asyncio.gather(self.router_task, return_exceptions=True)
            self.router_task = None

    async def close(self) -> None:
        await self.disconnect()
        for task in self._helpers:
            task.cancel()
        await asyncio.gather(*self._helpers, return_exceptions=True)

    async def call(self, caller: str = "12345678") -> str:
        raise NotImplementedError

    async def caller_hangs_up(self, channel_id: str) -> None:
        raise NotImplementedError

    async def caller_presses(self, channel_id: str, digits: str) -> None:
        raise NotImplementedError

    async def caller_talks(self, channel_id: str, seconds: float) -> None:
        """The caller makes a sound for `seconds`, then is silent (the call answered)."""
        raise NotImplementedError

    async def caller_holds(self, channel_id: str, held: bool) -> None:
        """The caller's side puts the call on hold, or takes it off (the call answered)."""
        raise NotImplementedError

    def agent(self, behaviour: str) -> str:
        raise NotImplementedError

    async def stasis_status(self, channel_id: str) -> str | None:
        raise NotImplementedError

    async def started(self, channel_id: str) -> Event:
        return await self.events.wait_for("StasisStart", lambda e: e.channel is not None and e.channel.id == channel_id)


class SimBackend(Backend):
    name = "sim"

    def __init__(self, session: aiohttp.ClientSession, sim: Simulator) -> None:
        super().__init__(session, AriConfig(url=sim.url, app="router", user="router", password=sim.password))
        self.sim = sim
        for behaviour in ("answer", "no-answer", "busy"):
            sim.world.set_endpoint(f"PJSIP/{behaviour}", AgentScript(behaviour, answer_after=0.05))
        sim.world.set_endpoint("Local/answer@agents", AgentScript("answer", answer_after=0))  # as its dialplan
        sim.world.sounds.update(real_asterisk.prompt_sounds(), "da", "slin")  # the real tier's prompts

    async def call(self, caller: str = "12345678") -> str:
        # As the real tier's callers: a Local channel's half, with a name.
        channel = self.sim.world.place_call(caller, "1818", "router", name="Borger", technology="Local")
        if channel.app is not None:
            await self.started(channel.id)
        return channel.id

    async def caller_hangs_up(self, channel_id: str) -> None:
        self.sim.world.caller_hangs_up(channel_id)

    async def caller_presses(self, channel_id: str, digits: str) -> None:
        for digit in digits:
            self.sim.world.send_dtmf(channel_id, digit)

    async def caller_talks(self, channel_id: str, seconds: float) -> None:
        self.sim.world.caller_talks(channel_id, seconds)
        await asyncio.sleep(seconds)

    async def caller_holds(self, channel_id: str, held: bool) -> None:
        self.sim.world.caller_holds(channel_id, held)

    def agent(self, behaviour: str) -> str:
        return f"PJSIP/{behaviour}"

    async def stasis_status(self, channel_id: str) -> str | None:
        return next((f["STASISSTATUS"] for f in self.sim.world.fallbacks if f["channel"] == channel_id), None)


class RemoteSimBackend(Backend):
    """The simulated Asterisk as its own process or container (CALLROUTER_SIM_URL), driven only through its
    control API, as a site's test harness drives it."""

    name = "sim"

    def __init__(self, session: aiohttp.ClientSession, url: str, password: str) -> None:
        super().__init__(session, AriConfig(url=url, app="router", user="router", password=password))
        self.url = url.rstrip("/")

    async def connect(self) -> None:
        if not self._helpers:
            for behaviour in ("answer", "no-answer", "busy"):
                await self._control(
                    "PUT", f"/endpoints/PJSIP/{behaviour}", {"behaviour": behaviour, "answer_after": 0.05}
                )
            await self._control("PUT", "/endpoints/Local/answer@agents", {"behaviour": "answer", "answer_after": 0})
            for context in sorted(real_asterisk.dialplan_contexts()):  # the real tier's dialplan
                await self._control("PUT", f"/dialplan/{context}")
            sounds = {"names": real_asterisk.prompt_sounds(), "language": "da", "format": "slin"}
            await self._control("POST", "/sounds", sounds)  # and its prompts
        await super().connect()

    async def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.session.request(method, f"{self.url}/_sim{path}", json=body) as response:
            assert response.status < 300, f"{method} /_sim{path}: {response.status} {await response.text()}"
            return await response.json() if response.content_type == "application/json" else None

    async def call(self, caller: str = "12345678") -> str:
        placed = await self._control(
            "POST", "/calls", {"from": caller, "name": "Borger", "to": "1818", "app": "router", "technology": "Local"}
        )  # as the real tier's callers, and SimBackend's: a Local channel's half
        if placed["stasis"]:
            await self.started(placed["channel_id"])
        return str(placed["channel_id"])

    async def caller_hangs_up(self, channel_id: str) -> None:
        await self._control("POST", f"/channels/{channel_id}/hangup")

    async def caller_presses(self, channel_id: str, digits: str) -> None:
        await self._control("POST", f"/channels/{channel_id}/dtmf", {"digits": digits})

    async def caller_talks(self, channel_id: str, seconds: float) -> None:
        await self._control("POST", f"/channels/{channel_id}/talk", {"seconds": seconds})
        await asyncio.sleep(seconds)

    async def caller_holds(self, channel_id: str, held: bool) -> None:
        await self._control("POST", f"/channels/{channel_id}/{'hold' if held else 'unhold'}")

    def agent(self, behaviour: str) -> str:
        return f"PJSIP/{behaviour}"

    async def stasis_status(self, channel_id: str) -> str | None:
        state = await self._control("GET", "/state")
        return next((f["STASISSTATUS"] for f in state["fallbacks"] if f["channel"] == channel_id), None)


class RealBackend(Backend):
    """Calls are Local channels: the caller's half sits in a helper application we control."""

    name = "real"

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        super().__init__(
            session, AriConfig(url=url, app="router", user=real_asterisk.USER, password=real_asterisk.PASSWORD)
        )
        phones = AriConfig(url=url, app="phones", user=real_asterisk.USER, password=real_asterisk.PASSWORD)
        self.phone_events = Recorder()
        self.phones = EventStream(session, phones, self.phone_events)

    async def connect(self) -> None:
        if not self._helpers:
            self._helpers.append(asyncio.create_task(self.phones.run()))
            await asyncio.wait_for(self.phones.connected.wait(), 10)
        await super().connect()

    async def call(self, caller: str = "12345678") -> str:
        number = next(_ids)
        channel_id = f"call-{number}"
        await self.rest.request(
            "POST",
            "/channels",
            {
                "endpoint": "Local/1818@from-citizens/n",
                "app": "phones",
                "channelId": f"phone-{number}",  # never a prefix of the other id: see test_channel_id_prefix
                "otherChannelId": channel_id,
                "callerId": f"Borger <{caller}>",
            },
        )
        if self.stream.connected.is_set():
            await self.started(channel_id)
        return channel_id

    async def caller_hangs_up(self, channel_id: str) -> None:
        await self.rest.hangup(self._phone(channel_id))

    async def caller_presses(self, channel_id: str, digits: str) -> None:
        # The caller's half enters the helper application once the router has answered the call.
        phone = self._phone(channel_id)
        await self.phone_events.wait_for("StasisStart", is_channel(phone))
        await self.rest.request("POST", f"/channels/{phone}/dtmf", {"dtmf": digits})

    async def caller_talks(self, channel_id: str, seconds: float) -> None:
        # The caller's half plays a steady tone for `seconds`, then silence, as a phone's RTP goes on: the
        # Local channel carries both to the router's half (with no frames at all, Asterisk's talk detector
        # would never hear the silence that ends the talking).
        phone = self._phone(channel_id)
        await self.phone_events.wait_for("StasisStart", is_channel(phone))
        tone = f"talk-{phone}"
        await self.rest.request("POST", f"/channels/{phone}/play/{tone}", {"media": "tone:1000"})
        await asyncio.sleep(seconds)
        await self.rest.request("DELETE", f"/playbacks/{tone}")
        silence = ",".join(["sound:silence/1"] * 5)
        await self.rest.request("POST", f"/channels/{phone}/play/silent-{phone}", {"media": silence})

    async def caller_holds(self, channel_id: str, held: bool) -> None:
        # The caller's half is held (or taken off hold) by ARI: the Local channel passes it on to the router's.
        phone = self._phone(channel_id)
        await self.phone_events.wait_for("StasisStart", is_channel(phone))
        await self.rest.request("POST" if held else "DELETE", f"/channels/{phone}/hold")

    @staticmethod
    def _phone(channel_id: str) -> str:
        return channel_id.replace("call-", "phone-", 1)

    def agent(self, behaviour: str) -> str:
        return f"Local/{behaviour.replace('-', '')}@agents/n"

    async def stasis_status(self, channel_id: str) -> str | None:
        answer: Any = await self.rest.request("GET", "/asterisk/variable", {"variable": f"FALLBACK_{channel_id}"})
        value = answer.get("value") if isinstance(answer, dict) else None
        return str(value) if value else None


@pytest_asyncio.fixture(params=["sim", "real"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    async with aiohttp.ClientSession() as session:
        sim: Simulator | None = None
        chosen: Backend
        if request.param == "sim" and os.environ.get(SIM_URL):
            chosen = RemoteSimBackend(session, os.environ[SIM_URL], real_asterisk.PASSWORD)
        elif request.param == "sim":
            sim = Simulator(
                "router",
                real_asterisk.PASSWORD,
                sound_seconds=0.05,
                contexts=real_asterisk.dialplan_contexts(),
                settings=ROUTER_SIM,
            )
            await sim.start()
            chosen = SimBackend(session, sim)
        else:
            chosen = RealBackend(session, request.getfixturevalue("real_asterisk_url"))
        await chosen.connect()
        try:
            yield chosen
        finally:
            await chosen.close()
            if sim is not None:
                await sim.stop()


async def destroy_bridge_for_sure(rest: AriRest, bridge_id: str) -> bool:
    """Destroy a bridge and prove no call is left in it.

    Asterisk 22 now and then (about one full run in ten here) answers DELETE with 409 "Bridge not
    in Stasis application" right after the bridge's last channel hung up, and keeps answering so:
    its find_bridge() finds a bridge snapshot but the Stasis application no longer holds the
    bridge, so ARI cannot delete it. Then the least that must hold is that the bridge is empty.
    """
    for _ in range(20):
        try:
            await rest.destroy_bridge(bridge_id)
            break
        except AriConflict:
            await asyncio.sleep(0.1)
    remaining = {b.id: b for b in await rest.list_bridges()}
    if bridge_id in remaining:
        warnings.warn(f"Asterisk kept empty bridge {bridge_id} after 409s", AsteriskQuirk, stacklevel=2)
        assert remaining[bridge_id].channels == ()
        return False
    return True


def is_channel(channel_id: str) -> Any:
    return lambda e: e.channel is not None and e.channel.id == channel_id


def is_key(key: str) -> Any:
    return lambda e: e.key == key


async def test_answer_play_two_media_then_app_hangs_up(backend: Backend) -> None:
    caller = await backend.call()
    await backend.rest.answer(caller)
    await backend.rest.play(caller, f"pb-{caller}", ["sound:hello-world", "sound:vm-goodbye"])
    finished = await backend.events.wait_for("PlaybackFinished", within=10)
    assert finished.playback is not None
    assert finished.playback.state == "done"
    await backend.rest.hangup(caller)
    end = await backend.events.wait_for("StasisEnd", is_channel(caller))
    assert backend.events.types(caller) == [
        "StasisStart",
        "ChannelStateChange",
        "PlaybackStarted",
        "PlaybackContinuing",
        "PlaybackStarted",
        "PlaybackFinished",
        "ChannelHangupRequest",
        "StasisEnd",
    ]
    hangup = next(e for e in backend.events.events if e.type == "ChannelHangupRequest" and e.key == caller)
    assert (hangup.cause, hangup.raw.get("soft")) == (32, True)
    assert end.channel is not None
    assert end.channel.state == "Up"
    with pytest.raises(AriNotFound, match="Channel not found"):
        await backend.rest.answer(caller)
    with pytest.raises(AriNotFound):
        await backend.rest.play(caller, f"pb2-{caller}", ["sound:hello-world"])


async def test_stasis_start_describes_the_caller(backend: Backend) -> None:
    caller = await backend.call("87654321")
    start = await backend.started(caller)
    assert start.channel is not None
    assert (start.channel.state, start.channel.caller_number, start.channel.exten) == ("Ring", "87654321", "1818")
    assert start.channel.context == "from-citizens"
    assert start.args == ()
    await backend.rest.hangup(caller)


async def test_caller_hangs_up_during_playback(backend: Backend) -> None:
    caller = await backend.call()
    await backend.rest.answer(caller)
    await backend.rest.play(caller, f"pb-{caller}", ["sound:tt-monkeys"])
    await backend.events.wait_for("PlaybackStarted")
    await backend.caller_hangs_up(caller)
    await backend.events.wait_for("StasisEnd", is_channel(caller))
    assert backend.events.types(caller)[-3:] == ["ChannelHangupRequest", "PlaybackFinished", "StasisEnd"]
    hangup = next(e for e in backend.events.events if e.type == "ChannelHangupRequest" and e.key == caller)
    assert (hangup.cause, hangup.raw.get("soft")) == (16, None)
    finished = next(e for e in backend.events.events if e.type == "PlaybackFinished")
    assert finished.playback is not None
    assert finished.playback.state == "failed"


async def test_missing_sound_fails_and_sounds_can_be_checked(backend: Backend) -> None:
    caller = await backend.call()
    await backend.rest.answer(caller)
    await backend.rest.play(caller, f"pb-{caller}", ["sound:no-such-prompt"])
    finished = await backend.events.wait_for("PlaybackFinished")
    assert finished.playback is not None
    assert finished.playback.state == "failed"
    assert backend.events.types(caller)[-2:] == ["PlaybackStarted", "PlaybackFinished"]
    with pytest.raises(AriNotFound, match="Sound not found"):
        await backend.rest.get_sound("no-such-prompt")
    assert (await backend.rest.get_sound("hello-world"))["id"] == "hello-world"
    assert (await backend.rest.get_sound("digits/1"))["id"] == "digits/1"  # sent as digits%2F1
    with pytest.raises(AriNotFound, match="Resource not found"):
        await backend.rest.request("GET", "/sounds/digits/1")  # a raw slash is no route at all
    await backend.rest.hangup(caller)


async def test_dtmf_reaches_the_application(backend: Backend) -> None:
    caller = await backend.call()
    await backend.rest.answer(caller)
    await backend.caller_presses(caller, "1")
    digit = await backend.events.wait_for("ChannelDtmfReceived", is_channel(caller))
    assert digit.digit == "1"
    await backend.rest.hangup(caller)


async def test_bridges_and_their_errors(backend: Backend) -> None:
    caller = await backend.call()
    await backend.rest.answer(caller)
    queue = f"router-q-{backend.name}-{next(_ids)}"
    holding = await backend.rest.create_bridge(queue, "holding", "queue 1818")
    assert (holding.id, holding.bridge_type, holding.channels) == (queue, "holding", ())
    with pytest.raises(AriConflict, match="already exists"):
        await backend.rest.create_bridge(queue, "holding")
    await backend.rest.add_channel(queue, caller)
    entered = await backend.events.wait_for("ChannelEnteredBridge", is_channel(caller))
    assert entered.bridge is not None
    assert entered.bridge.channels == (caller,)
    await backend.rest.start_bridge_moh(queue)
    assert (await backend.rest.get_bridge(queue)).channels == (caller,)
    with pytest.raises(AriNotFound, match="Bridge not found"):
        await backend.rest.add_channel("no-such-bridge", caller)

    await backend.caller_hangs_up(caller)
    await backend.events.wait_for("StasisEnd", is_channel(caller))
    assert backend.events.types(caller)[-3:] == ["ChannelHangupRequest", "ChannelLeftBridge", "StasisEnd"]
    with pytest.raises((AriNotFound, AriConflict, AriUnprocessable)) as gone:
        await backend.rest.add_channel(queue, caller)
    assert isinstance(gone.value, CALL_MOVED_ON)
    if isinstance(gone.value, AriUnprocessable):
        # The channel was still on its way out of Stasis (seen once in about ten real runs).
        assert gone.value.message == "Channel not in Stasis application"
    elif isinstance(gone.value, AriConflict):
        # The quirk of destroy_bridge_for_sure, met one step earlier: Asterisk already let go of the
        # emptied bridge, and answers every request on it so (seen once in about twenty full runs).
        assert (gone.value.status, gone.value.message) == (409, "Bridge not in Stasis application")
        warnings.warn(f"Asterisk let go of emptied bridge {queue}", AsteriskQuirk, stacklevel=1)
    else:
        assert (gone.value.status, gone.value.message) == (400, "Channel not found")
    destroyed = await destroy_bridge_for_sure(backend.rest, queue)
    # Gone: a second DELETE is 404. Kept by the quirk above: Asterisk answers 409, or, once it
    # has finally dropped the bridge (seen after two seconds of 409s), 404.
    if destroyed:
        with pytest.raises(AriNotFound, match="Bridge not found"):
            await backend.rest.destroy_bridge(queue)
    else:
        with pytest.raises((AriConflict, AriNotFound), match=r"Bridge not in Stasis application|Bridge not found"):
            await backend.rest.destroy_bridge(queue)


async def test_agent_answers_and_is_bridged_with_the_caller(backend: Backend) -> None:
    caller = await backend.call()
    await backend.rest.answer(caller)
    leg = f"agent-{backend.name}-{next(_ids)}"
    created = await backend.rest.originate(
        backend.agent("answer"), channel_id=leg, app="router", app_args=["agent", caller], caller_id="1818 <1818>"
    )
    assert created is not None
    assert (created.id, created.state) == (leg, "Down")
    start = await backend.started(leg)
    assert start.args == ("agent", caller)
    dials = [e.dialstatus for e in backend.events.events if e.type == "Dial" and e.key == leg]
    assert (dials[0], dials[-1]) == ("", "ANSWER")
    mixing = f"call-{backend.name}-{next(_ids)}"
    await backend.rest.create_bridge(mixing, "mixing")
    await backend.rest.add_channel(mixing, caller, leg)
    await backend.events.wait_for("ChannelEnteredBridge", is_channel(leg))
    assert set((await backend.rest.get_bridge(mixing)).channels) == {caller, leg}

    # The caller hangs up: Asterisk leaves the agent's leg up; the application must end it.
    await backend.caller_hangs_up(caller)
    await backend.events.wait_for("StasisEnd", is_channel(caller))
    assert (await backend.rest.get_channel(leg)).state == "Up"
    await backend.rest.hangup(leg)
    destroyed = await backend.events.wait_for("ChannelDestroyed", is_key(leg))
    assert destroyed.cause == 16
    assert backend.events.types(leg)[-4:] == [
        "ChannelHangupRequest",
        "ChannelLeftBridge",
        "StasisEnd",
        "ChannelDestroyed",
    ]
    await destroy_bridge_for_sure(backend.rest, mixing)


async def test_unanswered_agent_never_enters_the_application(backend: Backend) -> None:
    leg = f"noanswer-{backend.name}-{next(_ids)}"
    await backend.rest.originate(backend.agent("no-answer"), channel_id=leg, app="router", ring_timeout=1)
    destroyed = await backend.events.wait_for("ChannelDestroyed", is_key(leg), within=10)
    assert (destroyed.cause, destroyed.raw.get("cause_txt")) == (19, "User alerting, no answer")
    assert "StasisStart" not in backend.events.types(leg)
    assert [e.dialstatus for e in backend.events.events if e.type == "Dial" and e.key == leg] == ["", "RINGING"]


async def test_busy_agent_never_enters_the_application(backend: Backend) -> None:
    leg = f"busy-{backend.name}-{next(_ids)}"
    await backend.rest.originate(backend.agent("busy"), channel_id=leg, app="router", ring_timeout=5)
    await backend.events.wait_for("ChannelDestroyed", is_key(leg), within=10)
    assert "StasisStart" not in backend.events.types(leg)
    assert [e.dialstatus for e in backend.events.events if e.type == "Dial" and e.key == leg] == ["", "BUSY"]


async def test_record_a_message_ended_by_hash(backend: Backend) -> None:
    caller = await backend.call()
    await backend.rest.answer(caller)
    name = f"msg-{backend.name}-{next(_ids)}"
    live = await backend.rest.record(caller, name, max_duration_seconds=10, max_silence_seconds=0, terminate_on="#")
    assert live is not None
    assert (live.name, live.format) == (name, "wav")
    assert live.state in ("queued", "recording")  # Asterisk may have started before it answers
    await backend.events.wait_for("RecordingStarted")
    recording = await backend.rest.get_live_recording(name)  # how a restarted router finds a message being left
    assert (recording.name, recording.state, recording.target_uri) == (name, "recording", f"channel:{caller}")
    await asyncio.sleep(1.2)
    await backend.caller_presses(caller, "#")
    finished = await backend.events.wait_for("RecordingFinished", within=10)
    # Asterisk publishes RecordingFinished before it lets go of the live recording (record_file() sets
    # the state; recording_cleanup() unlinks it after the command returns, res_stasis_recording.c): under
    # load a GET just after the event still finds it (seen once in a full run); a moment later it is gone.
    for _ in range(40):
        try:
            await backend.rest.get_live_recording(name)
        except AriNotFound:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the live recording was still there 2 s after RecordingFinished")
    assert finished.recording is not None
    assert (finished.recording.name, finished.recording.state) == (name, "done")
    # Asterisk counts audio frames, not wall time: a Local "phone" sends none, so the real tier reports 0.
    assert finished.recording.duration is not None
    stored = await backend.rest.get_stored_recording(name)
    assert (stored.name, stored.format) == (name, "wav")
    with pytest.raises(AriConflict, match="already exists"):
        await backend.rest.record(caller, name, if_exists="fail")
    assert (await backend.rest.stored_recording_file(name))[:4] == b"RIFF"
    await backend.rest.delete_stored_recording(name)
    with pytest.raises(AriNotFound, match="Recording not found"):
        await backend.rest.get_stored_recording(name)
    await backend.rest.hangup(caller)


async def test_continue_in_dialplan_leaves_stasis(backend: Backend) -> None:
    caller = await backend.call()
    await backend.rest.answer(caller)
    await backend.rest.continue_in_dialplan(caller, "dialplan-1818", "1819", 1)
    await backend.events.wait_for("StasisEnd", is_channel(caller))
    with pytest.raises(AriConflict) as moved:
        await backend.rest.answer(caller)
    assert moved.value.message == "Channel not in Stasis application"
    await backend.caller_hangs_up(caller)


async def test_continue_waits_for_the_playback_until_it_is_stopped(backend: Backend) -> None:
    """Asterisk carries out `continue` after the channel's playback: stop it first, or the caller
    hears all of it before the dialplan (the router's fallback does so)."""
    caller = await backend.call()
    await backend.rest.answer(caller)
    await backend.rest.play(caller, f"pb-{caller}", ["sound:tt-monkeys"] * 20)
    await backend.events.wait_for("PlaybackStarted")
    await backend.rest.continue_in_dialplan(caller, "dialplan-1818", "1819", 1)
    assert caller in (await backend.rest.get_application()).channel_ids, "still in Stasis, still playing"
    assert "StasisEnd" not in backend.events.types(caller)
    await backend.rest.stop_playback(f"pb-{caller}")
    await backend.events.wait_for("StasisEnd", is_channel(caller))
    assert backend.events.types(caller)[-2:] == ["PlaybackFinished", "StasisEnd"]
    await backend.caller_hangs_up(caller)


async def test_channels_stay_in_the_application_while_its_socket_is_away(backend: Backend) -> None:
    caller = await backend.call()
    await backend.rest.answer(caller)
    await backend.disconnect()  # the router's WebSocket goes away (a restart)
    assert caller in (await backend.rest.get_application("router")).channel_ids
    await backend.connect()
    assert caller in (await backend.rest.get_application("router")).channel_ids
    # No StasisStart again, but later events arrive on the new socket.
    await backend.caller_hangs_up(caller)
    await backend.events.wait_for("StasisEnd", is_channel(caller))
    assert backend.events.types(caller).count("StasisStart") == 1


async def test_a_second_connection_replaces_the_first(backend: Backend) -> None:
    newer = EventStream(backend.session, backend.config, Recorder())
    task = asyncio.create_task(newer.run())
    await asyncio.wait_for(newer.connected.wait(), 10)
    assert backend.router_task is not None
    with pytest.raises(ApplicationReplacedError):
        await asyncio.wait_for(backend.router_task, 10)
    backend.router_task = None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_stasis_without_the_application_fails_over_to_the_dialplan(backend: Backend) -> None:
    await backend.disconnect()
    await asyncio.sleep(0.2)
    caller = await backend.call()
    status = None
    for _ in range(50):
        status = await backend.stasis_status(caller)
        if status:
            break
        await asyncio.sleep(0.1)
    assert status == "FAILED"


async def test_channel_id_prefix_of_a_live_channel_conflicts(backend: Backend) -> None:
    # Asterisk 22 quirk: a new channel id that is a prefix of a live channel's id is "already exists".
    base = f"agent-{backend.name}-{next(_ids)}"
    await backend.rest.originate(backend.agent("answer"), channel_id=f"{base}-long", app="router")
    await backend.started(f"{base}-long")
    with pytest.raises(AriConflict, match="already exists"):
        await backend.rest.originate(backend.agent("answer"), channel_id=base, app="router")
    await backend.rest.originate(backend.agent("answer"), channel_id=f"{base}-other", app="router")
    await backend.started(f"{base}-other")
    for leg in (f"{base}-long", f"{base}-other"):
        await backend.rest.hangup(leg)
