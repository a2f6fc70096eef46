"""The figures of the console's Statistik page for a period: per day, per week, and when people call.
Pure: the call log's records and the messages in, figures out (the page draws and lists them).

What counts as what is report.py's (`callrouter report`): the same tally, so the page and the command
never disagree. Days and hours are Copenhagen's (the schedule's zone): a call at 01:30 UTC on the
last Sunday of March is at 03:30 on the wall, in the hour 03-04; on the last Sunday of October the
hour 02-03 happens twice, and its bucket holds both.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from router.office.call_log import CallRecord
from router.office.messages import Message

LONGEST_PERIOD = 366  # days: a year's figures at most on one page


class PeriodError(ValueError):
    """A period the page cannot show (its words are shown as they are)."""


@dataclass(frozen=True)
class Tally:
    calls: int = 0
    in_hours: int = 0
    outside_hours: int = 0
    answered: int = 0
    abandoned: int = 0  # hung up while waiting in the queue
    overflow: int = 0  # waited too long and were offered the answering machine
    messages: int = 0  # left a message (in or outside the hours)
    called_back: int = 0  # of the messages received then, those marked "ringet op" (and not deleted)
    median_wait: float | None = None  # of the answered calls, in seconds
    p90_wait: float | None = None


@dataclass(frozen=True)
class Week:
    year: int  # ISO year and week, as Danish calendars number them
    number: int
    first: date  # its Monday (which may be before the period)
    tally: Tally


@dataclass(frozen=True)
class Figures:
    first: date
    last: date  # inclusive
    days: list[tuple[date, Tally]]  # every day of the period, those without calls too
    weeks: list[Week]
    total: Tally
    by_hour: list[int]  # calls per hour of the day (local wall clock), 24 of them
    by_weekday_hour: list[list[int]]  # [weekday Monday=0][hour]: calls


def tally(records: Sequence[CallRecord], messages: Sequence[Message] = ()) -> Tally:
    """How `records` ended; `messages` received in the same span give the called-back count."""
    waits = sorted(r.waited for r in records if r.outcome == "answered" and r.waited is not None)
    return Tally(
        calls=len(records),
        in_hours=sum(r.in_hours for r in records),
        outside_hours=sum(not r.in_hours for r in records),
        answered=sum(r.outcome == "answered" for r in records),
        abandoned=sum(r.outcome == "caller_gave_up" for r in records),
        # In the hours, a message means the queue sent the caller to the answering machine.
        overflow=sum(r.outcome == "overflow" or (r.outcome == "message_left" and r.in_hours) for r in records),
        messages=sum(r.outcome == "message_left" for r in records),
        called_back=sum(m.handled for m in messages),
        median_wait=statistics.median(waits) if waits else None,
        p90_wait=percentile(waits, 0.9),
    )


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile: a wait that `fraction` of the answered callers did not exceed."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * fraction // 1))  # ceil without floats' surprises for small n
    return ordered[int(rank) - 1]


def period_bounds(first: date, last: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The instants [start, end) of the local days first..last; refused if it is no period we show."""
    if last < first:
        raise PeriodError("Perioden slutter, før den begynder.")
    if (last - first).days + 1 > LONGEST_PERIOD:
        raise PeriodError(f"Vælg højst {LONGEST_PERIOD} dage ad gangen.")
    # Midnight exists on every day in Copenhagen (the clocks change at 02.00 and 03.00). In UTC, because
    # Python compares and subtracts two times of one zone by their wall clocks (a 25-hour day is 24).
    start, end = datetime.combine(first, time(), tz), datetime.combine(last + timedelta(days=1), time(), tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def figures(records: Iterable[CallRecord], messages: Iterable[Message], first: date, last: date, tz: tzinfo) -> Figures:
    """The period first..last (local days, inclusive); records and messages outside it are ignored."""
    start, end = period_bounds(first, last, tz)
    by_day: dict[date, list[CallRecord]] = defaultdict(list)
    by_hour = [0] * 24
    by_weekday_hour = [[0] * 24 for _ in range(7)]
    for record in records:
        if not start <= record.arrived < end:
            continue
        local = record.arrived.astimezone(tz)
        by_day[local.date()].append(record)
        by_hour[local.hour] += 1
        by_weekday_hour[local.weekday()][local.hour] += 1
    messages_by_day: dict[date, list[Message]] = defaultdict(list)
    for message in messages:
        if start <= message.received_at < end:
            messages_by_day[message.received_at.astimezone(tz).date()].append(message)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    weeks: dict[tuple[int, int], list[date]] = defaultdict(list)
    for day in days:
        weeks[day.isocalendar()[:2]].append(day)

    def over(span: list[date]) -> Tally:
        return tally([r for d in span for r in by_day[d]], [m for d in span for m in messages_by_day[d]])

    return Figures(
        first=first,
        last=last,
        days=[(day, over([day])) for day in days],
        weeks=[Week(y, n, span[0] - timedelta(days=span[0].weekday()), over(span)) for (y, n), span in weeks.items()],
        total=over(days),
        by_hour=by_hour,
        by_weekday_hour=by_weekday_hour,
    )
