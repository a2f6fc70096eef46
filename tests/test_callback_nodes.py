"""Callbacks past one router, on a real PostgreSQL: two routers (each on its own simulated Asterisk) that
both hold a callback make it once, and a standby that takes over makes the callbacks its active router
left in the store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from asterisk_sim import AgentScript, Simulator
from router.office.callbacks import CallbackStore
from router.office.store import Store, StoreConfig
from router.schedule import Schedule
from tests.ari_helpers import outcome_of, until
from tests.test_callback_sim import CITIZEN, with_callback
from tests.test_router_sim import OPEN, simulator, start


def citizen_calls(*sims: Simulator) -> int:
    return sum(1 for sim in sims for c in sim.world.channels.values() if c.endpoint == CITIZEN)


def agents(sim: Simulator, script: AgentScript) -> None:
    for name in ("agent1", "agent2"):
        sim.world.set_endpoint(f"PJSIP/{name}", script)


async def request(sim: Simulator, router_runtime: object) -> str:
    """A caller of `sim` who asks for a callback on the number they call from, and hangs up."""
    call = sim.world.place_call("42345678", "1818", "router", ["1818"]).id
    heard = sim.world.channels[call].heard
    await until(lambda: any(h.get("media") == "sound:callrouter/callback-offer" for h in heard), within=10)
    sim.world.send_dtmf(call, "5")
    await until(lambda: any(h.get("media") == "sound:callrouter/callback-confirm" for h in heard), within=10)
    sim.world.send_dtmf(call, "1")
    assert await outcome_of(router_runtime, call) == "callback_requested"  # type: ignore[arg-type]
    return call


async def test_two_routers_holding_one_callback_call_the_citizen_once(
    shipped: Schedule, tmp_path: Path, database: dict[str, str], shared: Store
) -> None:
    schedule = with_callback(shipped)
    config = dict(store=StoreConfig.from_env(database), callback_sync_seconds=0.2)
    async with simulator(shipped) as sim_a, simulator(shipped) as sim_b:
        for sim in (sim_a, sim_b):
            agents(sim, AgentScript("offline"))
        async with (
            start(sim_a, schedule, tmp_path / "a", OPEN, node="a", **config) as node_a,
            start(sim_b, schedule, tmp_path / "b", OPEN, node="b", **config) as node_b,
        ):
            await request(sim_a, node_a.runtime)
            [kept] = await asyncio.to_thread(CallbackStore(shared).open)
            # Both routers hold it in their queues, at the caller's place.
            await until(lambda: node_b.runtime.queues.position("1818", kept.id) == 1, within=5)
            assert node_a.runtime.queues.position("1818", kept.id) == 1
            for sim in (sim_a, sim_b):  # the agents of both answer at once; the citizen answers either
                agents(sim, AgentScript("answer", 0.1))
                sim.world.set_endpoint(CITIZEN, AgentScript("answer", 0.2, hang_up_after=1.0))
            await until(lambda: CallbackStore(shared).get(kept.id).state == "done", within=10)  # type: ignore[union-attr]
            await asyncio.sleep(1.5)  # the other router's next looks change nothing
            assert citizen_calls(sim_a, sim_b) == 1
            assert [r.id for r in await asyncio.to_thread(CallbackStore(shared).open)] == []
            assert node_a.runtime.queues.virtual("1818") == node_b.runtime.queues.virtual("1818") == []


async def test_a_standby_taking_over_makes_the_callbacks_left_in_the_store(
    shipped: Schedule, tmp_path: Path, database: dict[str, str], shared: Store
) -> None:
    schedule = with_callback(shipped)
    config = dict(store=StoreConfig.from_env(database), callback_sync_seconds=0.2)
    async with simulator(shipped) as sim:
        agents(sim, AgentScript("offline"))
        first = start(sim, schedule, tmp_path / "a", OPEN, node="a", **config)
        active = await first.__aenter__()
        try:
            async with start(sim, schedule, tmp_path / "b", OPEN, node="b", **config) as standby:
                await request(sim, active.runtime)
                await first.__aexit__(None, None, None)  # the active router stops; the standby takes over
                agents(sim, AgentScript("answer", 0.1))
                sim.world.set_endpoint(CITIZEN, AgentScript("answer", 0.1, hang_up_after=0.5))
                [kept] = await asyncio.to_thread(CallbackStore(shared).all)
                await until(lambda: CallbackStore(shared).get(kept.id).state == "done", within=20)  # type: ignore[union-attr]
                await asyncio.sleep(1.0)  # the standby's next looks at the store change nothing
                assert citizen_calls(sim) == 1
                assert standby.runtime.queues.virtual("1818") == []
        finally:
            await first.__aexit__(None, None, None)
