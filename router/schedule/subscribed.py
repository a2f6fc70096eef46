"""The office's calendar (ICS, as Outlook/Exchange, Google and Nextcloud publish one) read as closures.

Pure: the calendar's bytes in, closures (`Special`s of the line) out, for the days from `first` to
`last`. The expansion of recurring events is recurring-ical-events' (RRULE and RDATE, EXDATE, an
occurrence moved or cancelled by its RECURRENCE-ID, X-WR-TIMEZONE, time zones across DST): that is
the hard part of RFC 5545, and a well-kept library does it better than our own code would.

Which events count: those marked for the phone by the line's `calendar.mark`, as one of their
CATEGORIES or as a word of their SUMMARY (case does not matter); not one whose STATUS is CANCELLED
(a whole series, or one occurrence by its RECURRENCE-ID). An all-day event closes whole days (DTEND
is the day after, as RFC 5545 has it); a timed one closes from its start to its end in the
schedule's wall clock (a floating time is read as that wall clock). The calendar's closures rank
as the schedule file's closures (schedule/planned.py).

Imported only by the subscription (office/calendars.py): icalendar stays out of the light commands.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from router.schedule.model import CalendarFeed, Days, Span, Special

NAME_LIMIT = 80


class CalendarError(ValueError):
    """The bytes are not a calendar that can be read."""


def closures(data: bytes, feed: CalendarFeed, tz: ZoneInfo, first: date, last: date) -> tuple[Special, ...]:
    """The closures that the calendar's marked events make between `first` and `last` (inclusive)."""
    try:
        calendar = icalendar.Calendar.from_ical(data)
        start = datetime.combine(first, time(), tz)
        end = datetime.combine(last + timedelta(days=1), time(), tz)
        events = recurring_ical_events.of(calendar).between(start, end)
    except Exception as e:  # icalendar and the expansion raise ValueError, KeyError, TypeError, ...
        raise CalendarError(f"not a calendar that can be read ({type(e).__name__}: {e})") from None
    if calendar.name != "VCALENDAR":
        raise CalendarError("not a calendar: no VCALENDAR")
    found = [_special(event, feed, tz) for event in events if _marked(event, feed.mark) and not _cancelled(event)]
    return tuple(sorted((s for s in found if s is not None), key=_start))


def _marked(event: icalendar.Event, mark: str) -> bool:
    wanted = mark.casefold()
    categories = event.get("CATEGORIES")
    for entry in categories if isinstance(categories, list) else [categories] if categories else []:
        if any(str(c).strip().casefold() == wanted for c in entry.cats):
            return True
    summary = str(event.get("SUMMARY", "")).casefold()
    return re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", summary) is not None


def _cancelled(event: icalendar.Event) -> bool:
    return str(event.get("STATUS", "")).upper() == "CANCELLED"


def _special(event: icalendar.Event, feed: CalendarFeed, tz: ZoneInfo) -> Special | None:
    start = event.decoded("DTSTART")
    end = event.decoded("DTEND") if "DTEND" in event else None
    if end is None and "DURATION" in event:
        end = start + event.decoded("DURATION")
    name = " ".join(str(event.get("SUMMARY", "")).split())[:NAME_LIMIT] or None
    if not isinstance(start, datetime):  # an all-day event: DTEND is the day after its last
        last = end - timedelta(days=1) if isinstance(end, date) and not isinstance(end, datetime) else start
        return Special(False, feed.reason, Days(start, max(last, start)), name)
    wall_start = _wall(start, tz)
    wall_end = _wall(end, tz) if isinstance(end, datetime) else wall_start
    if wall_end <= wall_start:
        return None  # a moment, not a stretch: it closes nothing
    return Special(False, feed.reason, Span(wall_start, wall_end), name)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    """The schedule's wall clock, naive (a floating time already is)."""
    return instant.astimezone(tz).replace(tzinfo=None) if instant.tzinfo is not None else instant


def _start(special: Special) -> datetime:
    when = special.when
    if isinstance(when, Span):
        return when.start
    assert isinstance(when, Days)
    return datetime.combine(when.first, time())
