"""What happened to calls, as a harness waits for it (GET /_sim/events, a long poll) and reads it back
(GET /_sim/channels/{id}): answered when, what was heard and how each sound ended, who hung up and why."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio

from asterisk_sim import Simulator
from asterisk_sim.journal import Journal
from asterisk_sim.settings import Settings

AUTH = {"Authorization": "Basic cm91dGVyOnNlY3JldA=="}  # router:secret


class Harness:
    def __init__(self, sim: Simulator, http: aiohttp.ClientSession) -> None:
        self.sim, self.http, self.seen = sim, http, 0

    async def ari(self, method: str, path: str, **query: str) -> Any:
        async with self.http.request(method, f"{self.sim.url}/ari{path}", params=query, headers=AUTH) as answer:
            assert answer.status < 300, await answer.text()
            return await answer.json() if answer.content_type == "application/json" else None

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.sim.url}/_sim{path}", json=body) as answer:
            assert answer.status < 300, await answer.text()
            return await answer.json() if answer.content_type == "application/json" else None

    async def next_events(self, wait: float = 5) -> list[dict[str, Any]]:
        """What happened since the last call, waiting for it (no polling)."""
        got = await self.control("GET", f"/events?after={self.seen}&wait={wait}")
        self.seen = got["next"]
        return [{k: v for k, v in e.items() if k not in ("seq", "at", "channel")} for e in got["events"]]


@pytest_asyncio.fixture
async def harness() -> AsyncIterator[Harness]:
    sim = Simulator("router", "secret", sound_seconds=0.2, settings=Settings(app="router"))  # a call's default app
    await sim.start()
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"{sim.url}/ari/events?app=router", headers=AUTH)
        yield Harness(sim, http)
        await ws.close()
    await sim.stop()


async def test_a_call_answered_played_to_and_hung_up_by_the_application(harness: Harness) -> None:
    placed = await harness.control("POST", "/calls", {"from": "12345678", "to": "1818"})
    call = placed["channel_id"]
    assert await harness.next_events() == [
        {"what": "called", "from": "12345678", "name": "", "to": "1818", "technology": "PJSIP", "app": "router",
         "endpoint": "12345678", "stasis": True},
    ]  # fmt: skip
    waiting = asyncio.create_task(harness.next_events())  # asked before it happens: answered when it does
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await harness.ari("POST", f"/channels/{call}/answer")
    assert await waiting == [{"what": "answered"}]
    await harness.ari("POST", f"/channels/{call}/play", media="sound:hello-world,sound:beep")
    await harness.control("POST", f"/channels/{call}/dtmf", {"digits": "5"})
    happened = await harness.next_events()
    while len(happened) < 5:
        happened += await harness.next_events()
    assert happened == [
        {"what": "heard", "media": "sound:hello-world", "playback": happened[0]["playback"]},
        {"what": "pressed", "digit": "5"},
        {"what": "media ended", "media": "sound:hello-world", "playback": happened[0]["playback"], "end": "played"},
        {"what": "heard", "media": "sound:beep", "playback": happened[0]["playback"]},
        {"what": "media ended", "media": "sound:beep", "playback": happened[0]["playback"], "end": "played"},
    ]
    await harness.ari("DELETE", f"/channels/{call}")
    assert await harness.next_events() == [{"what": "hung up", "cause": 32, "by": "application"}]
    history = await harness.control("GET", f"/channels/{call}")
    assert history["answered_at"] is not None
    assert history["hangup"]["cause"] == 32
    assert history["hangup"]["by"] == "application"
    assert history["hangup"]["at"] >= history["answered_at"]
    assert [h["end"] for h in history["heard"] if "media" in h] == ["played", "played"]


async def test_a_sound_cut_short_by_the_caller_hanging_up(harness: Harness) -> None:
    harness.sim.world.sounds.add("tt-monkeys", seconds=10.0)
    call = (await harness.control("POST", "/calls", {"from": "12345678"}))["channel_id"]
    await harness.ari("POST", f"/channels/{call}/play", media="sound:tt-monkeys")
    await harness.next_events()
    while not any(e["what"] == "heard" for e in harness.sim.world.journal.entries):
        await harness.next_events()
    await harness.control("POST", f"/channels/{call}/hangup")
    played = harness.sim.world.journal.entries[1]["playback"]
    assert await harness.next_events() == [
        {"what": "hung up", "cause": 127, "by": "caller"},  # a SIP phone's CANCEL, before it was answered
        {"what": "media ended", "media": "sound:tt-monkeys", "playback": played, "end": "cut"},
    ]
    history = await harness.control("GET", f"/channels/{call}")
    assert history["answered_at"] is None, "never answered"
    assert history["hangup"]["by"] == "caller"


async def test_a_stopped_sound_and_a_bad_query(harness: Harness) -> None:
    harness.sim.world.sounds.add("tt-monkeys", seconds=10.0)
    call = (await harness.control("POST", "/calls", {"from": "12345678"}))["channel_id"]
    playback = await harness.ari("POST", f"/channels/{call}/play", media="sound:tt-monkeys")
    while not any(e["what"] == "heard" for e in await harness.next_events()):
        pass
    await harness.ari("DELETE", f"/playbacks/{playback['id']}")
    assert (await harness.next_events())[0]["end"] == "stopped"
    for query, says in [("after=-1", "after: at least 0, not -1"), ("wait=soon", 'wait: a number, not "soon"'),
                        ("since=3", "unknown parameter 'since': it takes after, wait")]:  # fmt: skip
        async with harness.http.get(f"{harness.sim.url}/_sim/events?{query}") as answer:
            assert (answer.status, (await answer.json())["message"]) == (400, says)


async def test_the_journal_keeps_the_newest_entries_and_says_what_a_late_reader_missed() -> None:
    """A simulator left running for days keeps a bounded journal; a harness that reads too late is told how
    many entries it missed instead of receiving a silent gap."""
    journal = Journal(kept=3)
    for n in range(5):
        journal.note("c", "pressed", digit=str(n))
    assert len(journal.entries) == 3
    happened, missed = await journal.after(0, wait=0)
    assert [e["seq"] for e in happened] == [3, 4, 5]
    assert missed == 2
    happened, missed = await journal.after(3, wait=0)
    assert ([e["digit"] for e in happened], missed) == (["3", "4"], 0)
    assert await journal.after(5, wait=0) == ([], 0)


async def test_a_reader_in_time_misses_nothing(harness: Harness) -> None:
    await harness.control("POST", "/calls", {"from": "12345678"})
    got = await harness.control("GET", "/events?after=0&wait=5")
    assert got["missed"] == 0
    assert [e["what"] for e in got["events"]] == ["called"]
