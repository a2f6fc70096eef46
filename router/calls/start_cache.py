"""The decision and the closed guidance of the last call to each line, reused for the next caller
while they still hold.

Deciding and composing the guidance are the larger part of the router's own work between a
caller's StasisStart and its answer request (about 0.2 of 0.5 ms; BENCHMARKS.md). Both are pure
functions of the schedule, the overrides, the line and the instant, and for later instants they
change only where the schedule's state does (the decision's `holds_until`) and at midnight (the
guidance says "today", "tomorrow"). So a caller within that time gets the same decision, with
their own instant, and the same guidance: what `decide()` and `closed_guidance()` would give.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from router.calls.guidance import Guidance, closed_guidance
from router.schedule import Decision, Override, Schedule, decide
from router.schedule.localtime import wall


@dataclass(frozen=True, slots=True)
class _Kept:
    schedule: Schedule
    overrides: tuple[Override, ...]
    decision: Decision
    day: date  # the instant's local day
    guidance: Guidance | None  # None when the line was open


class StartDecisions:
    """What a new call to a line gets: `decide()`, and the closed guidance when closed."""

    def __init__(self, known_prompts: Mapping[str, str]) -> None:
        self._known_prompts = known_prompts
        self._kept: dict[str, _Kept] = {}
        self.reused = 0  # starts answered from what was kept

    def decide(
        self, schedule: Schedule, line: str, instant: datetime, overrides: Iterable[Override] = ()
    ) -> tuple[Decision, Guidance | None]:
        if instant.tzinfo is None:
            raise ValueError("instant must be timezone-aware")
        overrides = tuple(overrides)
        instant = instant.astimezone(UTC)  # as decide() gives it
        day = wall(instant, schedule.tz).date()
        kept = self._kept.get(line)
        if (
            kept is not None
            and kept.schedule is schedule  # a reloaded schedule is a new object
            and kept.overrides == overrides
            and kept.day == day
            and kept.decision.holds_until is not None
            and kept.decision.instant <= instant < kept.decision.holds_until
        ):
            self.reused += 1
            return replace(kept.decision, instant=instant), kept.guidance
        decision = decide(schedule, line, instant, overrides)
        guidance = None if decision.open else closed_guidance(schedule, line, decision, self._known_prompts)
        self._kept[line] = _Kept(schedule, overrides, decision, day, guidance)
        return decision, guidance
