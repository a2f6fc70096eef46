"""A real SIP call in phone hours: queue, music on hold, two real agent phones, and the agent's voice at the caller.

Everything real: Asterisk 22, three baresip phones on loopback (a caller and two auto-answering
agents, each agent "speaking" a tone of its own), and `callrouter run` as its own process under
faketime, at a Thursday 15:30 in Copenhagen, with TZ=UTC so that a router reading the machine's
zone instead of Europe/Copenhagen would find the line closed.

The agents' phones are switched on only after the caller has waited a while: the first rings fail,
the caller hears the music (Debian's music on hold: its loudness at the phone, tests/test_music_real.py
says more), and the queue tries again. Both agents then answer at once; exactly
one must be bridged, and the caller must hear that agent's tone. In the second test an agent's
phone answers and ends the call at once: the caller goes back to the queue and the other agent
takes the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.router_process import RouterProcess, router_process
from tests.sip_phone import MUSIC, Phone, loudness, silence, tone, tone_seconds

THURSDAY_OPEN_UTC = "2024-01-04 14:30:00"  # 15:30 in Copenhagen: phone hours 15-17
TONES = {"agent1": 1000, "agent2": 1500}


def schedule_with_real_agents(folder: Path) -> Path:
    """The shipped schedule, its queue pointed at the two test phones, ringing briefly."""
    text = (ROOT / "schedule.yaml").read_text(encoding="utf-8")
    text = text.replace("agents: [agent1, agent2, agent3]", "agents: [agent1, agent2]")
    # The queue's own settings only (a line's `callback:` has a ring_seconds of its own, for the citizen).
    text, rings = re.subn(r"ring_seconds: \d+( +# how long an agent's phone rings)", r"ring_seconds: 5\1", text)
    text, retries = re.subn(r"retry_seconds: \d+", "retry_seconds: 1", text)
    assert (rings, retries) == (1, 1), "the shipped schedule's queue is not written as this test expects"
    path = folder / "schedule.yaml"
    path.write_text(text, encoding="utf-8")
    return path


async def talk_then_hang_up(router: RouterProcess, caller: Phone) -> re.Match[str]:
    """Caller and agent talk for five seconds; the caller hangs up; the router's line for the call's end."""
    await asyncio.sleep(5)
    await caller.send("/hangup\n")
    ended = await router.wait_for_line(r"ended: (\S+) after \d+ s by (agent\d)", within=15)
    await asyncio.sleep(1)  # the phone writes what it heard
    return ended


def office_folders(folder: Path) -> tuple[Path, Path, dict[str, Path]]:
    """The schedule with the test phones as agents, and a folder for the caller's phone and each agent's."""
    caller_dir, agent_dirs = folder / "caller", {name: folder / name for name in TONES}
    for d in (caller_dir, *agent_dirs.values()):
        d.mkdir()
    return schedule_with_real_agents(folder), caller_dir, agent_dirs


@pytest.mark.usefixtures("real_asterisk_url")
async def test_sip_caller_waits_with_music_and_talks_with_the_agent_who_answered(real_asterisk_url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        schedule, caller_dir, agent_dirs = office_folders(folder)
        quiet = silence(caller_dir / "quiet.wav", 60)
        async with (
            router_process(real_asterisk_url, schedule, folder / "data", THURSDAY_OPEN_UTC) as router,
            Phone(caller_dir, "citizen", 5070, quiet) as caller,
        ):
            await router.wait_for_line(r"ARI events: connected", within=20)  # Stasis() finds the router
            await caller.send("/dial sip:1818@127.0.0.1:5060\n")
            await router.wait_for_line(r"call \S+ from \S+ to 1818", within=15)
            began = asyncio.get_running_loop().time()  # the phone's recording starts with the call
            await asyncio.sleep(7)  # welcome (3.4 s), then music; the agents' phones are still off
            agents_on = asyncio.get_running_loop().time() - began
            async with contextlib.AsyncExitStack() as agents:
                phones = [
                    Phone(
                        agent_dirs[name], name, port, tone(agent_dirs[name] / "voice.wav", hertz, 60), auto_answer=True
                    )
                    for (name, hertz), port in zip(TONES.items(), (5080, 5090), strict=True)
                ]
                await asyncio.gather(*(agents.enter_async_context(phone) for phone in phones))  # both at once
                answered = await router.wait_for_line(r"queue 1818: (agent\d) answered", within=20)
                ended = await talk_then_hang_up(router, caller)
            heard = caller.heard()
        log_text = "\n".join(router.lines)
        assert heard, f"the caller's phone recorded nothing\n{log_text}"
        winner = answered.group(1)
        assert ended.groups() == ("answered", winner), log_text
        assert log_text.count(" answered for ") == 1, "exactly one agent wins"
        music = loudness(heard[-1], agents_on - 2.5, agents_on - 0.5)  # after the welcome, before the agents
        voice = tone_seconds(heard[-1], TONES[winner])
        loser = next(name for name in TONES if name != winner)
        assert music > MUSIC, f"the caller heard music on hold while waiting (loudness {music})"
        assert len(voice) >= 3, f"the caller heard {winner}'s voice: seconds {voice}"
        assert min(voice) > agents_on - 0.5, "music first, then the agent"
        assert tone_seconds(heard[-1], TONES[loser]) == [], "and never the other agent"
        assert "Traceback" not in log_text


@pytest.mark.usefixtures("real_asterisk_url")
async def test_an_agent_who_drops_the_caller_at_once_hands_them_to_the_next_agent(real_asterisk_url: str) -> None:
    """agent1's phone answers and ends the call at once (baresip ends a call when its 'voice' file ends:
    a 0.3 s file); the caller goes back to the front of the queue, and agent2 takes the call."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        schedule, caller_dir, agent_dirs = office_folders(folder)
        async with (
            router_process(real_asterisk_url, schedule, folder / "data", THURSDAY_OPEN_UTC) as router,
            Phone(caller_dir, "citizen", 5070, silence(caller_dir / "quiet.wav", 60)) as caller,
        ):
            await router.wait_for_line(r"ARI events: connected", within=20)  # Stasis() finds the router
            await caller.send("/dial sip:1818@127.0.0.1:5060\n")
            call = (await router.wait_for_line(r"call (\S+) from \S+ to 1818", within=15)).group(1)
            brief = tone(agent_dirs["agent1"] / "voice.wav", TONES["agent1"], 0.3)
            async with Phone(agent_dirs["agent1"], "agent1", 5080, brief, auto_answer=True):
                await router.wait_for_line(rf"queue 1818: agent1 answered for {re.escape(call)}", within=20)
                await router.wait_for_line(rf"agent1 dropped {re.escape(call)} at once; back at the front", 10)
                voice = tone(agent_dirs["agent2"] / "voice.wav", TONES["agent2"], 60)
                async with Phone(agent_dirs["agent2"], "agent2", 5090, voice, auto_answer=True):
                    await router.wait_for_line(rf"queue 1818: agent2 answered for {re.escape(call)}", within=20)
                    ended = await talk_then_hang_up(router, caller)
            heard = caller.heard()
        log_text = "\n".join(router.lines)
        assert ended.groups() == ("answered", "agent2"), log_text
        assert log_text.count(f"agent1 answered for {call}") == 1, "agent1 is not rung again while agent2 is free"
        assert heard, f"the caller's phone recorded nothing\n{log_text}"
        assert len(tone_seconds(heard[-1], TONES["agent2"])) >= 3, "the caller talked with agent2"
        assert "Traceback" not in log_text
