"""The office's web console under /ui: sign-in, sessions, CSRF, and the pages (console_pages.py).

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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from router.ari import AriRest
from router.office.accounts import AccountStore, Session
from router.office.messages import MessageStore
from router.office.overrides import OverrideStore
from router.web.http_api import RouterView

log = logging.getLogger(__name__)

SESSION = web.RequestKey("session", Session)
COOKIE = "callrouter_session"
LOGIN_COOKIE = "callrouter_login"
HERE = Path(__file__).parent
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}
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


WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class SignInLimiter:
    """At most `per_name` failed sign-ins for a name and `per_address` from an address in `window`
    seconds; beyond that, sign-in is refused until enough of them are older than the window. The
    failures are kept in the office's store (AccountStore), so the limit holds on every node of a
    site and across restarts."""

    per_name: int = 5
    per_address: int = 20
    window: timedelta = WINDOW

    async def wait_seconds(self, accounts: AccountStore, name: str, address: str, now: datetime) -> float:
        """0 if a sign-in may be tried now, else how long until it may."""
        waits = [0.0]
        for key, limit in ((_name_key(name), self.per_name), (f"address:{address}", self.per_address)):
            times = await asyncio.to_thread(accounts.sign_in_failures, key, now - self.window)
            if len(times) >= limit:
                waits.append((times[-limit] + self.window - now).total_seconds())
        return max(waits)

    async def failed(self, accounts: AccountStore, name: str, address: str, now: datetime) -> None:
        keys = (_name_key(name), f"address:{address}")
        await asyncio.to_thread(accounts.note_sign_in_failure, keys, now, now - self.window)

    async def succeeded(self, accounts: AccountStore, name: str) -> None:
        await asyncio.to_thread(accounts.forget_sign_in_failures, _name_key(name))


def _name_key(name: str) -> str:
    return f"name:{name[:64]}"  # a name is at most 32 characters; what is typed may be anything


@dataclass
class Console:
    """What the pages read and change."""

    view: RouterView
    messages: MessageStore
    overrides: OverrideStore
    accounts: AccountStore
    rest: AriRest
    prompt_texts: Callable[[], Mapping[str, str]]  # every prompt's Danish text (for the schedule in service)
    known_prompts: Mapping[str, str]  # the manifest's own prompts: which closures have a message
    office: str = "Opkrævningskontoret"
    limiter: SignInLimiter = field(default_factory=SignInLimiter)
    templates: jinja2.Environment = field(
        default_factory=lambda: jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    )

    def render(self, request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
        session = request.get(SESSION)
        page = self.templates.get_template(template).render(
            office=self.office,
            user=session.user if session else None,
            csrf=session.csrf if session else "",
            path=request.path,
            **values,
        )
        return web.Response(text=page, content_type="text/html", charset="utf-8", status=status)

    async def audit(self, request: web.Request, action: str, detail: str = "") -> None:
        session = request[SESSION]
        await asyncio.to_thread(self.accounts.audit, self.view.clock(), session.user.name, action, detail)
        log.info("console: %s: %s %s", session.user.name, action, detail)


def add_console(app: web.Application, console: Console) -> None:
    """The console's routes under /ui, and its guard, on the router's HTTP server."""
    from router.web import console_pages  # the pages need Console; Console does not need them

    app.middlewares.append(_guard(console))
    r = app.router
    r.add_get("/ui/static/{name}", _static)
    r.add_get("/ui/log-ind", functools.partial(_sign_in_page, console))
    r.add_post("/ui/log-ind", functools.partial(_sign_in, console))
    r.add_post("/ui/log-ud", functools.partial(_sign_out, console))
    console_pages.add_pages(r, console)


def see_other(location: str) -> web.Response:
    """303 to `location`: after a POST, the browser GETs the page (and a reload repeats nothing)."""
    return web.Response(status=303, headers={"Location": location})


def session_of(request: web.Request) -> Session:
    return request[SESSION]


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
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith("/ui/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    return guard


NOT_PAGES = ("/indhold", "/lyd", ".ics")  # fetched by a page or a program: they answer 401, not a redirect


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
        await asyncio.to_thread(console.accounts.audit, now, name[:64] or "?", "log-ind fejlede", f"fra {address}")
        log.warning("console: failed sign-in for %r from %s", name, address)
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
