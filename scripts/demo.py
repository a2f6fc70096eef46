"""A call to 1818 right now, through the router and the shipped schedule, on the simulated Asterisk.

    .venv/bin/python scripts/demo.py [--at 2024-12-24T10:30] [--line 1818]

Starts the simulated Asterisk and the router, places a call from 12345678 and acts as the caller
would: if the line is open, waits in the queue until an agent answers, talks, and hangs up; if it
is closed, presses 1 and leaves a message. Then prints what the caller heard and how the call
ended. (The simulator and the router meet only here and in the tests.)
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from asterisk_sim import AgentScript, Simulator
from asterisk_sim.settings import ROUTER_EXAMPLE, load_settings
from router.app import RouterConfig, running
from router.ari import AriConfig
from router.calls import flow
from router.calls.prompts import DEFAULT_MANIFEST, load_manifest
from router.cli import parse_instant
from router.office.data_copy import open_site_store
from router.office.messages import MessageStore
from router.office.store import StoreConfig
from router.schedule import load_schedule

ROOT = Path(__file__).resolve().parent.parent


async def demo(at: datetime | None, line: str) -> None:
    schedule = load_schedule(ROOT / "schedule.yaml")
    manifest = load_manifest()
    instant = at or datetime.now(UTC)
    texts = manifest.texts_for(schedule, range(instant.year - 1, instant.year + 2))
    sim = Simulator("router", "demo", sound_seconds=0.01, settings=load_settings(ROUTER_EXAMPLE))
    sim.world.sounds.update((f"callrouter/{name}" for name in texts), "da", "slin")
    # The shipped schedule's example agents: one answers after a second, one is away, one is busy.
    sim.world.set_endpoint("PJSIP/agent1", AgentScript("answer", 1.0))
    sim.world.set_endpoint("PJSIP/agent2", AgentScript("no-answer"))
    sim.world.set_endpoint("PJSIP/agent3", AgentScript("busy"))
    await sim.start()
    with tempfile.TemporaryDirectory() as data:
        ari = AriConfig(url=sim.url, app="router", user="router", password="demo")
        settings = flow.Settings(offer_seconds=1, message_max_seconds=3, message_silence_seconds=2)
        config = RouterConfig(ari, schedule, Path(data), DEFAULT_MANIFEST, settings)
        async with running(config, clock=lambda: instant) as router:
            while "router" not in sim.world.connected_apps:  # noqa: ASYNC110 -- polls the simulator
                await asyncio.sleep(0.01)
            call = sim.world.place_call("12345678", line, "router", [line]).id
            print(f"A caller dials {line} at {instant.astimezone(schedule.tz):%a %Y-%m-%d %H:%M %Z}.")
            await asyncio.sleep(0.1)
            channel = sim.world.channels[call]
            if any(e.get("moh") == "start" for e in channel.heard) or "sound:callrouter/welcome" in _heard(
                channel.heard
            ):
                await _talk_to_an_agent(sim, call)
            elif "sound:callrouter/offer-message" in _heard(channel.heard) or channel.app is not None:
                await _leave_a_message(sim, call)
            async with asyncio.timeout(30), router.runtime.finished:
                await router.runtime.finished.wait_for(lambda: bool(router.runtime.outcomes))
            spoken: list[tuple[object, list[str]]] = []  # (playback, texts): one line per playback
            for entry in channel.heard:
                if entry.get("moh") == "start":
                    spoken.append(("moh", ["(music on hold)"]))
                if "bridged" in entry:
                    agents = [sim.world.channels[c].endpoint for c in entry["with"]]
                    spoken.append(("bridged", [f"(talking with {', '.join(map(str, agents))})"]))
                if "media" not in entry:
                    continue
                name = str(entry["media"]).removeprefix("sound:callrouter/")
                text = "(beep)" if name == "sound:beep" else texts.get(name, name)
                if spoken and spoken[-1][0] == entry.get("playback", "beep"):
                    spoken[-1][1].append(text)
                else:
                    spoken.append((entry.get("playback", "beep"), [text]))
            if spoken:
                print("The caller hears:\n  " + "\n  ".join(" ".join(words) for _, words in spoken))
            if channel.dialplan_after:
                print(f"The call goes on in the dialplan: {channel.dialplan_after}")
            print(f"Outcome: {router.runtime.outcomes[0].outcome}")
            with open_site_store(StoreConfig(), Path(data)) as store:
                kept = MessageStore(store).all()
            for message in kept:
                at = message.received_at.astimezone(schedule.tz)
                print(f"Stored message: from {message.caller} on line {message.line} at {at}")
    await sim.stop()


async def _talk_to_an_agent(sim: Simulator, call: str) -> None:
    channel = sim.world.channels[call]
    print("The caller waits in the queue.")
    for _ in range(3000):
        if any("bridged" in e for e in channel.heard) or channel.gone:
            break
        await asyncio.sleep(0.01)
    if not channel.gone:
        await asyncio.sleep(0.5)
        print("The caller and the agent talk; the caller hangs up.")
        sim.world.caller_hangs_up(call)


async def _leave_a_message(sim: Simulator, call: str) -> None:
    channel = sim.world.channels[call]
    for _ in range(300):
        if "sound:callrouter/offer-message" in _heard(channel.heard) or channel.gone or channel.dialplan_after:
            break
        await asyncio.sleep(0.01)
    if channel.gone or channel.dialplan_after:
        return
    print("The caller presses 1 and leaves a message.")
    sim.world.send_dtmf(call, "1")
    for _ in range(300):
        if any(r.channel_id == call for r in sim.world.live_recordings.values()):
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(1.1)
    sim.world.send_dtmf(call, "#")


def _heard(entries: list[dict[str, object]]) -> list[str]:
    return [str(e["media"]) for e in entries if "media" in e]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", help="the moment of the call, ISO 8601 (default: now)")
    parser.add_argument("--line", default="1818")
    args = parser.parse_args()
    schedule = load_schedule(ROOT / "schedule.yaml")
    asyncio.run(demo(parse_instant(args.at, schedule) if args.at else None, args.line))


if __name__ == "__main__":
    main()
