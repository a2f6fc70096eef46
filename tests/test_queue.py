"""The line's queue as pure data: strategies, busy agents, first answer wins, retries. No network, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.calls.queue import (
    CancelLeg,
    Connect,
    Queue,
    Ring,
    adopt_leg,
    answered,
    dispatch,
    join,
    leave,
    leg_ended,
    leg_id,
    requeue,
)
from router.schedule import QueueConfig, Strategy

T0 = datetime(2024, 1, 4, 14, 30, tzinfo=UTC)
AGENTS = ("a1", "a2", "a3")


def queue(strategy: Strategy = Strategy.RING_ALL, *callers: str) -> Queue:
    q = Queue("1818", QueueConfig(AGENTS, strategy, ring_seconds=15, retry_seconds=5))
    for i, caller in enumerate(callers):
        q = join(q, caller, f"2000000{i}", T0 + timedelta(seconds=i))
    return q


def rung(rings: list[Ring]) -> list[tuple[str, str]]:
    return [(r.call_id, r.agent) for r in rings]


def test_ring_all_rings_every_free_agent_for_the_first_caller() -> None:
    q, rings, look_again = dispatch(queue(Strategy.RING_ALL, "c1", "c2"), T0)
    assert rung(rings) == [("c1", "a1"), ("c1", "a2"), ("c1", "a3")]
    assert all(r.seconds == 15 for r in rings)
    assert q.waiting[0].ringing == {r.leg_id for r in rings}
    assert look_again == T0 + timedelta(seconds=5), "c2 waits with no agent free: look again later"


def test_ring_all_gives_an_agent_who_frees_up_to_the_first_caller_though_their_phones_ring() -> None:
    q, rings, _ = dispatch(queue(Strategy.RING_ALL, "c1", "c2"), T0, busy=frozenset({"a1", "a3"}))
    assert rung(rings) == [("c1", "a2")]
    q, rings, _ = dispatch(q, T0 + timedelta(seconds=3), busy=frozenset({"a3"}))  # a1 is free now
    assert rung(rings) == [("c1", "a1")], "for the caller who came first, not for c2"
    assert len(q.waiting[0].ringing) == 2
    _, rings, look_again = dispatch(q, T0 + timedelta(seconds=4), busy=frozenset({"a3"}))
    assert rings == [], "nothing free: c1's phones ring, c2 waits for them"
    assert look_again == T0 + timedelta(seconds=9), "a3 is on a call of their own: look again later"


def test_ring_all_serves_the_first_caller_first_even_while_they_pause_between_rounds() -> None:
    q, rings, _ = dispatch(queue(Strategy.RING_ALL, "c1", "c2"), T0, busy=frozenset({"a2", "a3"}))
    q = leg_ended(q, rings[0].leg_id, T0 + timedelta(seconds=15))  # a1 did not answer: c1 pauses 5 s
    q, rings, look_again = dispatch(q, T0 + timedelta(seconds=15))  # everyone is free now
    assert (rings, look_again) == ([], T0 + timedelta(seconds=20)), "c2 does not jump ahead of c1"
    _, rings, _ = dispatch(q, T0 + timedelta(seconds=20))
    assert rung(rings) == [("c1", "a1"), ("c1", "a2"), ("c1", "a3")]


def test_busy_agents_are_skipped() -> None:
    _, rings, _ = dispatch(queue(Strategy.RING_ALL, "c1"), T0, busy=frozenset({"a2"}))
    assert rung(rings) == [("c1", "a1"), ("c1", "a3")]


def test_round_robin_takes_turns_and_gives_each_caller_one_agent() -> None:
    q, rings, _ = dispatch(queue(Strategy.ROUND_ROBIN, "c1", "c2"), T0)
    assert rung(rings) == [("c1", "a1"), ("c2", "a2")]
    q, _ = answered(q, rings[0].leg_id)
    q = leg_ended(q, rings[0].leg_id, T0 + timedelta(seconds=60))  # c1's call with a1 ends
    q = join(q, "c3", "3", T0 + timedelta(seconds=61))
    q, rings, _ = dispatch(q, T0 + timedelta(seconds=61))
    assert rung(rings) == [("c3", "a3")], "a3's turn, although a1 is free again"


def test_longest_idle_prefers_the_agent_whose_last_call_ended_first() -> None:
    q = queue(Strategy.LONGEST_IDLE, "c1", "c2")
    q, rings, _ = dispatch(q, T0)
    assert rung(rings) == [("c1", "a1"), ("c2", "a2")], "never used agents first, in order"
    for ring in rings:
        q, _ = answered(q, ring.leg_id)
    q = leg_ended(q, rings[1].leg_id, T0 + timedelta(seconds=30))  # a2 free first
    q = leg_ended(q, rings[0].leg_id, T0 + timedelta(seconds=40))  # then a1
    q = join(q, "c3", "3", T0 + timedelta(seconds=50))
    q, rings, _ = dispatch(q, T0 + timedelta(seconds=50), busy=frozenset({"a3"}))
    assert rung(rings) == [("c3", "a2")]


def test_first_answer_wins_and_the_other_legs_are_cancelled() -> None:
    q, rings, _ = dispatch(queue(Strategy.RING_ALL, "c1"), T0)
    first, second, third = (r.leg_id for r in rings)
    q, commands = answered(q, second)
    assert commands == [CancelLeg(first), CancelLeg(third), Connect("c1", second, "a2")]
    assert q.waiting == ()
    q, commands = answered(q, first)  # answered before our cancel reached the phone
    assert commands == [CancelLeg(first)]
    assert q.talking == (("a2", second),)


def test_a_caller_who_leaves_stops_their_agents_ringing() -> None:
    q, rings, _ = dispatch(queue(Strategy.RING_ALL, "c1", "c2"), T0)
    q, commands = leave(q, "c1")
    assert commands == [CancelLeg(r.leg_id) for r in rings]
    assert q.position("c2") == 1
    q, rings, _ = dispatch(q, T0)
    assert rung(rings) == [("c2", "a1"), ("c2", "a2"), ("c2", "a3")]


def test_no_answer_rings_again_after_the_retry_pause() -> None:
    q, rings, _ = dispatch(queue(Strategy.ROUND_ROBIN, "c1"), T0)
    assert rung(rings) == [("c1", "a1")]
    q = leg_ended(q, rings[0].leg_id, T0 + timedelta(seconds=15))  # rang out
    q, again, look_again = dispatch(q, T0 + timedelta(seconds=16))
    assert again == []
    assert look_again == T0 + timedelta(seconds=20)
    q, again, _ = dispatch(q, T0 + timedelta(seconds=20))
    assert rung(again) == [("c1", "a2")], "the next agent's turn"
    assert again[0].leg_id != rings[0].leg_id


def test_leg_ended_twice_is_harmless() -> None:
    q, rings, _ = dispatch(queue(Strategy.RING_ALL, "c1"), T0)
    q, _ = answered(q, rings[0].leg_id)
    later = T0 + timedelta(seconds=90)
    once = leg_ended(q, rings[0].leg_id, later)  # StasisEnd
    assert leg_ended(once, rings[0].leg_id, later) == once  # then ChannelDestroyed
    assert dict(once.idle_since) == {"a1": later}


def test_callers_wait_in_order_of_arrival_whatever_order_they_join_in() -> None:
    q = join(queue(), "late", "2", T0 + timedelta(seconds=5))
    q = join(q, "early", "1", T0)  # its welcome ended later
    q = join(q, "latest", "3", T0 + timedelta(seconds=9))
    assert [w.call_id for w in q.waiting] == ["early", "late", "latest"]
    assert q.position("early") == 1


def test_a_caller_dropped_by_an_agent_goes_first_and_another_agent_rings() -> None:
    q, first, _ = dispatch(queue(Strategy.RING_ALL, "c1", "c2"), T0)
    q, _ = answered(q, next(r.leg_id for r in first if r.agent == "a1"))
    q = leg_ended(q, next(r.leg_id for r in first if r.agent == "a1"), T0 + timedelta(seconds=1))  # a1 drops c1
    q = requeue(q, "c1", "20000000", T0, dropped_by="a1", now=T0 + timedelta(seconds=1))
    assert [w.call_id for w in q.waiting] == ["c1", "c2"], "c1 first again, with its arrival kept"
    assert q.waiting[0].since == T0
    q, rings, _ = dispatch(q, T0 + timedelta(seconds=1))
    assert rung(rings) == [("c1", "a2"), ("c1", "a3"), ("c2", "a1")], "not a1 for c1 for now: for c2"
    assert not {r.leg_id for r in rings} & {r.leg_id for r in first}, "legs of their own"


def test_an_agent_who_dropped_the_caller_rings_for_them_again_only_after_the_retry_pause() -> None:
    q = requeue(queue(Strategy.RING_ALL), "c1", "1", T0, dropped_by="a1", now=T0)
    q, rings, look_again = dispatch(q, T0, busy=frozenset({"a2", "a3"}))
    assert (rings, look_again) == ([], T0 + timedelta(seconds=5)), "no loop of rings to a phone that drops calls"
    _, rings, _ = dispatch(q, T0 + timedelta(seconds=5), busy=frozenset({"a2", "a3"}))
    assert rung(rings) == [("c1", "a1")], "then again: it may have been a wrong button"


def test_every_round_of_a_caller_has_new_leg_ids() -> None:
    q, first, _ = dispatch(queue(Strategy.RING_ALL, "c1"), T0)
    for ring in first:
        q = leg_ended(q, ring.leg_id, T0)
    q, second, _ = dispatch(q, T0 + timedelta(seconds=5))
    assert {r.agent for r in second} == set(AGENTS)
    assert not {r.leg_id for r in first} & {r.leg_id for r in second}


def test_a_run_of_the_router_has_leg_ids_of_its_own() -> None:
    """A restarted router must not choose the id of a leg the earlier run left ringing."""
    assert leg_id("c1", 1, "a1", "run-a") != leg_id("c1", 1, "a1", "run-b")


def test_a_ring_from_an_earlier_run_is_adopted_for_its_caller_if_they_wait() -> None:
    q = adopt_leg(queue(Strategy.RING_ALL, "c1"), "old-leg", "a2", "c1")
    assert q.waiting[0].ringing == {"old-leg"}
    q, commands = answered(q, "old-leg")
    assert commands == [Connect("c1", "old-leg", "a2")]
    assert adopt_leg(queue(Strategy.RING_ALL), "old-leg", "a2", "gone").legs == (), "no such caller: not adopted"


def test_leg_ids_are_all_the_same_length() -> None:
    # Asterisk 22 finds channels by id prefix: ids of equal length can never be prefixes of each other.
    ids = {leg_id(c, n, a) for c in ("1.1", "1.12", "call-1") for n in (1, 10) for a in ("agent1", "agent10")}
    assert len(ids) == 12
    assert len({len(i) for i in ids}) == 1


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["join", "leave", "dispatch", "answer", "end"]), st.integers(0, 5)), max_size=60
    ),
    st.sampled_from(list(Strategy)),
)
def test_no_agent_is_ever_rung_twice_or_while_talking(steps: list[tuple[str, int]], strategy: Strategy) -> None:
    q = queue(strategy)
    now = T0
    legs: list[str] = []
    for action, n in steps:
        now += timedelta(seconds=3)
        if action == "join":
            q = join(q, f"c{n}", str(n), now)
        elif action == "leave":
            q, _ = leave(q, f"c{n}")
        elif action == "dispatch":
            q, rings, _ = dispatch(q, now)
            legs += [r.leg_id for r in rings]
        elif action == "answer" and legs:
            q, _ = answered(q, legs[n % len(legs)])
        elif action == "end" and legs:
            q = leg_ended(q, legs[n % len(legs)], now)
        agents = [leg.agent for leg in q.legs] + [agent for agent, _ in q.talking]
        assert len(agents) == len(set(agents)), f"an agent is engaged twice: {q}"
        waiting = [w.call_id for w in q.waiting]
        assert len(waiting) == len(set(waiting))
        for waiter in q.waiting:
            assert waiter.ringing == {leg.id for leg in q.legs if leg.call_id == waiter.call_id}


def test_unknown_strategy_values_are_refused() -> None:
    with pytest.raises(ValueError, match="ring_some"):
        Strategy("ring_some")
