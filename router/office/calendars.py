"""The office's calendars, subscribed to: each line's `calendar:` fetched every few minutes, its marked
events made closures (schedule/subscribed.py) and joined to the schedule (schedule/planned.py).

A fetch is a conditional request (If-None-Match with the last ETag, If-Modified-Since with the last
Last-Modified), so an unchanged calendar costs a 304. A calendar that cannot be fetched (a network
error, an HTTP error, 404 or 410 when it was unpublished) or read (an HTML sign-in page instead of
a calendar) never changes the phone hours silently: the last good copy stays in force, and the
failure is said on /status, the Skemaet page and the metrics (`callrouter_calendar_ok{line}`)
until a fetch succeeds. Before the first good copy there is none: the line follows its schedule.
The copy is expanded again each day from the bytes kept, so that a 304 for weeks still moves the
window of days it covers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp

from router.schedule import Schedule, Special
from router.schedule.model import CalendarFeed

log = logging.getLogger(__name__)

DAYS_AHEAD = 400  # the window of days the calendar's events are read for: the schedule's horizon and more
TIMEOUT = aiohttp.ClientTimeout(total=30)
LARGEST = 20 * 1024 * 1024  # a published calendar of many years is a few MB
LOOK_SECONDS = 5.0  # how often the loop looks for a calendar that is due


@dataclass(frozen=True)
class CalendarState:
    """A line's calendar as the router has it: the last good copy and the last attempt."""

    url: str
    specials: tuple[Special, ...] = ()
    loaded_at: datetime | None = None  # when the copy in force was fetched (or confirmed by a 304)
    checked_at: datetime | None = None  # the last attempt
    error: str | None = None  # why the last attempt failed, for the log and /status; None: it succeeded
    error_da: str | None = None  # the same for the console's staff, in Danish
    events: int = 0
    etag: str | None = None
    last_modified: str | None = None
    body: bytes = field(default=b"", repr=False)
    first_day: date | None = None  # the first day of the window the copy was expanded for

    @property
    def ok(self) -> bool:
        return self.error is None and self.loaded_at is not None

    @property
    def where(self) -> str:
        """The address for people and logs: its host only. A published calendar's address holds its
        secret (Outlook's and Google's do), which must not reach the console, /status or the log."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}/…"


class Calendars:
    """Every line's subscribed calendar; `specials()` is what the schedule joins."""

    def __init__(self, schedule: Callable[[], Schedule], clock: Callable[[], datetime]) -> None:
        self._schedule = schedule
        self._clock = clock
        self._states: dict[str, CalendarState] = {}
        self._specials: dict[str, tuple[Special, ...]] = {}

    def specials(self) -> Mapping[str, tuple[Special, ...]]:
        """The closures each line's calendar makes: the same mapping until one changes."""
        return self._specials

    def states(self) -> dict[str, CalendarState]:
        return dict(self._states)

    async def keep_fetching(self) -> None:
        """Until cancelled; with a session of its own, apart from the connections to Asterisk."""
        async with aiohttp.ClientSession() as session:
            while True:
                await self.fetch_due(session)
                await asyncio.sleep(LOOK_SECONDS)

    async def fetch_due(self, session: aiohttp.ClientSession) -> None:
        """Fetch each calendar whose time has come (and drop those the schedule no longer names)."""
        schedule, now = self._schedule(), self._clock()
        feeds = {line_id: line.calendar for line_id, line in schedule.lines.items() if line.calendar is not None}
        for line_id in set(self._states) - set(feeds):
            del self._states[line_id]
        for line_id, feed in feeds.items():
            state = self._states.get(line_id)
            if state is None or state.url != feed.url:
                state = CalendarState(feed.url)
            due = state.checked_at is None or now - state.checked_at >= timedelta(minutes=feed.every_minutes)
            self._states[line_id] = await self._fetch(session, schedule, feed, state, now) if due else state
            self._states[line_id] = await self._expanded(schedule, feed, self._states[line_id], now)
        specials = {line_id: state.specials for line_id, state in self._states.items()}
        if specials != self._specials:
            self._specials = specials

    async def _fetch(
        self,
        session: aiohttp.ClientSession,
        schedule: Schedule,
        feed: CalendarFeed,
        state: CalendarState,
        now: datetime,
    ) -> CalendarState:
        headers = {"Accept": "text/calendar, */*;q=0.5"}
        if state.etag and state.body:
            headers["If-None-Match"] = state.etag
        if state.last_modified and state.body:
            headers["If-Modified-Since"] = state.last_modified
        try:
            async with session.get(feed.url, headers=headers, timeout=TIMEOUT) as response:
                if response.status == 304 and state.body:
                    return replace(state, checked_at=now, loaded_at=now, error=None, error_da=None)
                if response.status in (404, 410):
                    return _failed(
                        state,
                        now,
                        f"the calendar is gone (HTTP {response.status}): the last copy stays",
                        f"kalenderen findes ikke længere på adressen (HTTP {response.status})",
                    )
                if response.status != 200:
                    status = f"HTTP {response.status} {response.reason or ''}".strip()
                    return _failed(state, now, status, f"serveren svarede {status}")
                body = await response.content.read(LARGEST + 1)
                if len(body) > LARGEST:
                    size = f"{LARGEST // 1024 // 1024} MB"
                    return _failed(state, now, f"larger than {size}", f"den er større end {size}")
                etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        except (aiohttp.ClientError, TimeoutError) as e:
            why = f"{type(e).__name__}: {e}".rstrip(": ")
            return _failed(state, now, f"cannot fetch it: {why}", f"den kan ikke hentes ({why})")
        fresh = replace(state, body=body, etag=etag, last_modified=modified, first_day=None, error=None, error_da=None)
        expanded = await self._expanded(schedule, feed, fresh, now)
        if expanded.error is not None:
            return replace(expanded, body=state.body, etag=state.etag, last_modified=state.last_modified,
                           first_day=state.first_day, specials=state.specials, events=state.events)  # fmt: skip
        if state.error is not None or state.loaded_at is None:
            log.info("calendar: %s read, %d closures", state.where, expanded.events)
        return replace(expanded, loaded_at=now, checked_at=now, error=None, error_da=None)

    async def _expanded(
        self, schedule: Schedule, feed: CalendarFeed, state: CalendarState, now: datetime
    ) -> CalendarState:
        """The copy's closures for the window from yesterday on, expanded again when the day changed."""
        from router.schedule.subscribed import CalendarError, closures  # icalendar: only where a calendar is

        today = now.astimezone(schedule.tz).date()
        first = today - timedelta(days=1)
        if not state.body or state.first_day == first:
            return state
        try:
            specials = await asyncio.to_thread(
                closures, state.body, feed, schedule.tz, first, first + timedelta(days=DAYS_AHEAD)
            )
        except CalendarError as e:
            return _failed(state, now, f"cannot read it: {e}", f"den kan ikke læses som en kalender ({e})")
        return replace(state, specials=specials, events=len(specials), first_day=first)


def _failed(state: CalendarState, now: datetime, error: str, danish: str) -> CalendarState:
    # An error may name the address, with its secret.
    error, danish = error.replace(state.url, state.where), danish.replace(state.url, state.where)
    if state.error != error:
        log.warning("calendar: %s: %s; the last good copy stays in force", state.where, error)
    return replace(state, checked_at=now, error=error, error_da=danish)
