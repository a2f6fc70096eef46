"""The generated fallback dialplan against decide(), minute by minute over a year.

The generated text is run by a small interpreter of the few applications it uses, with
GotoIfTime's own semantics (its end time is inclusive to the minute), at the wall time of each
minute of the period, and must send the call to "open" exactly when decide() says open.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from router.calls.dialplan import MONTHS, fallback_for, render
from router.schedule import WEEKDAYS, Schedule, decide, parse_schedule
from router.schedule.localtime import day_bounds, wall

GENERATED_AT = datetime(2026, 1, 1, tzinfo=UTC)
_LINE = re.compile(r"^(?:exten => s,1|\s*same => n(?:\((?P<label>\w+)\))?),(?P<app>\w+)\((?P<args>.*)\)(?:\s*;.*)?$")


Condition = tuple[tuple[int, int] | None, tuple[int, int] | None, tuple[int, int] | None, tuple[int, int] | None]


class Interpreter:
    """Runs the context's priorities for one wall-clock time, as Asterisk's pbx would."""

    def __init__(self, text: str) -> None:
        self.steps: list[tuple[str, str, Condition | None]] = []
        self.labels: dict[str, int] = {}
        for row in text.splitlines():
            if not row.strip() or row.lstrip().startswith(";") or row.startswith("["):
                continue
            match = _LINE.match(row)
            assert match, f"unexpected dialplan line: {row!r}"
            if match["label"]:
                self.labels[match["label"]] = len(self.steps)
            app, args = match["app"], match["args"]
            condition = _condition(args.split("?")[0]) if app == "GotoIfTime" else None
            self.steps.append((app, args, condition))

    def run(self, at: datetime) -> str:
        pc = 0
        facts = (at.hour * 60 + at.minute, at.weekday(), at.day, at.month - 1)
        for _ in range(10_000):
            app, args, condition = self.steps[pc]
            if app == "NoOp":
                pc += 1
            elif app == "Goto":
                if "," in args:  # left the context: callrouter-open-1818,s,1
                    return args.split(",")[0].split("-")[1]
                pc = self.labels[args]
            elif app == "GotoIfTime":
                assert condition is not None
                hit = all(r is None or r[0] <= v <= r[1] for r, v in zip(condition, facts, strict=True))
                pc = self.labels[args.split("?")[1]] if hit else pc + 1
            else:
                raise AssertionError(f"unexpected application {app}")
        raise AssertionError("the dialplan loops")


def _range(spec: str, number: Callable[[str], int]) -> tuple[int, int] | None:
    if spec == "*":
        return None
    lo, _, hi = spec.partition("-")
    return number(lo), number(hi or lo)


def _minute(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _condition(text: str) -> Condition:
    """GotoIfTime's times,weekdays,mdays,months[,tz]; the end minute of `times` is included."""
    times, weekdays, mdays, months, _tz = text.split(",")
    return (
        _range(times, _minute),
        _range(weekdays, WEEKDAYS.index),
        _range(mdays, int),
        _range(months, MONTHS.index),
    )


def compare_every_minute(schedule: Schedule, line: str, first: date, days: int) -> int:
    fallback = fallback_for(schedule, line, first, days)
    program = Interpreter(render(fallback, schedule, "test.yaml", GENERATED_AT))
    tz = ZoneInfo(schedule.timezone)
    start, _ = day_bounds(first, tz)
    _, end = day_bounds(first + timedelta(days=days - 1), tz)
    instant, checked, step = start, 0, timedelta(minutes=1)
    while instant < end:
        expected = decide(schedule, line, instant).open
        assert (program.run(wall(instant, tz)) == "open") == expected, f"differs at {instant.astimezone(tz)}"
        instant += step
        checked += 1
    return checked


def test_shipped_1818_every_minute_of_a_year(shipped: Schedule) -> None:
    assert compare_every_minute(shipped, "1818", date(2024, 1, 1), 365) == 365 * 24 * 60


def test_the_end_minute_is_written_inclusive(shipped: Schedule) -> None:
    text = render(fallback_for(shipped, "1818", date(2024, 1, 1), 30), shipped, "s.yaml", GENERATED_AT)
    assert "GotoIfTime(10:00-11:59,mon,*,*,Europe/Copenhagen?open)" in text
    assert "GotoIfTime(15:00-16:59,thu,*,*,Europe/Copenhagen?open)" in text
    assert "GotoIfTime(*,*,1,jan,Europe/Copenhagen?day1)  ; 2024-01-01 Nytårsdag" in text
    assert "12:00" not in text


HARD = """
lines:
  x:
    public_holidays: DK
    versions:
      - valid_from: 2024-01-01
        hours:
          mon-fri: ["08:00-09:30", "13:00-15:00"]
          sat: {time: "22:00-02:30", overnight: yes}
          sun: "02:30-03:30"          # on 31 March 2024 half of it falls in the DST gap
      - valid_from: 2024-06-01
        hours:
          mon-thu: "09:00-12:00"
    closures:
      - {reason: meeting, rule: FREQ=MONTHLY;BYDAY=1FR, time: "08:00-09:00"}
      - {reason: upgrade, from: 2024-03-14 08:30, to: 2024-03-15 14:00}
    openings:
      - {reason: extra, date: 2024-03-31, time: "10:00-12:00"}
"""


@pytest.mark.parametrize(
    ("first", "days"),
    [
        (date(2024, 3, 20), 90),  # spring forward on 31 March, the opening that day, the new hours from 1 June
        (date(2024, 10, 20), 60),  # fall back on 27 October, around the overnight window
    ],
)
def test_overnight_windows_dst_and_a_change_of_hours(first: date, days: int) -> None:
    schedule = parse_schedule(textwrap.dedent(HARD))
    assert compare_every_minute(schedule, "x", first, days) == days * 24 * 60 + (60 if first.month == 10 else -60)


def test_period_is_at_most_a_year(shipped: Schedule) -> None:
    with pytest.raises(ValueError, match="1 to 365 days"):
        fallback_for(shipped, "1818", date(2024, 1, 1), 366)


def test_names_cannot_break_the_dialplan() -> None:
    schedule = parse_schedule(
        "lines:\n  x:\n    versions: [{valid_from: 2024-01-01, hours: {mon: '10:00-12:00'}}]\n"
        "    closures: [{reason: x, name: 'Møde; (vigtigt), [alle]', date: 2024-01-08}]\n"
    )
    text = render(fallback_for(schedule, "x", date(2024, 1, 1), 14), schedule, "s.yaml", GENERATED_AT)
    row = next(r for r in text.splitlines() if r.startswith(" same => n(day1)"))
    inside = row.removeprefix(" same => n(day1),NoOp(").removesuffix(")")
    assert inside.split() == ["2024-01-08", "Møde", "vigtigt", "alle"]


def _context(text: str, name: str) -> list[str]:
    """The lines of one context of the generated text."""
    lines = text.splitlines()
    start = lines.index(f"[{name}]")
    rest = lines[start + 1 :]
    end = next((i for i, row in enumerate(rest) if row.startswith("[")), len(rest))
    return [row for row in rest[:end] if row.strip() and not row.startswith(";")]


def test_the_fallback_in_phone_hours_rings_the_agents_of_the_queue(shipped: Schedule) -> None:
    text = render(fallback_for(shipped, "1818", date(2024, 1, 1)), shipped, "schedule.yaml", GENERATED_AT)
    opened = _context(text, "callrouter-open-1818")
    assert opened[1] == " same => n,Dial(PJSIP/agent1&PJSIP/agent2&PJSIP/agent3,20)"
    assert opened[2].startswith(" same => n,Goto(callrouter-closed-1818,s,1)")


def test_the_fallback_rings_whoever_the_queue_lists_and_nobody_else() -> None:
    yaml = textwrap.dedent(
        """
        lines:
          "1818":
            versions: [{valid_from: 2024-01-01, hours: {mon-fri: "10:00-12:00"}}]
            queue: {agents: [mette, lars], ring_seconds: 15}
          "7000":
            versions: [{valid_from: 2024-01-01, hours: {mon-fri: "10:00-12:00"}}]
            open_context: my-own-queue
          "7001":
            versions: [{valid_from: 2024-01-01, hours: {mon-fri: "10:00-12:00"}}]
        """
    )
    schedule = parse_schedule(yaml)
    queue_text = render(fallback_for(schedule, "1818", date(2024, 1, 1)), schedule, "s.yaml", GENERATED_AT)
    assert _context(queue_text, "callrouter-open-1818")[1] == " same => n,Dial(PJSIP/mette&PJSIP/lars,15)"
    own = render(fallback_for(schedule, "7000", date(2024, 1, 1)), schedule, "s.yaml", GENERATED_AT)
    assert "[callrouter-open-7000]" not in own, "a line with open_context: keeps its own queue"
    assert " same => n(open),Goto(my-own-queue,s,1)" in own, "in phone hours it goes where the router sends it"
    bare = render(fallback_for(schedule, "7001", date(2024, 1, 1)), schedule, "s.yaml", GENERATED_AT)
    assert "[callrouter-open-7001]" not in bare
    assert " same => n(open),Goto(callrouter-open-7001,s,1)" in bare, "the site writes that context itself"


def test_a_short_period_still_speaks_and_keeps_the_whole_usual_week(shipped: Schedule) -> None:
    """`callrouter dialplan --days 3` from a Saturday: the three days route as the schedule says, and the
    usual week the closed message speaks has the weekdays' hours, not only the weekend's (none)."""
    saturday = date(2024, 3, 2)
    short, year = fallback_for(shipped, "1818", saturday, 3), fallback_for(shipped, "1818", saturday)
    assert short.usual == year.usual
    assert short.usual[0], "Monday's usual hours"
    assert all(day < saturday + timedelta(days=3) for day, _, _ in short.exceptions)
    assert compare_every_minute(shipped, "1818", saturday, 3) == 3 * 24 * 60
