"""Wall-clock time versus real instants, across daylight-saving changes.

Theory of operation
-------------------
Phone hours are written in wall-clock time ("10:00-12:00 in Copenhagen"), but
a call arrives at an instant. The rule we follow everywhere: *the state at an
instant is a function of the wall-clock time at that instant.* So on the
spring-forward day a window 02:00-03:00 never happens, and on the fall-back day
it happens twice (two real hours).

To turn one local day's wall-clock segments into real instants, the day is cut
into *pieces* at its DST transition (at most one per day in any sane zone).
Inside a piece the wall clock runs at a constant offset from UTC, so a wall
segment maps to instants by subtracting that offset, after clipping it to the
wall range the piece actually shows. Wall times that fall in a gap are skipped
by construction; wall times in an overlap are visited twice, once per piece.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

_ONE_SECOND = timedelta(seconds=1)


def wall(instant: datetime, tz: tzinfo) -> datetime:
    """The naive wall-clock time at `instant` in `tz`."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    # Through UTC: astimezone() to the tzinfo an instant already has returns it
    # unchanged, even when its wall time does not exist (in a DST gap).
    return instant.astimezone(UTC).astimezone(tz).replace(tzinfo=None)


def first_instant_at_or_after(wall_time: datetime, tz: tzinfo) -> datetime:
    """The first real instant whose wall clock in `tz` shows `wall_time` or later.

    For an ordinary wall time this is simply that time. For one that falls in
    a spring-forward gap, it is the transition itself (the clock jumps past it).
    For an ambiguous one (fall-back), it is the first of the two occurrences.
    """
    early = wall_time.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if wall(early, tz) == wall_time:
        # fold=0 is the earlier of two occurrences where the time repeats.
        return early
    # In a gap, fold=0 lands after the transition and fold=1 before it;
    # the answer is the first second between them whose wall time has passed.
    late = wall_time.replace(tzinfo=tz, fold=1).astimezone(UTC)
    lo, hi = sorted((early, late))
    return _first_second(lo, hi, lambda t: wall(t, tz) >= wall_time)


def _first_second(lo: datetime, hi: datetime, passed: Callable[[datetime], bool]) -> datetime:
    """The first whole second in (lo, hi] at which `passed` holds; it must hold at hi.

    Offsets change on whole seconds in every zone of the tz database.
    """
    low, high = int(lo.timestamp()), int(hi.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if passed(datetime.fromtimestamp(mid, UTC)):
            high = mid
        else:
            low = mid
    return datetime.fromtimestamp(high, UTC)


@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of real time [start, end) during which the UTC offset is constant."""

    start: datetime
    end: datetime
    wall_start: datetime  # what the wall clock shows at `start`, naive
    wall_end: datetime

    @classmethod
    def between(cls, start: datetime, end: datetime, offset: timedelta) -> Piece:
        return cls(start, end, (start + offset).replace(tzinfo=None), (end + offset).replace(tzinfo=None))


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The real instants [start, end) of the local calendar day `day`, in UTC."""
    start = first_instant_at_or_after(datetime.combine(day, time()), tz)
    end = first_instant_at_or_after(datetime.combine(day + timedelta(days=1), time()), tz)
    return start, end


def day_pieces(day: date, tz: tzinfo) -> list[Piece]:
    """The local day cut at its DST transition, if it has one."""
    start, end = day_bounds(day, tz)
    return list(_pieces(start, end, tz))


def _offset(instant: datetime, tz: tzinfo) -> timedelta:
    offset = instant.astimezone(UTC).astimezone(tz).utcoffset()
    assert offset is not None  # a real tzinfo always answers for an aware time
    return offset


def _pieces(start: datetime, end: datetime, tz: tzinfo) -> Iterator[Piece]:
    while start < end:
        offset = _offset(start, tz)
        if _offset(end - _ONE_SECOND, tz) == offset:
            yield Piece.between(start, end, offset)
            return

        def changed(t: datetime, was: timedelta = offset) -> bool:
            return _offset(t, tz) != was

        hi = _first_second(start, end - _ONE_SECOND, changed)
        yield Piece.between(start, hi, offset)
        start = hi


def wall_span_to_instants(
    wall_start: datetime, wall_end: datetime, pieces: list[Piece]
) -> Iterator[tuple[datetime, datetime]]:
    """Every real-time stretch during which the wall clock is in [wall_start, wall_end)."""
    for piece in pieces:
        lo = max(wall_start, piece.wall_start)
        hi = min(wall_end, piece.wall_end)
        if lo < hi:
            yield piece.start + (lo - piece.wall_start), piece.start + (hi - piece.wall_start)
