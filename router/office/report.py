"""Call statistics for a period, per day and line: what `callrouter report` prints. Pure.

The office uses it to judge its phone hours: how many call, inside and outside the hours, how many
reach someone, give up or are sent to the answering machine, and how long the answered ones waited.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from router.office.call_log import CallRecord
from router.office.statistics import tally


@dataclass(frozen=True)
class DayLine:
    day: date
    line: str
    calls: int
    in_hours: int
    outside_hours: int
    answered: int
    abandoned: int  # hung up while waiting in the queue
    overflow: int  # waited too long and were offered the answering machine
    messages: int
    median_wait: float | None  # of the answered calls, in seconds
    p90_wait: float | None


def report(records: Iterable[CallRecord], tz: ZoneInfo) -> list[DayLine]:
    groups: dict[tuple[date, str], list[CallRecord]] = defaultdict(list)
    for record in records:
        groups[(record.arrived.astimezone(tz).date(), record.line)].append(record)
    rows = []
    for (day, line), calls in sorted(groups.items()):
        t = tally(calls)
        counts = (t.calls, t.in_hours, t.outside_hours, t.answered, t.abandoned, t.overflow, t.messages)
        rows.append(DayLine(day, line, *counts, t.median_wait, t.p90_wait))
    return rows


def render(rows: list[DayLine]) -> str:
    header = (
        "day         line        calls  in hours  outside  answered  gave up  overflow  messages  wait p50  wait p90"
    )
    lines = [header]
    for r in rows:
        lines.append(
            f"{r.day.isoformat()}  {r.line:<10} {r.calls:6d} {r.in_hours:9d} {r.outside_hours:8d} {r.answered:9d}"
            f" {r.abandoned:8d} {r.overflow:9d} {r.messages:9d} {_seconds(r.median_wait):>9} {_seconds(r.p90_wait):>9}"
        )
    if len(rows) > 1:
        total = sum(r.calls for r in rows)
        answered = sum(r.answered for r in rows)
        lines.append(f"total: {total} calls, {answered} answered, over {len({r.day for r in rows})} day(s)")
    if not rows:
        lines.append("(no calls in this period)")
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"
