"""The console's Lukninger: closures planned ahead (schedule/planned.py, office/closures.py).

Operators plan, change and delete them, as they open and close the line: a planned closure changes
what every caller meets on those days, which is the operator's part (staff read the list, and can
see each day's hours under Kommende dage). A form is first previewed: each affected day's phone
hours before and after, and what callers will hear; only the confirmation saves it (and is checked
again then, against the closures kept at that moment).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from router.calls.guidance import closed_guidance, render
from router.office import danish
from router.office.calendars import CalendarState
from router.office.closures import ClosureError, ClosureStore, clean_note, new_id
from router.schedule import WHOLE_DAY, Schedule, TimeRange, day_plan, decide
from router.schedule.localtime import wall
from router.schedule.planned import PlannedClosure, refusal, with_planned
from router.web.console_core import Console, session_of

NOTICES = {"gemt": "Lukningen er gemt.", "slettet": "Lukningen er slettet."}


def add_closure_pages(r: web.UrlDispatcher, console: Console) -> None:
    r.add_get("/ui/lukninger", functools.partial(_page, console))
    r.add_get("/ui/lukninger/{id}/aendr", functools.partial(_page, console))
    r.add_post("/ui/lukninger/vis", functools.partial(_preview, console))
    r.add_post("/ui/lukninger/gem", functools.partial(_save, console))
    r.add_post("/ui/lukninger/{id}/slet", functools.partial(_delete, console))


def _store(console: Console) -> ClosureStore:
    if console.closures is None:
        raise web.HTTPNotFound(text="Planlagte lukninger er ikke slået til på denne router.")
    return console.closures


def _base(console: Console) -> Schedule:
    """The schedule file's, without the planned closures (they are joined afresh for a preview)."""
    return console.from_file() if console.from_file is not None else console.view.schedule()


@dataclass(frozen=True)
class Row:
    id: str
    line: str
    days: str
    time: str
    reason: str
    note: str
    by: str
    may_change: bool


def _row(closure: PlannedClosure, tz: ZoneInfo, now: datetime) -> Row:
    days = danish.day(closure.first)
    if closure.last != closure.first:
        days += f" til {danish.day(closure.last)}"
    hours = "hele dagen" if closure.whole_day else f"kl. {_clock(closure.time.start)}–{_clock(closure.time.end)}"
    by = closure.by + (f", {danish.moment(closure.at, tz)}" if closure.at else "")
    begun = closure.begins(tz) <= now
    return Row(closure.id, closure.line, days, hours, closure.reason, closure.note, by, not begun)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}.{minutes % 60:02d}"


def _reasons(console: Console) -> list[tuple[str, str]]:
    return sorted(
        (name.removeprefix("closure-"), text)
        for name, text in console.known_prompts.items()
        if name.startswith("closure-")
    )


async def _page(
    console: Console, request: web.Request, error: str = "", form: dict[str, str] | None = None
) -> web.Response:
    store = _store(console)
    schedule, now = _base(console), console.view.clock()
    kept = await asyncio.to_thread(store.all)
    today = wall(now, schedule.tz).date()
    shown = [c for c in kept if c.last >= today - timedelta(days=7)]  # a week back: what just happened
    rows = [_row(c, schedule.tz, now) for c in shown]
    editing = request.match_info.get("id") if request.path.endswith("/aendr") else None
    if form is None:
        form = {"linje": next(iter(schedule.lines)), "fra": "", "til": "", "tid": "hele", "fra_kl": "", "til_kl": "",
                "aarsag": "", "note": ""}  # fmt: skip
        if editing:
            found = next((c for c in kept if c.id == editing), None)
            if found is None:
                raise web.HTTPNotFound(text="Lukningen findes ikke (den er måske slettet).")
            form = _fields(found)
    return console.render(
        request,
        "closures.html",
        400 if error else 200,
        title="Planlagte lukninger",
        rows=rows,
        lines=list(schedule.lines),
        reasons=_reasons(console),
        form=form,
        error=error,
        notice=NOTICES.get(request.query.get("besked", "")),
        may_change=session_of(request).user.may_change_the_line,
        limits={line_id: line.planned_closure_max_days for line_id, line in schedule.lines.items()},
        today=today.isoformat(),
    )


def _fields(closure: PlannedClosure) -> dict[str, str]:
    whole = closure.whole_day
    return {
        "id": closure.id, "linje": closure.line, "fra": closure.first.isoformat(), "til": closure.last.isoformat(),
        "tid": "hele" if whole else "del", "fra_kl": "" if whole else _hhmm(closure.time.start),
        "til_kl": "" if whole else _hhmm(closure.time.end), "aarsag": closure.reason, "note": closure.note,
    }  # fmt: skip


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class FormError(Exception):
    """A form that cannot be a closure; the message is the console's Danish."""


def _closure(console: Console, form: dict[str, str], who: str, now: datetime) -> PlannedClosure:
    schedule = _base(console)
    line = form.get("linje", "")
    if line not in schedule.lines:
        raise FormError("Vælg en linje.")
    try:
        first = date.fromisoformat(form.get("fra", ""))
        last = date.fromisoformat(form.get("til") or form.get("fra", ""))
    except ValueError:
        raise FormError("Skriv datoerne som fx 2024-01-09 (den sidste kan udelades for én dag).") from None
    span = WHOLE_DAY
    if form.get("tid") == "del":
        try:
            start, end = time.fromisoformat(form.get("fra_kl", "")), time.fromisoformat(form.get("til_kl", ""))
        except ValueError:
            raise FormError("Skriv klokkeslættene som fx 10:00 og 12:00, eller vælg hele dagen.") from None
        lo, hi = start.hour * 60 + start.minute, end.hour * 60 + end.minute
        if hi <= lo:
            raise FormError("Lukningen skal slutte senere på dagen, end den begynder.")
        span = TimeRange(lo, hi)
    reason = form.get("aarsag", "")
    if reason not in dict(_reasons(console)):
        raise FormError("Vælg en årsag; den bestemmer, hvad borgerne hører.")
    closure_id = form.get("id") or new_id()
    return PlannedClosure(closure_id, line, first, last, span, reason, clean_note(form.get("note", "")), who, now)


async def _form(request: web.Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.post()).items() if k != "csrf"}


def _refused(console: Console, closure: PlannedClosure, kept: tuple[PlannedClosure, ...], now: datetime) -> str:
    found = refusal(_base(console), closure, kept, now)
    return found.danish if found else ""


@dataclass(frozen=True)
class DayBefore:
    day: str
    before: str
    after: str
    hears: str


def _days(console: Console, closure: PlannedClosure, kept: tuple[PlannedClosure, ...]) -> list[DayBefore]:
    """Each affected day: its phone hours without and with the closure, and what a caller hears when
    it begins that day."""
    base = _base(console)
    others = [c for c in kept if c.id != closure.id]
    before, after = with_planned(base, others), with_planned(base, [*others, closure])
    texts, known = console.prompt_texts(), console.known_prompts
    found = []
    day = closure.first
    while day <= closure.last:
        begins = (datetime.combine(day, time()) + timedelta(minutes=closure.time.start)).replace(tzinfo=base.tz)
        decision = decide(after, closure.line, begins, console.overrides.all())
        hears = "" if decision.open else render(closed_guidance(after, closure.line, decision, known), texts)
        found.append(DayBefore(danish.day(day), _hours(before, closure.line, day), _hours(after, closure.line, day),
                               hears or "Linjen er åben (en manuel åbning gælder)."))  # fmt: skip
        day += timedelta(days=1)
    return found


def _hours(schedule: Schedule, line: str, day: date) -> str:
    plan = day_plan(schedule, line, day)
    return (
        ", ".join(f"{danish.clock(s, schedule.tz)}–{danish.clock(e, schedule.tz)}" for s, e in plan.windows) or "lukket"
    )


async def _preview(console: Console, request: web.Request) -> web.StreamResponse:
    if not session_of(request).user.may_change_the_line:
        return _not_allowed(console, request)
    form, now = await _form(request), console.view.clock()
    kept = await asyncio.to_thread(_store(console).all)
    try:
        closure = _closure(console, form, session_of(request).user.name, now)
    except FormError as e:
        return await _page(console, request, str(e), form)
    refused = _refused(console, closure, kept, now)
    if refused:
        return await _page(console, request, refused, form)
    return console.render(request, "closures_preview.html", title="Bekræft lukningen", closure=closure,
                          row=_row(closure, _base(console).tz, now), days=_days(console, closure, kept),
                          fields=form, changing=bool(form.get("id")))  # fmt: skip


async def _save(console: Console, request: web.Request) -> web.StreamResponse:
    if not session_of(request).user.may_change_the_line:
        return _not_allowed(console, request)
    form, now = await _form(request), console.view.clock()
    store = _store(console)
    try:
        closure = _closure(console, form, session_of(request).user.name, now)
        save = store.change if form.get("id") else store.add
        await asyncio.to_thread(save, closure, _base(console), now)
    except FormError as e:
        return await _page(console, request, str(e), form)
    except ClosureError as e:
        return await _page(console, request, e.refusal.danish, form)
    raise web.HTTPSeeOther("/ui/lukninger?besked=gemt")


async def _delete(console: Console, request: web.Request) -> web.StreamResponse:
    if not session_of(request).user.may_change_the_line:
        return _not_allowed(console, request)
    store, now = _store(console), console.view.clock()
    try:
        await asyncio.to_thread(
            store.remove, request.match_info["id"], session_of(request).user.name, _base(console), now
        )
    except ClosureError as e:
        return await _page(console, request, e.refusal.danish)
    raise web.HTTPSeeOther("/ui/lukninger?besked=slettet")


def _not_allowed(console: Console, request: web.Request) -> web.Response:
    return console.render(request, "error.html", 403, title="Ikke tilladt", message=(
        "Kun operatører kan planlægge lukninger. Spørg en af jeres operatører."
    ))  # fmt: skip


def calendar_rows(states: Mapping[str, CalendarState], tz: ZoneInfo) -> list[dict[str, object]]:
    """Each line's subscribed calendar for the Skemaet page, its times in Danish."""
    return [
        {"line": line, "url": s.where, "ok": s.ok, "error": s.error_da, "closures": s.events,
         "loaded": danish.moment(s.loaded_at, tz) if s.loaded_at else None,
         "checked": danish.moment(s.checked_at, tz) if s.checked_at else None}
        for line, s in sorted(states.items())
    ]  # fmt: skip
