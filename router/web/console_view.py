"""Beskeder's forms: the message they are about, and where they lead back to (the page they were on)."""

from __future__ import annotations

import asyncio
from typing import NoReturn
from urllib.parse import urlencode

from aiohttp import web

from router.office.messages import Message
from router.web.console_core import Console

UNHANDLED = "ikke-ringet-op"  # Beskeder's filter: only those not called back yet


def message_view(request: web.Request, lines: list[str]) -> dict[str, str]:
    """The list's filter and page as the query has them; anything else is dropped."""
    view = {}
    if request.query.get("vis") == UNHANDLED:
        view["vis"] = UNHANDLED
    if request.query.get("linje") in lines:
        view["linje"] = request.query["linje"]
    page = request.query.get("side", "")
    if page.isascii() and page.isdigit() and 1 < int(page) < 10**6:  # past the last page: the last page
        view["side"] = str(int(page))
    return view


def back(console: Console, request: web.Request, notice: str, message_id: str | None = None) -> NoReturn:
    """To the page of Beskeder the form was on, with a notice (and at the message, if one is given)."""
    view = message_view(request, list(console.view.schedule().lines))
    anchor = f"#besked-{message_id}" if message_id else ""
    raise web.HTTPSeeOther("/ui/beskeder?" + urlencode({**view, "besked": notice}) + anchor)


async def message_of(console: Console, request: web.Request) -> Message:
    found = await asyncio.to_thread(console.messages.get, request.match_info["id"])
    if found is None:
        raise web.HTTPNotFound(text="Beskeden findes ikke (den er måske slettet).")
    return found
