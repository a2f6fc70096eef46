"""The queue's callback on the real Asterisk 22, with real SIP phones (baresip) for everyone.

A caller (the endpoint `citizen`, whose caller id is no Danish number) calls 1818 in phone hours while
no agent's phone is on, is offered the callback, presses 5, keys in 42345678 and # (DTMF, RFC 4733),
hears the number read back, presses 1, hears the confirmation and is hung up on by the router: the
callback is in the store, open. Then the agent's desk phone (baresip as `agent1`) is switched on:
it rings showing the number, the agent answers and hears whom they call back (speech measured in what
their phone recorded); only then does the citizen's phone ring (the test Asterisk's outbound route:
the endpoint `trunk`, whose static contact is a baresip "citizen" whose account is 42345678), showing 1818. The citizen
answers and hears who is calling, alone; then the agent's voice (a tone their phone sends, measured by
its RMS and its frequency) reaches the citizen, and the callback is done. The agent hears the citizen
only from then on: on the real Asterisk a playback to a channel in a bridge is heard instead of the
bridge, but that channel's own voice still goes into it, so a greeting played after the bridge (as
before) let the agent listen to the citizen while the citizen heard the greeting. Second: a citizen
who is busy each time is tried again after the pause, and after the last attempt the callback becomes
a message.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest_asyncio

from router.app import RouterConfig, Running, running
from router.ari import AriConfig
from router.calls.prompts import DEFAULT_MANIFEST
from router.office.callbacks import Callback
from router.schedule import QueueCallback, QueueConfig, Schedule
from tests import real_asterisk
from tests.ari_helpers import outcome_of, until
from tests.conftest import local, stored_messages
from tests.sip_phone import Phone, loudness, silence, stat, tone, tone_seconds
from tests.test_callback_sim import make_due, stored_callbacks
from tests.test_dialout_real import INCOMING, ringing, rings

OPEN = local("2024-01-04T15:30")  # a Thursday in phone hours (15-17)
NUMBER = "42345678"  # the trunk's contact is a phone whose account is this number
AGENT_TONE = 1000  # Hz, what the agent's phone "says"
CITIZEN_TONE = 1500
CITIZEN_RINGS = 10  # seconds
SPEECH = 0.01  # RMS: a prompt at the phone is louder than this; silence is 0
OFFER = QueueCallback(offer_after_seconds=1, key="5", attempts=2, retry_minutes=1)


@dataclass
class Office:
    router: Running
    data: Path
    caller: Phone
    citizen: Phone
    folder: Path

    def state(self, call: str) -> str:
        live = self.router.runtime.calls.get(call)
        return live.call.state if live else "gone"

    def playing(self, call: str) -> str:
        live = self.router.runtime.calls.get(call)
        return (live.call.playback or "") if live else ""

    def callbacks(self) -> list[Callback]:
        return stored_callbacks(self.data)

    def due_now(self) -> None:
        """The retry pause passes (the store says so; the router's next look takes it up)."""
        make_due(self.data)

    async def keys(self, phone: Phone, keys: str) -> None:
        for key in keys:  # one DTMF event at a time, as a person keys them
            await phone.send(key)
            await asyncio.sleep(0.4)

    def agent(self) -> Phone:
        folder = self.folder / "agent1"
        folder.mkdir(exist_ok=True)
        return Phone(folder, "agent1", 5080, tone(folder / "voice.wav", AGENT_TONE, 120))


def called_back(agent: Phone) -> int:
    """How often the agent's phone rang for the callback, showing the number to call back. (A ring of the
    queue's for the caller while they waited may still reach a phone switched on just after: an INVITE
    to a phone that is off is sent again for a while.)"""
    return sum(1 for shown in rings(agent) if f"sip:{NUMBER}@" in shown)


@pytest_asyncio.fixture
async def office(real_asterisk_url: str, shipped: Schedule, tmp_path: Path) -> AsyncIterator[Office]:
    """The router on the real Asterisk, in phone hours, with the shipped line's callback target
    (PJSIP/{number}@trunk, caller id 1818) and a queue of agent1 alone that offers the callback after a
    second; the caller's and the citizen's phones on, the agent's still off."""
    line = shipped.lines["1818"]
    assert isinstance(line.open_to, QueueConfig)
    assert line.callback is not None
    assert (line.callback.dial, line.callback.caller_id) == ("PJSIP/{number}@trunk", "1818")
    queue = replace(line.open_to, agents=("agent1",), ring_seconds=8, retry_seconds=1, callback=OFFER)
    line = replace(line, open_to=queue, callback=replace(line.callback, ring_seconds=CITIZEN_RINGS))
    schedule = replace(shipped, lines={**shipped.lines, "1818": line})
    ari = AriConfig(url=real_asterisk_url, app="router", user=real_asterisk.USER, password=real_asterisk.PASSWORD)
    config = RouterConfig(ari, schedule, tmp_path / "data", DEFAULT_MANIFEST, callback_sync_seconds=0.5)
    (tmp_path / "data").mkdir()
    began = time.monotonic()
    for name in ("caller", "citizen"):
        (tmp_path / name).mkdir()
    async with (
        running(config, clock=lambda: OPEN + timedelta(seconds=time.monotonic() - began)) as router,
        Phone(tmp_path / "caller", "citizen", 5070, silence(tmp_path / "caller/quiet.wav", 120)) as caller,
        Phone(tmp_path / "citizen", NUMBER, 5100, tone(tmp_path / "citizen/voice.wav", CITIZEN_TONE, 120)) as citizen,
    ):
        await asyncio.sleep(0.5)  # the router's events connection
        yield Office(router, tmp_path / "data", caller, citizen, tmp_path)


async def ask_for_a_callback(office: Office) -> str:
    """The caller calls 1818, takes the offer, keys in NUMBER, confirms it and is hung up on; their call."""
    await office.caller.send("/dial sip:1818@127.0.0.1:5060\n")
    runtime = office.router.runtime
    await until(lambda: len(runtime.calls) == 1, within=15)
    [call] = runtime.calls
    await until(lambda: office.playing(call).endswith("-callback-offer"), within=20)
    await asyncio.sleep(1.5)  # "Du behøver ikke vente ..."
    await office.keys(office.caller, "5")
    await until(lambda: office.state(call) == "callback", within=5)
    dialogue = runtime.calls[call].call.dialogue
    assert dialogue is not None
    assert dialogue.number == "", "the caller's id is no Danish number: they must key one in"
    await office.keys(office.caller, f"{NUMBER}#")
    await until(lambda: (d := runtime.calls[call].call.dialogue) is not None and d.number == NUMBER, within=5)
    await asyncio.sleep(1.0)  # "Vi ringer dig op på nummer ..."
    await office.keys(office.caller, "1")
    assert await outcome_of(runtime, call, within=20) == "callback_requested"
    return call


async def test_a_caller_takes_the_callback_and_the_agent_calls_them_back(office: Office) -> None:
    await ask_for_a_callback(office)
    await until(lambda: "session closed" in office.caller.shown().rsplit("Call established", 1)[-1], within=10)
    [kept] = office.callbacks()
    assert (kept.number, kept.state, kept.attempts, kept.line) == (NUMBER, "open", 0, "1818")
    await asyncio.sleep(1.0)  # the caller's phone writes what it heard
    [heard_by_caller] = office.caller.heard()
    length = stat(heard_by_caller)["Length (seconds)"]
    confirmation = loudness(heard_by_caller, length - 3.0, length - 0.5)
    assert confirmation > SPEECH, f"the caller heard the confirmation before the router hung up (RMS {confirmation})"

    async with office.agent() as agent:
        await until(lambda: called_back(agent) == 1, within=20)  # showing whom they call
        assert rings(office.citizen) == [], "the agent's phone rings first"
        await agent.send("/accept\n")
        answered = time.monotonic()
        caller_id = await ringing(office.citizen, within=25)  # after the agent heard whom they call
        citizen_rang = time.monotonic() - answered
        assert re.match(r"1818 sip:1818@", caller_id), f"the citizen's phone shows 1818, not {caller_id!r}"
        await asyncio.sleep(1.0)
        await office.citizen.send("/accept\n")
        citizen_answered = time.monotonic() - answered  # where the citizen's recording begins, in the agent's
        await until(lambda: office.callbacks()[0].state == "done", within=15)
        await asyncio.sleep(10)  # the greeting, then they talk
        await office.citizen.send("/hangup\n")
        await until(lambda: "session closed" in agent.shown().rsplit(INCOMING, 1)[-1], within=10)  # both hung up
        await asyncio.sleep(1.5)  # the phones write what they heard
        [at_agent] = agent.heard()
    [at_citizen] = office.citizen.heard()
    assert office.callbacks()[0].outcomes == ("talked",)

    intro = loudness(at_agent, 0.3, 3.0)
    assert intro > SPEECH, f"the agent heard whom they call back (RMS {intro})"
    assert citizen_rang > 3.0, f"the citizen's phone rang only after the agent's intro ({citizen_rang:.1f} s)"
    greeting = loudness(at_citizen, 0.3, 2.3)
    agent_in_greeting = stat(at_citizen, "trim", "0.3", "2.0", "sinc", f"{AGENT_TONE - 40}-{AGENT_TONE + 40}")
    assert greeting > SPEECH, f"the citizen heard who is calling (RMS {greeting})"
    assert agent_in_greeting["RMS     amplitude"] < 0.02, "the greeting came before the agent, not over their voice"
    voice = tone_seconds(at_citizen, AGENT_TONE)
    assert len(voice) >= 4, f"the citizen heard the agent: their tone in seconds {voice}"
    assert voice[0] >= 2.0, f"after the greeting: {voice}"
    level = loudness(at_citizen, voice[0], voice[0] + 3)
    assert level > 0.05, f"the agent's voice reaches the citizen at a talking level (RMS {level})"
    heard_citizen = tone_seconds(at_agent, CITIZEN_TONE)
    assert len(heard_citizen) >= 4, f"and the agent heard the citizen: seconds {heard_citizen}"
    bridged = heard_citizen[0] - citizen_answered  # in the citizen's recording's time
    assert bridged >= voice[0] - 1.0, (
        f"the agent heard the citizen only once bridged ({bridged:.1f} s), not during the greeting"
    )


async def test_a_busy_citizen_is_tried_again_and_then_becomes_a_message(office: Office) -> None:
    await ask_for_a_callback(office)
    async with office.agent() as agent:
        for attempt in (1, 2):
            await until(lambda n=attempt: called_back(agent) == n, within=20)  # type: ignore[misc]
            await agent.send("/accept\n")
            await until(lambda n=attempt: len(rings(office.citizen)) == n, within=25)  # type: ignore[misc]
            await office.citizen.send("/hangup\n")  # 486 Busy Here
            await until(lambda n=attempt: office.callbacks()[0].attempts == n, within=10)  # type: ignore[misc]
            await until(lambda: "session closed" in agent.shown().rsplit(INCOMING, 1)[-1], within=15)
            await asyncio.sleep(1.0)  # the phone writes what it heard
            told = agent.heard()[-1]
            end = stat(told)["Length (seconds)"]
            assert loudness(told, end - 2.5, end - 0.3) > SPEECH, "the agent heard the citizen was not reached"
            if attempt == 1:
                assert office.callbacks()[0].state == "open"
                await asyncio.sleep(3)
                assert called_back(agent) == 1, "not tried again before the retry pause"
                office.due_now()
    await until(lambda: office.callbacks()[0].state == "message", within=10)
    assert office.callbacks()[0].outcomes == ("busy", "busy")
    [message] = stored_messages(office.data)
    assert (message.caller, message.line, message.callback) == (NUMBER, "1818", "2 forsøg: optaget, optaget")
    assert office.router.runtime.queues.virtual("1818") == []
