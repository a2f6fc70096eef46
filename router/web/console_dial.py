"""The console's "Ring op": ring the staff member's own phone, then the citizen (calls/dialout.py).

A message is dialled only by one colleague at a time: "Ring op" claims it (office/messages.py), as
"Jeg ringer op" does, and is refused while a colleague's claim lasts. The attempt shows on the
message's row as it goes (a live region the page's script refreshes), and, once over, is kept on the
message with its outcome, length and a note its staff member may add.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta, tzinfo

from aiohttp import web
from markupsafe import escape

from router.ari import AriError
from router.calls.dialout import OUTCOME_TEXT, Attempt
from router.calls.dialout_runner import new_attempt_id
from router.office import danish
from router.office.accounts import AccountError
from router.office.dial_attempts import NOTE_LIMIT, DialAttempt
from router.office.messages import Message, loggable
from router.web import shown
from router.web.console_core import Console, session_of
from router.web.console_view import back, message_of

CLAIM = timedelta(minutes=30)  # "Jeg ringer op" and "Ring op" hold a message this long, unless released
LIVE = {
    "ringing-staff": "Ringer til din telefon …",
    "ringing-citizen": "Ringer til borgeren …",
    "talking": "I samtale",
}
OUTCOMES = OUTCOME_TEXT
NOTICES = {
    "fortrudt": "Beskeden er igen markeret som ikke ringet op.",
    "taget": "Du har beskeden: dine kolleger kan se, at du ringer op.",
    "optaget": "En kollega ringer allerede op til borgeren; se hvem på beskeden.",
    "sluppet": "Du har sluppet beskeden; en kollega kan nu tage den.",
    "ringer": "Din telefon ringer nu. Tag den, så ringer vi til borgeren.",
    "ingen-telefon": "Din konto er ikke knyttet til en telefon. Bed en operatør om at gøre det.",
    "kan-ikke-ringes-op": "Nummeret kan ikke ringes op herfra (skjult eller ikke et telefonnummer).",
    "ingen-udgang": "Linjen er ikke sat op til at ringe ud (callback: i skemaet).",
    "telefonfejl": "Telefonsystemet svarede ikke; prøv igen om lidt.",
    "note-gemt": "Noten er gemt.",
    "telefon-gemt": "Telefonen er gemt.",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class AttemptRow:
    text: str  # "anna, torsdag den 4. januar 2024 kl. 13.05: talte med borgeren (2 min 3 s)"
    id: str
    note: str
    mine: bool


def add_dial_pages(r: web.UrlDispatcher, console: Console) -> None:
    def bind(page: Callable[[Console, web.Request], Awaitable[web.StreamResponse]]) -> Handler:
        return functools.partial(page, console)

    r.add_post("/ui/beskeder/{id}/fortryd", bind(_undo_called_back))
    r.add_post("/ui/beskeder/{id}/tag", bind(_claim))
    r.add_post("/ui/beskeder/{id}/slip", bind(_release))
    r.add_post("/ui/beskeder/{id}/ring-op", bind(_dial))
    r.add_get("/ui/beskeder/{id}/opkald", bind(_live_fragment))
    r.add_post("/ui/beskeder/{id}/note/{attempt}", bind(_note))
    r.add_get("/ui/telefoner", bind(_phones))
    r.add_post("/ui/telefoner/{name}", bind(_set_phone))


def live_text(console: Console, message_id: str) -> str | None:
    """How this node's attempt on the message goes, while it goes."""
    attempt = console.dialouts.of_message(message_id) if console.dialouts else None
    if attempt is None:
        return None
    if attempt.state != "done":
        return LIVE[attempt.state]
    return f"Opkaldet er slut: {OUTCOMES.get(attempt.outcome or '', attempt.outcome or '')}."


def attempt_rows(attempts: list[DialAttempt], tz: tzinfo, me: str) -> list[AttemptRow]:
    rows = []
    for a in attempts:
        text = f"{a.staff}, {danish.moment(a.started, tz)}: {OUTCOMES.get(a.outcome, a.outcome)}"
        if a.seconds is not None:
            text += f" ({danish.seconds(a.seconds)})"
        rows.append(AttemptRow(text, a.id, a.note, a.staff == me))
    return rows


async def attempts_of(console: Console, messages: list[Message]) -> dict[str, list[DialAttempt]]:
    if console.attempts is None:
        return {}
    return await asyncio.to_thread(console.attempts.of_messages, [m.id for m in messages])


def may_dial(console: Console, message: Message) -> bool:
    line = console.view.schedule().lines.get(message.line)
    return (
        console.dialouts is not None
        and line is not None
        and line.callback is not None
        and (shown.phone_number(message.caller))
    )


async def _undo_called_back(console: Console, request: web.Request) -> web.StreamResponse:
    message = await message_of(console, request)
    if message.handled:
        await asyncio.to_thread(console.messages.mark_unhandled, message.id)
        await console.audit(request, "fortrød ringet op", loggable(message.id))
    back(console, request, "fortrudt")


async def _claim(console: Console, request: web.Request) -> web.StreamResponse:
    """ "Jeg ringer op": the message is the viewer's for CLAIM, and every colleague (on any node, as
    the store holds it) sees who has it; a colleague's live claim is not taken over."""
    message = await message_of(console, request)
    who, now = session_of(request).user.name, console.view.clock()
    holder = await asyncio.to_thread(console.messages.claim, message.id, who, now, now + CLAIM)
    if holder != who:
        back(console, request, "optaget")
    await console.audit(request, "tog besked (ringer op)", loggable(message.id))
    back(console, request, "taget")


async def _release(console: Console, request: web.Request) -> web.StreamResponse:
    message = await message_of(console, request)
    if await asyncio.to_thread(console.messages.release, message.id, session_of(request).user.name):
        await console.audit(request, "slap besked", loggable(message.id))
    back(console, request, "sluppet")


async def _dial(console: Console, request: web.Request) -> web.StreamResponse:
    message = await message_of(console, request)
    user = session_of(request).user
    line = console.view.schedule().lines.get(message.line)
    if user.phone is None:
        back(console, request, "ingen-telefon")
    if line is None or line.callback is None or console.dialouts is None:
        back(console, request, "ingen-udgang")
    if not shown.phone_number(message.caller):
        back(console, request, "kan-ikke-ringes-op")
    now = console.view.clock()
    # One attempt at a time: the claim is the store's, so a colleague on another node is refused too.
    holder = await asyncio.to_thread(console.messages.claim, message.id, user.name, now, now + CLAIM)
    going = console.dialouts.of_message(message.id)
    if holder != user.name or (going is not None and going.state != "done"):
        back(console, request, "optaget")
    callback = line.callback
    attempt = Attempt(
        new_attempt_id(),
        message.id,
        user.name,
        user.phone,
        callback.endpoint(message.caller),
        message.caller,
        callback.caller_id,
        callback.ring_seconds,
        now,
        staff_ring_seconds=callback.staff_ring_seconds,
    )
    await console.audit(request, "ringer op", loggable(message.id))
    try:
        await console.dialouts.begin(attempt)
    except AriError:
        back(console, request, "telefonfejl", message.id)
    back(console, request, "ringer", message.id)


async def _live_fragment(console: Console, request: web.Request) -> web.StreamResponse:
    text = live_text(console, request.match_info["id"]) or ""
    return web.Response(text=str(escape(text)), content_type="text/html", headers={"Cache-Control": "no-store"})


async def _note(console: Console, request: web.Request) -> web.StreamResponse:
    message = await message_of(console, request)
    form = await request.post()
    # One line of visible text: no line breaks, no control or bidi characters to reorder what colleagues read.
    typed = "".join(c for c in str(form.get("note", "")) if shown.mark(c) is None or c.isspace())
    text = " ".join(typed.split())[:NOTE_LIMIT]
    assert console.attempts is not None
    attempt_id = request.match_info["attempt"]
    if not await asyncio.to_thread(console.attempts.note, attempt_id, session_of(request).user.name, text):
        raise web.HTTPNotFound(text="Opkaldet findes ikke, eller det er ikke dit.")
    await console.audit(request, "skrev note", f"{loggable(message.id)}: {attempt_id}")
    back(console, request, "note-gemt", message.id)


# -- Telefoner (operators): which phone "Ring op" rings for each account ------------------------


async def _phones(console: Console, request: web.Request, error: str | None = None) -> web.StreamResponse:
    if not session_of(request).user.may_change_the_line:
        return console.render(request, "error.html", 403, title="Ikke tilladt", message=(
            "Kun operatører kan knytte medarbejdere til deres telefoner."
        ))  # fmt: skip
    users = await asyncio.to_thread(console.accounts.users)
    notice = NOTICES.get(request.query.get("besked", ""))
    return console.render(
        request, "phones.html", 400 if error else 200, title="Telefoner", users=users, error=error, notice=notice
    )


async def _set_phone(console: Console, request: web.Request) -> web.StreamResponse:
    if not session_of(request).user.may_change_the_line:
        return await _phones(console, request)
    name = request.match_info["name"]
    phone = str((await request.post()).get("telefon", "")).strip() or None
    try:
        await asyncio.to_thread(console.accounts.set_phone, name, phone)
    except AccountError:
        known = name in {u.name for u in await asyncio.to_thread(console.accounts.users)}
        if not known:
            raise web.HTTPNotFound(text="Brugeren findes ikke.") from None
        return await _phones(console, request, "Telefonen skal skrives PJSIP/ og endpointets navn, fx PJSIP/agent1.")
    await console.audit(request, "satte telefon", f"{name}: {phone or 'ingen'}")
    raise web.HTTPSeeOther("/ui/telefoner?besked=telefon-gemt")
