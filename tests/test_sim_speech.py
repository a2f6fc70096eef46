"""A caller who says something on the simulated Asterisk (`POST /_sim/channels/{id}/say`, a WAV file):
what a recording of them holds, when a recording that detects silence ends, and what is refused."""

from __future__ import annotations

import asyncio
import base64
import io
import math
import time
import wave
from array import array
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest_asyncio

from asterisk_sim import Simulator

TONE = 440.0
AUTH = {"Authorization": "Basic " + base64.b64encode(b"router:secret").decode()}


def tone_wav(seconds: float, rate: int = 8000, channels: int = 1) -> bytes:
    samples = array("h", (int(8000 * math.sin(2 * math.pi * TONE * i / rate)) for i in range(int(seconds * rate))))
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(channels)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(samples.tobytes() * channels)
    return out.getvalue()


def loud(samples: array[int], start: float, end: float) -> float:
    """The share of 10 ms frames between `start` and `end` seconds that are not silent."""
    frames = [samples[i : i + 80] for i in range(int(start * 8000), int(end * 8000), 80)]
    return sum(1 for f in frames if max(map(abs, f), default=0) > 1000) / max(1, len(frames))


@dataclass
class Line:
    sim: Simulator
    http: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse
    channel: str

    async def ari(self, method: str, path: str, **params: Any) -> aiohttp.ClientResponse:
        answer = await self.http.request(method, f"{self.sim.url}/ari{path}", params=params)
        await answer.read()
        return answer

    async def event(self, kind: str, within: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            event: dict[str, Any] = await self.ws.receive_json(timeout=max(0.01, deadline - time.monotonic()))
            if event["type"] == kind:
                return event

    async def say(self, wav: bytes) -> aiohttp.ClientResponse:
        url = f"{self.sim.url}/_sim/channels/{self.channel}/say"
        answer = await self.http.post(url, data=wav, headers={"Content-Type": "audio/wav"})
        await answer.read()
        return answer

    async def stored(self, name: str) -> array[int]:
        async with self.http.get(f"{self.sim.url}/ari/recordings/stored/{name}/file") as answer:
            assert answer.status == 200
            with wave.open(io.BytesIO(await answer.read())) as audio:
                assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
                return array("h", audio.readframes(audio.getnframes()))


@pytest_asyncio.fixture
async def line() -> AsyncIterator[Line]:
    sim = Simulator("router", "secret")
    await sim.start()
    try:
        async with (
            aiohttp.ClientSession(headers=AUTH) as http,
            http.ws_connect(f"{sim.url}/ari/events?app=harness") as ws,
        ):
            channel = sim.world.place_call("12345678", "1818", "harness").id
            assert (await ws.receive_json(timeout=5))["type"] == "StasisStart"
            yield Line(sim, http, ws, channel)
    finally:
        await sim.stop()


async def test_a_recording_holds_what_the_caller_said_and_ends_after_their_silence(line: Line) -> None:
    await line.ari("POST", f"/channels/{line.channel}/answer")
    answer = await line.ari(
        "POST", f"/channels/{line.channel}/record", name="msg", format="wav", maxSilenceSeconds=1, beep="false"
    )
    assert answer.status == 201
    await line.event("RecordingStarted")
    began = time.monotonic()
    assert (await line.say(tone_wav(0.6))).status == 204
    finished = await line.event("RecordingFinished")
    took = time.monotonic() - began
    assert 1.4 < took < 2.5, took  # the speech's 0.6 s, then 1 s of silence
    assert finished["recording"]["duration"] == round(took)
    samples = await line.stored("msg")
    assert abs(len(samples) / 8000 - took) < 0.3
    assert loud(samples, 0.05, 0.55) == 1.0  # the tone, where the caller said it
    assert loud(samples, 0.75, len(samples) / 8000) == 0.0  # silence after it
    assert (await line.ari("POST", "/recordings/stored/msg/copy", destinationRecordingName="copy")).status == 200
    assert (await line.stored("copy")) == samples
    # Long after the speech, the caller is silent: a new recording ends its maxSilenceSeconds after its start.
    await line.ari("POST", f"/channels/{line.channel}/record", name="later", format="wav", maxSilenceSeconds=1)
    await line.event("RecordingStarted")
    began = time.monotonic()
    await line.event("RecordingFinished")
    assert 0.8 < time.monotonic() - began < 1.6


async def test_what_is_said_while_muted_is_not_recorded(line: Line) -> None:
    await line.ari("POST", f"/channels/{line.channel}/answer")
    await line.ari("POST", f"/channels/{line.channel}/record", name="muted", format="wav", beep="false")
    await line.event("RecordingStarted")
    await line.say(tone_wav(1.0))
    await asyncio.sleep(0.3)
    await line.ari("POST", "/recordings/live/muted/mute")
    await asyncio.sleep(0.4)
    await line.ari("DELETE", "/recordings/live/muted/mute")
    await asyncio.sleep(0.6)
    await line.ari("POST", "/recordings/live/muted/stop")
    await line.event("RecordingFinished")
    samples = await line.stored("muted")
    assert loud(samples, 0.05, 0.25) == 1.0  # said before the mute
    assert loud(samples, 0.35, 0.65) == 0.0  # muted
    assert loud(samples, 0.75, 0.95) == 1.0  # the caller still speaking, heard again
    assert loud(samples, 1.1, len(samples) / 8000) == 0.0  # the speech was over


async def test_what_a_caller_cannot_say_is_refused_with_the_reason(line: Line) -> None:
    answer = await line.say(b"not audio")
    assert answer.status == 400
    assert "not a WAV file" in (await answer.json())["message"]
    answer = await line.say(tone_wav(0.1, rate=16000))
    assert answer.status == 400
    assert "got 16000 Hz" in (await answer.json())["message"]
    url = f"{line.sim.url}/_sim/channels/no-such-channel/say"
    async with line.http.post(url, data=tone_wav(0.1)) as answer:
        assert answer.status == 404
