"""Overload on the real Asterisk: new calls at three times the rate it sustains, and the router sheds load.

On the 2-core development machine Asterisk sustains about 20 new calls a second through the
router without shedding, and the smallest hand-written ARI loop playing the same prompts slows
down past 40 (bench/bench_real.py; figures in BENCHMARKS.md). Here 150 calls per second are
offered for ten seconds, as Local channels into the shipped 1818 entry at a closed hour: over
three times what any ARI application gets from this Asterisk. Each caller listens for a few
seconds after the answer, then hangs up.

The router runs as its own process (`callrouter run`) with its usual limit of calls in setup.
What must hold: it sheds load on purpose (calls beyond the limit go straight to the dialplan
fallback, which Asterisk runs without it); every call that reached it ends with a named outcome
in its log; nothing is left in Asterisk afterwards; and the router takes the next call itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from tests import real_asterisk
from tests.conftest import ROOT
from tests.router_process import router_process

RATE = 150  # new calls per second offered
SECONDS = 10
HOLD = 4  # seconds a caller listens after the answer
CLOSED_UTC = "2024-01-04 11:30:00"  # Thursday 12:30 in Copenhagen: closed until 15
# The dialplan's `router-down` context pins the fallback's clock to the same instant (TESTTIME).
ENTRY = "Local/20240104123000@router-down/n"
NAMED = {"guidance_played", "caller_hung_up", "message_left", "error_fallback", "shed_to_dialplan"}


class Asterisk:
    """The test's own ARI client: it places the calls and looks at what Asterisk holds."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, f"{url}/ari"

    async def originate(self, caller: str = "12345678", hold: int = HOLD) -> int:
        params = {
            "endpoint": ENTRY,
            "context": "callers",
            "extension": f"hold{hold}",
            "priority": "1",
            "timeout": "30",
            # No channel ids of our own: Asterisk checks a given id against every channel's (by
            # prefix), which under load slowed its originates tenfold.
            "callerId": f"Borger <{caller}>",
        }
        try:
            async with self.session.post(f"{self.url}/channels", params=params) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    async def get(self, path: str) -> Any:
        async with self.session.get(f"{self.url}{path}", timeout=aiohttp.ClientTimeout(total=10)) as response:
            return await response.json()

    async def hang_up_everything(self) -> None:
        """Leave nothing to the next test, whatever this one found (a failed drain leaves callers behind)."""
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            for channel in await self.get("/channels"):
                async with self.session.delete(f"{self.url}/channels/{channel['id']}") as response:
                    await response.read()


async def test_three_times_the_sustainable_rate_is_shed_and_every_call_ends(
    real_asterisk_url: str, tmp_path: Path
) -> None:
    connector = aiohttp.TCPConnector(limit=20)  # Asterisk's http.conf allows 100 sessions in all
    async with (
        router_process(real_asterisk_url, ROOT / "schedule.yaml", tmp_path / "data", CLOSED_UTC) as router,
        aiohttp.ClientSession(headers=real_asterisk.AUTHORIZATION, connector=connector) as session,
    ):
        asterisk = Asterisk(session, real_asterisk_url)
        await router.wait_for_line(r"taking calls", within=20)
        await router.wait_for_line(r"ARI events: connected", within=20)
        # Asterisk is shared by the real tier: an earlier test may have left a line's empty holding bridge.
        before = {b["id"] for b in await asterisk.get("/bridges")}
        began = time.monotonic()
        placed = []
        for n in range(RATE * SECONDS):
            await asyncio.sleep(max(0.0, began + n / RATE - time.monotonic()))
            placed.append(asyncio.create_task(asterisk.originate()))
        answers = Counter(await asyncio.gather(*placed))
        placing = time.monotonic() - began

        async def drained() -> bool:
            try:
                channels = await asterisk.get("/channels")
                bridges = [b for b in await asterisk.get("/bridges") if b["id"] not in before or b["channels"]]
            except (aiohttp.ClientError, TimeoutError):
                return False  # Asterisk too busy to answer yet: that is no answer, ask again
            return not channels and not bridges

        try:
            async with asyncio.timeout(180):  # about 50 s here alone; more with another test run beside it
                while not await drained():  # noqa: ASYNC110 -- polls Asterisk
                    await asyncio.sleep(1)
        except TimeoutError:
            await asterisk.hang_up_everything()
            raise
        drain = time.monotonic() - began

        # The router is itself again: the next caller hears its guidance.
        assert await asterisk.originate("99999999", hold=2) == 200
        last = await router.wait_for_line(r"call (\S+) from \*+99 to 1818", within=30)
        after = await router.wait_for_line(rf"call {re.escape(last.group(1))} to 1818 ended: (\S+)", within=30)

    log = router.lines
    started = {m.group(1) for line in log if (m := re.search(r"call (\S+) from \*+78 to", line))}
    ended = {m.group(1): m.group(2) for line in log if (m := re.search(r"call (\S+) to 1818 ended: (\S+)", line))}
    ended.pop(last.group(1))
    outcomes = Counter(ended.values())
    print(
        f"\n{RATE * SECONDS} calls offered at {RATE}/s; Asterisk took the originates in {placing:.1f} s "
        f"(answers {dict(answers)}); the router got {len(ended)}: {dict(outcomes)}; "
        f"nothing left in Asterisk {drain:.0f} s after the first call"
    )
    assert any("overload:" in line for line in log), "the router shed load on purpose"
    assert outcomes["shed_to_dialplan"] > 0
    assert started <= set(ended), f"calls the router took and never ended: {sorted(started - set(ended))[:10]}"
    assert set(outcomes) <= NAMED, outcomes
    assert after.group(1) != "shed_to_dialplan", "the router takes calls itself after the burst"
    assert not any("Traceback" in line for line in log), "\n".join(log[-40:])
