"""Table tests of decide(): the shipped 1818 schedule and the hard cases of the model."""

from __future__ import annotations

import itertools
import textwrap
from datetime import UTC, date, datetime, timedelta

import pytest

from router.schedule import (
    Override,
    Reason,
    Schedule,
    ScheduleError,
    UnknownLineError,
    day_plan,
    decide,
    parse_schedule,
)
from tests.conftest import local


def schedule(body: str) -> Schedule:
    return parse_schedule(textwrap.dedent(body), "test.yaml")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# -- the shipped schedule: the cases the office cares about -------------------------


@pytest.mark.parametrize(
    ("when", "is_open", "reason", "label"),
    [
        ("2024-01-04T15:30", True, Reason.HOURS, None),  # Thursday, new hours
        ("2024-01-04T12:30", False, Reason.OUTSIDE_HOURS, None),  # Thursday noon: was open in 2023
        ("2023-12-14T16:30", True, Reason.HOURS, None),  # old hours: Thursday until 17
        ("2023-12-13T14:30", True, Reason.HOURS, None),  # old hours: Wednesday until 15
        ("2024-01-10T14:30", False, Reason.OUTSIDE_HOURS, None),  # new hours: Wednesday until 12
        ("2024-01-01T10:30", False, Reason.PUBLIC_HOLIDAY, "Nytårsdag"),
        ("2024-04-26T10:30", True, Reason.HOURS, None),  # Store bededag abolished from 2024
        ("2023-05-05T10:30", False, Reason.PUBLIC_HOLIDAY, "Store bededag"),  # ... but not in 2023
        ("2024-04-04T15:05", True, Reason.HOURS, None),  # summer time
        ("2024-01-08T12:00", False, Reason.OUTSIDE_HOURS, None),  # half-open: 12:00 is closed
        ("2024-01-08T11:59:59", True, Reason.HOURS, None),
        ("2024-01-08T10:00", True, Reason.HOURS, None),
        ("2024-01-08T09:59:59", False, Reason.OUTSIDE_HOURS, None),
        ("2024-12-24T10:30", False, Reason.CLOSING_DAY, "Juleaftensdag"),
        ("2024-12-27T10:30", False, Reason.CLOSING_DAY, "Mellem jul og nytår"),
        ("2024-12-31T10:30", False, Reason.CLOSING_DAY, "Nytårsaftensdag"),
        ("2024-05-10T10:30", False, Reason.CLOSING_DAY, "Fredag efter Kristi himmelfartsdag"),
        ("2024-05-09T10:30", False, Reason.PUBLIC_HOLIDAY, "Kristi himmelfartsdag"),
        ("2024-06-05T10:30", True, Reason.HOURS, None),  # Grundlovsdag: closed from noon only, as on 1 May
        ("2025-06-05T15:30", False, Reason.CLOSING_DAY, "Grundlovsdag"),  # a Thursday: its 15-17 is after noon
        ("2024-05-01T11:59", True, Reason.HOURS, None),  # 1 May: closed from noon only
        ("2024-05-01T12:00", False, Reason.CLOSING_DAY, "1. maj"),
        ("2024-01-06T10:30", False, Reason.OUTSIDE_HOURS, None),  # Saturday
    ],
)
def test_shipped_1818(shipped: Schedule, when: str, is_open: bool, reason: Reason, label: str | None) -> None:
    decision = decide(shipped, "1818", local(when))
    assert (decision.open, decision.reason, decision.label) == (is_open, reason, label)


@pytest.mark.parametrize(
    ("when", "is_open", "reason"),
    [
        ("2024-06-05T11:59", True, Reason.HOURS),
        ("2024-06-05T12:00", False, Reason.CLOSING_DAY),
        ("2024-06-05T14:00", False, Reason.CLOSING_DAY),
    ],
)
def test_grundlovsdag_closes_at_noon_on_a_line_open_all_day(
    shipped: Schedule, when: str, is_open: bool, reason: Reason
) -> None:
    """A direct line (open 08:00-15:30 on Wednesdays) shows the noon boundary that 1818's hours hide."""
    decision = decide(shipped, "89591001", local(when))
    assert (decision.open, decision.reason) == (is_open, reason)
    if not is_open:
        assert decision.label == "Grundlovsdag"
        assert decision.next_open == local("2024-06-06T08:00")


def test_open_decision_has_window_and_next_times(shipped: Schedule) -> None:
    decision = decide(shipped, "1818", local("2024-01-04T15:30"))
    assert decision.window == (local("2024-01-04T15:00"), local("2024-01-04T17:00"))
    assert decision.next_change == local("2024-01-04T17:00")
    assert decision.next_open == local("2024-01-05T10:00")


def test_closed_over_christmas_opens_after_new_year(shipped: Schedule) -> None:
    decision = decide(shipped, "1818", local("2024-12-23T12:00"))
    assert not decision.open
    assert decision.window is None
    assert decision.next_open == decision.next_change == local("2025-01-02T15:00")


def test_recurring_closure_first_friday(shipped: Schedule) -> None:
    closed = decide(shipped, "1818", local("2025-02-07T10:30"))  # first Friday of February 2025
    assert (closed.open, closed.reason, closed.cause, closed.label) == (
        False,
        Reason.CLOSURE,
        "staff_meeting",
        "Personalemøde",
    )
    assert closed.next_open == local("2025-02-07T11:00")
    assert decide(shipped, "1818", local("2025-02-14T10:30")).open  # second Friday


def test_direct_lines_have_their_own_hours(shipped: Schedule) -> None:
    at = local("2024-01-08T14:00")  # Monday afternoon: 1818 closed, direct lines open
    assert not decide(shipped, "1818", at).open
    assert decide(shipped, "89591001", at).open
    assert decide(shipped, "89591003", at).reason is Reason.HOURS


def test_decision_is_the_same_for_any_representation_of_the_instant(shipped: Schedule) -> None:
    instant = local("2024-01-04T15:30")
    assert decide(shipped, "1818", instant) == decide(shipped, "1818", instant.astimezone(UTC))


def test_unknown_line_and_naive_instant_are_errors(shipped: Schedule) -> None:
    with pytest.raises(UnknownLineError):
        decide(shipped, "9999", local("2024-01-04T15:30"))
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(shipped, "1818", datetime(2024, 1, 4, 15, 30))


# -- the model's hard cases ---------------------------------------------------------

SUNDAY_NIGHTS = """
    lines:
      x:
        versions:
          - valid_from: 2024-01-01
            hours:
              sun: ["01:00-02:30", "02:00-03:00"]
"""


def test_overlapping_windows_are_rejected() -> None:
    with pytest.raises(ScheduleError, match="overlaps"):
        schedule(SUNDAY_NIGHTS)


def test_spring_forward_window_in_the_gap_never_opens() -> None:
    s = schedule(
        """
        lines:
          x:
            versions:
              - valid_from: 2024-01-01
                hours:
                  sun: "02:00-03:00"
        """
    )
    # 31 March 2024: the clocks jump from 02:00 to 03:00; the window does not happen that day.
    before = decide(s, "x", utc("2024-03-31T00:59:59"))  # 01:59:59 CET
    assert not before.open
    assert before.next_open == utc("2024-04-07T00:00")  # next Sunday 02:00 CEST
    assert not decide(s, "x", utc("2024-03-31T01:00")).open  # 03:00 CEST


def test_spring_forward_window_starting_in_the_gap_opens_when_the_clock_jumps() -> None:
    s = schedule(
        """
        lines:
          x:
            versions:
              - valid_from: 2024-01-01
                hours:
                  sun: "02:30-04:00"
        """
    )
    before = decide(s, "x", utc("2024-03-31T00:30"))  # 01:30 CET
    assert before.next_open == utc("2024-03-31T01:00")  # 03:00 CEST: wall clock is past 02:30
    during = decide(s, "x", utc("2024-03-31T01:30"))
    assert during.open
    assert during.window == (utc("2024-03-31T01:00"), utc("2024-03-31T02:00"))


def test_fall_back_window_happens_twice() -> None:
    s = schedule(
        """
        lines:
          x:
            versions:
              - valid_from: 2024-01-01
                hours:
                  sun: "02:00-03:00"
        """
    )
    # 27 October 2024: 02:00-03:00 happens first in CEST, then again in CET: two real hours.
    first = decide(s, "x", utc("2024-10-27T00:30"))  # 02:30 CEST
    second = decide(s, "x", utc("2024-10-27T01:30"))  # 02:30 CET
    assert first.open
    assert second.open
    assert first.window == second.window == (utc("2024-10-27T00:00"), utc("2024-10-27T02:00"))
    assert first.next_change == utc("2024-10-27T02:00")  # 03:00 CET


def test_fall_back_reopens_when_the_clock_turns_back() -> None:
    s = schedule(
        """
        lines:
          x:
            versions:
              - valid_from: 2024-01-01
                hours:
                  sun: "01:00-02:30"
        """
    )
    closed = decide(s, "x", utc("2024-10-27T00:45"))  # 02:45 CEST: past the window...
    assert not closed.open
    assert closed.next_open == utc("2024-10-27T01:00")  # ...until 02:00 CET comes round again
    assert decide(s, "x", utc("2024-10-27T01:29")).open
    assert not decide(s, "x", utc("2024-10-27T01:30")).open  # 02:30 CET


def test_overnight_window_and_version_switch_at_midnight() -> None:
    s = schedule(
        """
        lines:
          x:
            versions:
              - valid_from: 2023-01-01
                hours:
                  sun: {time: "22:00-02:00", overnight: yes}
              - valid_from: 2024-01-01
                hours:
                  mon: "09:00-10:00"
        """
    )
    # Sunday 31 Dec 2023, old version: open from 22:00 into Monday 1 Jan, when the new version applies.
    late = decide(s, "x", local("2023-12-31T23:59:59"))
    assert late.open
    assert late.window == (local("2023-12-31T22:00"), local("2024-01-01T02:00"))
    assert decide(s, "x", local("2024-01-01T01:59")).open
    after = decide(s, "x", local("2024-01-01T02:00"))
    assert not after.open
    assert after.next_open == local("2024-01-01T09:00")


def test_several_windows_a_day_and_adjacent_windows_merge() -> None:
    s = schedule(
        """
        lines:
          x:
            versions:
              - valid_from: 2024-01-01
                hours:
                  mon: ["08:00-09:00", "10:00-11:00", "11:00-12:00"]
        """
    )
    gap = decide(s, "x", local("2024-01-08T09:30"))
    assert not gap.open
    assert gap.next_open == local("2024-01-08T10:00")
    merged = decide(s, "x", local("2024-01-08T10:30"))
    assert merged.window == (local("2024-01-08T10:00"), local("2024-01-08T12:00"))
    assert merged.next_open == local("2024-01-15T08:00")


PRECEDENCE = """
    lines:
      x:
        public_holidays: DK
        versions:
          - valid_from: 2024-01-01
            hours:
              mon-fri: "10:00-12:00"
        openings:
          - reason: extra_hours
            date: 2024-01-01           # Nytårsdag
            time: "10:00-11:00"
          - reason: extra_hours
            date: 2024-01-06           # a Saturday
            time: "09:00-10:00"
        closures:
          - reason: staff_shortage
            name: Sygdom
            from: 2024-01-01
            to: 2024-01-01
            time: "10:30-11:00"
          - reason: training
            from: 2024-01-15
            to: 2024-01-19
          - reason: system_upgrade
            from: 2024-01-22 11:30
            to: 2024-01-23 10:15
"""


@pytest.mark.parametrize(
    ("when", "is_open", "reason", "cause"),
    [
        ("2024-01-01T10:15", True, Reason.OPENING, "extra_hours"),  # an opening beats a holiday
        ("2024-01-01T10:45", False, Reason.CLOSURE, "staff_shortage"),  # a closure beats an opening
        ("2024-01-01T11:30", False, Reason.PUBLIC_HOLIDAY, None),
        ("2024-01-06T09:30", True, Reason.OPENING, "extra_hours"),
        ("2024-01-17T10:30", False, Reason.CLOSURE, "training"),  # a range of dates
        ("2024-01-19T11:59", False, Reason.CLOSURE, "training"),  # the last day is included
        ("2024-01-22T11:00", True, Reason.HOURS, None),
        ("2024-01-22T11:30", False, Reason.CLOSURE, "system_upgrade"),  # a date-and-time range
        ("2024-01-23T10:14", False, Reason.CLOSURE, "system_upgrade"),
        ("2024-01-23T10:15", True, Reason.HOURS, None),
    ],
)
def test_closures_and_openings(when: str, is_open: bool, reason: Reason, cause: str | None) -> None:
    decision = decide(schedule(PRECEDENCE), "x", local(when))
    assert (decision.open, decision.reason, decision.cause) == (is_open, reason, cause)


def test_next_open_skips_a_week_of_closure() -> None:
    decision = decide(schedule(PRECEDENCE), "x", local("2024-01-12T12:00"))
    assert decision.next_open == local("2024-01-22T10:00")


def test_outside_validity_before_the_first_version() -> None:
    decision = decide(schedule(PRECEDENCE), "x", local("2023-12-29T10:30"))
    assert (decision.open, decision.reason) == (False, Reason.OUTSIDE_VALIDITY)
    assert decision.next_open == local("2024-01-01T10:00")


def test_a_line_that_never_opens_has_no_next_opening() -> None:
    s = schedule(
        """
        lines:
          x:
            versions:
              - valid_from: 2024-01-01
                hours: {}
        """
    )
    decision = decide(s, "x", local("2024-06-01T10:00"))
    assert not decision.open
    assert decision.next_open is None
    assert decision.next_change is None


def test_override_wins_and_expires(shipped: Schedule) -> None:
    sick = Override(
        line="1818",
        open=False,
        reason="staff_shortage",
        since=local("2024-01-08T09:00"),
        until=local("2024-01-08T11:00"),
    )
    during = decide(shipped, "1818", local("2024-01-08T10:30"), [sick])
    assert (during.open, during.reason, during.cause, during.override) == (
        False,
        Reason.OVERRIDE,
        "staff_shortage",
        sick,
    )
    # At expiry the weekly hours apply again, and they are open then.
    assert during.next_change == during.next_open == local("2024-01-08T11:00")
    assert decide(shipped, "1818", local("2024-01-08T11:00"), [sick]).reason is Reason.HOURS
    # An override does not apply before it was set, nor to other lines.
    assert decide(shipped, "1818", local("2024-01-08T08:59"), [sick]).override is None
    assert decide(shipped, "89591001", local("2024-01-08T10:30"), [sick]).open


def test_open_override_outside_hours(shipped: Schedule) -> None:
    extra = Override("1818", True, "extra_hours", local("2024-01-08T13:00"), local("2024-01-08T15:00"))
    decision = decide(shipped, "1818", local("2024-01-08T14:00"), [extra])
    assert decision.open
    assert decision.next_change == local("2024-01-08T15:00")
    assert decision.next_open == local("2024-01-09T10:00")


def test_day_plan_names_what_made_the_day_special(shipped: Schedule) -> None:
    plan = day_plan(shipped, "1818", date(2025, 5, 2))  # first Friday of May 2025
    assert plan.windows == ((local("2025-05-02T11:00"), local("2025-05-02T12:00")),)
    assert [(n.reason, n.label) for n in plan.notes] == [(Reason.CLOSURE, "Personalemøde")]
    holiday = day_plan(shipped, "1818", date(2024, 12, 25))
    assert holiday.windows == ()
    assert holiday.notes[0].label == "Juledag"


def test_timeline_covers_every_day_exactly(shipped: Schedule) -> None:
    day = date(2023, 12, 25)
    for _ in range(400):  # across the version switch and both DST changes of 2024
        segments = shipped.timeline("1818", day)
        assert segments[0].start == local(f"{day}T00:00")
        assert segments[-1].end == local(f"{day + timedelta(days=1)}T00:00")
        assert all(a.end == b.start for a, b in itertools.pairwise(segments))
        day += timedelta(days=1)
