"""The router's HTTP API (aiohttp), on loopback unless told otherwise.

    GET  /livez                      the process is alive
    GET  /readyz                     active (not a standby), ARI connected and a schedule in service; else 503
    GET  /status                     per line: open or closed and why, next change, override, callers waiting, agents,
                                     the estimated wait of a caller calling now, open callbacks; e-mails pending and
                                     failed
    GET  /metrics                    Prometheus text format
    GET  /messages                   callers' messages (token)            ?all=1 includes handled ones
    GET  /messages/{id}/audio        the recording, as WAV (token); a Range gets that part
    GET  /mail/failed                e-mails given up on, with why (token)
    POST /messages/{id}/mail         send a failed e-mail again (token)
    POST /messages/{id}/handled      the caller was called back (token)
    DELETE /messages/{id}            delete the message and its audio in Asterisk (token)
    GET  /overrides                  emergency overrides in force
    POST /overrides                  {"line", "state": "closed"|"open", "reason", "until", "note"} (token)
    DELETE /overrides/{line}         (token)
    /ui/...                          the office's web console, with its own sign-in (web/console.py)

Endpoints that change something or reveal personal data (callers' numbers, recordings) want
`Authorization: Bearer <token>`, compared in constant time; with no token configured they refuse
everyone. Health, status and metrics carry no personal data and are open.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, tzinfo
from typing import Any

from aiohttp import web

from router.ari import AriError, AriNotFound, AriRest
from router.calls.estimate import TOO_LITTLE, Estimate
from router.office.audio import audio_of
from router.office.calendars import CalendarState
from router.office.messages import Message, MessageStore
from router.office.overrides import OverrideError, OverrideStore, resolve_until
from router.schedule import Decision, Override, QueueConfig, Schedule, decide
from router.schedule.reload import FileState
from router.web.byte_range import ranged
from router.web.metrics import CONTENT_TYPE, Metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 8089
    token: str | None = None  # None: the protected endpoints refuse everyone


class ApiConfigError(ValueError):
    pass


def api_config_from_env(env: Mapping[str, str]) -> ApiConfig | None:
    """CALLROUTER_API (host:port, default 127.0.0.1:8089; "off": no API), and the token from
    CALLROUTER_API_TOKEN or the file named by CALLROUTER_API_TOKEN_FILE."""
    address = env.get("CALLROUTER_API", "127.0.0.1:8089")
    if address == "off":
        return None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ApiConfigError(f"CALLROUTER_API is host:port (e.g. 127.0.0.1:8089) or off, not {address!r}")
    token = env.get("CALLROUTER_API_TOKEN")
    if env.get("CALLROUTER_API_TOKEN_FILE"):
        try:
            with open(env["CALLROUTER_API_TOKEN_FILE"], encoding="utf-8") as f:
                token = f.read().strip()
        except OSError as e:
            raise ApiConfigError(f"CALLROUTER_API_TOKEN_FILE: {e}") from None
    if token is not None and len(token) < 16:
        raise ApiConfigError("the API token must be at least 16 characters (e.g. openssl rand -hex 32)")
    return ApiConfig(host.strip("[]"), int(port), token or None)


@dataclass
class RouterView:
    """What the API reads from the running router; functions, so it always sees the current state."""

    schedule: Callable[[], Schedule]
    clock: Callable[[], datetime]
    connected: Callable[[], bool]
    rejected: Callable[[], str | None]  # the schedule file's error, while the file on disk is rejected
    waiting: Callable[[str], int]
    agents: Callable[[str], dict[str, str]]  # agent -> available | ringing | talking, as the router's queue sees them
    waiting_since: Callable[[str], list[datetime]] = lambda _: []  # when each waiting caller arrived, first first
    mail_configured: bool = False  # an SMTP server is configured
    schedule_file: Callable[[], FileState | None] = lambda: None  # the file on disk against the one in service
    role: Callable[[], str] = lambda: "active"  # or starting, standby (another router takes the calls), stopped
    # ... and standby-blocked: a standby that could not take over now (the database does not answer)
    store_problem: Callable[[], str | None] = lambda: None  # the office's database does not answer, if so
    spooled: Callable[[], int] = lambda: 0  # messages on this router's disk, waiting for the store
    wake_mail: Callable[[], None] = lambda: None  # the e-mail sender looks at the outbox now
    calendars: Callable[[], Mapping[str, CalendarState]] = dict  # each line's subscribed calendar (office/calendars.py)
    # the wait of a caller at a place (1: next) as the queue would say it now; None: too little to go on
    estimate: Callable[[str, int], Estimate | None] = lambda _, __: None
    callbacks: Callable[[str], int] = lambda _: 0  # open callbacks of a line, in the store (every router's)
    callback_places: Callable[[str], list[datetime]] = lambda _: []  # the arrivals of the callbacks in the queue


def make_app(
    view: RouterView,
    messages: MessageStore,
    overrides: OverrideStore,
    rest: AriRest,
    metrics: Metrics,
    config: ApiConfig,
) -> web.Application:
    app = web.Application(middlewares=[_guard(config.token)])

    async def livez(_: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def readyz(_: web.Request) -> web.Response:
        problems = []
        if view.role() == "standby":
            problems.append("standby: another router of this Asterisk takes the calls")
        elif view.role() == "standby-blocked":
            problems.append("standby: another router takes the calls, and this one could not take over now")
        elif view.role() != "active":
            problems.append(f"{view.role()}: not taking calls")
        elif not view.connected():
            problems.append("ARI WebSocket not connected")
        try:
            view.schedule()
        except Exception as e:
            problems.append(f"no schedule: {e}")
        if (store := view.store_problem()) is not None:
            problems.append(f"the office's database: {store}")
        if spooled := view.spooled():
            problems.append(f"{spooled} message(s) wait on this router's disk for the database")
        body = {"ready": not problems, "role": view.role(), "problems": problems}
        return web.json_response(body, status=503 if problems else 200)

    async def status(_: web.Request) -> web.Response:
        schedule = view.schedule()
        now = view.clock()
        lines = {}
        for line_id in schedule.lines:
            decision = decide(schedule, line_id, now, overrides.all())
            agents = await agents_now(rest, view.agents(line_id))
            waiting = view.waiting(line_id)
            queued = isinstance(schedule.lines[line_id].open_to, QueueConfig)
            estimate = _estimate_json(view.estimate(line_id, waiting + 1)) if queued else None
            callbacks = view.callbacks(line_id) if queued else None
            lines[line_id] = _line_status(decision, waiting, agents) | {"estimate": estimate, "callbacks": callbacks}
        mail: dict[str, object] = {"configured": view.mail_configured}
        try:
            counts = await asyncio.to_thread(messages.mail_counts)
        except Exception as e:  # the store does not answer; the calls' side still does
            mail["error"] = f"the store does not answer: {type(e).__name__}"
        else:
            mail |= {
                "pending": counts.pending,
                "failed": counts.failed,
                "sent": counts.sent,
                "oldest_pending": counts.oldest_pending.astimezone(schedule.tz).isoformat()
                if counts.oldest_pending
                else None,
            }
        body = {
            "at": now.isoformat(),
            "role": view.role(),
            "ari_connected": view.connected(),
            "schedule_rejected": view.rejected(),
            "store_problem": view.store_problem(),
            "messages_spooled": view.spooled(),
        }
        calendars = {line: calendar_json(state, schedule.tz) for line, state in view.calendars().items()}
        return web.json_response({**body, "mail": mail, "lines": lines, "calendars": calendars})

    async def metrics_text(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    async def list_messages(request: web.Request) -> web.Response:
        show_all = request.query.get("all") in ("1", "true", "yes")
        found = await asyncio.to_thread(messages.all)
        rows = [_message_json(m) for m in found if show_all or not m.handled]
        return web.json_response({"messages": rows})

    async def audio(request: web.Request) -> web.Response:
        message = await _message(messages, request.match_info["id"])
        try:
            data = await audio_of(messages, rest, message)
        except AriError as e:
            raise web.HTTPBadGateway(text=f"Asterisk: {e}") from None
        if data is None:
            raise web.HTTPNotFound(text="the recording is neither in the store nor in Asterisk")
        return ranged(request, data, "audio/wav")

    async def failed_mail(_: web.Request) -> web.Response:
        found = await asyncio.to_thread(messages.failed_mail)
        rows = [{"message": _message_json(f.message), "attempts": f.attempts, "error": f.error} for f in found]
        return web.json_response({"failed": rows})

    async def resend(request: web.Request) -> web.Response:
        message = await _message(messages, request.match_info["id"])
        if not await asyncio.to_thread(messages.resend, message.id, view.clock()):
            state = await asyncio.to_thread(messages.mail_state, message.id)
            raise web.HTTPConflict(text=f"the message's e-mail is {state[0] if state else 'none'}, not failed")
        view.wake_mail()
        return web.json_response({"id": message.id, "mail": "pending"})

    async def handled(request: web.Request) -> web.Response:
        message = await _message(messages, request.match_info["id"])
        await asyncio.to_thread(messages.mark_handled, message.id)
        return web.json_response({"id": message.id, "handled": True})

    async def delete_message(request: web.Request) -> web.Response:
        message = await _message(messages, request.match_info["id"])
        try:
            await rest.delete_stored_recording(message.recording)
        except AriNotFound:
            pass  # already gone
        except AriError as e:  # keep the record, so that the audio is not forgotten in Asterisk
            raise web.HTTPBadGateway(text=f"Asterisk did not delete the recording: {e}") from None
        await asyncio.to_thread(messages.delete, message.id)
        return web.json_response({"id": message.id, "deleted": True})

    async def list_overrides(_: web.Request) -> web.Response:
        now = view.clock()
        return web.json_response({"overrides": [_override_json(o) for o in overrides.all() if o.active_at(now)]})

    async def set_override(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise web.HTTPBadRequest(text="the body must be JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="the body must be a JSON object")
        schedule, now = view.schedule(), view.clock()
        line = str(body.get("line") or next(iter(schedule.lines)))
        state = body.get("state")
        if line not in schedule.lines:
            raise web.HTTPBadRequest(text=f"unknown line {line!r}")
        if state not in ("closed", "open"):
            raise web.HTTPBadRequest(text='`state` is "closed" or "open"')
        try:
            until = resolve_until(body.get("until"), schedule, line, now)
            override = Override(
                line, state == "open", str(body.get("reason") or "emergency"), now, until, body.get("note")
            )
            await asyncio.to_thread(overrides.set, override, now)
        except OverrideError as e:
            raise web.HTTPBadRequest(text=str(e)) from None
        return web.json_response(_override_json(override), status=201)

    async def clear_override(request: web.Request) -> web.Response:
        line = request.match_info["line"]
        if not await asyncio.to_thread(overrides.clear, line, view.clock()):
            raise web.HTTPNotFound(text=f"no override for line {line}")
        return web.json_response({"line": line, "cleared": True})

    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/status", status)
    app.router.add_get("/metrics", metrics_text)
    app.router.add_get("/messages", _protected(list_messages))
    app.router.add_get("/messages/{id}/audio", _protected(audio))
    app.router.add_post("/messages/{id}/handled", _protected(handled))
    app.router.add_post("/messages/{id}/mail", _protected(resend))
    app.router.add_get("/mail/failed", _protected(failed_mail))
    app.router.add_delete("/messages/{id}", _protected(delete_message))
    app.router.add_get("/overrides", list_overrides)
    app.router.add_post("/overrides", _protected(set_override))
    app.router.add_delete("/overrides/{line}", _protected(clear_override))
    return app


async def agents_now(rest: AriRest, ours: dict[str, str]) -> dict[str, str]:
    """Agents the queue has free, as Asterisk sees them: on a call of their own, or offline."""
    free = [a for a, state in ours.items() if state == "available"]
    answers = await asyncio.gather(*(rest.get_endpoint("PJSIP", a) for a in free), return_exceptions=True)
    found = dict(ours)
    for agent, answer in zip(free, answers, strict=True):
        if isinstance(answer, AriNotFound):
            found[agent] = "unknown endpoint"
        elif isinstance(answer, BaseException):
            found[agent] = "unknown (Asterisk did not answer)"
        elif answer.state == "offline":
            found[agent] = "offline"
        elif answer.channel_ids:
            found[agent] = "on another call"
    return found


def _protected(handler: Handler) -> Handler:
    handler.protected = True  # type: ignore[attr-defined]
    return handler


def _guard(token: str | None) -> Any:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        route_handler = request.match_info.handler
        if getattr(route_handler, "protected", False):
            given = request.headers.get("Authorization", "")
            expected = f"Bearer {token}" if token else None
            if expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
                return web.json_response(
                    {"error": "a valid token is required (Authorization: Bearer ...)"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        return await handler(request)

    return guard


async def _message(messages: MessageStore, message_id: str) -> Message:
    found = await asyncio.to_thread(messages.get, message_id)
    if found is None:
        raise web.HTTPNotFound(text=f"no message {message_id}")
    return found


def _message_json(message: Message) -> dict[str, Any]:
    """The message as stored: the caller id and name as they came (see office/caller_id.py)."""
    data = asdict(message)
    for console_only in ("claimed_by", "claimed_until"):  # "Jeg ringer op": the console's, not the API's
        del data[console_only]
    if message.callback is None:  # only a queue's callback that could not be made says what was tried
        del data["callback"]
    data["received_at"] = message.received_at.isoformat()
    data["handled_at"] = message.handled_at.isoformat() if message.handled_at else None
    return data


def _override_json(override: Override) -> dict[str, Any]:
    return {
        "line": override.line,
        "state": "open" if override.open else "closed",
        "reason": override.reason,
        "until": override.until.isoformat(),
        "note": override.note,
    }


def calendar_json(state: CalendarState, tz: tzinfo) -> dict[str, Any]:
    """A line's subscribed calendar on /status: whether its last fetch worked, and the copy in force."""
    return {
        "url": state.where,
        "ok": state.ok,
        "error": state.error,
        "loaded_at": state.loaded_at.astimezone(tz).isoformat() if state.loaded_at else None,
        "checked_at": state.checked_at.astimezone(tz).isoformat() if state.checked_at else None,
        "closures": state.events,
    }


def _estimate_json(estimate: Estimate | None) -> dict[str, Any]:
    """A caller calling now: how long they would wait, as they would hear it."""
    if estimate is None:
        return {"minutes": None, "more": False, "text": TOO_LITTLE}
    return {"minutes": estimate.minutes, "more": estimate.more, "text": estimate.danish()}


def _line_status(decision: Decision, waiting: int, agents: dict[str, str]) -> dict[str, Any]:
    return {
        "open": decision.open,
        "reason": decision.reason.value,
        "label": decision.label,
        "next_change": decision.next_change.isoformat() if decision.next_change else None,
        "next_open": decision.next_open.isoformat() if decision.next_open else None,
        "override": _override_json(decision.override) if decision.override else None,
        "waiting": waiting,
        "agents": agents,
    }
