"""What the console's pages share: the Console (the router's state and stores the pages read and
change, the templates, the audit log), the session a request signed in with, and the sign-in limits.

console.py guards /ui and signs people in; console_pages.py holds the pages; both build on this
module, which imports neither.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from router.ari import AriRest
from router.calls.dialout_runner import DialOuts
from router.office.accounts import AccountStore, Session
from router.office.call_log import CallLog
from router.office.closures import ClosureStore
from router.office.dial_attempts import DialAttemptStore
from router.office.messages import MessageStore
from router.office.overrides import OverrideStore
from router.schedule import Schedule
from router.web import shown
from router.web.http_api import RouterView

log = logging.getLogger("router.web.console")

SESSION = web.RequestKey("session", Session)
HERE = Path(__file__).parent
PLAY_AGAIN = timedelta(seconds=30)  # a request for a message's start this soon after the last is the same play


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
    call_log: CallLog  # every node's calls (Statistik, Tavle)
    dialouts: DialOuts | None = None  # "Ring op" (calls/dialout_runner.py); None: the console cannot dial
    attempts: DialAttemptStore | None = None  # every "Ring op" on a message
    office: str = "Opkrævningskontoret"
    limiter: SignInLimiter = field(default_factory=SignInLimiter)
    templates: jinja2.Environment = field(default_factory=lambda: templates())
    closures: ClosureStore | None = None  # the planned closures (console_closures.py); set by the router
    from_file: Callable[[], Schedule] | None = None  # the schedule without them: the base they join
    _plays: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (user, message): last play logged

    def first_play(self, user: str, message_id: str) -> bool:
        """Whether a player's request for the start of a message is a new play: not if the same person
        asked for it less than PLAY_AGAIN ago (a player's second request for the start is the same play)."""
        now = self.view.clock()
        self._plays = {k: at for k, at in self._plays.items() if now - at < PLAY_AGAIN}
        new = (user, message_id) not in self._plays
        self._plays[user, message_id] = now
        return new

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


def templates() -> jinja2.Environment:
    found = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    found.filters.update(shown.FILTERS)  # what a caller sent, shown safely (web/shown.py)
    found.tests.update(shown.TESTS)
    return found


def see_other(location: str) -> web.Response:
    """303 to `location`: after a POST, the browser GETs the page (and a reload repeats nothing)."""
    return web.Response(status=303, headers={"Location": location})


def session_of(request: web.Request) -> Session:
    return request[SESSION]
