"""The console's E-mail page: the e-mails about messages that could not be sent, and "Send igen".

An e-mail is given up on when the mail server refused it for good (an unknown mailbox) or it could
not be made at all (office/outbox.py); the message itself is kept and shown under Beskeder. Here
the office sees which, and why, and sends one again once the cause is mended (an address fixed in
the schedule, a mail server back in order). The Nu page says how many there are.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import tzinfo

from aiohttp import web

from router.office import caller_id, danish
from router.office.messages import FailedMail, loggable
from router.web.console_core import Console

NOTICES = {"sendes": "E-mailen sendes igen om et øjeblik.", "ikke-fejlet": "Den e-mail er ikke længere fejlet."}


@dataclass(frozen=True)
class FailedRow:
    id: str
    line: str
    caller: str  # caller_id.display(): every hidden character marked
    received: str
    attempts: int
    error: str


def add_mail_pages(r: web.UrlDispatcher, console: Console) -> None:
    r.add_get("/ui/e-mail", functools.partial(_page, console))
    r.add_post("/ui/e-mail/{id}/send-igen", functools.partial(_resend, console))


async def failed_count(console: Console) -> int:
    """How many e-mails are failed (for the Nu page)."""
    counts = await asyncio.to_thread(console.messages.mail_counts)
    return counts.failed


async def _page(console: Console, request: web.Request) -> web.StreamResponse:
    tz = console.view.schedule().tz
    found = await asyncio.to_thread(console.messages.failed_mail)
    counts = await asyncio.to_thread(console.messages.mail_counts)
    rows = [_row(f, tz) for f in found]
    notice = NOTICES.get(request.query.get("besked", ""))
    return console.render(request, "mail.html", title="E-mail", rows=rows, pending=counts.pending, notice=notice)


def _row(failed: FailedMail, tz: tzinfo) -> FailedRow:
    message = failed.message
    caller = caller_id.display(message.caller) if message.caller else "skjult nummer"
    return FailedRow(
        message.id,
        message.line,
        caller,
        danish.moment(message.received_at, tz),
        failed.attempts,
        caller_id.display(failed.error, 300),
    )


async def _resend(console: Console, request: web.Request) -> web.StreamResponse:
    message_id = request.match_info["id"]
    if not await asyncio.to_thread(console.messages.resend, message_id, console.view.clock()):
        raise web.HTTPSeeOther("/ui/e-mail?besked=ikke-fejlet")
    console.view.wake_mail()
    await console.audit(request, "sendte e-mail igen", loggable(message_id))
    raise web.HTTPSeeOther("/ui/e-mail?besked=sendes")
