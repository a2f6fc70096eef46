"""SIGKILL the router with 100 calls in flight, start it again: every caller reaches a defined end.

Both programs run as they do at a site, as separate processes: the simulated Asterisk
(`python -m asterisk_sim`) and `callrouter run`. Overrides put 1818 (the queue) open and a direct line
closed, whatever the day. Three agents take three callers; about sixty wait in the queue; the rest
hear the guidance. After the kill and the restart:

- the three conversations go on, and when a caller hangs up the agent is hung up and the bridge removed;
- the callers who were waiting wait on, in the order they came: when the three conversations end,
  the three agents take the three callers who came first, and their waits count from their arrival;
- every caller who was hearing the guidance is handed to the dialplan fallback;
- nothing of the router's is left in Asterisk but the line's empty holding bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from router.calls.prompts import load_manifest
from router.calls.reconcile import channel_order
from router.schedule import load_schedule
from tests.conftest import ROOT

SCHEDULE = str(ROOT / "schedule.yaml")
ROUTER = str(ROOT / "asterisk_sim" / "examples" / "router.toml")  # the simulator set up as the router's Asterisk
CALLS = 100
CLOSED_LINE = "89591001"


def callrouter(data: Path, *args: str) -> None:
    command = [sys.executable, "-m", "router", "--schedule", SCHEDULE, "--data", str(data), *args]
    subprocess.run(command, check=True, capture_output=True, timeout=60)


@contextlib.asynccontextmanager
async def process(
    *command: str, env: dict[str, str], log: Path | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    with open(log or os.devnull, "ab") as stderr:  # noqa: ASYNC230 -- opening a log file, once
        proc = await asyncio.create_subprocess_exec(
            *command, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def until(check: Any, within: float) -> None:
    """Wait until the async `check` holds: it asks the simulator, another process, over HTTP."""
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110 -- polls another process
            await asyncio.sleep(0.1)


async def test_router_killed_and_restarted_with_calls_in_flight(tmp_path: Path) -> None:
    data = tmp_path / "data"
    until_text = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    callrouter(data, "override", "open", "--line", "1818", "--until", until_text, "--reason", "test")
    callrouter(data, "override", "close", "--line", CLOSED_LINE, "--until", until_text, "--reason", "test")
    env = {**os.environ, "ARI_USER": "router", "ARI_PASSWORD": "s3cret", "CALLROUTER_API": "off"}
    # The 100 calls arrive within a fraction of a second: all of them are to be the router's, none
    # shed to the fallback (shedding has tests of its own).
    env["CALLROUTER_MAX_CALLS_IN_SETUP"] = "1000"
    sim_command = [sys.executable, "-m", "asterisk_sim", "--port", "0", "--sound-seconds", "2", "--config", ROUTER]
    async with process(*sim_command, env=env) as sim, aiohttp.ClientSession() as http:
        assert sim.stdout is not None
        url = (await asyncio.wait_for(sim.stdout.readline(), 20)).decode().split("ARI on ")[1].split("/ari")[0]

        async def get(path: str) -> Any:
            async with http.get(url + path) as response:
                return await response.json()

        async def post(path: str, body: dict[str, Any]) -> Any:
            async with http.post(url + path, json=body) as response:
                return await response.json() if response.content_type == "application/json" else None

        for agent in ("agent1", "agent2", "agent3"):
            async with http.put(f"{url}/_sim/endpoints/PJSIP/{agent}", json={"answer_after": 0.2}):
                pass
        year = datetime.now(UTC).year
        texts = load_manifest().texts_for(load_schedule(SCHEDULE), range(year - 1, year + 2))
        names = [f"callrouter/{n}" for n in [*texts, "closure-test"]]
        await post("/_sim/sounds", {"names": names, "language": "da", "format": "slin"})
        router_command = [sys.executable, "-m", "router", "--schedule", SCHEDULE, "run", "--data", str(data)]
        router_env = {**env, "ARI_URL": url}

        async def connected() -> bool:
            return "router" in (await get("/_sim/state"))["apps"]

        async with process(*router_command, env=router_env, log=tmp_path / "router.log") as router:
            await until(connected, 20)
            calls: dict[str, list[str]] = {"queue": [], "guidance": []}
            for i in range(CALLS):
                line = "1818" if i % 3 else CLOSED_LINE
                placed = await post("/_sim/calls", {"from": f"{30000000 + i}", "to": line, "args": [line]})
                calls["queue" if line == "1818" else "guidance"].append(placed["channel_id"])

            async def settled() -> bool:
                heard = [await get(f"/_sim/channels/{c}") for c in calls["queue"]]
                return sum(any("bridged" in h for h in c["heard"]) for c in heard) == 3

            try:
                await until(settled, 20)
            except TimeoutError:
                lines = (tmp_path / "router.log").read_text().splitlines()
                pytest.fail("\n".join(line for line in lines if "aiohttp.access" not in line)[-6000:])
            await asyncio.sleep(1.0)  # the others are waiting or hearing the guidance
            router.send_signal(signal.SIGKILL)
            await router.wait()

        channels = {c: await get(f"/_sim/channels/{c}") for c in calls["queue"] + calls["guidance"]}
        talking = [c for c, ch in channels.items() if str(ch["bridge"]).startswith("callrouter-call-")]
        assert len(talking) == 3, "three callers were talking with the three agents when the router died"
        assert all(ch["app"] == "router" and not ch["gone"] for ch in channels.values()), "all were in the router"

        waiting = [c for c in calls["queue"] if c not in talking]  # in the order they came
        async with process(*router_command, env=router_env, log=tmp_path / "restarted.log"):
            await until(connected, 20)

            async def handed_back() -> bool:
                found = [await get(f"/_sim/channels/{c}") for c in calls["guidance"]]
                return all(ch["dialplan_after"] is not None for ch in found)

            await until(handed_back, 20)
            for c in talking:
                ch = await get(f"/_sim/channels/{c}")
                assert not ch["gone"]
                assert str(ch["bridge"]).startswith("callrouter-call-"), "the conversation goes on"
            for c in waiting:
                ch = await get(f"/_sim/channels/{c}")
                assert (ch["gone"], ch["dialplan_after"]) == (False, None), "the waiting callers wait on"
                assert str(ch["bridge"]).startswith("callrouter-queue-"), "with the music"
            for c in talking:
                await post(f"/_sim/channels/{c}/hangup", {})

            async def served() -> list[str]:
                found = {c: await get(f"/_sim/channels/{c}") for c in waiting}
                return [c for c, ch in found.items() if str(ch["bridge"]).startswith("callrouter-call-")]

            async def three_served() -> bool:
                return len(await served()) == 3

            await until(three_served, 20)
            assert await served() == waiting[:3], "the agents took the callers who came first"
            log = (tmp_path / "restarted.log").read_text()
            first_wait = re.search(rf"answered for {re.escape(waiting[0])} after (\d+) s", log)
            assert first_wait is not None, log[-3000:]
            assert int(first_wait.group(1)) >= 2, "the wait counts from the caller's arrival, not the restart"
            for c in waiting:
                await post(f"/_sim/channels/{c}/hangup", {})

            async def nothing_left() -> bool:
                state = await get("/_sim/state")
                ours = [b for b in state["bridges"] if not b.startswith("callrouter-queue-")]
                live = [await get(f"/_sim/channels/{c}") for c in state["channels"]]
                in_app = [ch["id"] for ch in live if ch["dialplan_after"] is None]
                return not ours and not in_app

            await until(nothing_left, 20)


def test_callers_who_arrived_in_the_same_millisecond_wait_on_in_asterisks_order() -> None:
    """creationtime has milliseconds only: ties are broken by the channel id's numbers, not its text, so
    that .10 comes after .9 (with or without Asterisk's system name before the id)."""
    ids = ["1717171717.10", "1717171717.9", "1717171718.1", "1717171717.100"]
    assert sorted(ids, key=channel_order) == ["1717171717.9", "1717171717.10", "1717171717.100", "1717171718.1"]
    named = ["pbx-1717171717.11", "pbx-1717171717.2"]
    assert sorted(named, key=channel_order) == ["pbx-1717171717.2", "pbx-1717171717.11"]
