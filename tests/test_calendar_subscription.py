"""The office's calendar, subscribed to: marked events close the line (all-day, time zones, recurring
across DST with EXDATE and moved or cancelled occurrences, cancelled events), read from a local HTTP
server with conditional requests; a calendar that fails, turns into a sign-in page or disappears keeps
the last good copy and says so on /status, the Skemaet page and the metrics."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import icalendar
import pytest
import pytest_asyncio
from aiohttp import web

from router.app import RouterConfig, running
from router.ari import AriConfig
from router.calls.prompts import DEFAULT_MANIFEST
from router.office import calendars as calendars_module
from router.office.calendars import Calendars
from router.schedule import Reason, Schedule, ScheduleError, decide, parse_schedule
from router.schedule.model import CalendarFeed
from router.schedule.planned import WithPlanned
from router.schedule.subscribed import CalendarError, closures
from router.web.http_api import ApiConfig
from tests.conftest import ROOT, local
from tests.console_client import Visitor, make_accounts
from tests.test_router_sim import simulator

CPH = ZoneInfo("Europe/Copenhagen")
FEED = CalendarFeed("http://127.0.0.1/kalender.ics", "Telefon", "staff_shortage")
TOKEN = "t" * 32


def event(uid: str, summary: str, start: date | datetime, end: date | datetime, **extra: Any) -> icalendar.Event:
    found = icalendar.Event()
    found.add("uid", uid)
    found.add("dtstamp", datetime(2024, 1, 1, tzinfo=UTC))
    found.add("summary", summary)
    found.add("dtstart", start)
    found.add("dtend", end)
    for key, value in extra.items():
        found.add(key.replace("_", "-"), value)
    return found


def calendar(*events: icalendar.Event) -> bytes:
    found = icalendar.Calendar()
    found.add("prodid", "-//callrouter tests//")
    found.add("version", "2.0")
    for e in events:
        found.add_component(e)
    return bytes(found.to_ical())


def the_office() -> bytes:
    """A week of the office's calendar: what is marked for the phone, and what is not."""
    course_tuesdays = event(
        "kursus",
        "Kursus",
        datetime(2024, 3, 19, 10, tzinfo=CPH),
        datetime(2024, 3, 19, 10, 30, tzinfo=CPH),
        categories=["Telefon", "Uddannelse"],
        rrule={"freq": "weekly", "count": 5},
        exdate=datetime(2024, 3, 26, 10, tzinfo=CPH),
    )
    moved = event(
        "kursus",
        "Kursus (flyttet)",
        datetime(2024, 4, 2, 11, tzinfo=CPH),
        datetime(2024, 4, 2, 11, 30, tzinfo=CPH),
        categories=["Telefon"],
        recurrence_id=datetime(2024, 4, 2, 10, tzinfo=CPH),
    )
    cancelled_once = event(
        "kursus",
        "Kursus",
        datetime(2024, 4, 9, 10, tzinfo=CPH),
        datetime(2024, 4, 9, 10, 30, tzinfo=CPH),
        categories=["Telefon"],
        recurrence_id=datetime(2024, 4, 9, 10, tzinfo=CPH),
        status="CANCELLED",
    )
    return calendar(
        event("ferie", "Sommerferie", date(2024, 1, 5), date(2024, 1, 6), categories=["telefon"]),  # all day
        event(
            "moede",
            "Telefon lukket: personalemøde",
            datetime(2024, 1, 8, 9, tzinfo=UTC),
            datetime(2024, 1, 8, 10, tzinfo=UTC),
        ),
        event(
            "frokost",
            "Frokost med telefonisten",
            datetime(2024, 1, 9, 10, tzinfo=CPH),
            datetime(2024, 1, 9, 12, tzinfo=CPH),
        ),  # "telefonisten" is not the word
        event(
            "aflyst",
            "Telefon",
            datetime(2024, 1, 10, 10, tzinfo=CPH),
            datetime(2024, 1, 10, 12, tzinfo=CPH),
            status="CANCELLED",
        ),
        event(
            "new-york",
            "Telefon",
            datetime(2024, 1, 15, 4, 30, tzinfo=ZoneInfo("America/New_York")),
            datetime(2024, 1, 15, 5, tzinfo=ZoneInfo("America/New_York")),
        ),  # 10:30-11:00 here
        course_tuesdays,
        moved,
        cancelled_once,
    )


def joined(schedule: Schedule, data: bytes) -> Schedule:
    found = closures(data, FEED, CPH, date(2024, 1, 1), date(2024, 12, 31))
    return WithPlanned(lambda: schedule, tuple, lambda: {"1818": found})()


@pytest.mark.parametrize(
    ("instant", "closed_by"),
    [
        ("2024-01-05T10:30", "Sommerferie"),  # all day, by category (in other case)
        ("2024-01-08T10:30", "Telefon lukket: personalemøde"),  # a word of the title; UTC to local
        ("2024-01-08T11:30", None),
        ("2024-01-09T10:30", None),  # not marked
        ("2024-01-10T10:30", None),  # cancelled
        ("2024-01-15T10:45", "Telefon"),  # New York's 04:45
        ("2024-03-19T10:15", "Kursus"),  # recurring, winter time
        ("2024-03-26T10:15", None),  # EXDATE
        ("2024-04-02T10:15", None),  # moved by its RECURRENCE-ID ...
        ("2024-04-02T11:15", "Kursus (flyttet)"),  # ... to 11:00
        ("2024-04-09T10:15", None),  # one occurrence cancelled
        ("2024-04-16T10:15", "Kursus"),  # summer time: still 10:00 on the wall clock
        ("2024-04-16T10:45", None),
    ],
)
def test_marked_events_close_the_line(shipped: Schedule, instant: str, closed_by: str | None) -> None:
    decision = decide(joined(shipped, the_office()), "1818", local(instant))
    assert decide(shipped, "1818", local(instant)).open  # in phone hours, by the file alone
    if closed_by is None:
        assert decision.open
    else:
        assert (decision.open, decision.reason, decision.cause, decision.label) == (
            False,
            Reason.CLOSURE,
            "staff_shortage",
            closed_by,
        )


OUTLOOK = """BEGIN:VCALENDAR\r
METHOD:PUBLISH\r
PRODID:Microsoft Exchange Server 2010\r
VERSION:2.0\r
X-WR-CALNAME:Kalender\r
BEGIN:VTIMEZONE\r
TZID:Romance Standard Time\r
BEGIN:STANDARD\r
DTSTART:16010101T030000\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:16010101T020000\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:040000008200E00074C5B7101A82E00800000000\r
SUMMARY:TELEFON lukket - teammøde\r
DTSTART;TZID=Romance Standard Time:20240320T100000\r
DTEND;TZID=Romance Standard Time:20240320T110000\r
RRULE:FREQ=WEEKLY;UNTIL=20240410T080000Z;INTERVAL=1;BYDAY=WE;WKST=MO\r
CLASS:PUBLIC\r
PRIORITY:5\r
DTSTAMP:20240101T120000Z\r
TRANSP:OPAQUE\r
STATUS:CONFIRMED\r
SEQUENCE:0\r
X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r
END:VEVENT\r
END:VCALENDAR\r
""".encode()


@pytest.mark.parametrize(
    ("instant", "closed"),
    [
        ("2024-03-20T10:30", True),
        ("2024-04-03T10:30", True),
        ("2024-04-10T10:30", True),
        ("2024-04-17T10:30", False),
        ("2024-04-03T11:30", False),
    ],
)
def test_an_outlook_export_with_its_windows_time_zone(shipped: Schedule, instant: str, closed: bool) -> None:
    assert decide(joined(shipped, OUTLOOK), "1818", local(instant)).open is not closed


@pytest.mark.parametrize(
    "data", [b"<!doctype html><title>Log ind</title>", b"", b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n"]
)
def test_what_is_not_a_calendar_is_an_error(data: bytes) -> None:
    with pytest.raises(CalendarError):
        closures(data, FEED, CPH, date(2024, 1, 1), date(2024, 12, 31))


def test_the_calendar_in_the_schedule_file_is_validated_with_its_place() -> None:
    text = (ROOT / "schedule.yaml").read_text(encoding="utf-8")
    good = text.replace(
        "    self_service: Mit Betalingsoverblik\n",
        "    self_service: Mit Betalingsoverblik\n"
        "    calendar: {url: 'https://example.dk/k.ics', mark: Telefon, every_minutes: 10}\n",
        1,
    )
    assert parse_schedule(good).line("1818").calendar == CalendarFeed(
        "https://example.dk/k.ics", "Telefon", "calendar", 10
    )
    for bad, message in [
        (
            "url: 'webcal://example.dk/k.ics', mark: Telefon",
            "calendar.url: expected the calendar's address, http:// or https://",
        ),
        (
            "url: 'https://example.dk/k.ics', mark: Telefon, every_minutes: 0",
            "calendar.every_minutes: expected 1 to 60",
        ),
        ("url: 'https://example.dk/k.ics', mark: Telefon, reason: Syg", "calendar.reason: a reason is a token"),
    ]:
        broken = good.replace("url: 'https://example.dk/k.ics', mark: Telefon, every_minutes: 10", bad)
        with pytest.raises(ScheduleError) as found:
            parse_schedule(broken, "schedule.yaml")
        place = next(i for i, x in enumerate(good.splitlines(), 1) if "calendar:" in x)
        assert str(found.value).startswith(f"schedule.yaml:{place}:")
        assert message in str(found.value)


class CalendarServer:
    """The office's calendar as a web server publishes it: ETag and Last-Modified, 304 when unchanged."""

    def __init__(self) -> None:
        self.body = b""
        self.status = 200
        self.content_type = "text/calendar"
        self.requests: list[dict[str, str]] = []
        self.answers: list[int] = []
        self.url = ""

    async def serve(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        tag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        if self.status != 200:
            answer = web.Response(status=self.status, text="nope")
        elif request.headers.get("If-None-Match") == tag:
            answer = web.Response(status=304, headers={"ETag": tag})
        else:
            answer = web.Response(
                body=self.body,
                content_type=self.content_type,
                headers={"ETag": tag, "Last-Modified": "Mon, 01 Jan 2024 12:00:00 GMT"},
            )
        self.answers.append(answer.status)
        return answer


@contextlib.asynccontextmanager
async def calendar_server() -> AsyncIterator[CalendarServer]:
    """The calendar served on a free loopback port until the block ends."""
    found = CalendarServer()
    app = web.Application()
    app.router.add_get("/kalender.ics", found.serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    found.url = f"http://{host}:{port}/kalender.ics"
    try:
        yield found
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def server() -> AsyncIterator[CalendarServer]:
    async with calendar_server() as found:
        yield found


def subscribed(url: str) -> Schedule:
    text = (ROOT / "schedule.yaml").read_text(encoding="utf-8")
    return parse_schedule(
        text.replace(
            "    self_service: Mit Betalingsoverblik\n",
            "    self_service: Mit Betalingsoverblik\n"
            f"    calendar: {{url: '{url}', mark: Telefon, reason: staff_shortage, every_minutes: 1}}\n",
            1,
        )
    )


async def test_fetched_with_conditional_requests_and_the_last_good_copy_kept(server: CalendarServer) -> None:
    schedule = subscribed(server.url)
    now = [local("2024-01-05T10:00")]
    feeds = Calendars(lambda: schedule, lambda: now[0])
    joined_schedule = WithPlanned(lambda: schedule, tuple, feeds.specials)

    def closed_at(instant: str) -> bool:
        return not decide(joined_schedule(), "1818", local(instant)).open

    async def fetch(minutes: int = 1) -> None:
        now[0] += timedelta(minutes=minutes)
        await feeds.fetch_due(http)

    server.body = the_office()
    async with aiohttp.ClientSession() as http:
        await feeds.fetch_due(http)
        state = feeds.states()["1818"]
        assert state.ok
        assert closed_at("2024-01-05T10:30")
        await feeds.fetch_due(http)  # not due yet: no request
        assert len(server.requests) == 1
        await fetch()
        assert server.answers[-1] == 304
        assert "If-None-Match" in server.requests[-1]
        assert "If-Modified-Since" in server.requests[-1]
        specials = feeds.specials()

        # Changed: the event removed; the line follows the file again.
        server.body = calendar(
            event("moede", "Telefon", datetime(2024, 1, 8, 10, tzinfo=CPH), datetime(2024, 1, 8, 11, tzinfo=CPH))
        )
        await fetch()
        assert server.answers[-1] == 200
        assert not closed_at("2024-01-05T10:30")
        assert closed_at("2024-01-08T10:30")
        assert feeds.specials() is not specials

        # Failures: each keeps the last good copy and says why; none changes the phone hours.
        for status, content, said, danish in [
            (500, b"", "HTTP 500", "serveren svarede HTTP 500"),
            (404, b"", "the calendar is gone (HTTP 404)", "kalenderen findes ikke længere på adressen (HTTP 404)"),
            (200, b"<!doctype html><title>Log ind</title>", "cannot read it", "den kan ikke læses som en kalender"),
        ]:
            server.status, server.body = status, content or server.body
            await fetch()
            state = feeds.states()["1818"]
            assert not state.ok
            assert state.error is not None
            assert said in state.error
            assert state.error_da is not None
            assert danish in state.error_da  # what the console shows
            assert closed_at("2024-01-08T10:30")
            assert not closed_at("2024-01-05T10:30")

        # Back: the next good fetch is in force, and all is well again.
        server.status, server.body = 200, the_office()
        await fetch()
        assert feeds.states()["1818"].ok
        assert closed_at("2024-01-05T10:30")


async def test_status_metrics_and_the_skemaet_page_say_when_the_calendar_fails(
    server: CalendarServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calendars_module, "LOOK_SECONDS", 0.05)
    make_accounts(tmp_path)
    schedule = subscribed(server.url)
    server.body = the_office()
    now = [local("2024-01-05T10:30")]  # Friday, in phone hours; the calendar says Sommerferie
    async with simulator(schedule) as sim:
        config = RouterConfig(
            AriConfig(sim.url, "router", "router", "secret"),
            schedule,
            tmp_path,
            DEFAULT_MANIFEST,
            api=ApiConfig("127.0.0.1", 0, TOKEN),
        )
        async with running(config, clock=lambda: now[0]) as router, aiohttp.ClientSession() as http:
            assert router.api_url is not None
            base = router.api_url

            async def get(path: str) -> Any:
                answer = await http.get(base + path, headers={"Authorization": f"Bearer {TOKEN}"})
                return await answer.json() if path == "/status" else await answer.text()

            found: dict[str, Any] = {}

            async def status_says(ok: bool) -> bool:
                found.update(await get("/status"))
                return bool(found.get("calendars", {}).get("1818", {}).get("ok") is ok)

            await until_async(lambda: status_says(True))
            assert await status_says(True)  # read again: a status is read line by line, then the calendars
            assert found["lines"]["1818"]["label"] == "Sommerferie"
            assert 'callrouter_calendar_ok{line="1818"} 1.0' in await get("/metrics")

            server.status = 500
            now[0] += timedelta(minutes=1)
            await until_async(lambda: status_says(False))
            assert await status_says(False)
            assert "HTTP 500" in found["calendars"]["1818"]["error"]
            assert found["lines"]["1818"]["label"] == "Sommerferie"  # the last good copy stays in force
            assert 'callrouter_calendar_ok{line="1818"} 0.0' in await get("/metrics")
            visitor = Visitor(base, http)
            assert await visitor.sign_in("anna") == 303
            _, page, _ = await visitor.get("/ui/skema")
            assert "Kalenderen kunne ikke hentes eller læses" in page
            assert "serveren svarede HTTP 500" in page  # in Danish, as the sentence around it
            assert "/kalender.ics" not in page  # a published calendar's address holds its secret
            assert found["calendars"]["1818"]["url"] == server.url.split("/kalender")[0] + "/…"
            assert "Den sidste gode kopi" in page


async def until_async(condition: Callable[[], Awaitable[bool]], within: float = 10) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await condition():
        assert loop.time() < deadline, "not within the time"
        await asyncio.sleep(0.05)


async def test_an_unchanged_calendar_still_covers_the_days_ahead(server: CalendarServer, shipped: Schedule) -> None:
    """Weeks of 304s: the copy kept is expanded again each day, so a weekly event keeps closing the line."""
    schedule = subscribed(server.url)
    now = [local("2024-01-05T09:00")]
    feeds = Calendars(lambda: schedule, lambda: now[0])
    weekly = event("uge", "Telefon", datetime(2024, 1, 8, 10, tzinfo=CPH), datetime(2024, 1, 8, 10, 30, tzinfo=CPH),
                   rrule={"freq": "weekly"})  # fmt: skip
    server.body = calendar(weekly)
    async with aiohttp.ClientSession() as http:
        await feeds.fetch_due(http)
        now[0] = local("2025-06-02T09:00")  # a Monday, past the first copy's window of days
        await feeds.fetch_due(http)
    assert server.answers == [200, 304]
    joined_schedule = WithPlanned(lambda: schedule, tuple, feeds.specials)()
    assert not decide(joined_schedule, "1818", local("2025-06-02T10:15")).open
    assert decide(joined_schedule, "1818", local("2025-06-02T10:45")).open
    assert decide(shipped, "1818", local("2025-06-02T10:15")).open
