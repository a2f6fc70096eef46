"""What the console's pages share: the Console (the router's state and stores the pages read and
change, the templates, the audit log), the session a request signed in with, and the sign-in limits.

console.py guards /ui and signs people in; console_pages.py holds the pages; both build on this
module, which imports neither.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
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
from router.office.dial_attempts import DialAttemptStore
from router.office.messages import MessageStore
from router.office.overrides import OverrideStore
from router.web import shown
from router.web.http_api import RouterView

log = logging.getLogger("router.web.console")

SESSION = web.RequestKey("session", Session)
HERE = Path(__file__).parent
PLAY_AGAIN = timedelta(seconds=30)  # a request for a message's start this soon after the last is the same play


@dataclass
class SignInLimiter:
    """At most `per_name` failed sign-ins for a name and `per_address` from an address in `window`
    seconds; beyond that, sign-in is refused until the oldest failure is older than the window."""

    per_name: int = 5
    per_address: int = 20
    window: float = 900.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def wait_seconds(self, name: str, address: str) -> float:
        """0 if a sign-in may be tried now, else how long until it may."""
        now = self.clock()
        waits = [0.0]
        for key, limit in ((f"name:{name}", self.per_name), (f"address:{address}", self.per_address)):
            times = self._recent(key, now)
            if len(times) >= limit:
                waits.append(times[0] + self.window - now)
        return max(waits)

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        for key in (f"name:{name}", f"address:{address}"):
            self._recent(key, now).append(now)

    def succeeded(self, name: str) -> None:
        self._failures.pop(f"name:{name}", None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times


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
