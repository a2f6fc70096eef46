"""The reuse of a line's last decision and guidance (router/calls/start_cache.py) gives exactly what
deciding afresh gives, at every instant, in time order or not, through closures, public holidays,
midnights, DST and overrides that start and end."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from router.calls.guidance import Guidance, closed_guidance
from router.calls.prompts import load_manifest
from router.calls.start_cache import StartDecisions
from router.schedule import Decision, Override, Schedule, decide
from tests.conftest import local

TEXTS = load_manifest().texts


def fresh(schedule: Schedule, at: datetime, overrides: tuple[Override, ...]) -> tuple[Decision, Guidance | None]:
    decision = decide(schedule, "1818", at, overrides)
    return decision, None if decision.open else closed_guidance(schedule, "1818", decision, TEXTS)


def instants(start: datetime, days: int, step_minutes: int) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in range(0, days * 24 * 60, step_minutes)]


def test_in_time_order_through_holidays_midnights_and_the_dst_change(shipped: Schedule) -> None:
    starts = StartDecisions(TEXTS)
    # Easter 2024 (Maundy Thursday to Easter Monday) with the change to summer time on 31 March.
    times = instants(local("2024-03-25T00:00"), 10, 7)
    for at in times:
        assert starts.decide(shipped, "1818", at) == fresh(shipped, at, ())
    assert starts.reused > len(times) * 0.9, "most callers get what the one before them got"


def test_with_overrides_that_start_and_end(shipped: Schedule) -> None:
    closed = Override("1818", False, "staff_shortage", local("2024-01-08T10:30"), local("2024-01-08T11:15"))
    opened = Override("1818", True, "extra_hours", local("2024-01-09T13:00"), local("2024-01-09T14:00"), "ekstra")
    overrides = (closed, opened)
    starts = StartDecisions(TEXTS)
    for at in instants(local("2024-01-07T00:00"), 4, 5):
        assert starts.decide(shipped, "1818", at, overrides) == fresh(shipped, at, overrides)


def test_out_of_order_and_with_changing_overrides(shipped: Schedule) -> None:
    shuffled = instants(local("2024-12-20T00:00"), 14, 11)  # Christmas and the municipality's closing days
    random.Random(1818).shuffle(shuffled)
    overrides = (Override("1818", False, "meeting", local("2024-12-23T10:00"), local("2024-12-23T11:00")),)
    starts = StartDecisions(TEXTS)
    for i, at in enumerate(shuffled):
        now = overrides if i % 3 else ()
        assert starts.decide(shipped, "1818", at, now) == fresh(shipped, at, now)
