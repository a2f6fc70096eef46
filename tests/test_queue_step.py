"""The queue's one entry point, `queue.step`: events in, commands out, as the runner sees it. No network, no clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from router.calls import queue
from router.calls.queue import (
    AgentsLooked,
    CallbackJoined,
    CallerJoined,
    CallerLeft,
    CallerRequeued,
    CallerToCallback,
    CancelLeg,
    ConnectCallback,
    ConnectCaller,
    LegAnswered,
    LegEnded,
    Look,
    LookAgain,
    LookAgainAt,
    LookForAgents,
    LookNext,
    Queue,
    Reconfigured,
    Ring,
    RingFailed,
    StartMusic,
    TellAgentLeft,
)
from router.schedule import QueueConfig, Strategy

T0 = datetime(2024, 1, 4, 14, 30, tzinfo=UTC)
AGENTS = ("a1", "a2", "a3")


def fresh(strategy: Strategy = Strategy.RING_ALL) -> Queue:
    return Queue("1818", QueueConfig(AGENTS, strategy, ring_seconds=15, retry_seconds=5))


def joined(q: Queue, call_id: str, at: datetime) -> Queue:
    return queue.step(q, CallerJoined(call_id=call_id, caller="20000000", arrived=at), at)[0]


def rings(commands: list[queue.Command]) -> list[tuple[str, str]]:
    return [(c.call_id, c.agent) for c in commands if isinstance(c, Ring)]


def test_a_caller_who_joins_makes_the_queue_ask_which_agents_are_busy_and_ring_the_free_ones() -> None:
    q, commands = queue.step(fresh(), CallerJoined(call_id="c1", caller="2000", arrived=T0), T0)
    assert commands == [LookNext(new_caller=True)], "a look of its own, under the line's lock anew"
    q, commands = queue.step(q, Look(new_caller=True), T0)
    assert commands == [LookForAgents(AGENTS)]
    q, commands = queue.step(q, AgentsLooked(busy=frozenset({"a2"})), T0)
    assert rings(commands) == [("c1", "a1"), ("c1", "a3")]
    assert not q.all_busy
    assert q.look_again is None


def test_a_new_caller_while_every_agent_is_busy_waits_for_the_look_again_timer() -> None:
    q = joined(fresh(), "c1", T0)
    q, commands = queue.step(q, AgentsLooked(busy=frozenset(AGENTS)), T0)
    assert commands == [LookAgainAt(T0 + timedelta(seconds=5))]
    assert q.all_busy
    q, commands = queue.step(q, CallerJoined(call_id="c2", caller="2001", arrived=T0), T0)
    assert q.position("c2") == 2
    q, commands = queue.step(q, Look(new_caller=True), T0)
    assert commands == [], "Asterisk is not asked again: the timer is due anyway"
    q, commands = queue.step(q, LookAgain(), T0 + timedelta(seconds=5))
    assert commands == [LookForAgents(AGENTS)]
    assert q.look_again is None


def test_a_new_caller_is_looked_for_at_once_when_the_timer_waits_only_for_a_callback() -> None:
    later = T0 + timedelta(minutes=5)
    event = CallbackJoined(callback_id="cb1", number="20304050", arrived=T0, not_before=later)
    q, _ = queue.step(fresh(), event, T0)
    q, commands = queue.step(q, AgentsLooked(busy=frozenset()), T0)
    assert commands == [LookAgainAt(later)]
    q, _ = queue.step(q, CallerJoined(call_id="c2", caller="2001", arrived=T0), T0)
    q, commands = queue.step(q, Look(new_caller=True), T0)
    assert commands == [LookForAgents(AGENTS)], "agents are free: c2 is not kept waiting for the timer"


def test_a_caller_found_waiting_after_a_restart_asks_for_the_music_and_a_look() -> None:
    event = CallerJoined(call_id="c1", caller="2000", arrived=T0, after_restart=True)
    assert queue.step(fresh(), event, T0)[1] == [StartMusic(), LookNext()]


def test_when_every_waiting_caller_has_a_phone_ringing_round_robin_does_not_look() -> None:
    q = joined(fresh(Strategy.ROUND_ROBIN), "c1", T0)
    q, _ = queue.step(q, AgentsLooked(busy=frozenset()), T0)
    assert queue.step(q, LookAgain(), T0)[1] == []
    q = joined(fresh(Strategy.RING_ALL), "c1", T0)
    q, _ = queue.step(q, AgentsLooked(busy=frozenset({"a3"})), T0)
    assert queue.step(q, LookAgain(), T0)[1] == [LookForAgents(("a3",))], "ring all adds the agents who free up"


def test_the_first_answer_connects_the_caller_with_their_wait_and_cancels_the_other_legs() -> None:
    q = joined(fresh(), "c1", T0)
    q, commands = queue.step(q, AgentsLooked(busy=frozenset()), T0)
    first, second, third = (c.leg_id for c in commands if isinstance(c, Ring))
    q, commands = queue.step(q, LegAnswered(leg_id=second), T0 + timedelta(seconds=12))
    assert commands == [CancelLeg(first), CancelLeg(third), ConnectCaller("c1", second, "a2", 12.0)]
    assert queue.step(q, LegAnswered(leg_id=first), T0)[1] == [CancelLeg(first)], "too late: hung up"
    q, commands = queue.step(q, LegEnded(leg_id=second, call_id="c1"), T0 + timedelta(seconds=60))
    assert commands == [TellAgentLeft("c1", second), LookNext()]


def test_an_answer_for_a_callback_hands_the_leg_to_the_callbacks_with_the_number() -> None:
    q = joined(fresh(), "c1", T0)
    event = CallerToCallback(call_id="c1", callback_id="cb1", number="20304050", not_before=T0)
    q, commands = queue.step(q, event, T0 + timedelta(seconds=30))
    assert commands == [LookNext()]
    q, commands = queue.step(q, AgentsLooked(busy=frozenset({"a1", "a2"})), T0 + timedelta(seconds=30))
    assert rings(commands) == [("cb1", "a3")]
    [ring] = [c for c in commands if isinstance(c, Ring)]
    assert queue.step(q, LegAnswered(leg_id=ring.leg_id), T0)[1] == [
        ConnectCallback("cb1", "20304050", ring.leg_id, "a3")
    ]


def test_a_caller_who_chooses_a_callback_keeps_their_place_and_stops_their_agents_ringing() -> None:
    q = joined(joined(fresh(), "c1", T0), "c2", T0 + timedelta(seconds=1))
    q, commands = queue.step(q, AgentsLooked(busy=frozenset({"a2", "a3"})), T0 + timedelta(seconds=1))
    [ring] = [c for c in commands if isinstance(c, Ring)]
    later = T0 + timedelta(minutes=5)
    event = CallerToCallback(call_id="c1", callback_id="cb1", number="20304050", not_before=later)
    q, commands = queue.step(q, event, T0 + timedelta(seconds=2))
    assert commands == [CancelLeg(ring.leg_id), LookNext()]
    assert (q.position("cb1"), q.position("c2")) == (1, 2), "the callback counts in c2's position"
    q, commands = queue.step(q, AgentsLooked(busy=frozenset()), T0 + timedelta(seconds=2))
    assert rings(commands) == [("c2", "a1"), ("c2", "a2"), ("c2", "a3")], "not before its next attempt"
    assert LookAgainAt(later) in commands


def test_a_ring_asterisk_refused_is_a_round_without_answer() -> None:
    q = joined(fresh(Strategy.ROUND_ROBIN), "c1", T0)
    q, commands = queue.step(q, AgentsLooked(busy=frozenset()), T0)
    [ring] = [c for c in commands if isinstance(c, Ring)]
    q, commands = queue.step(q, RingFailed(leg_id=ring.leg_id), T0)
    assert commands == []
    assert q.legs == ()
    assert q.waiting[0].not_before == T0 + timedelta(seconds=5)


def test_a_caller_dropped_at_once_goes_first_and_is_looked_for_again() -> None:
    q = joined(fresh(), "c2", T0 + timedelta(seconds=1))
    q, commands = queue.step(q, CallerRequeued(call_id="c1", caller="2000", arrived=T0, dropped_by="a1"), T0)
    assert commands == [LookNext()]
    assert q.position("c1") == 1


def test_a_caller_who_leaves_stops_the_ringing_and_nothing_else() -> None:
    q = joined(fresh(), "c1", T0)
    q, commands = queue.step(q, AgentsLooked(busy=frozenset({"a3"})), T0)
    legs = [c.leg_id for c in commands if isinstance(c, Ring)]
    q, commands = queue.step(q, CallerLeft(call_id="c1"), T0)
    assert commands == [CancelLeg(leg) for leg in legs]
    assert q.waiting == ()


def test_a_ring_from_an_earlier_run_is_taken_for_its_caller_who_still_waits() -> None:
    q = joined(fresh(), "c1", T0)
    q, commands = queue.step(q, LegAnswered(leg_id="old", earlier_run=("a2", "c1")), T0 + timedelta(seconds=3))
    assert commands == [ConnectCaller("c1", "old", "a2", 3.0)]
    q, commands = queue.step(fresh(), LegAnswered(leg_id="old", earlier_run=("a2", "gone")), T0)
    assert commands == [CancelLeg("old")]


def test_a_reload_changes_the_settings_and_keeps_who_waits() -> None:
    q = joined(fresh(), "c1", T0)
    config = QueueConfig(("a1",), Strategy.ROUND_ROBIN, ring_seconds=20, retry_seconds=5)
    q, commands = queue.step(q, Reconfigured(config=config), T0)
    assert commands == []
    assert q.config == config
    assert q.position("c1") == 1


# -- properties of any sequence of events ------------------------------------------------


@dataclass
class World:
    """What the runner would see: every ring and what became of it."""

    rung: dict[str, str] = field(default_factory=dict)  # leg id -> waiter it rang for
    cancelled: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)
    connected: list[str] = field(default_factory=list)  # waiters, in order


ACTIONS = ["join", "callback", "to_callback", "leave", "answer", "end", "tick", "requeue", "reload"]


def apply(q: Queue, world: World, event: queue.QueueEvent, now: datetime, busy: int) -> Queue:
    """One event and the answers it asks for (busy agents, refused rings), checking every step."""
    events: list[queue.QueueEvent] = [event]
    while events:
        before, event = q, events.pop(0)
        q, commands = queue.step(q, event, now)
        connects = [c for c in commands if isinstance(c, ConnectCaller | ConnectCallback)]
        assert len(connects) <= 1, "one leg wins per waiter"
        for command in commands:
            if isinstance(command, LookNext):
                events.append(Look(new_caller=command.new_caller))
            elif isinstance(command, LookForAgents):
                events.append(AgentsLooked(busy=frozenset(a for i, a in enumerate(command.agents) if busy >> i & 1)))
            elif isinstance(command, Ring):
                waiter = before.waiter(command.call_id)
                assert waiter is not None
                assert command.agent not in before.engaged()
                assert command.agent in q.config.agents
                assert waiter.not_before is None or waiter.not_before <= now, "no ring before its not_before"
                assert command.leg_id not in world.rung
                world.rung[command.leg_id] = command.call_id
                if busy >> 5 & 1:  # Asterisk refuses it now and then
                    events.append(RingFailed(leg_id=command.leg_id))
            elif isinstance(command, CancelLeg):
                world.cancelled.add(command.leg_id)
            elif isinstance(command, ConnectCaller | ConnectCallback):
                waiter_id = command.call_id if isinstance(command, ConnectCaller) else command.callback_id
                assert before.waiter(waiter_id) is not None, "connected only while waiting: never twice"
                assert q.waiter(waiter_id) is None
                others = {leg.id for leg in before.legs if leg.call_id == waiter_id} - {command.leg_id}
                assert others <= {c.leg_id for c in commands if isinstance(c, CancelLeg)}, "the other legs stop"
                world.answered.add(command.leg_id)
                world.connected.append(waiter_id)
        if isinstance(event, LegEnded | RingFailed) and any(leg.id == event.leg_id for leg in before.legs):
            world.ended.add(event.leg_id)
        check(q, world)
    return q


def check(q: Queue, world: World) -> None:
    engaged = [leg.agent for leg in q.legs] + [agent for agent, _ in q.talking]
    assert len(engaged) == len(set(engaged)), "an agent rings or talks for one waiter at a time"
    assert len({w.call_id for w in q.waiting}) == len(q.waiting)
    for position, waiter in enumerate(q.waiting, 1):
        assert q.position(waiter.call_id) == position, "positions count every waiter, virtual ones too"
        assert waiter.ringing == {leg.id for leg in q.legs if leg.call_id == waiter.call_id}
    if not any(w.dropped_by for w in q.waiting):
        arrivals = [w.since for w in q.waiting]
        assert arrivals == sorted(arrivals), "in order of arrival, callers and callbacks alike"
    ringing = {leg.id for leg in q.legs}
    assert ringing <= set(world.rung)
    for leg in world.rung:
        fates = (leg in ringing) + (leg in world.answered) + (leg in world.ended - world.cancelled)
        assert fates <= 1, f"leg {leg} is counted twice"
        assert fates == 1 or leg in world.cancelled, f"leg {leg} is lost track of"


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 4), st.integers(0, 63)), max_size=50),
    st.sampled_from(list(Strategy)),
)
def test_any_sequence_of_events_keeps_the_queue_consistent(
    steps: list[tuple[str, int, int]], strategy: Strategy
) -> None:
    q, world, now = fresh(strategy), World(), T0
    for action, n, busy in steps:
        now += timedelta(seconds=1)
        position = None
        legs = sorted(world.rung)
        event: queue.QueueEvent
        if action == "join":
            event = CallerJoined(call_id=f"c{n}", caller=f"2000000{n}", arrived=now)
        elif action == "callback":
            event = CallbackJoined(
                callback_id=f"b{n}", number="20304050", arrived=now, not_before=now + timedelta(seconds=busy)
            )
        elif action == "to_callback":
            position = q.position(f"c{n}") if q.waiter(f"v{n}") is None else None
            event = CallerToCallback(call_id=f"c{n}", callback_id=f"v{n}", number="20304050", not_before=now)
        elif action == "leave":
            event = CallerLeft(call_id=f"{'cbv'[busy % 3]}{n}")
        elif action == "answer" and legs:
            event = LegAnswered(leg_id=legs[busy % len(legs)])
        elif action == "end" and legs:
            leg = legs[busy % len(legs)]
            event = LegEnded(leg_id=leg, call_id=world.rung[leg])
        elif action == "requeue" and f"c{n}" in world.connected and q.waiter(f"c{n}") is None:
            event = CallerRequeued(call_id=f"c{n}", caller="2", arrived=T0, dropped_by=AGENTS[busy % 3])
        elif action == "reload":
            config = QueueConfig(AGENTS[n % 3 :], list(Strategy)[busy % 3], ring_seconds=15, retry_seconds=5)
            event = Reconfigured(config=config)
        else:
            now += timedelta(seconds=2 * n)
            event = LookAgain()
        q = apply(q, world, event, now, busy)
        if action == "to_callback" and position is not None:
            assert q.position(f"v{n}") == position, "a caller who chooses a callback keeps their place"
    for waiter in q.waiting:  # everyone leaves: every ring was answered, ended or cancelled
        q = apply(q, world, CallerLeft(call_id=waiter.call_id), now, 0)
    assert q.legs == ()
    assert q.waiting == ()
    assert set(world.rung) == world.answered | world.ended | world.cancelled
