"""Load shedding: while Asterisk answers slowly, calls beyond the limit in setup go straight to the fallback.

The simulated Asterisk answers `POST .../answer` a second late, as an overloaded Asterisk does;
the router, limited to four calls in setup, hands the rest to the dialplan fallback with one
request each, and takes calls itself again once the backlog has halved.
"""

from __future__ import annotations

from pathlib import Path

from asterisk_sim import Fault
from router.schedule import Schedule
from tests.ari_helpers import outcome_of, until
from tests.test_router_sim import CLOSED, simulator, start

FALLBACK = {"context": "callrouter-fallback-1818", "extension": "s"}


async def test_calls_beyond_the_limit_in_setup_go_to_the_dialplan_fallback(shipped: Schedule, tmp_path: Path) -> None:
    async with simulator(shipped) as sim, start(sim, shipped, tmp_path, CLOSED, max_calls_in_setup=4) as router:
        runtime = router.runtime
        sim.faults.append(Fault("POST /channels/*/answer", status=0, delay=1.0))  # Asterisk is slow
        calls = [sim.world.place_call(f"2000000{i}", "1818", "router", ["1818"]).id for i in range(12)]
        shed = calls[4:]
        for call in shed:
            assert await outcome_of(runtime, call, within=5) == "shed_to_dialplan"
            assert sim.world.channels[call].dialplan_after == FALLBACK
            assert sim.world.channels[call].state != "Up", "a shed call is not answered by the router"
        assert runtime.shedder.in_setup == 4
        # The four in setup carry on as usual once Asterisk answers: they hear the guidance.
        sim.faults.clear()
        await until(lambda: runtime.shedder.in_setup == 0, within=5)
        for call in calls[:4]:
            assert call in runtime.calls
            assert sim.world.channels[call].dialplan_after is None
            sim.world.caller_hangs_up(call)
            assert await outcome_of(runtime, call) == "caller_hung_up"
        # The overload is over: the next caller is the router's again.
        late = sim.world.place_call("30000000", "1818", "router", ["1818"]).id
        await until(lambda: sim.world.channels[late].state == "Up", within=5)
        assert late in runtime.calls
        sim.world.caller_hangs_up(late)
        await outcome_of(runtime, late)
        metrics = router.metrics.render().decode()
        assert 'callrouter_calls_total{line="1818",outcome="shed_to_dialplan"} 8.0' in metrics
        assert "callrouter_calls_in_setup 0.0" in metrics


async def test_a_burst_that_asterisk_answers_in_time_is_not_shed(shipped: Schedule, tmp_path: Path) -> None:
    """Forty calls at once, Asterisk answering each in 50 ms: twice the old fixed limit of 20 in setup,
    and all of them the router's, because Asterisk keeps up."""
    async with simulator(shipped) as sim, start(sim, shipped, tmp_path, CLOSED) as router:
        runtime = router.runtime
        sim.faults.append(Fault("POST /channels/*/answer", status=0, delay=0.05))
        calls = [sim.world.place_call(f"2100{i:04d}", "1818", "router", ["1818"]).id for i in range(40)]
        await until(lambda: all(sim.world.channels[c].state == "Up" for c in calls), within=10)
        for call in calls:
            sim.world.caller_hangs_up(call)
            assert await outcome_of(runtime, call) == "caller_hung_up"


async def test_while_asterisk_answers_late_new_calls_are_shed_whatever_their_count(
    shipped: Schedule, tmp_path: Path
) -> None:
    """Asterisk takes 1.5 s to answer: once the oldest call in setup has waited past the latency limit
    (0.3 s here), new calls go to the fallback, though far fewer than the count limit are in setup."""
    async with simulator(shipped) as sim, start(sim, shipped, tmp_path, CLOSED, setup_latency_limit=0.3) as router:
        runtime = router.runtime
        sim.faults.append(Fault("POST /channels/*/answer", status=0, delay=1.5, count=2))
        early = [sim.world.place_call(f"2200000{i}", "1818", "router", ["1818"]).id for i in range(2)]
        await until(lambda: runtime.shedder.in_setup == 2)
        await until(lambda: runtime.shedder.oldest_wait() > 0.35, within=2)
        late = sim.world.place_call("22000009", "1818", "router", ["1818"]).id
        assert await outcome_of(runtime, late) == "shed_to_dialplan"
        assert sim.world.channels[late].dialplan_after == FALLBACK
        await until(lambda: runtime.shedder.in_setup == 0, within=5)  # Asterisk answered at last
        after = sim.world.place_call("22000010", "1818", "router", ["1818"]).id
        await until(lambda: sim.world.channels[after].state == "Up", within=5)
        for call in [*early, after]:
            sim.world.caller_hangs_up(call)
            await outcome_of(runtime, call)
