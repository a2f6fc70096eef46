"""Planned closures: the office's own closures, planned ahead in the console or with `callrouter
closures`, kept in the office's store (office/closures.py) and joined to the schedule file's.

Precedence
----------
The schedule file stays the base. A planned closure joins the line's own closures: it is a closure
like those in the file (`Reason.CLOSURE`, its reason selecting the message `closure-<reason>`), so
in the order of timeline.py it beats the file's extra openings, public holidays, closing days and
weekly hours, and only "not in service yet" beats it. Why there: it is the office's latest and most
specific word about those days (a course on Tuesday afternoon), exactly what a closure written in
the file says, and an office that plans a closure over an extra opening means the closure. A live
override (office/overrides.py) still beats it, as it beats everything: it is the emergency "now"
of someone at the office, bounded in time, so a closure planned by mistake can be opened at once
without waiting for anyone to find the plan.

Pure: closures in, a schedule out; `problems()` says why a closure would be refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from router.schedule.model import WHOLE_DAY, Days, Special, TimeRange
from router.schedule.timeline import Schedule

LABEL = "Planlagt lukning"  # a planned closure's name for people, when it has no note


@dataclass(frozen=True, slots=True)
class PlannedClosure:
    """The line closed every day from `first` to `last` (inclusive), within `time` each day."""

    id: str
    line: str
    first: date
    last: date
    time: TimeRange
    reason: str  # selects the message callers hear: closure-<reason>
    note: str = ""
    by: str = ""  # who planned it, or last changed it
    at: datetime | None = None  # when

    @property
    def whole_day(self) -> bool:
        return self.time == WHOLE_DAY

    def special(self) -> Special:
        return Special(False, self.reason, Days(self.first, self.last, self.time), self.note or LABEL)

    def begins(self, tz: ZoneInfo) -> datetime:
        """The instant it begins: after that it can no longer be changed or deleted."""
        return (datetime.combine(self.first, datetime.min.time()) + timedelta(minutes=self.time.start)).replace(
            tzinfo=tz
        )

    def days(self) -> int:
        return (self.last - self.first).days + 1


def with_planned(
    schedule: Schedule, closures: Iterable[PlannedClosure], subscribed: Mapping[str, Sequence[Special]] | None = None
) -> Schedule:
    """The schedule with each line's planned closures, and the closures its subscribed calendar makes
    (schedule/subscribed.py, by line), among its own; those of a line the file no longer has are left out."""
    extra: dict[str, list[Special]] = {}
    for closure in closures:
        if closure.line in schedule.lines:
            extra.setdefault(closure.line, []).append(closure.special())
    for line_id, specials in (subscribed or {}).items():
        if line_id in schedule.lines and specials:
            extra.setdefault(line_id, []).extend(specials)
    if not extra:
        return schedule
    lines = {
        line_id: replace(line, specials=line.specials + tuple(extra[line_id])) if line_id in extra else line
        for line_id, line in schedule.lines.items()
    }
    return Schedule(schedule.timezone, lines, schedule.closing_days)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a closure cannot be planned, for the command line (English) and the console (Danish)."""

    english: str
    danish: str


def refusal(
    schedule: Schedule, closure: PlannedClosure, others: Iterable[PlannedClosure], now: datetime
) -> Refusal | None:
    """Why `closure` cannot be planned, or None: an unknown line, an end before the start, a start
    that has passed, or a line closed for more days in a row than its `planned_closure_max_days`
    allows (planned closures on touching or overlapping days count together, so that two closures
    cannot make a longer one). `others` are those already kept (one with the same id is the one
    being changed)."""
    line = schedule.lines.get(closure.line)
    if line is None:
        return Refusal(f"the schedule has no line {closure.line!r}", "Skemaet har ikke den linje.")
    if closure.last < closure.first:
        return Refusal(f"the last day {closure.last} is before the first {closure.first}",
                       "Den sidste dag ligger før den første.")  # fmt: skip
    if closure.begins(schedule.tz) <= now:
        return Refusal(
            "it would begin in the past; a closure is planned ahead (to close the line now: callrouter override close)",
            "Lukningen ville begynde i fortiden. Luk linjen nu under Åbn/luk i stedet.",
        )
    longest = _days_in_a_row(closure, [o for o in others if o.line == closure.line and o.id != closure.id])
    allowed = line.planned_closure_max_days
    if longest > allowed:
        return Refusal(
            f"the line would be closed {longest} days in a row by planned closures; its schedule allows {allowed} "
            "(planned_closure_max_days in the schedule file)",
            f"Linjen ville være lukket {longest} dage i træk af planlagte lukninger; skemaet tillader højst {allowed}. "
            "Længere lukninger skrives i skemaet.",
        )
    return None


def _days_in_a_row(closure: PlannedClosure, others: list[PlannedClosure]) -> int:
    """The days of the run of planned closures (touching or overlapping days) that holds `closure`."""
    first, last = closure.first, closure.last
    grew = True
    while grew:
        grew = False
        for other in others:
            touches = other.first <= last + timedelta(days=1) and other.last >= first - timedelta(days=1)
            if touches and (other.first < first or other.last > last):
                first, last, grew = min(first, other.first), max(last, other.last), True
    return (last - first).days + 1


class WithPlanned:
    """The schedule in service joined with the planned closures and the subscribed calendars' (a
    callable like the schedule source it wraps, reload.ScheduleSource), recomputed only when one of
    them changes, so that every call's decision reads the joined schedule (and its cached days)
    without rebuilding it. The closures and calendars are compared by identity first: their stores
    hand out the same tuple or mapping until something changed."""

    def __init__(
        self,
        base: Callable[[], Schedule],
        closures: Callable[[], Sequence[PlannedClosure]],
        subscribed: Callable[[], Mapping[str, Sequence[Special]]] = dict,
    ) -> None:
        self.base = base
        self._closures = closures
        self._subscribed = subscribed
        self._key: tuple[Schedule, Sequence[PlannedClosure], Mapping[str, Sequence[Special]]] | None = None
        self._joined: Schedule | None = None

    def __call__(self) -> Schedule:
        key = (self.base(), self._closures(), self._subscribed())
        if self._key is None or not all(a is b or a == b for a, b in zip(key, self._key, strict=True)):
            self._key, self._joined = key, with_planned(*key)
        else:
            self._key = key  # equal, if not the same objects: the next call compares by identity again
        assert self._joined is not None
        return self._joined
