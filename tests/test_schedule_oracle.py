"""decide() against a deliberately naive oracle that looks at one minute at a time.

The oracle knows nothing of segments, day pieces or caches: for an instant it
reads the wall clock and checks each rule in order of precedence. Walking it
minute by minute gives the true next change, which decide() must match exactly.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st

from router.schedule import (
    MINUTES_PER_DAY,
    Days,
    HolidayCalendar,
    Line,
    Recurrence,
    Schedule,
    Span,
    Special,
    TimeRange,
    Version,
    decide,
)

ZONES = ["Europe/Copenhagen", "America/New_York", "Australia/Lord_Howe"]
# Days around the DST changes of 2024 in those zones, and the turn of the year.
HOT_DAYS = [
    date(2024, 3, 31),
    date(2024, 10, 27),
    date(2024, 3, 10),
    date(2024, 11, 3),
    date(2024, 4, 7),
    date(2024, 10, 6),
    date(2023, 12, 31),
    date(2024, 1, 1),
]
STEP = timedelta(minutes=1)
LOOKAHEAD = timedelta(hours=30)


def oracle_open(schedule: Schedule, line: Line, instant: datetime) -> bool:
    w = instant.astimezone(UTC).astimezone(ZoneInfo(schedule.timezone)).replace(tzinfo=None)
    day, minute = w.date(), w.hour * 60 + w.minute

    def version(d: date) -> Version | None:
        found = [v for v in line.versions if v.valid_from <= d]
        return found[-1] if found else None

    def applies(special: Special) -> bool:
        when = special.when
        if isinstance(when, Span):
            return when.start <= w < when.end
        if isinstance(when, Days):
            return when.first <= day <= when.last and when.time.start <= minute < when.time.end
        hit = datetime.combine(day, datetime.min.time()) in when.rule
        return hit and when.time.start <= minute < when.time.end

    if version(day) is None:
        return False
    if any(applies(s) for s in line.specials if not s.open):
        return False
    if any(applies(s) for s in line.specials if s.open):
        return True
    if line.public_holidays and line.public_holidays.name_on(day):
        return False
    if line.closing_days and any(applies(s) for s in schedule.closing_days):
        return False
    today = version(day)
    assert today is not None
    if any(r.start <= minute < r.end for r in today.hours[day.weekday()]):
        return True
    yesterday = version(day - timedelta(days=1))
    if yesterday is not None:
        spill = yesterday.hours[(day - timedelta(days=1)).weekday()]
        return any(r.end > MINUTES_PER_DAY and minute < r.end - MINUTES_PER_DAY for r in spill)
    return False


# Times on a 30-minute grid (plus a few odd ones) so windows often start or end inside DST gaps.
minutes = st.one_of(st.integers(0, 47).map(lambda i: i * 30), st.sampled_from([5, 125, 155, 1435]))


@st.composite
def day_windows(draw: st.DrawFn) -> list[TimeRange]:
    points = sorted(set(draw(st.lists(minutes, max_size=4))) | set())
    if len(points) % 2:
        points.append(MINUTES_PER_DAY)
    return [TimeRange(a, b) for a, b in zip(points[::2], points[1::2], strict=True) if a < b]


@st.composite
def week(draw: st.DrawFn) -> tuple[tuple[TimeRange, ...], ...]:
    days = [draw(day_windows()) for _ in range(7)]
    # Sometimes an overnight window that ends before the next day's first window starts.
    night = draw(st.integers(0, 7))
    if night < 7:
        last_end = max((w.end for w in days[night]), default=0)
        next_start = min((w.start for w in days[(night + 1) % 7]), default=MINUTES_PER_DAY)
        start = draw(st.sampled_from([22 * 60, 23 * 60 + 30]))
        end = draw(st.sampled_from([60, 150, 180]))
        if last_end <= start and end <= next_start:
            days[night].append(TimeRange(start, MINUTES_PER_DAY + end))
    return tuple(tuple(d) for d in days)


@st.composite
def specials(draw: st.DrawFn, is_open: bool, anchor: date) -> Special:
    day = anchor + timedelta(days=draw(st.integers(-1, 1)))
    shape = draw(st.integers(0, 2))
    if shape == 0:
        start_minute, length = draw(minutes), draw(st.integers(1, 40)) * 30
        start = datetime.combine(day, datetime.min.time()) + timedelta(minutes=start_minute)
        return Special(is_open, "x", Span(start, start + timedelta(minutes=length)))
    time = draw(day_windows()) or [TimeRange(0, MINUTES_PER_DAY)]
    if shape == 1:
        return Special(is_open, "x", Days(day, day + timedelta(days=draw(st.integers(0, 2))), time[0]))
    rule = rrulestr("FREQ=WEEKLY;BYDAY=SU", dtstart=datetime(2023, 1, 1))
    assert isinstance(rule, rrule)
    return Special(is_open, "x", Recurrence(f"sun-{time[0]}", rule, time[0]))


@st.composite
def schedules(draw: st.DrawFn, anchor: date) -> Schedule:
    first = date(2023, 12, draw(st.integers(1, 31)))
    versions = [Version(first, draw(week()))]
    if draw(st.booleans()):
        versions.append(Version(date(2024, draw(st.integers(1, 11)), 1), draw(week())))
    line = Line(
        id="x",
        name="x",
        versions=tuple(versions),
        public_holidays=HolidayCalendar("DK") if draw(st.booleans()) else None,
        closing_days=draw(st.booleans()),
        specials=tuple(
            draw(st.lists(specials(False, anchor), max_size=2)) + draw(st.lists(specials(True, anchor), max_size=2))
        ),
    )
    closing = Special(False, "closing_day", Days(date(2024, 3, 31), date(2024, 3, 31), TimeRange(120, 240)), "c")
    return Schedule(timezone=draw(st.sampled_from(ZONES)), lines={"x": line}, closing_days=(closing,))


@st.composite
def cases(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    """A schedule whose specials fall near one of the hot days, and an instant near that day."""
    anchor = draw(st.sampled_from(HOT_DAYS))
    base = datetime.combine(anchor, datetime.min.time(), tzinfo=UTC) - timedelta(hours=14)
    return draw(schedules(anchor)), base + timedelta(minutes=draw(st.integers(0, 52 * 60)))


@settings(max_examples=200, deadline=None)
@given(case=cases())
def test_decide_matches_the_minute_by_minute_oracle(case: tuple[Schedule, datetime]) -> None:
    schedule, instant = case
    line = schedule.lines["x"]
    decision = decide(schedule, "x", instant)
    now = oracle_open(schedule, line, instant)
    assert decision.open == now

    t = instant + STEP
    while t <= instant + LOOKAHEAD and oracle_open(schedule, line, t) == now:
        t += STEP
    if t <= instant + LOOKAHEAD:
        assert decision.next_change == t
    else:
        assert decision.next_change is None or decision.next_change > instant + LOOKAHEAD

    if not now:
        assert decision.next_open == decision.next_change
    else:
        start = instant
        while start > instant - LOOKAHEAD and oracle_open(schedule, line, start - STEP):
            start -= STEP
        assert decision.window is not None
        if start > instant - LOOKAHEAD:
            assert decision.window[0] == start
        assert decision.window[1] == decision.next_change
