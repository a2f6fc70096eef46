"""The router on a real Asterisk 22 with the real Danish prompts: a caller on a closed line leaves a message.

The caller is a Local channel whose other half sits in a helper application ("phones"), so the
test can press keys and hang up as a caller would. The prompts are built with espeak-ng into the
Asterisk root's sounds directory, so Asterisk plays the very files a site would install.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio

from router.app import RouterConfig, Running, running
from router.ari import AriConfig, AriNotFound, AriRest, EventStream
from router.calls import flow
from router.calls.prompts import DEFAULT_MANIFEST
from router.schedule import Schedule
from tests import real_asterisk
from tests.ari_helpers import Recorder, outcome_of
from tests.conftest import local, stored_messages

CLOSED = local("2024-01-04T12:30")
_ids = itertools.count(1)


def credentials(url: str, app: str) -> AriConfig:
    return AriConfig(url=url, app=app, user=real_asterisk.USER, password=real_asterisk.PASSWORD)


@pytest_asyncio.fixture
async def router(real_asterisk_url: str, shipped: Schedule, tmp_path: Path) -> AsyncIterator[Running]:
    settings = flow.Settings(offer_seconds=3, message_max_seconds=10, message_silence_seconds=0)
    config = RouterConfig(credentials(real_asterisk_url, "router"), shipped, tmp_path, DEFAULT_MANIFEST, settings)
    async with running(config, clock=lambda: CLOSED) as started:
        yield started


@contextlib.asynccontextmanager
async def phones(url: str) -> AsyncIterator[tuple[AriRest, Recorder]]:
    """The helper application that holds the callers' halves of their Local channels."""
    events = Recorder()
    async with aiohttp.ClientSession() as session:
        rest = AriRest(session, credentials(url, "phones"))
        stream = EventStream(session, credentials(url, "phones"), events)
        task = asyncio.create_task(stream.run())
        try:
            await asyncio.wait_for(stream.connected.wait(), 10)
            await asyncio.sleep(0.5)  # the router's own connection
            yield rest, events
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def caller_at_the_beep(rest: AriRest, phone_events: Recorder) -> tuple[str, str]:
    """A caller to 1818 on the closed line who presses 1 and is being recorded: (call id, phone id)."""
    n = next(_ids)
    call_id, phone = f"call-{n}", f"phone-{n}"
    await rest.request(
        "POST",
        "/channels",
        {
            "endpoint": "Local/1818@from-citizens/n",
            "app": "phones",
            "channelId": phone,
            "otherChannelId": call_id,
            "callerId": "Borger <12345678>",
        },
    )
    # The phone is "picked up" by the router's Answer; then the caller presses 1 during the guidance.
    await phone_events.wait_for("StasisStart", lambda e: e.channel is not None and e.channel.id == phone, within=10)
    await asyncio.sleep(1.0)
    await rest.request("POST", f"/channels/{phone}/dtmf", {"dtmf": "1"})
    # "Indtal din besked ... efter tonen": the recording starts after the prompt and the beep.
    await wait_for_recording(rest, f"msg-{call_id}")
    return call_id, phone


async def test_closed_caller_leaves_a_message_on_asterisk(
    router: Running, real_asterisk_url: str, tmp_path: Path
) -> None:
    async with phones(real_asterisk_url) as (rest, phone_events):
        call_id, phone = await caller_at_the_beep(rest, phone_events)
        # The caller speaks (Asterisk counts a recording's length in audio frames), then presses #.
        # Asterisk reports a recording's length in whole seconds, rounded down: say more than one.
        await rest.play(phone, f"speech-{call_id}", ["sound:hello-world", "sound:vm-goodbye"])
        await phone_events.wait_for("PlaybackFinished", lambda e: e.playback is not None, within=10)
        await rest.request("POST", f"/channels/{phone}/dtmf", {"dtmf": "#"})
        outcome = await outcome_of(router.runtime, call_id, within=30)
    assert outcome == "message_left"
    [message] = stored_messages(tmp_path)
    assert (message.caller, message.line, message.recording) == ("12345678", "1818", f"msg-{call_id}")


async def test_a_recording_with_nothing_said_is_not_left_in_asterisk(
    router: Running, real_asterisk_url: str, tmp_path: Path
) -> None:
    async with phones(real_asterisk_url) as (rest, phone_events):
        call_id, phone = await caller_at_the_beep(rest, phone_events)
        await rest.request("POST", f"/channels/{phone}/dtmf", {"dtmf": "#"})  # at once: under a second
        outcome = await outcome_of(router.runtime, call_id, within=30)
        names = [r.name for r in await rest.list_stored_recordings()]
    assert outcome == "no_message"
    assert stored_messages(tmp_path) == []
    assert f"msg-{call_id}" not in names  # Asterisk made the file; the router deleted it


async def wait_for_recording(rest: AriRest, name: str) -> None:
    async with asyncio.timeout(30):
        while True:
            try:
                await rest.request("GET", f"/recordings/live/{name}")
                return
            except AriNotFound:
                await asyncio.sleep(0.1)


async def test_the_prompts_are_sounds_asterisk_knows(router: Running, real_asterisk_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        rest = AriRest(session, credentials(real_asterisk_url, "router"))
        sound = await rest.get_sound("callrouter/closed-now")
    assert sound["id"] == "callrouter/closed-now"
    assert [f["language"] for f in sound["formats"]] == ["da"]
