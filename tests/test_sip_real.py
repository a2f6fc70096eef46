"""A real SIP phone calls 1818 on a real Asterisk 22 while the line is closed, and leaves a spoken message.

The caller is baresip (Debian's baresip-core) on loopback: it dials through PJSIP, sends its keys as
RFC 4733 DTMF, speaks from a WAV file (espeak-ng: "Hej, det er Jens Hansen ...") and records what it
hears. Checked: the router's outcome, the stored message, that the caller's words are in the recording
Asterisk made, and that the caller heard speech rather than silence.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from router.app import RouterConfig, Running, running
from router.ari import AriConfig
from router.calls import flow
from router.calls.prompts import DEFAULT_MANIFEST
from router.office.messages import MessageStore
from router.schedule import Schedule
from tests import real_asterisk
from tests.ari_helpers import outcome_of, until
from tests.conftest import embedded, local, stored_messages
from tests.sip_phone import Phone, stat

CLOSED = local("2024-01-04T12:30")
SPEECH_STARTS = 10.0  # seconds into the call: the caller's words come after the beep
WORDS = "Hej, det er Jens Hansen. Ring venligst tilbage på fire to fire to fire to fire to. Tak."


def rms(path: Path) -> tuple[float, float]:
    """Length in seconds and RMS amplitude of a WAV file."""
    values = stat(path)
    return values["Length (seconds)"], values["RMS     amplitude"]


def make_microphone(folder: Path) -> None:
    """Silence, the caller's words at SPEECH_STARTS, and silence: baresip ends a call when its file ends."""
    raw = folder / "raw.wav"
    subprocess.run(["espeak-ng", "-v", "da", "-w", str(raw), WORDS], check=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(folder / "words.wav")], check=True)
    for name, seconds in (("before", SPEECH_STARTS), ("after", 40.0)):
        silence = ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(folder / f"{name}.wav"), "trim", "0"]
        subprocess.run([*silence, str(seconds)], check=True)
    parts = [str(folder / f"{name}.wav") for name in ("before", "words", "after")]
    subprocess.run(["sox", *parts, str(folder / "microphone.wav")], check=True)


@pytest_asyncio.fixture
async def router(real_asterisk_url: str, shipped: Schedule, tmp_path: Path) -> AsyncIterator[Running]:
    settings = flow.Settings(offer_seconds=5, message_max_seconds=30, message_silence_seconds=0)
    ari = AriConfig(url=real_asterisk_url, app="router", user=real_asterisk.USER, password=real_asterisk.PASSWORD)
    async with running(RouterConfig(ari, shipped, tmp_path, DEFAULT_MANIFEST, settings), clock=lambda: CLOSED) as r:
        await asyncio.sleep(0.5)  # connected
        yield r


async def test_sip_caller_leaves_a_spoken_message(
    router: Running, tmp_path: Path, asterisk: real_asterisk.RealAsterisk
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_microphone(folder)
        runtime = router.runtime
        async with Phone(folder, "citizen", 5070, folder / "microphone.wav") as phone:
            await phone.send("/dial sip:1818@127.0.0.1:5060\n")
            await until(lambda: bool(runtime.calls), within=15)  # the call reaches the router
            started = time.monotonic()
            [call_id] = list(runtime.calls)
            await asyncio.sleep(1.0)
            await phone.send("1")  # during the guidance
            await until(lambda: runtime.calls[call_id].call.state == "recording", within=15)
            assert time.monotonic() - started < SPEECH_STARTS, "the recording must start before the caller speaks"
            await asyncio.sleep(started + SPEECH_STARTS + 7.0 - time.monotonic())  # the words take about 6 s
            await phone.send("#")
            outcome = await outcome_of(runtime, call_id, within=30)
            await asyncio.sleep(1.0)  # "Tak ... Farvel" and Asterisk hangs up
        [heard] = phone.heard()
        heard_seconds, heard_level = rms(heard)

    assert outcome == "message_left"
    [message] = stored_messages(tmp_path)
    assert (message.line, message.caller) == ("1818", "citizen")  # the SIP caller's user part
    assert message.seconds is not None
    assert message.seconds >= 4
    assert not (asterisk.recordings / f"{message.recording}.wav").exists()  # moved out of Asterisk,
    with embedded(tmp_path) as site:
        audio = MessageStore(site).audio(message.id)  # into the store
    assert audio is not None
    recording = tmp_path / "kept.wav"
    recording.write_bytes(audio)
    seconds, level = rms(recording)
    assert seconds >= 4, "the whole message is there"
    assert level > 0.02, "the caller's words are in the message, not silence"
    assert heard_seconds > 10, "the caller stayed on the line through the guidance"
    assert heard_level > 0.02, "the caller heard the guidance, not silence"
