"""The queue end to end against the simulated Asterisk: agents ringing, answering, busy, hanging up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest_asyncio

from asterisk_sim import AgentScript, Simulator
from router.app import Running
from router.calls.queue_runner import HOLDING_PREFIX
from router.office.call_log import CallLog, CallRecord
from router.schedule import QueueConfig, Schedule, Strategy
from tests.ari_helpers import outcome_of, until
from tests.conftest import embedded, local
from tests.test_router_sim import OPEN, simulator, start

QUICK = QueueConfig(("agent1", "agent2", "agent3"), ring_seconds=2, retry_seconds=1, max_wait_seconds=30)


def with_queue(schedule: Schedule, config: QueueConfig) -> Schedule:
    line = replace(schedule.lines["1818"], open_to=config)
    return replace(schedule, lines={**schedule.lines, "1818": line})


@dataclass
class Office:
    sim: Simulator
    shipped: Schedule
    data: Path

    def agents(self, **behaviours: AgentScript) -> None:
        for name, script in behaviours.items():
            self.sim.world.set_endpoint(f"PJSIP/{name}", script)

    def router(self, config: QueueConfig = QUICK, at: datetime = OPEN) -> AbstractAsyncContextManager[Running]:
        return start(self.sim, with_queue(self.shipped, config), self.data, at)

    def call(self, caller: str = "12345678") -> str:
        return self.sim.world.place_call(caller, "1818", "router", ["1818"]).id

    def heard(self, call: str) -> list[dict[str, object]]:
        return self.sim.world.channels[call].heard

    def media(self, call: str) -> list[str]:
        return [str(h["media"]) for h in self.heard(call) if "media" in h]

    def bridged_with(self, call: str) -> list[str]:
        """The endpoints the caller was bridged with, in order."""
        found = []
        for entry in self.heard(call):
            if "bridged" in entry:
                found += [str(self.sim.world.channels[c].endpoint) for c in entry["with"]]  # type: ignore[attr-defined]
        return found

    def legs(self, agent: str) -> list[str]:
        return [c.id for c in self.sim.world.channels.values() if c.endpoint == f"PJSIP/{agent}"]

    def live(self) -> list[str]:
        return [c.id for c in self.sim.world.channels.values() if not c.gone]

    def rung(self) -> list[str]:
        return [str(r["params"].get("endpoint")) for r in self.sim.requests if r["path"] == "/channels"]

    def bridges_in_use(self) -> list[str]:
        return [b.id for b in self.sim.world.bridges.values() if b.channels or not b.id.startswith(HOLDING_PREFIX)]

    def hears_music(self, call: str) -> bool:
        """The caller waits in a holding bridge whose music on hold plays (Asterisk's music channel in it)."""
        bridge = self.sim.world.bridges.get(str(self.sim.world.channels[call].bridge))
        return bridge is not None and bridge.id.startswith(HOLDING_PREFIX) and bridge.moh

    def waits_in_holding_bridge(self, call: str) -> bool:
        return str(self.sim.world.channels[call].bridge).startswith(HOLDING_PREFIX)


@pytest_asyncio.fixture
async def office(shipped: Schedule, tmp_path: Path) -> AsyncIterator[Office]:
    async with simulator(shipped) as sim:
        yield Office(sim, shipped, tmp_path)


async def test_first_agent_to_answer_talks_with_the_caller(office: Office) -> None:
    office.agents(agent1=AgentScript("answer", 0.3), agent2=AgentScript("no-answer"), agent3=AgentScript("answer", 0.1))
    async with office.router() as router:
        call = office.call()
        await until(lambda: bool(office.bridged_with(call)))
        assert office.media(call)[0] == "sound:callrouter/welcome"
        assert {"moh": "start", "bridge": f"{HOLDING_PREFIX}1818"}.items() <= next(
            h for h in office.heard(call) if "moh" in h
        ).items(), "music on hold in the line's holding bridge"
        assert office.bridged_with(call) == ["PJSIP/agent3"]
        assert sorted(office.rung()) == ["PJSIP/agent1", "PJSIP/agent2", "PJSIP/agent3"], "ring all"
        await until(lambda: len(office.live()) == 2)  # the others stop ringing
        assert all(office.sim.world.channels[leg].gone for leg in office.legs("agent1") + office.legs("agent2"))
        office.sim.world.caller_hangs_up(call)
        assert await outcome_of(router.runtime, call) == "answered"
        await until(lambda: office.live() == [] and office.bridges_in_use() == [])
        assert "by agent3 after 0 s" in router.runtime.outcomes[-1].detail


async def test_two_agents_answering_at_once_only_one_gets_the_caller(office: Office) -> None:
    office.agents(agent1=AgentScript("answer", 0.1), agent2=AgentScript("answer", 0.1), agent3=AgentScript("busy"))
    async with office.router():
        call = office.call()
        await until(lambda: bool(office.bridged_with(call)))
        await until(lambda: len(office.live()) == 2)
        [winner] = office.bridged_with(call)
        loser = "PJSIP/agent2" if winner == "PJSIP/agent1" else "PJSIP/agent1"
        [loser_leg] = office.legs(loser.removeprefix("PJSIP/"))
        assert office.sim.world.channels[loser_leg].gone, "the other agent is hung up"


async def test_an_agent_on_their_direct_line_is_not_rung(office: Office) -> None:
    office.agents(
        agent1=AgentScript("answer", 0.1, on_own_call=True),
        agent2=AgentScript("answer", 0.2),
        agent3=AgentScript("offline"),
    )
    async with office.router(replace(QUICK, strategy=Strategy.ROUND_ROBIN)):
        call = office.call()
        await until(lambda: bool(office.bridged_with(call)))
        assert office.rung() == ["PJSIP/agent2"]


async def test_agent_hanging_up_ends_the_call_for_the_caller_too(office: Office) -> None:
    office.agents(agent1=AgentScript("answer", 0.1), agent2=AgentScript("busy"), agent3=AgentScript("busy"))
    async with office.router() as router:
        call = office.call()
        await until(lambda: bool(office.bridged_with(call)))
        await until(lambda: router.runtime.calls[call].call.settled)  # they talked past the first moment
        [leg] = [c for c in office.legs("agent1") if not office.sim.world.channels[c].gone]
        office.sim.world.caller_hangs_up(leg)  # the agent puts the phone down
        assert await outcome_of(router.runtime, call) == "answered"
        await until(lambda: office.live() == [] and office.bridges_in_use() == [])


async def test_caller_giving_up_stops_the_ringing(office: Office) -> None:
    office.agents(agent1=AgentScript("no-answer"), agent2=AgentScript("no-answer"), agent3=AgentScript("no-answer"))
    async with office.router() as router:
        call = office.call()
        await until(lambda: len(office.live()) == 4)  # the caller and three ringing phones
        office.sim.world.caller_hangs_up(call)
        assert await outcome_of(router.runtime, call) == "caller_gave_up"
        await until(lambda: office.live() == [])
        assert office.bridges_in_use() == []


async def test_no_answer_rings_again_and_then_overflows_to_the_answering_machine(office: Office) -> None:
    office.agents(agent1=AgentScript("no-answer"), agent2=AgentScript("no-answer"), agent3=AgentScript("no-answer"))
    config = replace(QUICK, strategy=Strategy.ROUND_ROBIN, ring_seconds=1, max_wait_seconds=4)
    async with office.router(config) as router:
        call = office.call()
        await until(lambda: "sound:callrouter/offer-message" in office.media(call), within=10)
        assert office.rung()[:2] == ["PJSIP/agent1", "PJSIP/agent2"], "rang out, then the next agent"
        assert office.media(call)[-2:] == ["sound:callrouter/queue-overflow", "sound:callrouter/offer-message"]
        assert await outcome_of(router.runtime, call) == "overflow"
        await until(lambda: office.live() == [] and office.bridges_in_use() == [])


async def test_overflowing_caller_can_leave_a_message(office: Office) -> None:
    office.agents(agent1=AgentScript("busy"), agent2=AgentScript("busy"), agent3=AgentScript("busy"))
    async with office.router(replace(QUICK, max_wait_seconds=1)) as router:
        call = office.call()
        await until(lambda: "sound:callrouter/offer-message" in office.media(call))
        office.sim.world.send_dtmf(call, "1")
        await until(lambda: any(r.channel_id == call for r in office.sim.world.live_recordings.values()))
        await asyncio.sleep(1.1)
        office.sim.world.send_dtmf(call, "#")
        assert await outcome_of(router.runtime, call) == "message_left"


async def test_waiting_callers_hear_their_position(office: Office) -> None:
    office.agents(agent1=AgentScript("answer", 0.1, on_own_call=True))
    config = QueueConfig(("agent1",), retry_seconds=1, announce_seconds=1)
    async with office.router(config):
        first, second = office.call("111"), office.call("222")
        await until(lambda: "sound:callrouter/num-2" in office.media(second), within=5)
        assert "sound:callrouter/num-1" in office.media(first)
        assert "sound:callrouter/queue-position" in office.media(second)
        office.sim.world.endpoints["PJSIP/agent1"].on_own_call = False  # the direct call ends
        await until(lambda: office.bridged_with(first) == ["PJSIP/agent1"], within=5)
        assert office.bridged_with(second) == [], "first come, first served"


def answered_recently(data: Path, minutes_apart: float, count: int) -> None:
    """The call log says `count` callers of 1818 were taken by an agent `minutes_apart` apart, the last
    just before OPEN (by this router before a restart, or by another node on the same store)."""
    records = [
        CallRecord(f"earlier-{i}", "1818", OPEN - timedelta(minutes=minutes_apart * i + 1), True, "answered", 90, 60)
        for i in range(count)
    ]
    with embedded(data) as store:
        CallLog(store).add_all(records)


async def test_waiting_callers_hear_their_estimated_wait_after_their_place(office: Office) -> None:
    answered_recently(office.data, minutes_apart=3, count=5)
    office.agents(agent1=AgentScript("answer", 0.1, on_own_call=True))
    config = QueueConfig(("agent1",), retry_seconds=1, announce_seconds=1)
    async with office.router(config):
        first, second = office.call("111"), office.call("222")
        await until(lambda: "sound:callrouter/queue-estimate-minutes" in office.media(second), within=5)
        heard = office.media(second)
        at = heard.index("sound:callrouter/queue-position")
        assert heard[at : at + 6] == [
            "sound:callrouter/queue-position", "sound:callrouter/num-2", "sound:callrouter/queue-position-end",
            "sound:callrouter/queue-estimate", "sound:callrouter/num-6", "sound:callrouter/queue-estimate-minutes",
        ], "place 2, a caller taken every 3 minutes: about 6 minutes"  # fmt: skip
        assert "sound:callrouter/num-3" in office.media(first)


async def test_no_estimate_on_too_little_history_until_the_queue_itself_answers_one_more(office: Office) -> None:
    answered_recently(office.data, minutes_apart=3, count=2)  # 4 and 1 minutes before: too few to go on
    office.agents(agent1=AgentScript("answer", 0.1, on_own_call=True))
    config = QueueConfig(("agent1",), retry_seconds=1, announce_seconds=1)
    async with office.router(config):
        first, second = office.call("111"), office.call("222")
        await until(lambda: office.media(second).count("sound:callrouter/queue-position-end") >= 2, within=5)
        assert not [m for m in office.media(second) if m.startswith("sound:callrouter/queue-estimate")]
        office.sim.world.endpoints["PJSIP/agent1"].on_own_call = False  # the direct call ends
        await until(lambda: office.bridged_with(first) == ["PJSIP/agent1"], within=5)
        # A third answer, a minute after the last: a caller taken every 2 minutes (the median gap).
        await until(lambda: "sound:callrouter/queue-estimate-minutes" in office.media(second), within=5)
        heard = office.media(second)
        at = heard.index("sound:callrouter/queue-estimate")
        assert heard[at - 2 : at + 3] == [
            "sound:callrouter/num-1", "sound:callrouter/queue-position-end",
            "sound:callrouter/queue-estimate", "sound:callrouter/num-2", "sound:callrouter/queue-estimate-minutes",
        ]  # fmt: skip


async def test_phone_hours_ending_sends_waiting_callers_to_the_answering_machine_if_configured(
    office: Office,
) -> None:
    office.agents(agent1=AgentScript("no-answer"))
    config = QueueConfig(("agent1",), ring_seconds=60, serve_after_close=False)
    # The router's clock starts running before it has started: a few seconds before the hours end, so
    # that the caller is queued within them even when a busy machine takes seconds to start it.
    async with office.router(config, at=local("2024-01-04T16:59:55")) as router:
        call = office.call()
        await until(lambda: "sound:callrouter/queue-closing" in office.media(call), within=10)
        await until(lambda: office.live() == [call])  # the agent's phone stopped ringing
        office.sim.world.caller_hangs_up(call)
        assert await outcome_of(router.runtime, call) == "overflow"


async def test_after_a_restart_a_conversation_goes_on_and_a_waiting_caller_waits_on(office: Office) -> None:
    office.agents(agent1=AgentScript("answer", 0.1), agent2=AgentScript("no-answer"), agent3=AgentScript("busy"))
    config = replace(QUICK, strategy=Strategy.ROUND_ROBIN, ring_seconds=30)
    async with office.router(config):
        talking = office.call("111")
        await until(lambda: office.bridged_with(talking) == ["PJSIP/agent1"])
        waiting = office.call("222")
        await until(lambda: len(office.legs("agent2")) == 1)
    # The router is gone (its WebSocket closed, nothing cleaned up), and comes back.
    [agent_leg] = office.legs("agent1")
    async with office.router(config) as router:
        router.runtime.reconciler.grace = 0.1
        await until(lambda: waiting in router.runtime.calls, within=5)
        assert office.sim.world.channels[waiting].dialplan_after is None, "not handed on: it waits on"
        assert not office.sim.world.channels[talking].gone, "the conversation goes on"
        office.sim.world.caller_hangs_up(talking)
        await until(lambda: office.sim.world.channels[agent_leg].gone)
        await until(lambda: office.bridged_with(waiting) == ["PJSIP/agent1"], within=10)  # agent1 is free again
        office.sim.world.caller_hangs_up(waiting)
        assert await outcome_of(router.runtime, waiting) == "answered"
        await until(lambda: office.bridges_in_use() == [])


async def test_asterisk_restarts_under_the_router(office: Office) -> None:
    """Asterisk restarts: every call it had is gone without an event. The router reconnects, ends
    the calls it knew, forgets the rings, makes the holding bridge again for the next caller; a
    call that arrives while it is not connected gets the dialplan fallback."""
    office.agents(agent1=AgentScript("no-answer"), agent2=AgentScript("no-answer"), agent3=AgentScript("busy"))
    async with office.router(replace(QUICK, ring_seconds=30)) as router:
        runtime = router.runtime
        waiting = office.call("111")
        await until(lambda: len(office.legs("agent1")) == 1 and len(office.legs("agent2")) == 1)
        office.sim.available = False
        await office.sim.restart()
        meanwhile = office.sim.world.place_call("222", "1818", "router", ["1818"])
        assert meanwhile.dialplan_after == {"STASISSTATUS": "FAILED"}, "no router: the dialplan's fallback"
        office.sim.available = True
        assert await outcome_of(runtime, waiting, within=10) == "caller_gave_up"
        await until(lambda: not runtime.queues.legs, within=5)
        # The next caller waits in a holding bridge made anew, and the agents are rung for them.
        office.agents(agent1=AgentScript("answer", 0.2))
        after = office.call("333")
        await until(lambda: office.bridged_with(after) == ["PJSIP/agent1"], within=10)
        assert {"moh": "start", "bridge": f"{HOLDING_PREFIX}1818"}.items() <= office.heard(after)[1].items()
        office.sim.world.caller_hangs_up(after)
        assert await outcome_of(runtime, after) == "answered"


async def test_an_agent_who_hangs_up_before_the_bridge_puts_the_caller_back_and_the_next_agent_rings(
    office: Office,
) -> None:
    """The race of an agent who answers and hangs up before the router bridges them: the bridge fails
    for want of the agent, the caller goes back to the front, and another agent is rung."""
    office.agents(agent1=AgentScript("answer", 0.05, hang_up_after=0.0), agent2=AgentScript("answer", 0.6))
    config = replace(QUICK, agents=("agent1", "agent2"), retry_seconds=30)  # agent1 passed over for 30 s
    async with office.router(config) as router:
        call = office.call()
        await until(lambda: office.bridged_with(call) == ["PJSIP/agent2"], within=10)
        assert office.rung().count("PJSIP/agent1") == 1, "the agent who dropped the caller is passed over"
        assert office.rung().count("PJSIP/agent2") == 2, "rung with agent1 first, then again, alone"
        assert not office.sim.world.channels[call].gone
        add = [r for r in office.sim.requests if r["path"].endswith("/addChannel") and "callrouter-call-" in r["path"]]
        assert [r["status"] for r in add][:1] in ([400], [422]), "the first bridge failed: the agent had gone"
        await until(lambda: router.runtime.calls[call].call.settled)
        office.sim.world.caller_hangs_up(call)
        assert await outcome_of(router.runtime, call) == "answered"
        assert "by agent2" in router.runtime.outcomes[-1].detail
        await until(lambda: office.live() == [] and office.bridges_in_use() == [])


async def test_an_agent_who_drops_the_caller_just_after_the_bridge_puts_them_back_too(office: Office) -> None:
    office.agents(agent1=AgentScript("answer", 0.05, hang_up_after=0.1), agent2=AgentScript("busy"))
    async with office.router(replace(QUICK, agents=("agent1", "agent2"))) as router:
        call = office.call()
        await until(lambda: office.bridged_with(call) == ["PJSIP/agent1"])
        await until(lambda: call in router.runtime.calls and router.runtime.calls[call].call.state == "queued")
        await until(lambda: office.sim.world.channels[call].bridge == f"{HOLDING_PREFIX}1818")  # back with the music
        assert router.runtime.queues.position("1818", call) == 1
        office.sim.world.caller_hangs_up(call)
        assert await outcome_of(router.runtime, call) == "caller_gave_up"


async def test_waiting_callers_wait_on_in_order_across_a_router_restart(office: Office) -> None:
    """Asterisk holds the truth: after a restart the router finds the callers in its holding bridge,
    puts them back into the queue in the order they came, counts the time they have waited, and
    rings agents for them."""
    office.agents(agent1=AgentScript("busy"), agent2=AgentScript("busy"), agent3=AgentScript("busy"))
    config = replace(QUICK, max_wait_seconds=600)
    async with office.router(config) as router:
        callers = [office.call(f"1000000{i}") for i in range(3)]
        await until(lambda: router.runtime.queues.position("1818", callers[-1]) == 3)
    await asyncio.sleep(1.0)  # the router is down for a moment; Asterisk keeps the callers with music
    async with office.router(config) as restarted:
        restarted.runtime.reconciler.grace = 0.05
        runtime = restarted.runtime
        await until(lambda: all(c in runtime.calls for c in callers), within=5)
        # Taken up, each one then waits its turn for the line's lock to join the queue: all of them first.
        await until(lambda: all(runtime.queues.position("1818", c) is not None for c in callers), within=5)
        waiting = runtime.queues.lines["1818"].queue.waiting
        assert [w.call_id for w in waiting] == callers, "in the order they came"
        assert all(runtime.now() - w.since >= timedelta(seconds=1) for w in waiting), "the wait so far counts"
        assert all(office.sim.world.channels[c].dialplan_after is None for c in callers), "none handed on"
        office.agents(agent1=AgentScript("answer", 0.1))
        await until(lambda: office.bridged_with(callers[0]) == ["PJSIP/agent1"], within=10)
        assert office.bridged_with(callers[1]) == office.bridged_with(callers[2]) == []
        await until(lambda: runtime.calls[callers[0]].call.settled)
        office.sim.world.caller_hangs_up(callers[0])
        assert await outcome_of(runtime, callers[0]) == "answered"
        await until(lambda: office.bridged_with(callers[1]) == ["PJSIP/agent1"], within=10)
        waited = float(runtime.outcomes[-1].detail.split("after ")[1].split(" s")[0])
        assert waited >= 1, "dated by the channel's arrival, not by the restart"
        for c in callers[1:]:
            office.sim.world.caller_hangs_up(c)
        await until(lambda: office.live() == [] and office.bridges_in_use() == [])


async def test_every_waiting_caller_hears_music_after_the_queue_emptied_and_after_a_restart(office: Office) -> None:
    """Asterisk's music channel leaves the holding bridge with its last caller (asterisk_sim/bridging.py,
    as on Asterisk 22): the next caller into that bridge, also one after a restart whose waiting caller
    hung up since, must get the music started again."""
    office.agents(agent1=AgentScript("busy"), agent2=AgentScript("busy"), agent3=AgentScript("busy"))
    config = replace(QUICK, max_wait_seconds=600)
    holding = office.sim.world.bridges
    async with office.router(config):
        first = office.call("10000001")
        await until(lambda: office.waits_in_holding_bridge(first), within=10)
        assert office.hears_music(first), "the first caller hears music"
        office.sim.world.caller_hangs_up(first)
        await until(lambda: not holding[f"{HOLDING_PREFIX}1818"].moh)  # the music left with them
        after_empty = office.call("10000002")
        await until(lambda: office.waits_in_holding_bridge(after_empty), within=10)
        await until(lambda: office.hears_music(after_empty), within=2)  # the queue had emptied once
    async with office.router(config) as restarted:
        restarted.runtime.reconciler.grace = 0.05
        await until(lambda: after_empty in restarted.runtime.calls, within=5)
        assert office.hears_music(after_empty), "music on through the restart"
        office.sim.world.caller_hangs_up(after_empty)
        await until(lambda: not holding[f"{HOLDING_PREFIX}1818"].moh)
        after_restart = office.call("10000003")
        await until(lambda: office.waits_in_holding_bridge(after_restart), within=10)
        await until(lambda: office.hears_music(after_restart), within=2)
        office.sim.world.caller_hangs_up(after_restart)


async def test_a_ring_from_before_a_restart_answered_after_it_gets_its_caller(office: Office) -> None:
    office.agents(agent1=AgentScript("answer", 1.5), agent2=AgentScript("busy"), agent3=AgentScript("busy"))
    async with office.router(replace(QUICK, ring_seconds=10)):
        call = office.call()
        await until(lambda: len(office.legs("agent1")) == 1)
    async with office.router(replace(QUICK, ring_seconds=10)) as restarted:
        restarted.runtime.reconciler.grace = 0.05
        await until(lambda: office.bridged_with(call) == ["PJSIP/agent1"], within=10)
        assert len(office.legs("agent1")) == 1, "the old ring was taken, not rung again"
        await until(lambda: restarted.runtime.calls[call].call.settled)
        office.sim.world.caller_hangs_up(call)
        assert await outcome_of(restarted.runtime, call) == "answered"


async def test_a_ring_answered_while_the_restarted_router_waits_to_reconcile_gets_its_caller(office: Office) -> None:
    """The agent picks up in the moment after a restart, before the reconciler has taken the caller
    up again (its grace period): the caller is taken up then, not the agent hung up and rung again."""
    office.agents(agent1=AgentScript("no-answer"), agent2=AgentScript("busy"), agent3=AgentScript("busy"))
    async with office.router(replace(QUICK, ring_seconds=10)):
        call = office.call()
        await until(lambda: len(office.legs("agent1")) == 1)
    async with office.router(replace(QUICK, ring_seconds=10)) as restarted:
        assert restarted.runtime.reconciler.grace >= 1.0, "the answer below comes within the grace period"
        office.sim.world.phone_picks_up(office.legs("agent1")[0])
        await until(lambda: office.bridged_with(call) == ["PJSIP/agent1"], within=5)
        assert len(office.legs("agent1")) == 1, "the answered ring was taken, not hung up and rung again"
        office.sim.world.caller_hangs_up(call)
        assert await outcome_of(restarted.runtime, call) == "answered"
