"""The generated fallback dialplan on a real Asterisk 22: GotoIfTime as Asterisk itself evaluates it.

Each check is a Local call to <YYYYMMDDHHMMSS>@check-time; TESTTIME() makes GotoIfTime see that
Copenhagen wall time, and the branch the fallback takes is left in a global variable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from router.ari import AriConfig, AriRest, EventStream
from router.office import fallback_messages
from router.office.messages import MessageStore
from router.schedule import Schedule, decide
from tests import real_asterisk
from tests.ari_helpers import Recorder, until
from tests.conftest import CPH, embedded
from tests.sip_phone import Phone, tone

INSTANTS = [
    "2024-01-01 10:30:00",  # Nytårsdag
    "2024-01-02 09:59:59",
    "2024-01-02 10:00:00",
    "2024-01-02 11:59:59",  # GotoIfTime's inclusive end minute, written 11:59
    "2024-01-02 12:00:00",
    "2024-01-04 10:30:00",  # Thursday: the new hours start at 15
    "2024-01-04 14:59:59",
    "2024-01-04 15:00:00",
    "2024-01-04 16:59:59",
    "2024-01-04 17:00:00",
    "2024-01-06 10:30:00",  # Saturday
    "2024-03-28 10:30:00",  # Skærtorsdag
    "2024-04-26 10:30:00",  # a Friday that was Store bededag until 2023
    "2024-05-01 11:59:00",  # open until noon on 1 May
    "2024-05-10 10:30:00",  # the day after Ascension
    "2024-06-05 10:30:00",  # Grundlovsdag
    "2024-10-28 10:30:00",  # the Monday after the clocks went back
    "2024-12-23 11:00:00",
    "2024-12-24 10:30:00",
    "2024-12-27 10:30:00",
]


async def where_it_went(rest: AriRest, check_id: str) -> str | None:
    for _ in range(100):
        answer: Any = await rest.request("GET", "/asterisk/variable", {"variable": f"CHECK_{check_id}"})
        if isinstance(answer, dict) and answer.get("value"):
            return str(answer["value"])
        await asyncio.sleep(0.05)
    return None


async def test_fallback_follows_the_schedule_on_asterisk(real_asterisk_url: str, shipped: Schedule) -> None:
    config = AriConfig(url=real_asterisk_url, app="router", user=real_asterisk.USER, password=real_asterisk.PASSWORD)
    async with aiohttp.ClientSession() as session:
        rest = AriRest(session, config)
        results = {}
        for text in INSTANTS:
            check_id = text.replace("-", "").replace(" ", "").replace(":", "")
            await rest.request(
                "POST",
                "/channels",
                {"endpoint": f"Local/{check_id}@check-time/n", "context": "caller-side", "extension": "s"},
            )
            results[text] = await where_it_went(rest, check_id)
    expected = {
        text: "open" if decide(shipped, "1818", datetime.fromisoformat(text).replace(tzinfo=CPH)).open else "closed"
        for text in INSTANTS
    }
    assert results == expected
    assert list(expected.values()).count("open") >= 6  # the check covers both branches
    assert list(expected.values()).count("closed") >= 6


def test_fallback_period_covers_the_checks() -> None:
    assert all(text.startswith("2024") for text in INSTANTS)
    assert real_asterisk.FALLBACK_FROM.isoformat() == "2024-01-01"


@contextlib.asynccontextmanager
async def phones_app(url: str) -> AsyncIterator[tuple[AriRest, Recorder]]:
    """An ARI application of the test's own that holds the calling halves of Local channels."""
    events = Recorder()
    config = AriConfig(url=url, app="phones", user=real_asterisk.USER, password=real_asterisk.PASSWORD)
    async with aiohttp.ClientSession() as session:
        stream = EventStream(session, config, events)
        task = asyncio.create_task(stream.run())
        try:
            await asyncio.wait_for(stream.connected.wait(), 10)
            yield AriRest(session, config), events
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def call_with_the_router_down(rest: AriRest, events: Recorder, at: str, phone: str) -> None:
    """A Local channel into 1818 with the fallback's clock at `at` (YYYYMMDDHHMMSS, Copenhagen); its
    calling half, `phone`, is held by the test's application."""
    params = {"endpoint": f"Local/{at}@router-down/n", "app": "phones", "channelId": phone}
    await rest.request(
        "POST", "/channels", {**params, "otherChannelId": f"{phone}-call", "callerId": "Borger <12345678>"}
    )
    await events.wait_for("StasisStart", lambda e: e.channel is not None and e.channel.id == phone)


async def test_router_down_caller_hears_guidance_and_leaves_a_message(
    real_asterisk_url: str, asterisk: real_asterisk.RealAsterisk, shipped: Schedule, tmp_path: Path
) -> None:
    """No router connected: Stasis() fails and the shipped dialplan follows the generated schedule.
    Once a router is back, the message is taken from Asterisk's stored recordings into the store."""
    recordings = asterisk.recordings
    async with phones_app(real_asterisk_url) as (rest, events):
        await call_with_the_router_down(rest, events, "20241224103000", "down-phone")  # Juleaftensdag: closed
        # The closed context answers; the caller presses 1 during the guidance.
        await asyncio.sleep(1.0)
        await rest.request("POST", "/channels/down-phone/dtmf", {"dtmf": "1"})
        # Record() creates the file when the beep has sounded.
        await until(lambda: bool(list(recordings.glob("fallback-1818-*-12345678.wav"))), within=30)
        await rest.play("down-phone", "down-speech", ["sound:hello-world", "sound:vm-goodbye"])
        await events.wait_for("PlaybackFinished", within=10)
        await rest.request("POST", "/channels/down-phone/dtmf", {"dtmf": "#"})
        # "Din besked er modtaget ... Farvel", then the dialplan hangs up.
        await events.wait_for("StasisEnd", lambda e: e.channel is not None and e.channel.id == "down-phone", within=30)
        [message] = recordings.glob("fallback-1818-*-12345678.wav")
        stored = await rest.get_stored_recording(message.stem)
        size = message.stat().st_size
        # The router, back, finds it (once the fallback's longest message could have ended).
        store = MessageStore(embedded(tmp_path))
        later = datetime.now(UTC) + fallback_messages.SETTLED
        assert await fallback_messages.pick_up(store, rest, shipped, later, lambda: None) == 1
        assert await fallback_messages.pick_up(store, rest, shipped, later, lambda: None) == 0
    assert stored.name.startswith("fallback-1818-")
    assert size > 8000  # more than a header: the caller's words are in it
    [kept] = store.all()
    assert len(store.audio(kept.id) or b"") == size  # moved into the store whole,
    assert not message.exists()  # and out of Asterisk
    assert (kept.id, kept.line, kept.caller, kept.recording) == (message.stem, "1818", "12345678", message.stem)
    assert timedelta(0) < datetime.now(UTC) - kept.received_at < timedelta(minutes=2)
    assert kept.seconds is not None
    assert kept.seconds >= 1
    assert store.mail_state(message.stem) == ("pending", 0, None)  # the shipped line notifies its mailbox


async def test_router_down_in_phone_hours_rings_the_agents_of_the_queue(real_asterisk_url: str, tmp_path: Path) -> None:
    """No router connected at an open hour: the generated callrouter-open-1818 rings the agents that the
    schedule's `queue:` lists, so a real agent phone (baresip, auto-answer) takes the call."""
    voice = tone(tmp_path / "voice.wav", 1000, 30)
    async with (
        phones_app(real_asterisk_url) as (rest, events),
        Phone(tmp_path, "agent1", 5080, voice, auto_answer=True) as agent,
    ):
        await call_with_the_router_down(rest, events, "20240104153000", "open-phone")  # Thursday 15:30: open
        await events.wait_for(
            "ChannelStateChange",
            lambda e: e.channel is not None and e.channel.id == "open-phone" and e.channel.state == "Up",
            within=20,
        )
        endpoint = await rest.get_endpoint("PJSIP", "agent1")
        assert endpoint.channel_ids, "agent1's phone is on the call"
        await asyncio.sleep(2)
        await rest.hangup("open-phone")
        await events.wait_for("StasisEnd", lambda e: e.channel is not None and e.channel.id == "open-phone")
    assert agent.heard(), "agent1's phone took a call"
