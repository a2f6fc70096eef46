"""The schedule's data: lines, their weekly hours by version, closures, openings, holidays, overrides.

Frozen records with no behaviour beyond reading themselves; `router.schedule.timeline` computes
from them. A line's `queue:` configuration lives here too: it is read from the same file, and both
the schedule's reader and the call flow use it.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import Enum, StrEnum

import holidays as holidays_lib
from dateutil.rrule import rrule

MINUTES_PER_DAY = 24 * 60
DEFAULT_PLANNED_MAX_DAYS = 14
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = timedelta(days=1)


class Reason(StrEnum):
    """Why a line is open or closed."""

    HOURS = "hours"  # open: inside the weekly phone hours
    OUTSIDE_HOURS = "outside_hours"  # closed: no phone hours now
    PUBLIC_HOLIDAY = "public_holiday"
    CLOSING_DAY = "closing_day"  # a municipal closing day (24 Dec, ...)
    CLOSURE = "closure"  # an operator's one-off or recurring closure
    OPENING = "opening"  # an operator's extra opening
    OVERRIDE = "override"  # an emergency override, set for a limited time
    OUTSIDE_VALIDITY = "outside_validity"  # before the line's first version


class UnknownLineError(LookupError):
    """The schedule has no line by that name."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes after local midnight, half-open. `end` may pass 1440 for an overnight window."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= 2 * MINUTES_PER_DAY:
            raise ValueError(f"bad time range {self.start}-{self.end}")

    @property
    def overnight(self) -> bool:
        return self.end > MINUTES_PER_DAY

    def __str__(self) -> str:
        return f"{clock(self.start)}-{clock(self.end % MINUTES_PER_DAY if self.overnight else self.end)}"


WHOLE_DAY = TimeRange(0, MINUTES_PER_DAY)


def clock(minutes: int) -> str:
    """Minutes after midnight as HH:MM; the end of the day is 24:00."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class Version:
    """The weekly phone hours in force from `valid_from` (local midnight) on."""

    valid_from: date
    hours: tuple[tuple[TimeRange, ...], ...]  # seven tuples, Monday first


# When a closure, opening or closing day applies: one of three shapes.
@dataclass(frozen=True, slots=True)
class Span:
    """One continuous wall-clock stretch, e.g. 2024-03-14 10:00 to 2024-03-15 11:00."""

    start: datetime  # naive, wall clock
    end: datetime

    def dates(self) -> Iterator[date]:
        day = self.start.date()
        while datetime.combine(day, datetime.min.time()) < self.end:
            yield day
            day += _DAY

    def on(self, day: date) -> TimeRange | None:
        midnight = datetime.combine(day, datetime.min.time())
        lo = max(self.start, midnight)
        hi = min(self.end, midnight + _DAY)
        if lo >= hi:
            return None
        return TimeRange((lo - midnight) // timedelta(minutes=1), (hi - midnight) // timedelta(minutes=1))


@dataclass(frozen=True, slots=True)
class Days:
    """Every day from `first` to `last` (inclusive), within `time` each day."""

    first: date
    last: date
    time: TimeRange = WHOLE_DAY

    def dates(self) -> Iterator[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += _DAY

    def on(self, day: date) -> TimeRange | None:
        return self.time if self.first <= day <= self.last else None


@dataclass(frozen=True, slots=True)
class Recurrence:
    """The days an RFC 5545 rule gives (e.g. FREQ=MONTHLY;BYDAY=1FR), within `time` each day."""

    text: str
    rule: rrule = field(compare=False, hash=False, repr=False)
    time: TimeRange = WHOLE_DAY

    def in_year(self, year: int) -> frozenset[date]:
        return _occurrences(self, year)


@functools.lru_cache(maxsize=4096)
def _occurrences(recurrence: Recurrence, year: int) -> frozenset[date]:
    start, end = datetime(year, 1, 1), datetime(year + 1, 1, 1)
    return frozenset(d.date() for d in recurrence.rule.between(start, end, inc=True) if d < end)


Occasion = Span | Days | Recurrence


@dataclass(frozen=True, slots=True)
class Special:
    """A closure (`open=False`), an extra opening, or a municipal closing day."""

    open: bool
    reason: str  # a short token, e.g. "staff_shortage"; later it selects a prompt
    when: Occasion
    name: str | None = None  # for people: "Personalemøde", "Juleaftensdag"


@dataclass(frozen=True, slots=True)
class HolidayCalendar:
    """Public holidays from the `holidays` package."""

    country: str
    subdivision: str | None = None
    language: str = "da"

    def name_on(self, day: date) -> str | None:
        return _holidays_in(self, day.year).get(day)


@functools.lru_cache(maxsize=256)
def _holidays_in(calendar: HolidayCalendar, year: int) -> Mapping[date, str]:
    found = holidays_lib.country_holidays(
        calendar.country, subdiv=calendar.subdivision, years=year, language=calendar.language
    )
    return dict(found.items())


class Strategy(Enum):
    """How a line's queue chooses which agents to ring."""

    RING_ALL = "ring_all"
    ROUND_ROBIN = "round_robin"
    LONGEST_IDLE = "longest_idle"


class WhenClosed(StrEnum):
    """What becomes of the queue's callbacks still open when the phone hours end."""

    MESSAGE = "message"  # each becomes a message in the console (and its e-mail)
    NEXT_OPENING = "next_opening"  # kept, and made in the next phone hours


@dataclass(frozen=True, slots=True)
class QueueCallback:
    """The queue's "keep my place and call me back" (the schedule file's `queue: callback:`). The call
    itself goes out as the line's `callback:` (DialOut) says: its target, caller id and ring times."""

    offer_after_seconds: int = 60  # how long a caller waits before the offer
    key: str = "5"  # the key that takes the offer
    attempts: int = 3  # calls to the citizen before the callback becomes a message
    retry_minutes: int = 10  # between attempts
    when_closed: WhenClosed = WhenClosed.MESSAGE


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """How a line's queue rings its agents (from the schedule file's `queue:` of a line)."""

    agents: tuple[str, ...]  # PJSIP endpoint names, in the order round robin takes them
    strategy: Strategy = Strategy.RING_ALL
    ring_seconds: int = 20
    retry_seconds: int = 5
    max_wait_seconds: int = 600  # then the caller is offered the answering machine
    announce_seconds: int = 60  # position announcements; 0: none
    serve_after_close: bool = True  # a caller waiting when the phone hours end is still served
    callback: QueueCallback | None = None  # None: no callback is offered


@dataclass(frozen=True, slots=True)
class CalendarFeed:
    """The office's calendar, subscribed to (office/calendars.py): its events marked for the phone
    (by a category, or a word in the title, equal to `mark`) close the line."""

    url: str
    mark: str
    reason: str = "calendar"  # selects the message callers hear: closure-<reason>
    every_minutes: int = 5


@dataclass(frozen=True)
class DialOut:
    """How "Ring op" in the console reaches a citizen from a line (the schedule file's `callback:`)."""

    dial: str  # an ARI originate endpoint with `{number}`: PJSIP/{number}@trunk, Local/{number}@outbound
    caller_id: str  # the number the citizen sees: the line's own (1818)
    ring_seconds: int = 45  # how long the citizen's phone rings
    staff_ring_seconds: int = 30  # how long the staff member's own phone rings first

    def endpoint(self, number: str) -> str:
        """The endpoint to originate for `number` (a caller id the console found diallable)."""
        return self.dial.replace("{number}", number)


@dataclass(frozen=True)
class Line:
    """One phone number and everything that decides when it is open."""

    id: str
    name: str
    versions: tuple[Version, ...]  # sorted by valid_from
    public_holidays: HolidayCalendar | None = None
    closing_days: bool = True  # whether the schedule's municipal closing days apply
    specials: tuple[Special, ...] = ()  # closures and extra openings
    email: str | None = None
    self_service: str | None = None
    notify: tuple[str, ...] = ()  # e-mail addresses told of every message left on the line
    # In phone hours: the router's queue, or a dialplan context (a site's own Queue()). None: the
    # context callrouter-open-<line>.
    open_to: QueueConfig | str | None = None
    # The longest a planned closure (the console's, `callrouter closures`) may close the line, in
    # days in a row: planned closures that touch or overlap count together (schedule/planned.py).
    planned_closure_max_days: int = DEFAULT_PLANNED_MAX_DAYS
    calendar: CalendarFeed | None = None
    callback: DialOut | None = None  # None: the console cannot dial this line's callers

    def version_on(self, day: date) -> Version | None:
        i = bisect.bisect_right([v.valid_from for v in self.versions], day)
        return self.versions[i - 1] if i else None


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of real time [start, end) in which a line's state and its reason hold."""

    start: datetime  # aware, UTC
    end: datetime
    open: bool
    reason: Reason
    cause: str | None = None  # the closure's or opening's reason token
    label: str | None = None  # the holiday's or closure's name, for people


@dataclass(frozen=True, slots=True)
class Override:
    """An emergency override: a line forced open or closed, always with an expiry."""

    line: str
    open: bool
    reason: str
    since: datetime
    until: datetime
    note: str | None = None

    def active_at(self, instant: datetime) -> bool:
        return self.since <= instant < self.until


@dataclass(frozen=True, slots=True)
class Decision:
    """What a caller to `line` gets at `instant`, and when that changes."""

    line: str
    instant: datetime
    open: bool
    reason: Reason
    cause: str | None
    label: str | None
    window: tuple[datetime, datetime] | None  # the open window in force, when open
    next_open: datetime | None  # start of the next opening after `instant`; None: none known
    next_change: datetime | None  # when `open` next flips; None: not within the horizon
    override: Override | None = None
    # Until when every later instant gets this same decision but for `instant` (the end of the
    # schedule's segment, or of the override, or an override's start): where reason or label
    # change, though `open` does not. None: not known.
    holds_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class DayPlan:
    """One local day of a line: its open windows and what made the day special."""

    day: date
    windows: tuple[tuple[datetime, datetime], ...]
    notes: tuple[Segment, ...]  # segments not explained by the weekly hours alone
