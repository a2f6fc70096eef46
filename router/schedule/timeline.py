"""Each day's timeline, and `decide()`: is a line open at an instant, why, and until when.

Theory of operation
-------------------
A schedule is frozen data; nothing here reads the clock or touches a file. The
state of a line is computed one *local calendar day* at a time:

1. Every rule that concerns the day makes a *claim* on a stretch of its wall
   clock (minutes after local midnight): the weekly hours of the version in
   force ("open 10:00-12:00", plus the tail of yesterday's overnight window), a
   public holiday, a municipal closing day, an operator's closure or extra
   opening, or "the line is not in service yet".
2. Where claims overlap, the highest layer wins, in this order:
   not in service > closure > extra opening > public holiday = closing day >
   weekly hours > (nothing: closed, outside phone hours).
   So an extra opening beats a holiday, and a closure beats everything an
   operator can write except the line not existing yet.
3. The winning stretches are mapped to real instants (see `localtime`), giving
   the day's *timeline*: contiguous segments that cover the day exactly.

`decide()` finds the segment holding the instant, then walks segments forward
(day after day, each day computed once and cached) to the next change of
open/closed. An emergency `Override` sits above all of it, for a limited time.
Windows are half-open: 10:00-12:00 is open at 11:59:59 and closed at 12:00:00.
"""

from __future__ import annotations

import bisect
import itertools
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from router.schedule.localtime import day_pieces, wall, wall_span_to_instants
from router.schedule.model import (
    MINUTES_PER_DAY,
    WHOLE_DAY,
    DayPlan,
    Decision,
    Line,
    Override,
    Reason,
    Recurrence,
    Segment,
    Special,
    TimeRange,
    UnknownLineError,
)

# How far ahead decide() looks for the next opening or change before it gives up.
HORIZON_DAYS = 2 * 366
_DAY = timedelta(days=1)

# Higher wins where claims overlap; see the theory of operation.
_PRIORITY = {
    Reason.OUTSIDE_VALIDITY: 60,
    Reason.CLOSURE: 50,
    Reason.OPENING: 40,
    Reason.PUBLIC_HOLIDAY: 30,
    Reason.CLOSING_DAY: 30,
    Reason.HOURS: 20,
}


@dataclass(frozen=True)
class _Claim:
    time: TimeRange
    open: bool
    reason: Reason
    cause: str | None = None
    label: str | None = None


@dataclass(frozen=True, eq=False)
class Schedule:
    """Every line's schedule, in one time zone. Immutable; caches are invisible."""

    timezone: str
    lines: Mapping[str, Line]
    closing_days: tuple[Special, ...] = ()
    _index: _Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", _Index(self))

    @property
    def tz(self) -> ZoneInfo:
        return self._index.tz

    def line(self, line_id: str) -> Line:
        try:
            return self.lines[line_id]
        except KeyError:
            raise UnknownLineError(line_id) from None

    def timeline(self, line_id: str, day: date) -> tuple[Segment, ...]:
        """The segments that cover local day `day` exactly, in order."""
        return self._index.timeline(self.line(line_id), day)


class _Index:
    """Date-indexed specials and a cache of computed days, built once per schedule."""

    _CACHED_DAYS = 8192

    def __init__(self, schedule: Schedule) -> None:
        self.tz = ZoneInfo(schedule.timezone)
        self.closing_days = _DatedSpecials(schedule.closing_days)
        self.specials = {line_id: _DatedSpecials(line.specials) for line_id, line in schedule.lines.items()}
        self._days: OrderedDict[tuple[str, date], tuple[Segment, ...]] = OrderedDict()

    def timeline(self, line: Line, day: date) -> tuple[Segment, ...]:
        key = (line.id, day)
        found = self._days.get(key)
        if found is None:
            found = self._days[key] = self._compute(line, day)
            if len(self._days) > self._CACHED_DAYS:
                self._days.popitem(last=False)
        return found

    def _compute(self, line: Line, day: date) -> tuple[Segment, ...]:
        winners = _resolve(self._claims(line, day))
        pieces = day_pieces(day, self.tz)
        midnight = datetime.combine(day, datetime.min.time())
        segments: list[Segment] = []
        for claim in winners:
            start = midnight + timedelta(minutes=claim.time.start)
            end = midnight + timedelta(minutes=claim.time.end)
            for lo, hi in wall_span_to_instants(start, end, pieces):
                segments.append(Segment(lo, hi, claim.open, claim.reason, claim.cause, claim.label))
        segments.sort(key=lambda s: s.start)
        return tuple(_merge(segments))

    def _claims(self, line: Line, day: date) -> list[_Claim]:
        today = line.version_on(day)
        if today is None:
            return [_Claim(WHOLE_DAY, False, Reason.OUTSIDE_VALIDITY)]
        claims = [_Claim(window, True, Reason.HOURS) for window in today.hours[day.weekday()]]
        yesterday = line.version_on(day - _DAY)
        if yesterday is not None:
            for window in yesterday.hours[(day - _DAY).weekday()]:
                if window.overnight:
                    claims.append(_Claim(TimeRange(0, window.end - MINUTES_PER_DAY), True, Reason.HOURS))
        if line.public_holidays is not None:
            name = line.public_holidays.name_on(day)
            if name is not None:
                claims.append(_Claim(WHOLE_DAY, False, Reason.PUBLIC_HOLIDAY, label=name))
        if line.closing_days:
            for special, time in self.closing_days.on(day):
                claims.append(_Claim(time, False, Reason.CLOSING_DAY, special.reason, special.name))
        for special, time in self.specials[line.id].on(day):
            reason = Reason.OPENING if special.open else Reason.CLOSURE
            claims.append(_Claim(time, special.open, reason, special.reason, special.name))
        return claims


class _DatedSpecials:
    """Specials looked up by date: one-offs through a dict, recurrences by their rule."""

    def __init__(self, specials: Iterable[Special]) -> None:
        self.by_date: dict[date, list[Special]] = {}
        self.recurring: list[Special] = []
        for special in specials:
            if isinstance(special.when, Recurrence):
                self.recurring.append(special)
            else:
                for day in special.when.dates():
                    self.by_date.setdefault(day, []).append(special)

    def on(self, day: date) -> Iterator[tuple[Special, TimeRange]]:
        for special in self.by_date.get(day, ()):
            assert not isinstance(special.when, Recurrence)
            time = special.when.on(day)
            if time is not None:
                yield special, time
        for special in self.recurring:
            assert isinstance(special.when, Recurrence)
            if day in special.when.in_year(day.year):
                yield special, special.when.time


def _resolve(claims: list[_Claim]) -> list[_Claim]:
    """Cut the day at every claim's edge; in each piece the highest claim wins."""
    edges = sorted(
        {0, MINUTES_PER_DAY} | {c.time.start for c in claims} | {min(c.time.end, MINUTES_PER_DAY) for c in claims}
    )
    out: list[_Claim] = []
    for lo, hi in itertools.pairwise(edges):
        covering = [c for c in claims if c.time.start <= lo and hi <= c.time.end]
        # max() keeps the first of equals: a public holiday is listed before a closing day.
        best = max(covering, key=lambda c: _PRIORITY[c.reason], default=None)
        winner = (
            _Claim(TimeRange(lo, hi), False, Reason.OUTSIDE_HOURS)
            if best is None
            else _Claim(TimeRange(lo, hi), best.open, best.reason, best.cause, best.label)
        )
        if out and _same_state(out[-1], winner):
            out[-1] = _Claim(TimeRange(out[-1].time.start, hi), winner.open, winner.reason, winner.cause, winner.label)
        else:
            out.append(winner)
    return out


def _same_state(a: _Claim | Segment, b: _Claim | Segment) -> bool:
    return (a.open, a.reason, a.cause, a.label) == (b.open, b.reason, b.cause, b.label)


def _merge(segments: list[Segment]) -> Iterator[Segment]:
    """Join neighbours that touch and say the same (the two halves of a DST overlap)."""
    current: Segment | None = None
    for segment in segments:
        if current is not None and current.end == segment.start and _same_state(current, segment):
            current = Segment(current.start, segment.end, current.open, current.reason, current.cause, current.label)
            continue
        if current is not None:
            yield current
        current = segment
    if current is not None:
        yield current


def _segments_from(schedule: Schedule, line_id: str, instant: datetime) -> Iterator[Segment]:
    """The segment holding `instant`, then every later one, up to the horizon."""
    day = wall(instant, schedule.tz).date()
    timeline = schedule.timeline(line_id, day)
    i = bisect.bisect_right([s.start for s in timeline], instant) - 1
    yield from timeline[max(i, 0) :]
    for _ in range(HORIZON_DAYS):
        day += _DAY
        yield from schedule.timeline(line_id, day)


def _segments_before(schedule: Schedule, line_id: str, instant: datetime, days: int = 14) -> Iterator[Segment]:
    """Segments that end at or before `instant`, newest first, for a bounded look back."""
    day = wall(instant, schedule.tz).date()
    for _ in range(days):
        for segment in reversed(schedule.timeline(line_id, day)):
            if segment.end <= instant:
                yield segment
        day -= _DAY


def decide(schedule: Schedule, line_id: str, instant: datetime, overrides: Iterable[Override] = ()) -> Decision:
    """What a caller to `line_id` gets at `instant` (timezone-aware), and when that changes.

    Raises UnknownLineError for a line the schedule does not have.
    """
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    instant = instant.astimezone(UTC)
    schedule.line(line_id)
    overrides = tuple(overrides)
    override = next((o for o in overrides if o.line == line_id and o.active_at(instant)), None)
    # An override that starts later ends what holds now, whatever the schedule says.
    starts = [o.since for o in overrides if o.line == line_id and o.since > instant]
    if override is not None:
        decision = _decide_overridden(schedule, override, instant)
        return replace(decision, holds_until=min([override.until, *starts]))

    segments = _segments_from(schedule, line_id, instant)
    here = next(segments)
    next_change = next_open = None
    for segment in segments:
        if segment.open != here.open and next_change is None:
            next_change = segment.start
        if segment.open and next_change is not None:
            next_open = segment.start
            break
    window = None
    if here.open:
        start = here.start
        for earlier in _segments_before(schedule, line_id, here.start):
            if not earlier.open or earlier.end != start:
                break
            start = earlier.start
        window = (start, next_change if next_change is not None else here.end)
    holds = min([here.end, *starts])
    return Decision(
        line_id, instant, here.open, here.reason, here.cause, here.label, window, next_open, next_change, None, holds
    )


def _decide_overridden(schedule: Schedule, override: Override, instant: datetime) -> Decision:
    after = decide(schedule, override.line, override.until)
    if after.open != override.open:
        next_change: datetime | None = override.until
    else:
        next_change = after.next_change
    if override.open:
        next_open = after.next_open  # the opening after the window that the override began
        window = (override.since, next_change) if next_change is not None else None
    else:
        next_open = override.until if after.open else after.next_open
        window = None
    return Decision(
        override.line,
        instant,
        override.open,
        Reason.OVERRIDE,
        override.reason,
        override.note,
        window,
        next_open,
        next_change,
        override,
    )


def day_plan(schedule: Schedule, line_id: str, day: date) -> DayPlan:
    """The open windows of one local day, and the segments that made it differ from the weekly hours."""
    timeline = schedule.timeline(line_id, day)
    windows = tuple((s.start, s.end) for s in timeline if s.open)
    notes = tuple(s for s in timeline if s.reason not in (Reason.HOURS, Reason.OUTSIDE_HOURS))
    return DayPlan(day, windows, notes)
