"""The phone hours of a line as an iCalendar file (RFC 5545), for a website or a calendar app."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import icalendar

from router.schedule.timeline import Schedule, day_plan


def open_windows(schedule: Schedule, line_id: str, first: date, days: int) -> list[tuple[datetime, datetime]]:
    """The open windows from `first` for `days` days; a window across midnight is one window."""
    windows: list[tuple[datetime, datetime]] = []
    for offset in range(days):
        for start, end in day_plan(schedule, line_id, first + timedelta(days=offset)).windows:
            if windows and windows[-1][1] == start:
                windows[-1] = (windows[-1][0], end)
            else:
                windows.append((start, end))
    return windows


def phone_hours_calendar(schedule: Schedule, line_id: str, first: date, days: int, generated: datetime) -> bytes:
    """One event per open window from `first` for `days` days; `generated` stamps the file."""
    line = schedule.line(line_id)
    windows = open_windows(schedule, line_id, first, days)
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//callrouter//phone hours//DA")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"Telefontid {line.name}")
    calendar.add("x-wr-timezone", schedule.timezone)
    for start, end in windows:
        event = icalendar.Event()
        event.add("uid", f"{line_id}-{start:%Y%m%dT%H%M%SZ}@callrouter")
        event.add("dtstamp", generated)
        event.add("dtstart", start.astimezone(schedule.tz))
        event.add("dtend", end.astimezone(schedule.tz))
        event.add("summary", f"Telefontid {line.name}")
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    data: bytes = calendar.to_ical()
    return data
