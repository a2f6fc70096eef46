"""The console's Statistik page (the call log of every node, drawn and listed, as CSV too) and the
wallboard (Tavle: Nu, large, for a screen on the office's wall).

The figures are office/statistics.py's; the charts web/charts.py's. Both pages are for everyone
signed in: they hold counts and waits, no caller's number or name.

The wallboard uses the ordinary session (12 hours at most, 2 idle): a screen that stays signed in
for days would need a credential of its own that grants only the figures, is kept hashed, can be
revoked from the console and is audited; until that exists, the screen is signed in each morning.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlencode

from aiohttp import web

from router.office import danish
from router.office.statistics import Figures, PeriodError, Tally, figures, period_bounds, tally
from router.web import charts
from router.web.charts import Series
from router.web.console_core import Console
from router.web.console_pages import _lines_now  # the Nu page's figures, which the wallboard enlarges

DEFAULT_DAYS = 30
WEEKDAYS = [d.capitalize() for d in danish.WEEKDAYS]
HOURS = [f"{h:02d}-{h + 1:02d}" for h in range(24)]
# Colours at least 3:1 against white, told apart without red/green (WCAG 1.4.1: the legend and tables name them).
BLUE, ORANGE, GREY, PURPLE, GREEN = "#0b4f8a", "#b35806", "#595959", "#6a3d9a", "#1b7837"
CSV_COLUMNS = [
    "dato", "opkald", "i telefontiden", "uden for telefontiden", "besvaret", "lagt på i køen", "overløb",
    "beskeder", "ringet op", "ventetid median (s)", "ventetid 90 % (s)",
]  # fmt: skip


def add_stats_pages(r: web.UrlDispatcher, console: Console) -> None:
    r.add_get("/ui/statistik", functools.partial(_statistics, console))
    r.add_get("/ui/statistik.csv", functools.partial(_csv, console))
    r.add_get("/ui/tavle", functools.partial(_wallboard, console))
    r.add_get("/ui/tavle/indhold", functools.partial(_wallboard_fragment, console))


# -- Statistik ---------------------------------------------------------------------------------


def _period(console: Console, request: web.Request) -> tuple[date, date]:
    """The period the query asks for (`fra`, `til`: YYYY-MM-DD), by default the last 30 days."""
    today = console.view.clock().astimezone(console.view.schedule().tz).date()
    try:
        first = date.fromisoformat(request.query.get("fra") or (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat())
        last = date.fromisoformat(request.query.get("til") or today.isoformat())
    except ValueError:
        raise PeriodError("Skriv datoerne som år-måned-dag, fx 2024-01-31.") from None
    return first, last


async def _figures(console: Console, first: date, last: date) -> Figures:
    """Read and counted in a thread: a year of a busy line (100,000 calls) takes most of a second to
    count, which the event loop, where the calls' events arrive, must not wait for."""
    tz = console.view.schedule().tz
    start, end = period_bounds(first, last, tz)

    def read_and_count() -> Figures:
        records = console.call_log.between(start, end)
        return figures(records, console.messages.received_between(start, end), first, last, tz)

    return await asyncio.to_thread(read_and_count)


async def _statistics(console: Console, request: web.Request) -> web.StreamResponse:
    today = console.view.clock().astimezone(console.view.schedule().tz).date()
    shortcuts = _shortcuts(today)
    try:
        first, last = _period(console, request)
        found = await _figures(console, first, last)
    except PeriodError as e:
        given = (request.query.get("fra", ""), request.query.get("til", ""))
        return console.render(request, "statistics.html", 400, title="Statistik", error=str(e), period=given,
                              shortcuts=shortcuts, figures=None)  # fmt: skip
    query = urlencode({"fra": first.isoformat(), "til": last.isoformat()})
    return console.render(
        request,
        "statistics.html",
        title="Statistik",
        error="",
        period=(first.isoformat(), last.isoformat()),
        shortcuts=shortcuts,
        figures=found,
        span=f"{danish.day(first)} – {danish.day(last)}",
        total=_row(found.total),
        charts=_charts(found),
        days=[(f"{danish.WEEKDAYS[d.weekday()]} {d.day}.{d.month}.{d.year}", _row(t)) for d, t in found.days],
        weeks=[(f"Uge {w.number} {w.year}", _row(w.tally)) for w in found.weeks],
        hours=list(zip(HOURS, found.by_hour, strict=True)),
        weekdays=list(zip(WEEKDAYS, found.by_weekday_hour, strict=True)),
        hour_names=HOURS,
        csv_link=f"/ui/statistik.csv?{query}",
    )


def _shortcuts(today: date) -> list[tuple[str, str]]:
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    periods = [
        ("Seneste 7 dage", today - timedelta(days=6), today),
        ("Seneste 30 dage", today - timedelta(days=DEFAULT_DAYS - 1), today),
        ("Denne måned", this_month, today),
        ("Sidste måned", last_month, this_month - timedelta(days=1)),
    ]
    return [
        (name, "/ui/statistik?" + urlencode({"fra": a.isoformat(), "til": b.isoformat()})) for name, a, b in periods
    ]


@dataclass(frozen=True)
class Row:
    """A day's or week's figures as the tables show them."""

    calls: int
    in_hours: int
    outside_hours: int
    answered: int
    abandoned: int
    overflow: int
    messages: int
    called_back: int
    median_wait: str
    p90_wait: str


def _row(t: Tally) -> Row:
    return Row(t.calls, t.in_hours, t.outside_hours, t.answered, t.abandoned, t.overflow, t.messages, t.called_back,
               _wait(t.median_wait), _wait(t.p90_wait))  # fmt: skip


def _wait(seconds: float | None) -> str:
    return "–" if seconds is None else f"{round(seconds)} s"


def _charts(found: Figures) -> dict[str, str]:
    day_labels = [f"{d.day}/{d.month}" for d, _ in found.days]
    days = [t for _, t in found.days]
    week_labels = [f"Uge {w.number}" for w in found.weeks]
    weeks = [w.tally for w in found.weeks]
    return {
        "days": charts.bars(
            "dage", "Opkald pr. dag", "Søjler: antal opkald hver dag i perioden, delt i opkald i og uden for "
            "telefontiden. Tallene står i tabellen under.", day_labels,
            [Series("I telefontiden", [t.in_hours for t in days], BLUE),
             Series("Uden for telefontiden", [t.outside_hours for t in days], ORANGE)], stacked=True,
        ),
        "outcomes": charts.bars(
            "udfald", "Sådan endte opkaldene, pr. uge", "Søjler for hver uge: besvaret, lagt på i køen, overløb, "
            "beskeder og beskeder ringet op. Tallene står i tabellen under.", week_labels,
            [Series("Besvaret", [t.answered for t in weeks], BLUE),
             Series("Lagt på", [t.abandoned for t in weeks], ORANGE),
             Series("Overløb", [t.overflow for t in weeks], GREY),
             Series("Beskeder", [t.messages for t in weeks], PURPLE),
             Series("Ringet op", [t.called_back for t in weeks], GREEN)], stacked=False,
        ),
        "waits": charts.bars(
            "ventetid", "Ventetid før svar, pr. uge (sekunder)", "Søjler for hver uge: medianen og den ventetid, "
            "som 90 % af de besvarede højst ventede. Tallene står i tabellen under.", week_labels,
            [Series("Median", [t.median_wait for t in weeks], BLUE),
             Series("90 %", [t.p90_wait for t in weeks], ORANGE)], stacked=False,
        ),
        "hours": charts.bars(
            "timer", "Hvornår på dagen der ringes", "Søjler: opkald i perioden i hver af døgnets timer "
            "(dansk tid). Tallene står i tabellen under.", HOURS,
            [Series("Opkald", found.by_hour, BLUE)], stacked=False,
        ),
        "week": charts.heatmap(
            "ugen", "Hvornår på ugen der ringes", "Felter for hver ugedag og time: jo mørkere, jo flere opkald. "
            "Tallene står i tabellen under.", WEEKDAYS, HOURS, found.by_weekday_hour,
        ),
    }  # fmt: skip


async def _csv(console: Console, request: web.Request) -> web.StreamResponse:
    """The days' figures as CSV for a spreadsheet: semicolons and a byte order mark, as Danish Excel
    opens a file without asking; whole seconds, so no decimal comma is needed."""
    try:
        first, last = _period(console, request)
        found = await _figures(console, first, last)
    except PeriodError as e:
        raise web.HTTPBadRequest(text=str(e)) from None
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for day, t in found.days:
        writer.writerow([day.isoformat(), t.calls, t.in_hours, t.outside_hours, t.answered, t.abandoned, t.overflow,
                         t.messages, t.called_back, _whole(t.median_wait), _whole(t.p90_wait)])  # fmt: skip
    name = f"statistik-{first.isoformat()}-{last.isoformat()}.csv"
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _whole(seconds: float | None) -> str:
    return "" if seconds is None else str(round(seconds))


# -- Tavle -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    open: bool
    has_queue: bool
    waiting: int
    longest: str  # the longest wait so far (minutes:seconds), or "–"
    free: int  # agents free to take a call
    answered: int  # today (every node's calls)
    abandoned: int


async def _boards(console: Console) -> list[Board]:
    tz, now = console.view.schedule().tz, console.view.clock()
    today = now.astimezone(tz).date()
    start, end = period_bounds(today, today, tz)
    records = await asyncio.to_thread(console.call_log.between, start, end)
    found = []
    for line in await _lines_now(console):
        t = tally([r for r in records if r.line == line.id])
        free = sum(state == "ledig" for _, state in line.agents)
        since = console.view.waiting_since(line.id)
        longest = _minutes((now - min(since)).total_seconds()) if since else "–"
        found.append(Board(line.id, line.name, line.open, line.has_queue, len(line.waits), longest, free,
                           t.answered, t.abandoned))  # fmt: skip
    # The wall is for the queue: the lines that hand callers to the dialplan (direct numbers) only
    # crowd it. An office without a queue sees every line.
    return [b for b in found if b.has_queue] or found


def _minutes(seconds: float) -> str:
    """`3:07`: minutes and seconds, short enough to stand large on a wall."""
    whole = int(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


async def _wallboard(console: Console, request: web.Request) -> web.StreamResponse:
    boards = await _boards(console)
    return console.render(request, "wallboard.html", title="Tavle", boards=boards, updated=_updated(console))


async def _wallboard_fragment(console: Console, request: web.Request) -> web.StreamResponse:
    boards = await _boards(console)
    return console.render(request, "wallboard_lines.html", boards=boards, updated=_updated(console))


def _updated(console: Console) -> str:
    return danish.clock(console.view.clock(), console.view.schedule().tz)
