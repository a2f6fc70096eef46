"""The simulated Asterisk's playbacks on their own (asterisk_sim/playbacks.py): one at a time on a
channel, and as long as a harness says a sound lasts. What a real Asterisk 22 does with the same
requests is the fidelity tier's (tests/test_sim_fidelity.py, `plays_queued_on_a_channel`)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp

from asterisk_sim import Simulator
from asterisk_sim.objects import Channel
from asterisk_sim.world import World


def a_world_with_a_caller(sound_seconds: float) -> tuple[World, Channel, list[dict[str, Any]]]:
    """A world whose router is connected, a caller who has been answered, and the events sent."""
    events: list[dict[str, Any]] = []
    world = World(lambda app, event: events.append(event), sound_seconds=sound_seconds)
    world.connected_apps.add("router")
    caller = world.place_call("12345678", "1818", "router")
    world.answer(caller.id)
    return world, caller, events


async def test_a_second_play_waits_for_the_first_and_a_stopped_one_never_starts() -> None:
    world, caller, events = a_world_with_a_caller(0.05)
    for playback_id in ("first", "second", "third"):
        world.play(caller, playback_id, ["sound:beep"])
    world.stop_playback("second")
    assert world.playbacks["second"].json()["state"] == "done", "shown done at once"
    last = world.playbacks["third"].task
    assert last is not None
    await asyncio.wait({last})
    assert not world.running
    played = [(e["type"], e["playback"]["id"]) for e in events if e["type"].startswith("Playback")]
    assert played == [
        ("PlaybackStarted", "first"),
        ("PlaybackFinished", "first"),
        ("PlaybackFinished", "second"),  # its turn came: finished, never started
        ("PlaybackStarted", "third"),
        ("PlaybackFinished", "third"),
    ]
    await world.close()


async def test_a_sound_plays_as_long_as_the_harness_says() -> None:
    sim = Simulator("router", "secret", sound_seconds=0.05)
    await sim.start()
    auth = {"Authorization": "Basic " + base64.b64encode(b"router:secret").decode()}
    try:
        async with aiohttp.ClientSession(headers=auth) as http:
            for bad in ("16", -1, True):
                async with http.post(f"{sim.url}/_sim/sounds", json={"names": ["long"], "seconds": bad}) as answer:
                    assert answer.status == 400
                    assert (await answer.json())["message"].startswith("seconds: "), "it names the field"
            assert "long" not in sim.world.sounds, "a refused request adds nothing"
            async with http.post(f"{sim.url}/_sim/sounds", json={"names": ["long"], "seconds": 16}) as answer:
                assert answer.status == 204
        assert sim.world.sounds.seconds("long") == 16.0
        assert sim.world.sounds.seconds("beep") is None, "the others play sound_seconds"
        assert sim.world._seconds_of("sound:long") == 16.0
        assert sim.world._seconds_of("sound:beep") == 0.05
    finally:
        await sim.stop()


async def test_a_command_asterisk_waits_for_waits_for_the_play_before_it() -> None:
    # control.py: answer, a variable set, a bridge joined are answered only in their turn.
    world, caller, _ = a_world_with_a_caller(60)
    world.play(caller, "long", ["sound:tt-monkeys"])
    waiting = asyncio.create_task(world.turn(caller.id))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiting.done(), "the play before it is still playing"
    world.stop_playback("long")
    await asyncio.wait_for(waiting, 1)
    await world.turn(caller.id)  # nothing queued: at once
    await world.close()


async def test_a_recording_asked_for_during_a_play_starts_when_it_ends() -> None:
    world, caller, events = a_world_with_a_caller(60)
    world.play(caller, "long", ["sound:tt-monkeys"])
    world.record(caller.id, "message", "wav", 0, 0, "none", False, "fail")
    for _ in range(5):
        await asyncio.sleep(0)
    assert world.live_recordings["message"].state == "queued"
    world.stop_playback("long")
    for _ in range(20):  # the queue hands on through a few turns of the event loop, not through time
        await asyncio.sleep(0)
    kinds = [e["type"] for e in events if e["type"].startswith(("Playback", "Recording"))]
    assert kinds == ["PlaybackStarted", "PlaybackFinished", "RecordingStarted"]
    await world.close()
