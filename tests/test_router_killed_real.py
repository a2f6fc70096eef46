"""SIGKILL the router on the real Asterisk with real calls in flight; start it again.

`callrouter run` runs under faketime at a Thursday 15:30 in Copenhagen (1818 open). In flight
when it is killed:
- a real SIP caller (baresip) talking with a real SIP agent (baresip, auto-answer, a 1000 Hz "voice");
- two callers waiting in the queue (Local channels: the only agent is busy);
- a caller hearing the closed-line guidance (the office closed 1818 by an override a moment
  before that call).
After the restart: the conversation goes on in its bridge, and when the SIP caller hangs up the
agent is hung up and the bridge removed; the two waiting callers wait on in the queue, and the
agent, free again, is rung for the one who came first and talks with them, their wait counted from
their arrival; the caller hearing the guidance is handed to the dialplan fallback (its Local channel
pins the fallback's clock to a closed hour, so it gets the fallback's guidance); and nothing of the
router's is left in Asterisk but the line's empty holding bridge.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from tests import real_asterisk
from tests.router_process import FAKETIME_ENV, RouterProcess, callrouter_at, router_process
from tests.sip_phone import Phone, silence, tone
from tests.test_queue_real import THURSDAY_OPEN_UTC, schedule_with_real_agents

ENTRY_AT_CLOSED_HOUR = "Local/20240104123000@router-down/n"  # the fallback's clock: Thursday 12:30
# Where the generated fallback takes a caller at a closed hour (dialplan/extensions_callrouter.conf).
FALLBACK = {"callrouter-fallback-1818", "callrouter-closed-1818", "callrouter-guidance-1818"}


class Asterisk:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, f"{url}/ari"

    async def request(self, method: str, path: str, **params: str) -> Any:
        async with self.session.request(method, f"{self.url}{path}", params=params) as response:
            assert response.status < 300, f"{method} {path}: {response.status} {await response.text()}"
            return await response.json() if response.content_type == "application/json" else None

    async def call(self, caller: str) -> None:
        """A Local channel into 1818 whose calling half listens for a minute."""
        await self.request(
            "POST", "/channels", endpoint=ENTRY_AT_CLOSED_HOUR, context="callers", extension="hold60",
            priority="1", callerId=f"Borger <{caller}>",
        )  # fmt: skip

    async def holding(self) -> dict[str, Any]:
        return await self.bridge("callrouter-queue-1818")

    async def bridge(self, bridge_id: str) -> dict[str, Any]:
        try:
            return dict(await self.request("GET", f"/bridges/{bridge_id}"))
        except AssertionError:  # not made yet
            return {"channels": []}

    async def in_app(self) -> set[str]:
        return set((await self.request("GET", "/applications/router"))["channel_ids"])


async def call_of(router: RouterProcess, caller_digits: str) -> str:
    found = await router.wait_for_line(rf"call (\S+) from \*+{caller_digits} to 1818", within=20)
    return found.group(1)


async def test_router_killed_with_real_calls_in_flight(real_asterisk_url: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        schedule, data = schedule_with_real_agents(folder), folder / "data"
        for name in ("caller", "agent1"):
            (folder / name).mkdir()
        async with (
            aiohttp.ClientSession(headers=real_asterisk.AUTHORIZATION) as session,
            Phone(folder / "agent1", "agent1", 5080, tone(folder / "agent1/voice.wav", 1000, 120), auto_answer=True),
            Phone(folder / "caller", "citizen", 5070, silence(folder / "caller/quiet.wav", 120)) as caller,
        ):
            asterisk = Asterisk(session, real_asterisk_url)
            async with router_process(real_asterisk_url, schedule, data, THURSDAY_OPEN_UTC) as router:
                await router.wait_for_line(r"ARI events: connected", within=20)
                await caller.send("/dial sip:1818@127.0.0.1:5060\n")
                await router.wait_for_line(r"queue 1818: agent1 answered", within=30)
                await asterisk.call("11111111")
                waiting = await call_of(router, "11")
                await asterisk.call("33333333")
                second = await call_of(router, "33")
                close = ["--schedule", str(schedule), "--data", str(data), "override", "close", "--line", "1818"]
                close += ["--until", "2024-01-04T17:00+01:00", "--reason", "staff_meeting"]
                env = {**os.environ, **FAKETIME_ENV}
                overriding = await asyncio.create_subprocess_exec(*callrouter_at(THURSDAY_OPEN_UTC, *close), env=env)
                assert await asyncio.wait_for(overriding.wait(), 30) == 0
                # The router reads the store's overrides twice a second: the next caller waits for that.
                await router.wait_for_line(r"overrides: line 1818 closed until", within=10)
                await asterisk.call("22222222")
                guidance = await call_of(router, "22")
                async with asyncio.timeout(20):  # after the welcome, the waiting callers hear the music
                    while not {waiting, second} <= set((await asterisk.holding())["channels"]):  # noqa: ASYNC110
                        await asyncio.sleep(0.2)
                await asyncio.sleep(1)  # the guidance is playing
                router.kill()
                await router.process.wait()

            bridges = {b["id"]: b for b in await asterisk.request("GET", "/bridges")}
            [talk] = [b for name, b in bridges.items() if name.startswith("callrouter-call-")]
            assert len(talk["channels"]) == 2, "caller and agent were talking when the router died"
            log = "\n".join(router.lines[-30:])
            assert {waiting, second} <= set(bridges["callrouter-queue-1818"]["channels"]), log
            assert {waiting, second, guidance} <= await asterisk.in_app()
            killed_at = asyncio.get_running_loop().time()

            async with router_process(real_asterisk_url, schedule, data, THURSDAY_OPEN_UTC) as router:
                await router.wait_for_line(r"reconcile: \S+ and \S+ go on talking in callrouter-call-", within=20)
                await router.wait_for_line(rf"reconcile: handed {re.escape(guidance)} back", within=20)
                for channel in (waiting, second):
                    await router.wait_for_line(rf"call {re.escape(channel)} from \S+ to 1818 waits on", within=20)
                # At once: the guidance the router was playing is stopped (else Asterisk would finish it first).
                async with asyncio.timeout(3):
                    while guidance in await asterisk.in_app():  # noqa: ASYNC110 -- polls Asterisk
                        await asyncio.sleep(0.1)
                where = (await asterisk.request("GET", f"/channels/{guidance}"))["dialplan"]["context"]
                assert where in FALLBACK, f"{guidance} is in {where}, not in the fallback"
                assert {waiting, second} <= set((await asterisk.holding())["channels"]), "they wait on, with music"
                assert len((await asterisk.request("GET", f"/bridges/{talk['id']}"))["channels"]) == 2
                await asyncio.sleep(2)  # they go on talking
                await caller.send("/hangup\n")
                await router.wait_for_line(r"call bridge callrouter-call-\S+ from before a restart ended", within=20)
                # agent1 is free again: rung for the caller who came first, and answers.
                served = await router.wait_for_line(rf"agent1 answered for {re.escape(waiting)} after (\d+) s", 30)
                waited_since_kill = asyncio.get_running_loop().time() - killed_at
                assert int(served.group(1)) > waited_since_kill, "the wait counts from the caller's arrival"
                async with asyncio.timeout(10):
                    while len((await asterisk.bridge(f"callrouter-call-{waiting}"))["channels"]) < 2:  # noqa: ASYNC110
                        await asyncio.sleep(0.2)
                assert second in (await asterisk.holding())["channels"], "the one who came second waits on"
                for channel in (waiting, second, guidance):  # these callers hang up
                    await asterisk.request("DELETE", f"/channels/{channel}")
                async with asyncio.timeout(20):
                    while await asterisk.request("GET", "/channels"):  # noqa: ASYNC110 -- polls Asterisk
                        await asyncio.sleep(0.2)
                # The router ends a call's bridge once it has the call's last events, a moment after
                # Asterisk has dropped the channels.
                tidy: tuple[list[tuple[str, list[str]]], ...] = ([], [("callrouter-queue-1818", [])])
                for _ in range(50):
                    listed = await asterisk.request("GET", "/bridges")
                    left = [(b["id"], b["channels"]) for b in listed if b["id"].startswith("callrouter-")]
                    if left in tidy:
                        break
                    await asyncio.sleep(0.1)
                assert left in tidy
                assert not any("Traceback" in line for line in router.lines), "\n".join(router.lines[-40:])
