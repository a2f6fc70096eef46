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
    answered,
    dispatch,
    join,
    leave,
    leg_ended,
    leg_id,
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
