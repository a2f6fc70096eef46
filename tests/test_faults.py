"""Many calls while ARI misbehaves: 5 % of requests fail (5xx), 2 % answer late, callers hang up at random.

Every call must end with a named outcome, no unexpected exception may be logged, and afterwards no
channel or bridge of ours may be left in the simulated Asterisk (calls handed back to the dialplan
are the fallback's). The requests that are safe to retry are retried, so at most 1 % of the calls
may reach the dialplan fallback, and every caller told that their message was received ("besked
modtaget") must have it in the router's store, with no caller told "not saved". Half of the
injected failures happen after Asterisk has carried the request out (the answer is lost), so a
retry that did something twice would show. CI runs 200 calls per phase;
CALLROUTER_FULL_RESILIENCE=1 runs 5,000 per phase (10,000 in all), as docs/developers.md says.
The outcome counts are printed (pytest -s shows them).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from asterisk_sim import AgentScript, Fault, Simulator
from router.schedule import QueueConfig, Schedule
from tests.ari_helpers import until
from tests.conftest import stored_messages
from tests.test_hangup_everywhere import nothing_left
from tests.test_router_sim import CLOSED, OPEN, simulator, start

CALLS = 5000 if os.environ.get("CALLROUTER_FULL_RESILIENCE") == "1" else 200
RATE = 100  # new calls per second
NAMED = {
    "answered", "caller_gave_up", "overflow", "message_left", "no_message", "message_not_saved",
    "guidance_played", "caller_hung_up", "error_fallback", "shed_to_dialplan",
}  # fmt: skip
SAVED = "sound:callrouter/message-saved"  # "Din besked er modtaget"
QUEUE = QueueConfig(("agent1", "agent2", "agent3"), ring_seconds=2, retry_seconds=1, max_wait_seconds=3)


async def caller(sim: Simulator, call: str, rng: random.Random, closed: bool) -> None:
    """One caller: presses 1 and # on a closed line, or waits a while in the queue; hangs up at some point."""
    await asyncio.sleep(rng.uniform(0, 0.3))
    if closed and rng.random() < 0.5 and not sim.world.channels[call].gone:
        sim.world.send_dtmf(call, "1")
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        if not sim.world.channels[call].gone:
            sim.world.send_dtmf(call, "#")
    await asyncio.sleep(rng.uniform(0, 3))
    if not sim.world.channels[call].gone and sim.world.channels[call].dialplan_after is None:
        sim.world.caller_hangs_up(call)


async def storm(
    sim: Simulator, schedule: Schedule, data: Path, at: datetime, closed: bool
) -> tuple[Counter[str], set[str]]:
    """Place the calls; their outcomes once every one has ended and nothing of ours is left, and the
    callers."""
    rng = random.Random(1818)
    async with start(sim, schedule, data, at) as router:
        callers = []
        for i in range(CALLS):
            call = sim.world.place_call(f"{20000000 + i}", "1818", "router", ["1818"]).id
            callers.append((call, asyncio.create_task(caller(sim, call, rng, closed))))
            await asyncio.sleep(1 / RATE)
        await asyncio.gather(*(task for _, task in callers))
        runtime = router.runtime
        ids = {call for call, _ in callers}
        try:
            await until(lambda: ids <= {o.call_id for o in runtime.outcomes}, within=60)
        except TimeoutError:
            ended = {o.call_id for o in runtime.outcomes}
            stuck = {c: (runtime.calls[c].call.state if c in runtime.calls else "?") for c in ids - ended}
            pytest.fail(f"calls without an outcome: {stuck}")
        await nothing_left(sim, runtime, within=30)
        return Counter(o.outcome for o in runtime.outcomes if o.call_id in ids), ids


@pytest.mark.parametrize("phase", ["closed", "open"])
async def test_many_calls_with_faults_all_end_and_leave_nothing(
    shipped: Schedule, tmp_path: Path, caplog: pytest.LogCaptureFixture, phase: str
) -> None:
    line = replace(shipped.lines["1818"], open_to=QUEUE)
    schedule = replace(shipped, lines={**shipped.lines, "1818": line})
    caplog.set_level(logging.WARNING)
    async with simulator(shipped, sound_seconds=0.3) as sim:
        for agent in QUEUE.agents:
            sim.world.set_endpoint(f"PJSIP/{agent}", AgentScript("answer", 0.5))
        sim.faults.append(Fault("* /*", status=0, probability=0.02, delay=0.3))  # slow answers
        sim.faults.append(Fault("* /*", status=500, probability=0.025))  # refused before doing anything
        sim.faults.append(Fault("* /*", status=500, probability=0.025, after=True))  # done, but the answer is lost
        counts, callers = await storm(sim, schedule, tmp_path, CLOSED if phase == "closed" else OPEN, phase == "closed")
        told = {c for c in callers if any(h.get("media") == SAVED for h in sim.world.channels[c].heard)}
        doubled = _carried_out_twice(sim)
    failed = sum(1 for r in sim.requests if r.get("status") == 500)
    fallback = counts["error_fallback"] + counts["shed_to_dialplan"]
    stored = [m.id for m in stored_messages(tmp_path)]
    lost = sorted(told - set(stored))
    print(
        f"\n{phase}: {CALLS} calls, {failed} ARI requests failed on purpose, {fallback} calls to the fallback "
        f"({fallback / CALLS:.2%}), {len(told)} callers told their message was received, {len(stored)} stored, "
        f"{len(lost)} lost; outcomes: {dict(counts)}"
    )
    assert sum(counts.values()) == CALLS
    assert set(counts) <= NAMED
    assert failed > 0
    assert fallback <= CALLS // 100
    assert counts["message_not_saved"] == 0
    assert lost == []
    assert len(stored) == len(set(stored))
    assert bool(told) == (phase == "closed")  # the check has callers to check
    assert doubled == []
    unexpected = [r for r in caplog.records if r.exc_info is not None]
    assert unexpected == [], [r.getMessage() for r in unexpected]


def _carried_out_twice(sim: Simulator) -> list[str]:
    """Requests with a client-chosen id that Asterisk carried out more than once (a retry doing a thing twice)."""
    done: Counter[str] = Counter()
    for r in sim.requests:
        made = r.get("status") in (200, 201) or r.get("carried_out")
        if made and r["method"] == "POST" and ("/play/" in r["path"] or r["path"] == "/channels"):
            done[r["path"] if "/play/" in r["path"] else str(r["params"].get("channelId"))] += 1
    return sorted(what for what, times in done.items() if times > 1)
