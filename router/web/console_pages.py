"""The console's pages: Nu, Beskeder, Linjen, Kommende dage, Skemaet, Log.

Each handler reads what the router knows, turns it into plain values for its template (Danish
words, local times), and for a change: checks the role, changes, writes the audit log, and
redirects (post/redirect/get), so that reloading a page never repeats an action.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from router.ari import AriError, AriNotFound
from router.calls.estimate import TOO_LITTLE, Estimate
from router.calls.guidance import closed_guidance, render
from router.office import danish
from router.office.audio import audio_of
from router.office.messages import Message, loggable
from router.office.overrides import OverrideError, resolve_until
from router.schedule import Decision, Override, QueueConfig, Reason, Schedule, Segment, day_plan, decide
from router.schedule.ics import phone_hours_calendar
from router.schedule.localtime import wall
from router.web import audit_text
from router.web.byte_range import ranged
from router.web.console_closures import add_closure_pages, calendar_rows
from router.web.console_core import Console, session_of
from router.web.console_dial import NOTICES as DIAL_NOTICES
from router.web.console_dial import AttemptRow, add_dial_pages, attempt_rows, attempts_of, live_text, may_dial
from router.web.console_mail import add_mail_pages, failed_count
from router.web.console_view import UNHANDLED, back
from router.web.console_view import message_of as _message_of
from router.web.console_view import message_view as _view
from router.web.http_api import agents_now

CALENDAR_DAYS = 14
PAGE_SIZE = 50  # messages on a page of Beskeder
NOTICES = {
    "ringet-op": "Beskeden er markeret som ringet op.",
    **DIAL_NOTICES,
    "slettet": "Beskeden og dens lydfil er slettet.",
    "lukket": "Linjen er lukket.",
    "aabnet": "Linjen er åbnet.",
    "ophaevet": "Linjen følger igen skemaet.",
}
REASONS = {
    Reason.HOURS: "telefontid",
    Reason.OUTSIDE_HOURS: "uden for telefontiden",
    Reason.PUBLIC_HOLIDAY: "helligdag",
    Reason.CLOSING_DAY: "lukkedag",
    Reason.CLOSURE: "lukket efter skemaet",
    Reason.OPENING: "ekstra åbent efter skemaet",
    Reason.OVERRIDE: "sat af en medarbejder",
    Reason.OUTSIDE_VALIDITY: "intet skema for denne dato",
}
AGENTS = {
    "available": "ledig",
    "ringing": "ringer",
    "talking": "i samtale",
    "on another call": "i eget opkald",
    "offline": "ikke logget på",
    "unknown endpoint": "ukendt telefon",
}
OPEN_REASON = "manual_opening"  # an operator's "open now" (callers are queued; no prompt needed)
Page = Callable[[Console, web.Request], Awaitable[web.StreamResponse]]


def add_pages(r: web.UrlDispatcher, console: Console) -> None:
    def bind(page: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        return functools.partial(page, console)

    r.add_get("/ui", _to_now)
    r.add_get("/ui/nu", bind(_now))
    r.add_get("/ui/nu/indhold", bind(_now_fragment))
    r.add_get("/ui/beskeder", bind(_messages))
    r.add_get("/ui/beskeder/{id}/lyd", bind(_audio))
    r.add_post("/ui/beskeder/{id}/ringet-op", bind(_called_back))
    add_dial_pages(r, console)
    r.add_get("/ui/beskeder/{id}/slet", bind(_delete_page))
    r.add_post("/ui/beskeder/{id}/slet", bind(_delete))
    r.add_get("/ui/linje", bind(_line_page))
    r.add_post("/ui/linje/vis", bind(_line_preview))
    r.add_post("/ui/linje/udfoer", bind(_line_apply))
    r.add_post("/ui/linje/ophaev", bind(_line_clear))
    r.add_get("/ui/dage", bind(_days))
    r.add_get("/ui/dage.ics", bind(_ics))
    r.add_get("/ui/skema", bind(_schedule))
    r.add_get("/ui/log", bind(_audit))
    add_mail_pages(r, console)
    add_closure_pages(r, console)


async def _to_now(_: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/ui/nu")


def _notice(request: web.Request) -> str | None:
    return NOTICES.get(request.query.get("besked", ""))


# -- Nu ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineNow:
    id: str
    name: str
    open: bool
    why: str
    next_change: str
    override: str | None
    waits: list[str]  # each waiting caller's wait so far, longest first
    agents: list[tuple[str, str]]  # (agent, state in Danish)
    has_queue: bool
    estimate: str = TOO_LITTLE  # the wait of a caller calling now, as they would hear it
    callbacks: int = 0  # open callbacks of the line (in the store, every router's)


def _estimate_text(estimate: Estimate | None) -> str:
    return estimate.danish() if estimate is not None else TOO_LITTLE


async def _lines_now(console: Console) -> list[LineNow]:
    schedule, now = console.view.schedule(), console.view.clock()
    overrides = console.overrides.all()
    found = []
    for line_id, line in schedule.lines.items():
        decision = decide(schedule, line_id, now, overrides)
        agents = await agents_now(console.rest, console.view.agents(line_id))
        called_back = set(console.view.callback_places(line_id))
        waits = [
            danish.seconds((now - since).total_seconds())
            + (" og ringes op, når det er deres tur" if since in called_back else "")
            for since in console.view.waiting_since(line_id)
        ]
        found.append(
            LineNow(
                line_id,
                line.name,
                decision.open,
                _why(decision),
                _next_change(decision, schedule, now),
                _override_text(decision.override, schedule) if decision.override else None,
                waits,
                [(agent, AGENTS.get(state, "ukendt")) for agent, state in agents.items()],
                isinstance(line.open_to, QueueConfig),
                _estimate_text(console.view.estimate(line_id, len(waits) + 1)),
                console.view.callbacks(line_id),
            )
        )
    return found


def _why(decision: Decision) -> str:
    if decision.reason is Reason.OVERRIDE:
        return "åbnet manuelt" if decision.open else "lukket manuelt"
    why = REASONS[decision.reason]
    if decision.label:
        why += f": {decision.label}"
    elif decision.cause:
        why += f" ({decision.cause})"
    return why


def _next_change(decision: Decision, schedule: Schedule, now: datetime) -> str:
    if decision.next_change is None:
        return "ingen ændring de næste to år"
    state = "lukker" if decision.open else "åbner"
    return f"{state} {_when(decision.next_change, schedule, now.date())}"


def _when(instant: datetime, schedule: Schedule, today: date) -> str:
    local = wall(instant, schedule.tz)
    if local.date() == today:
        return f"i dag kl. {local:%H.%M}"
    if local.date() == today + timedelta(days=1):
        return f"i morgen kl. {local:%H.%M}"
    return danish.moment(instant, schedule.tz)


def _override_text(override: Override, schedule: Schedule) -> str:
    """`åbnet af ole til torsdag den 4. januar 2024 kl. 15.00: note`. The console writes the note as
    `<who>` or `<who>: <note>`; an override set with the CLI or the API may have any note."""
    state = "åbnet" if override.open else "lukket"
    who, _, note = (override.note or "").partition(": ")
    by = f" af {who}" if who and " " not in who else ""
    if not by:
        note = override.note or ""
    text = f"{state}{by} til {danish.moment(override.until, schedule.tz)}"
    return f"{text}: {note}" if note else text


async def _now(console: Console, request: web.Request) -> web.StreamResponse:
    lines, failed = await _lines_now(console), await failed_count(console)
    return console.render(request, "now.html", title="Nu", lines=lines, updated=_clock_now(console), mail_failed=failed)


async def _now_fragment(console: Console, request: web.Request) -> web.StreamResponse:
    lines = await _lines_now(console)
    return console.render(request, "now_lines.html", lines=lines, updated=_clock_now(console))


def _clock_now(console: Console) -> str:
    return danish.clock(console.view.clock(), console.view.schedule().tz)


# -- Beskeder ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageRow:
    id: str
    line: str
    caller: str
    received: str
    length: str
    handled: str | None  # "ringet op af anna torsdag ... kl. 13.05"
    caller_name: str = ""  # the name the call carried, if any (and not just the number again)
    claimed: str | None = None  # "anna ringer op (til kl. 13.35)", while a colleague has it
    mine: bool = False  # the claim is the viewer's own
    dial: bool = False  # "Ring op" is offered: the viewer has a phone, the line a callback, the caller a number
    live: str | None = None  # how this node's "Ring op" on it goes
    attempts: tuple[AttemptRow, ...] = ()  # earlier "Ring op"s, oldest first
    callback: str | None = None  # a queue's callback that could not be made: what was tried (no recording)


@dataclass(frozen=True)
class Paging:
    """Where a page of Beskeder is in the list, and the links to the others (None: no such page)."""

    first: int  # 1-based positions of the page's first and last message
    last: int
    total: int
    page: int
    pages: int
    newest: str | None
    newer: str | None
    older: str | None
    oldest: str | None


def _paging(view: dict[str, str], total: int) -> Paging:
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(int(view.get("side", "1")), pages)

    def link(to: int) -> str | None:
        if to == page or not 1 <= to <= pages:
            return None
        return "/ui/beskeder?" + urlencode({**view, "side": str(to)} if to > 1 else view_without(view, "side"))

    first = (page - 1) * PAGE_SIZE
    return Paging(first + 1, min(first + PAGE_SIZE, total), total, page, pages,
                  link(1), link(page - 1), link(page + 1), link(pages))  # fmt: skip


def view_without(view: dict[str, str], key: str) -> dict[str, str]:
    return {k: v for k, v in view.items() if k != key}


async def _messages(console: Console, request: web.Request) -> web.StreamResponse:
    schedule, now, me = console.view.schedule(), console.view.clock(), session_of(request).user.name
    phone = session_of(request).user.phone
    lines = list(schedule.lines)
    view = _view(request, lines)
    unhandled, line = view.get("vis") == UNHANDLED, view.get("linje")
    # A page at a time (the store counts and sorts): with a month's thousands of messages, the page
    # stays small and its players fetch nothing until one is played (preload="none").
    asked = int(view.get("side", "1"))
    found = await asyncio.to_thread(console.messages.listing, (asked - 1) * PAGE_SIZE, PAGE_SIZE, unhandled, line)
    paging = _paging(view, found.total)
    if paging.page != asked:  # past the end (messages were deleted since the link was made): the last page
        offset = (paging.page - 1) * PAGE_SIZE
        found = await asyncio.to_thread(console.messages.listing, offset, PAGE_SIZE, unhandled, line)
        view = {**view_without(view, "side"), **({"side": str(paging.page)} if paging.page > 1 else {})}
    attempts = await attempts_of(console, found.messages)
    return console.render(
        request,
        "messages.html",
        title="Beskeder",
        rows=[
            replace(
                _message_row(m, schedule.tz, now, me),
                dial=phone is not None and may_dial(console, m),
                live=live_text(console, m.id),
                attempts=tuple(attempt_rows(attempts.get(m.id, []), schedule.tz, me)),
            )
            for m in found.messages
        ],
        paging=paging,
        view=view,
        here=urlencode(view),
        lines=lines,
        unhandled=UNHANDLED,
        notice=_notice(request),
    )


def _message_row(message: Message, tz: Any, now: datetime, me: str) -> MessageRow:
    handled, claimed = None, None
    if message.handled:
        handled = "ringet op"
        if message.handled_by:
            handled += f" af {message.handled_by}"
        if message.handled_at:
            handled += f", {danish.moment(message.handled_at, tz)}"
    claimant = message.claimant(now)
    if claimant is not None and message.claimed_until is not None:
        who = "du" if claimant == me else claimant
        claimed = f"{who} ringer op (til kl. {danish.clock(message.claimed_until, tz)})"
    return MessageRow(
        message.id,
        message.line,
        message.caller or "skjult nummer",
        danish.moment(message.received_at, tz),
        danish.seconds(message.seconds),
        handled,
        message.caller_name if message.caller_name != message.caller else "",
        claimed,
        claimant == me,
        callback=message.callback,
    )


async def _audio(console: Console, request: web.Request) -> web.StreamResponse:
    message = await _message_of(console, request)
    try:
        data = await audio_of(console.messages, console.rest, message)
    except AriError:
        raise web.HTTPBadGateway(text="Telefonsystemet svarede ikke; prøv igen om lidt.") from None
    if data is None:
        raise web.HTTPNotFound(text="Lydfilen findes ikke længere.")
    response = ranged(request, data, "audio/wav")
    # A player asks for the start when someone presses play (the page's players preload nothing), and
    # for later parts when they seek: one entry per play, none per seek. Safari asks for the first two
    # bytes, then for the start: one play too.
    start = response.status == 200 or response.headers.get("Content-Range", "").startswith("bytes 0-")
    if request.method == "GET" and start and console.first_play(session_of(request).user.name, message.id):
        await console.audit(request, "afspillede besked", loggable(message.id))
    return response


async def _called_back(console: Console, request: web.Request) -> web.StreamResponse:
    message = await _message_of(console, request)
    who = session_of(request).user.name
    await asyncio.to_thread(console.messages.mark_handled, message.id, who, console.view.clock())
    await console.audit(request, "markerede ringet op", loggable(message.id))
    back(console, request, "ringet-op")


async def _delete_page(console: Console, request: web.Request) -> web.StreamResponse:
    message = await _message_of(console, request)
    row = _message_row(message, console.view.schedule().tz, console.view.clock(), session_of(request).user.name)
    return console.render(request, "delete.html", title="Slet besked", row=row)


async def _delete(console: Console, request: web.Request) -> web.StreamResponse:
    message = await _message_of(console, request)
    try:
        await console.rest.delete_stored_recording(message.recording)
    except AriNotFound:
        pass  # the audio is already gone
    except AriError:  # keep the record, so that the audio is not forgotten in Asterisk
        return console.render(request, "error.html", 502, title="Ikke slettet", message=(
            "Telefonsystemet slettede ikke lydfilen, så beskeden er ikke slettet. Prøv igen om lidt."
        ))  # fmt: skip
    await asyncio.to_thread(console.messages.delete, message.id)
    await console.audit(request, "slettede besked", loggable(message.id))
    raise web.HTTPSeeOther("/ui/beskeder?besked=slettet")


# -- Linjen ------------------------------------------------------------------------------------


def _closing_reasons(console: Console) -> list[tuple[str, str]]:
    """(reason, what callers hear) for every reason with a message of its own."""
    return sorted(
        (name.removeprefix("closure-"), text)
        for name, text in console.known_prompts.items()
        if name.startswith("closure-")
    )


async def _line_page(console: Console, request: web.Request, error: str | None = None) -> web.StreamResponse:
    schedule, now = console.view.schedule(), console.view.clock()
    lines = []
    for line_id, line in schedule.lines.items():
        decision = decide(schedule, line_id, now, console.overrides.all())
        change = decide(schedule, line_id, now).next_change
        lines.append({
            "id": line_id, "name": line.name, "open": decision.open, "why": _why(decision),
            "override": _override_text(decision.override, schedule) if decision.override else None,
            "next_change": _when(change, schedule, wall(now, schedule.tz).date()) if change else None,
        })  # fmt: skip
    return console.render(
        request,
        "line.html",
        400 if error else 200,
        title="Åbn eller luk linjen",
        lines=lines,
        reasons=_closing_reasons(console),
        error=error,
        notice=_notice(request),
        may_change=session_of(request).user.may_change_the_line,
        now_local=f"{wall(now, schedule.tz):%Y-%m-%dT%H:%M}",
    )


@dataclass(frozen=True)
class Proposal:
    override: Override
    until_text: str  # as the form had it: next-change, or a local time


async def _proposal(console: Console, request: web.Request) -> Proposal:
    """The override the form asks for. Raises OverrideError with a Danish message for a bad form."""
    form = await request.post()
    schedule, now = console.view.schedule(), console.view.clock()
    line = str(form.get("linje", ""))
    if line not in schedule.lines:
        raise OverrideError("Vælg en linje.")
    state = form.get("handling")
    if state not in ("luk", "aabn"):
        raise OverrideError("Vælg, om linjen skal lukkes eller åbnes.")
    reason = OPEN_REASON
    if state == "luk":
        reason = str(form.get("aarsag", ""))
        if reason not in dict(_closing_reasons(console)):
            raise OverrideError("Vælg en årsag; den bestemmer, hvad borgerne hører.")
    until_text = "next-change" if form.get("til") == "naeste" else str(form.get("tidspunkt", "")).strip()
    if not until_text:
        raise OverrideError("Vælg, hvornår det skal slutte: ved næste ændring eller på et bestemt tidspunkt.")
    try:
        until = resolve_until(until_text, schedule, line, now)
    except OverrideError:
        raise OverrideError("Sluttidspunktet skal være en dato og et klokkeslæt, fx 2024-01-09 10:00.") from None
    if until <= now:
        raise OverrideError("Sluttidspunktet er allerede passeret.")
    note_text = str(form.get("note", "")).strip()
    note = session_of(request).user.name + (f": {note_text}" if note_text else "")
    return Proposal(Override(line, state == "aabn", reason, now, until, note[:200]), until_text)


def _caller_hears(console: Console, override: Override) -> str:
    if override.open:
        return "Borgerne stilles i kø til medarbejderne, som i telefontiden."
    schedule = console.view.schedule()
    decision = decide(schedule, override.line, override.since, [override])
    return render(closed_guidance(schedule, override.line, decision, console.known_prompts), console.prompt_texts())


async def _line_preview(console: Console, request: web.Request) -> web.StreamResponse:
    if not session_of(request).user.may_change_the_line:
        return _not_allowed(console, request)
    try:
        proposal = await _proposal(console, request)
    except OverrideError as e:
        return await _line_page(console, request, str(e))
    schedule = console.view.schedule()
    form = await request.post()
    return console.render(
        request,
        "line_preview.html",
        title="Bekræft",
        override=proposal.override,
        until=danish.moment(proposal.override.until, schedule.tz),
        hears=_caller_hears(console, proposal.override),
        fields={k: str(v) for k, v in form.items() if k != "csrf"},
    )


async def _line_apply(console: Console, request: web.Request) -> web.StreamResponse:
    if not session_of(request).user.may_change_the_line:
        return _not_allowed(console, request)
    try:
        proposal = await _proposal(console, request)
        await asyncio.to_thread(console.overrides.set, proposal.override, console.view.clock())
    except OverrideError as e:
        return await _line_page(console, request, str(e))
    o = proposal.override
    until = o.until.isoformat()
    await console.audit(request, "åbnede linjen" if o.open else "lukkede linjen", f"{o.line} til {until} ({o.reason})")
    raise web.HTTPSeeOther("/ui/linje?besked=" + ("aabnet" if o.open else "lukket"))


async def _line_clear(console: Console, request: web.Request) -> web.StreamResponse:
    if not session_of(request).user.may_change_the_line:
        return _not_allowed(console, request)
    line = str((await request.post()).get("linje", ""))
    if await asyncio.to_thread(console.overrides.clear, line, console.view.clock()):
        await console.audit(request, "ophævede åbning/lukning", line)
    raise web.HTTPSeeOther("/ui/linje?besked=ophaevet")


def _not_allowed(console: Console, request: web.Request, what: str = "åbne og lukke linjen") -> web.Response:
    return console.render(request, "error.html", 403, title="Ikke tilladt", message=(
        f"Kun operatører kan {what}. Spørg en af jeres operatører."
    ))  # fmt: skip


# -- Kommende dage, Skemaet, Log ---------------------------------------------------------------


@dataclass(frozen=True)
class DayRow:
    day: str
    hours: str  # "10.00–12.00" or "lukket"
    notes: list[str]
    weekend: bool


def _note(segment: Segment) -> str:
    what = segment.label or segment.cause or ""
    return f"{REASONS[segment.reason].capitalize()}{': ' + what if what else ''}"


def _chosen_line(schedule: Schedule, request: web.Request) -> str:
    line = request.query.get("linje", next(iter(schedule.lines)))
    if line not in schedule.lines:
        raise web.HTTPNotFound(text="Ukendt linje.")
    return line


async def _days(console: Console, request: web.Request) -> web.StreamResponse:
    schedule = console.view.schedule()
    line = _chosen_line(schedule, request)
    today = wall(console.view.clock(), schedule.tz).date()
    rows = []
    for i in range(CALENDAR_DAYS):
        plan = day_plan(schedule, line, today + timedelta(days=i))
        hours = ", ".join(f"{danish.clock(s, schedule.tz)}–{danish.clock(e, schedule.tz)}" for s, e in plan.windows)
        rows.append(
            DayRow(danish.day(plan.day), hours or "lukket", [_note(n) for n in plan.notes], plan.day.weekday() >= 5)
        )
    return console.render(request, "days.html", title="Kommende dage", rows=rows, line=line, lines=list(schedule.lines))


async def _ics(console: Console, request: web.Request) -> web.StreamResponse:
    schedule = console.view.schedule()
    line = _chosen_line(schedule, request)
    now = console.view.clock()
    body = phone_hours_calendar(schedule, line, wall(now, schedule.tz).date(), 90, now)
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="telefontid-{line}.ics"'},
    )


async def _schedule(console: Console, request: web.Request) -> web.StreamResponse:
    state = await asyncio.to_thread(console.view.schedule_file)
    tz = console.view.schedule().tz
    return console.render(
        request,
        "schedule.html",
        title="Skemaet",
        state=state,
        loaded=danish.moment(state.loaded_at, tz) if state else None,
        rejected_at=danish.moment(state.rejected.at, tz) if state and state.rejected else None,
        calendars=calendar_rows(console.view.calendars(), tz),
    )


async def _audit(console: Console, request: web.Request) -> web.StreamResponse:
    if not session_of(request).user.may_change_the_line:
        return _not_allowed(console, request, "se loggen")
    tz = console.view.schedule().tz
    found = await asyncio.to_thread(console.accounts.audit_log)
    texts = console.known_prompts
    entries = [(danish.moment(e.at, tz), e.user, e.action, audit_text.detail(e.detail, tz, texts)) for e in found]
    return console.render(request, "audit.html", title="Log", entries=entries)
