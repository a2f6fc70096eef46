"""The load shedder alone, on a clock of our own: Asterisk's latency starts shedding; half of it ends it."""

from __future__ import annotations

import contextlib

from router.calls.shedding import LoadShedder


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_many_calls_answered_in_time_are_never_shed() -> None:
    clock = Clock()
    shedder = LoadShedder(limit=100, latency_limit=1.0, clock=clock)
    with contextlib.ExitStack() as setups:
        for _ in range(60):  # sixty calls in setup at once, each only milliseconds old
            assert not shedder.shed_next()
            setups.enter_context(shedder.setting_up())
            clock.now += 0.005
        assert shedder.in_setup == 60
    assert shedder.in_setup == 0


def test_a_call_waiting_past_the_latency_limit_starts_shedding_and_half_of_it_ends_it() -> None:
    clock = Clock()
    shedder = LoadShedder(limit=100, latency_limit=1.0, clock=clock)
    with shedder.setting_up():
        clock.now = 0.9
        assert not shedder.shed_next()
        clock.now = 1.1
        assert shedder.shed_next()
        with shedder.setting_up():  # a newer call got in (say, just before): the oldest still decides
            assert shedder.shed_next()
    with shedder.setting_up():
        clock.now += 0.6  # younger than the limit, but not yet younger than half of it
        assert shedder.shed_next()
    with shedder.setting_up():
        clock.now += 0.4
        assert not shedder.shed_next()  # under half the limit: the router takes calls again


def test_the_count_is_a_backstop_and_ends_at_half() -> None:
    shedder = LoadShedder(limit=4, latency_limit=60.0, clock=Clock())
    with contextlib.ExitStack() as setups:
        for _ in range(4):
            assert not shedder.shed_next()
            setups.enter_context(shedder.setting_up())
        assert shedder.shed_next()
    with contextlib.ExitStack() as setups:
        for _ in range(3):  # three of four: still shedding (no flapping at the edge)
            setups.enter_context(shedder.setting_up())
        assert shedder.shed_next()
    with shedder.setting_up(), shedder.setting_up():
        assert not shedder.shed_next()  # two of four: over
