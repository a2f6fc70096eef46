"""The office's web console under /ui: sign-in, sessions, CSRF; the pages are in console_pages.py, what
both use in console_core.py.

Theory of operation
-------------------
Every /ui path but the sign-in page and the style sheet and script wants a session: a random token
in a cookie that is HttpOnly (no script reads it), Secure (only over HTTPS, or to localhost) and
SameSite=Strict (no other site's page sends it). Without one, a page redirects to the sign-in and
anything else (the audio, the live fragment) answers 401. Every POST must carry the session's CSRF
token in its form; the sign-in form, which has no session yet, carries a token that must match a
cookie of its own (double submit). Failed sign-ins are limited per name and per address.

Pages are rendered on the server with Jinja2 (autoescaping on) and work without JavaScript; one
small script refreshes the "Nu" page. Responses carry a strict Content-Security-Policy, and pages
with personal data are not cached.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from router.office import caller_id
from router.web import console_pages, console_stats
from router.web.console_core import HERE, SESSION, Console, SignInLimiter, see_other

__all__ = ["Console", "SignInLimiter", "add_console"]  # the composition root's way in (app.py)

log = logging.getLogger(__name__)

COOKIE = "callrouter_session"
LOGIN_COOKIE = "callrouter_login"
STATIC = {"console.css": "text/css", "console.js": "text/javascript", "wallboard.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NAME_LIMIT = 64  # of a failed sign-in's name in the log (a real one is at most 32 characters)


def add_console(app: web.Application, console: Console) -> None:
    """The console's routes under /ui, and its guard, on the router's HTTP server."""
    app.middlewares.append(_guard(console))
    r = app.router
    r.add_get("/ui/static/{name}", _static)
    r.add_get("/ui/log-ind", functools.partial(_sign_in_page, console))
    r.add_post("/ui/log-ind", functools.partial(_sign_in, console))
    r.add_post("/ui/log-ud", functools.partial(_sign_out, console))
    console_pages.add_pages(r, console)
    console_stats.add_stats_pages(r, console)


def _guard(console: Console) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/ui"):
            return await handler(request)
        if request.path.startswith("/ui/static/") or request.path == "/ui/log-ind":
            response = await handler(request)
        else:
            token = request.cookies.get(COOKIE, "")
            # The account store writes with fsync (and checks passwords with Argon2): never in the event
            # loop, where it would hold up every call's events.
            session = await asyncio.to_thread(console.accounts.session, token, console.view.clock()) if token else None
            if session is None:
                response = _unauthenticated(request)
            elif request.method == "POST" and not await _csrf_ok(request, session.csrf):
                response = console.render(request, "error.html", 403, title="Formularen er udløbet", message=(
                    "Siden var for gammel, eller formularen kom ikke fra konsollen. Gå tilbage, genindlæs siden, "
                    "og prøv igen."
                ))  # fmt: skip
            else:
                request[SESSION] = session
                try:
                    response = await handler(request)
                except web.HTTPException as e:  # a redirect or an error: it gets the headers too
                    response = web.Response(status=e.status, text=e.text, headers=e.headers)
                    if e.status >= 400 and request.method == "GET" and not request.path.endswith(NOT_PAGES):
                        response = _error_page(console, request, e)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith("/ui/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return guard


NOT_PAGES = ("/indhold", "/lyd", ".ics", "/opkald")  # fetched by a page or a program: they answer 401, not a redirect


def _error_page(console: Console, request: web.Request, error: web.HTTPException) -> web.Response:
    """A page's error as a page of the console, in Danish, with the menu to go on from."""
    if getattr(request.match_info, "http_exception", None) is not None:  # no such page (or not for GET)
        title = "Siden findes ikke"
        message = "Der er ingen side på denne adresse. Måske er linket gammelt, eller adressen er skrevet forkert."
    else:  # the page's own words (e.g. "Beskeden findes ikke (den er måske slettet).")
        title, message = "Ikke fundet" if error.status == 404 else "Det gik ikke", error.text or ""
    return console.render(request, "error.html", error.status, title=title, message=message)


def _unauthenticated(request: web.Request) -> web.StreamResponse:
    if request.method == "GET" and not request.path.endswith(NOT_PAGES):
        return see_other("/ui/log-ind")
    return web.Response(status=401, text="Log ind først.", headers={"WWW-Authenticate": 'Cookie realm="ui"'})


async def _csrf_ok(request: web.Request, expected: str) -> bool:
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null" and urlsplit(origin).netloc != request.host:
        return False  # a form posted from another site
    form = await request.post()
    given = form.get("csrf")
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    body = (HERE / "static" / name).read_bytes()
    return web.Response(body=body, content_type=STATIC[name], headers={"Cache-Control": "max-age=300"})


async def _sign_in_page(console: Console, request: web.Request, error: str = "", status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(24)
    response = console.render(request, "login.html", status, title="Log ind", login_token=token, error=error)
    _set_cookie(response, LOGIN_COOKIE, token, max_age=3600)
    return response


async def _sign_in(console: Console, request: web.Request) -> web.StreamResponse:
    form = await request.post()
    name, password = str(form.get("navn", "")).strip().lower(), str(form.get("adgangskode", ""))
    given, expected = str(form.get("login_token", "")), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return await _sign_in_page(console, request, "Formularen var udløbet. Prøv igen.", 403)
    address = request.remote or "?"
    wait = await console.limiter.wait_seconds(console.accounts, name, address, console.view.clock())
    if wait > 0:
        minutes = max(1, round(wait / 60))
        message = f"For mange forkerte forsøg. Vent {minutes} minut{'ter' if minutes > 1 else ''}, og prøv igen."
        return await _sign_in_page(console, request, message, 429)
    user = await asyncio.to_thread(console.accounts.check_password, name, password) if name and password else None
    now = console.view.clock()
    if user is None:
        await console.limiter.failed(console.accounts, name, address, now)
        # Whatever was typed (or sent: 900 kB, line breaks), as one bounded line (office/caller_id.py).
        shown = caller_id.display(name, NAME_LIMIT) or "?"
        await asyncio.to_thread(console.accounts.audit, now, shown, "log-ind fejlede", f"fra {address}")
        log.warning('console: failed sign-in for "%s" from %s', shown, address)
        return await _sign_in_page(console, request, "Forkert navn eller adgangskode.", 401)
    await console.limiter.succeeded(console.accounts, name)
    token = await asyncio.to_thread(console.accounts.start_session, user, now)
    await asyncio.to_thread(console.accounts.audit, now, user.name, "log-ind", f"fra {address}")
    response = see_other("/ui/nu")
    _set_cookie(response, COOKIE, token)
    response.del_cookie(LOGIN_COOKIE, path="/ui")
    return response


async def _sign_out(console: Console, request: web.Request) -> web.StreamResponse:
    await asyncio.to_thread(console.accounts.end_session, request.cookies.get(COOKIE, ""))
    await console.audit(request, "log-ud")
    response = see_other("/ui/log-ind")
    response.del_cookie(COOKIE, path="/ui")
    return response


def _set_cookie(response: web.StreamResponse, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        path="/ui",
        max_age=max_age,
        httponly=True,
        secure=True,  # browsers send it over HTTPS or to localhost only
        samesite="Strict",
    )
