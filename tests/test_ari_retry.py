"""Retried requests against the simulated Asterisk: safe ones are tried again, and none does anything twice.

The simulator's `after` faults carry a request out and then answer 500: the answer is lost, not the
request, which is the case where a careless retry would play a prompt twice or ring an agent twice.
"""

from __future__ import annotations

import time

import pytest

from asterisk_sim import AgentScript, Fault
from router.ari import AriServerError, within
from tests.ari_helpers import until
from tests.test_ari_client import Ari, ari, incoming

__all__ = ["ari"]  # the fixture


def tries(ari: Ari, method: str, fragment: str) -> int:
    return sum(1 for r in ari.sim.requests if r["method"] == method and fragment in r["path"])


async def test_answer_is_tried_again_after_server_errors(ari: Ari) -> None:
    caller = await incoming(ari)
    ari.sim.faults.append(Fault("POST /channels/*/answer", status=500, count=2))
    await ari.rest.answer(caller)
    assert tries(ari, "POST", "/answer") == 3
    assert ari.sim.world.channels[caller].state == "Up"
    assert ari.rest.retries == 2


async def test_a_request_that_could_do_something_twice_is_not_retried(ari: Ari) -> None:
    caller = await incoming(ari)
    ari.sim.faults.append(Fault("POST /channels/*/ring", status=500, count=1))
    with pytest.raises(AriServerError):
        await ari.rest.ring(caller)
    assert tries(ari, "POST", "/ring") == 1


async def test_a_lost_answer_to_a_play_does_not_play_the_prompts_twice(ari: Ari) -> None:
    caller = await incoming(ari)
    await ari.rest.answer(caller)
    ari.sim.faults.append(Fault("POST /channels/*/play/*", status=500, count=1, after=True))
    await ari.rest.play(caller, "pb-1", ["sound:hello-world", "sound:vm-goodbye"])
    await ari.events.wait_for("PlaybackFinished", lambda e: e.playback is not None and e.playback.id == "pb-1")
    heard = [h["media"] for h in ari.sim.world.channels[caller].heard if h.get("playback") == "pb-1"]
    assert heard == ["sound:hello-world", "sound:vm-goodbye"]
    assert tries(ari, "POST", "/play/") == 1  # the retry saw the playback's events, or found it


async def test_a_play_whose_answer_is_lost_and_that_has_already_ended_is_not_repeated(ari: Ari) -> None:
    caller = await incoming(ari)
    ari.sim.faults.append(Fault("POST /channels/*/play/*", status=500, count=1, after=True, delay=0.1))
    ari.sim.world.sound_seconds = 0.0
    assert await ari.rest.play(caller, "pb-2", ["sound:beep"]) is None  # over before the retry looked
    assert tries(ari, "POST", "/play/") == 1


async def test_a_lost_answer_to_an_originate_rings_the_agent_once(ari: Ari) -> None:
    ari.sim.world.set_endpoint("PJSIP/agent1", AgentScript("no-answer"))
    ari.sim.faults.append(Fault("POST /channels", status=500, count=1, after=True))
    leg = await ari.rest.originate("PJSIP/agent1", channel_id="leg-1", app="router", ring_timeout=5)
    assert leg is not None
    assert leg.id == "leg-1"
    assert tries(ari, "POST", "/channels") == 1
    assert [c for c in ari.sim.world.channels.values() if c.endpoint == "PJSIP/agent1"] == [
        ari.sim.world.channels["leg-1"]
    ]


async def test_an_originate_retried_after_its_leg_ended_is_not_made_again(ari: Ari) -> None:
    ari.sim.world.set_endpoint("PJSIP/agent1", AgentScript("busy"))
    ari.sim.faults.append(Fault("POST /channels", status=500, count=1, after=True))
    assert await ari.rest.originate("PJSIP/agent1", channel_id="leg-2", app="router") is None
    assert tries(ari, "POST", "/channels") == 1
    await ari.events.wait_for("ChannelDestroyed", lambda e: e.channel is not None and e.channel.id == "leg-2")


async def test_a_lost_answer_to_a_bridge_with_an_id_is_the_bridge(ari: Ari) -> None:
    ari.sim.faults.append(Fault("POST /bridges", status=500, count=1, after=True))
    bridge = await ari.rest.create_bridge("callrouter-queue-1818", "holding", "queue 1818")
    assert bridge.id == "callrouter-queue-1818"
    assert list(ari.sim.world.bridges) == ["callrouter-queue-1818"]
    assert [r["status"] for r in ari.sim.requests if r["path"] == "/bridges"] == [500]  # not tried again:
    assert tries(ari, "GET", "/bridges/callrouter-queue-1818") == 1  # the retry found the bridge made


async def test_a_lost_answer_to_a_recording_records_once(ari: Ari) -> None:
    caller = await incoming(ari)
    await ari.rest.answer(caller)
    ari.sim.faults.append(Fault("POST /channels/*/record", status=500, count=1, after=True))
    live = await ari.rest.record(caller, "msg-1", max_duration_seconds=1)
    assert live is not None
    assert live.name == "msg-1"
    finished = await ari.events.wait_for("RecordingFinished", within=3)
    assert finished.recording is not None
    assert finished.recording.name == "msg-1"
    assert tries(ari, "POST", "/record") <= 2  # a second try, if any, was refused with 409 and counted as done


async def test_a_lost_answer_to_continue_is_not_a_failure(ari: Ari) -> None:
    caller = await incoming(ari)
    ari.sim.faults.append(Fault("POST /channels/*/continue", status=500, count=1, after=True))
    await ari.rest.continue_in_dialplan(caller, "callrouter-fallback-1818", "s", 1)
    await until(lambda: ari.sim.world.channels[caller].dialplan_after is not None)
    assert ari.sim.world.channels[caller].dialplan_after == {"context": "callrouter-fallback-1818", "extension": "s"}


async def test_retries_end_at_the_deadline(ari: Ari) -> None:
    caller = await incoming(ari)
    ari.sim.faults.append(Fault("POST /channels/*/answer", status=500))
    began = time.monotonic()
    with pytest.raises(AriServerError), within(0.3):
        await ari.rest.answer(caller)
    assert time.monotonic() - began < 0.5
    assert 1 < tries(ari, "POST", "/answer") < 4


async def test_a_recordings_audio_is_fetched_again_after_a_server_error(ari: Ari) -> None:
    ari.sim.world.stored_recordings["msg-9"] = {"name": "msg-9", "format": "wav"}
    ari.sim.faults.append(Fault("GET /recordings/stored/*/file", status=500, count=2))
    audio = await ari.rest.stored_recording_file("msg-9")
    assert audio.startswith(b"RIFF")
    assert tries(ari, "GET", "/recordings/stored/msg-9/file") == 3
