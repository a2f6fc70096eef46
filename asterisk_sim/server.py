"""The simulated Asterisk on real HTTP: ARI under /ari, and a control API for tests under /_sim.

It imports only aiohttp and the standard library, and nothing of the router: what the two
share is the protocol.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fnmatch
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web

from asterisk_sim.administration import administration_routes
from asterisk_sim.answers import VERSION, AriFault, Json, allocation_failed, app_args, atoi, now_text, ok
from asterisk_sim.api_docs import SHIPPED, api_document
from asterisk_sim.channel_routes import channel_routes
from asterisk_sim.control_api import Fault, control_errors, control_routes
from asterisk_sim.objects import Bridge
from asterisk_sim.recorder import RECORDING_FORMATS
from asterisk_sim.recordings import recording_routes
from asterisk_sim.resources import resource_routes
from asterisk_sim.settings import Settings, new_password
from asterisk_sim.validation import (
    bridge_channels,
    bridge_play_fails,
    check_channel_play,
    check_channel_record,
    check_originate,
    parameters,
    parse_body,
)
from asterisk_sim.variables import variable_routes
from asterisk_sim.websocket_requests import Refusal, carry_out, read_request, refusal_answer
from asterisk_sim.world import World

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Simulator:
    """One simulated Asterisk: start() it on a port (0 picks a free one), stop() it when done."""

    def __init__(
        self,
        user: str | None = None,
        password: str | None = None,
        *,
        settings: Settings | None = None,
        sound_seconds: float = 0.2,
        seed: int = 0,
        asterisk_id: str | None = None,
        contexts: Iterable[str] = (),
        api_docs: Path | None = None,
        sounds: Path | None = None,
    ) -> None:
        # Neutral defaults (settings.py): user `asterisk`, and a password made up for this run unless given.
        self.settings = settings or Settings()
        self.user = user or self.settings.user
        self.password_made_up = password is None
        self.password = new_password() if password is None else password
        # Asterisk's own description of ARI, served under /ari/api-docs/ as Asterisk serves it, for clients
        # that build themselves from it: Asterisk 22.10's (shipped), or a given Asterisk's rest-api directory.
        self.api_docs = api_docs or SHIPPED
        self.world = World(
            self._send,
            sound_seconds=sound_seconds,
            asterisk_id=asterisk_id,
            contexts=[*self.settings.contexts, *contexts],
            sounds=sounds,
            inbound_context=self.settings.context,
        )
        self.sockets: dict[str, web.WebSocketResponse] = {}
        self.requests: list[Json] = []
        self.faults: list[Fault] = []
        self.event_delay = 0.0
        self.available = True
        self.crashes: list[Json] = []  # requests the real Asterisk would have died of (docs/simulator.md)
        self._rng = random.Random(seed)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._senders: set[asyncio.Task[None]] = set()
        self._loopback: aiohttp.ClientSession | None = None  # REST over WebSocket, carried out on our routes
        self.host, self.port = "127.0.0.1", 0

    # -- lifecycle ------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._ari_middleware, parameters, control_errors])
        app.add_routes(_ari_routes(self))
        app.add_routes(resource_routes(self.world, _json_body))
        app.add_routes(recording_routes(self.world))
        app.add_routes(variable_routes(self.world, _json_body, self._crash))
        app.add_routes(channel_routes(self.world, self._crash))
        app.add_routes(administration_routes(self.world.log_channels))
        app.add_routes(control_routes(self))
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app(), handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        server = self._site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.host, self.port = host, sockets[0].getsockname()[1] if sockets else port

    async def stop(self) -> None:
        await self.drop_websockets()
        await self.world.close()
        for task in list(self._senders):
            task.cancel()
        await asyncio.gather(*list(self._senders), return_exceptions=True)
        if self._loopback is not None:
            await self._loopback.close()
            self._loopback = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def drop_websockets(self) -> None:
        """Close every application's WebSocket, as an Asterisk restart would."""
        for app, ws in list(self.sockets.items()):
            self.sockets.pop(app, None)
            self.world.connected_apps.discard(app)
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"simulated drop")

    async def _crash(self, request: web.Request, why: str) -> web.StreamResponse:
        """Asterisk falls over on this request: its connection closes unanswered, and everything live is
        gone (channel_routes.py says which request, and why)."""
        log.warning("simulated Asterisk crash: %s (Asterisk 22.10.1 dies on it)", why)
        self.crashes.append({"request": f"{request.method} {request.path}", "why": why, "at": time.time()})
        if request.transport is not None:
            request.transport.close()
        await self.restart()
        return web.Response(status=500)  # never reaches the client: its connection is closed

    async def restart(self) -> None:
        """Asterisk restarts: the WebSockets drop, and every channel and bridge is gone without
        an event (stored recordings, endpoints and sounds stay: they live on disk and in config)."""
        await self.drop_websockets()
        await self.world.restart()

    # -- events ---------------------------------------------------------------------

    def _send(self, app: str, event: Json) -> None:
        ws = self.sockets.get(app)
        if ws is None or ws.closed:
            return
        text = json.dumps(event)
        if self.event_delay <= 0:
            task = asyncio.create_task(ws.send_str(text))
        else:
            task = asyncio.create_task(self._send_later(ws, text, self.event_delay))
        self._senders.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._senders.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("event not delivered: %s", task.exception())

    @staticmethod
    async def _send_later(ws: web.WebSocketResponse, text: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if not ws.closed:
            await ws.send_str(text)

    async def answer_on_websocket(self, ws: web.WebSocketResponse, upgrade: web.Request, app: str, frame: str) -> None:
        """A RESTRequest on an application's WebSocket: carried out, and its RESTResponse sent on that
        WebSocket as an event of its first application (websocket_requests.py)."""
        answer: Json | None
        try:
            request = read_request(frame)
        except Refusal as refused:
            answer = refusal_answer(refused)
        else:
            if self._loopback is None:
                self._loopback = aiohttp.ClientSession()
            host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host  # a wildcard: reach it on loopback
            answer = await carry_out(self._loopback, f"http://{host}:{self.port}", upgrade, request)
        if answer is not None and not ws.closed and self.world.event_allowed(app, "RESTResponse"):
            answer |= {"application": app, "timestamp": now_text(), "asterisk_id": self.world.asterisk_id}
            await ws.send_str(json.dumps(answer))

    # -- the middleware: availability, auth, faults, and the request log --------------

    @web.middleware
    async def _ari_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/ari"):
            return await handler(request)
        entry: Json = {
            "method": request.method,
            "path": request.path[4:],
            "params": dict(request.query),
            "at": time.time(),
        }
        self.requests.append(entry)
        if not self.available:
            entry["status"] = 503
            return _error(503, "Service Unavailable")
        if not self._authorized(request):
            entry["status"] = 401
            return web.json_response({"message": "Authentication required"}, status=401)
        if request.path.endswith("/") and len(request.path) > len("/ari/"):  # res_ari.c, remove_trailing_slash
            entry["status"] = 404
            return _error(404, f"ARI URLs do not end with a slash. Try /ari/{request.path[5:-1]}")
        fault = self._fault_for(f"{request.method} {request.path[4:]}")
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status and not fault.after:
                entry["status"] = fault.status
                return _error(fault.status, "Injected fault")
        try:
            response = await handler(request)
        except AriFault as e:
            entry["status"] = e.status
            return web.json_response(e.json(), status=e.status)
        except web.HTTPNotFound:  # no such route: Asterisk's own words
            entry["status"] = 404
            return _error(404, "Resource not found")
        except web.HTTPMethodNotAllowed:  # res_ari.c: "Invalid method", but other words for its API description
            entry["status"] = 405
            return _error(405, "Unsupported method" if request.path.startswith("/ari/api-docs/") else "Invalid method")
        if fault is not None and fault.after and fault.status:
            entry["status"], entry["carried_out"] = fault.status, True
            return _error(fault.status, "Injected fault")
        entry["status"] = response.status
        return response

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return (user, password) == (self.user, self.password)
        api_key = request.query.get("api_key", "")
        return api_key == f"{self.user}:{self.password}"

    def _fault_for(self, what: str) -> Fault | None:
        for fault in self.faults:
            if fnmatch.fnmatchcase(what, fault.match) and self._rng.random() < fault.probability:
                if fault.count is not None:
                    if fault.count <= 0:
                        continue
                    fault.count -= 1
                return fault
        return None


def _http_error(status: int, title: str, text: str = "") -> web.Response:
    """Asterisk's own HTTP error page (main/http.c), which it sends where ARI has no JSON to say."""
    page = (
        '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\r\n<html><head>\r\n'
        f"<title>{status} {title}</title>\r\n</head><body>\r\n<h1>{title}</h1>\r\n"
        f"<p>{text.translate(_XML_ESCAPES)}</p>\r\n"
        f"<hr />\r\n<address>{SERVER_NAME}</address>\r\n</body></html>\r\n"
    )
    return web.Response(status=status, text=page, content_type="text/html")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


_XML_ESCAPES = str.maketrans({"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;"})  # ast_xml_escape
SERVER_NAME = f"Asterisk/{VERSION}"  # http.conf's default `servername`
MAX_APP_NAME = 73  # ARI_MAX_APP_NAME_LEN: a context's 80 characters less "stasis-"
# Asterisk's hangup reasons (res/ari/resource_channels.c, convert_reason_to_hangup_code).
HANGUP_REASONS = frozenset({
    "normal", "busy", "congestion", "no_answer", "timeout", "rejected", "unallocated", "normal_unspecified",
    "number_incomplete", "codec_mismatch", "interworking", "failure", "answered_elsewhere",
})  # fmt: skip


def _media(request: web.Request) -> list[str]:
    media = [m for m in request.query.getall("media", []) for m in m.split(",") if m]
    if not media:  # Asterisk queues nothing, and says so
        raise AriFault(500, "Failed to queue media for playback")
    return media


def _param(request: web.Request, name: str, default: str | None = None) -> str:
    value = request.query.get(name, default)
    if value is None:
        raise AriFault(400, f"{name}: required")
    return value


def _channels(w: World, request: web.Request) -> list[str]:
    w.bridge(request.match_info["id"])  # looked for first, then its list (resource_bridges.c)
    return bridge_channels(request.query)


def _number(request: web.Request, name: str, default: float) -> float:
    try:
        return float(request.query.get(name, default))
    except ValueError:
        raise AriFault(400, f"{name}: not a number") from None


# -- ARI --------------------------------------------------------------------------------


async def _json_body(request: web.Request) -> Any:
    """A request's JSON body as Asterisk reads one (validation.parse_body): none unless its content type is
    application/json or it is empty; 400 "Error parsing request body" for one that is not an object or array."""
    return parse_body(request.content_type.lower(), await request.read())[0]


def _ari_routes(sim: Simulator) -> web.RouteTableDef:
    w = sim.world
    r = web.RouteTableDef()

    @r.get("/ari/events")
    async def events(request: web.Request) -> web.StreamResponse:
        # As res/ari/ari_websockets.c: a comma-separated list of applications, each name trimmed; a
        # missing list is refused before the upgrade, a bad name fails the whole registration.
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return _http_error(426, "Upgrade Required")
        raw = request.query.get("app", "")
        if not raw:
            return _http_error(400, "Bad Request", "HTTP request is missing param: [app]")
        names = [name.strip() for name in raw.split(",")]
        if any(not name or len(name) > MAX_APP_NAME for name in names):
            return _http_error(500, "Internal Server Error", "Stasis app registration failed")
        # ast_true(): the words Asterisk takes for yes.
        every = request.query.get("subscribeAll", "").lower() in ("yes", "true", "y", "t", "1", "on")
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        for name in dict.fromkeys(names):
            old = sim.sockets.get(name)
            # Another WebSocket had this application: it is told, and keeps its socket and its other
            # applications (Asterisk does not close it).
            if old is not None and not old.closed and old is not ws and w.event_allowed(name, "ApplicationReplaced"):
                replaced = {"type": "ApplicationReplaced", "application": name, "timestamp": now_text()}
                await old.send_str(json.dumps({**replaced, "asterisk_id": w.asterisk_id}))
            w.application_connecting(name)
            if every:
                w.subscribe_all(name)
            sim.sockets[name] = ws
            w.connected_apps.add(name)
        async for message in ws:  # REST requests, carried out one at a time as Asterisk reads them
            if message.type == WSMsgType.TEXT:
                await sim.answer_on_websocket(ws, request, names[0], message.data)
        for name in names:
            if sim.sockets.get(name) is ws:
                del sim.sockets[name]
                w.connected_apps.discard(name)
        return ws

    @r.post("/ari/channels/{id}/answer")
    async def answer(request: web.Request) -> web.Response:
        w.stasis_channel(request.match_info["id"])
        await w.turn(request.match_info["id"])  # a command Asterisk waits for (control.py)
        w.answer(request.match_info["id"])
        return ok()

    # The many requests that do one thing to one resource and answer 204 No Content.
    no_content: list[tuple[str, str, Callable[[str], None]]] = [
        ("POST", "/ari/channels/{id}/moh", w.start_moh),
        ("POST", "/ari/channels/{id}/ring", w.ring),
        ("DELETE", "/ari/channels/{id}/moh", w.stop_moh),
        ("DELETE", "/ari/playbacks/{id}", w.stop_playback),
        ("DELETE", "/ari/bridges/{id}", w.destroy_bridge),
        ("POST", "/ari/bridges/{id}/moh", w.start_bridge_moh),
        ("DELETE", "/ari/bridges/{id}/moh", w.stop_bridge_moh),
    ]
    for method, path, action in no_content:
        r.route(method, path)(_no_content(action))

    @r.get("/ari/api-docs/{file:.+}")
    async def api_docs(request: web.Request) -> web.Response:
        return ok(api_document(sim.api_docs, request.match_info["file"], request.headers.get("Host")))

    @r.get("/ari/asterisk/ping")
    async def ping(request: web.Request) -> web.Response:
        return ok({"asterisk_id": w.asterisk_id, "ping": "pong", "timestamp": now_text()})

    @r.get("/ari/channels")
    async def channels(request: web.Request) -> web.Response:
        return ok([c.json() for c in w.channels.values() if not c.gone])

    async def originate(request: web.Request, channel_id: str | None) -> web.Response:
        check_originate(request.query)
        app = _param(request, "app")  # an originate to an extension is not simulated
        args = app_args(request)
        channel = w.originate(
            _param(request, "endpoint"),
            channel_id,
            app,
            args,
            _number(request, "timeout", 30),
            request.query.get("callerId", ""),
        )
        return ok(channel.json())

    @r.post("/ari/channels")
    async def originate_without_id(request: web.Request) -> web.Response:
        return await originate(request, request.query.get("channelId"))

    # Not /channels/create nor /channels/externalMedia (channel_routes.py): Asterisk's path tree prefers a
    # literal segment to an id.
    @r.post(r"/ari/channels/{id:(?!create$|externalMedia$)[^/]+}")
    async def originate_with_id(request: web.Request) -> web.Response:
        return await originate(request, request.match_info["id"])

    @r.get("/ari/channels/{id}")
    async def get_channel(request: web.Request) -> web.Response:
        return ok(w.channel(request.match_info["id"]).json())

    @r.post("/ari/channels/{id}/continue")
    async def continue_(request: web.Request) -> web.Response:
        w.continue_in_dialplan(
            request.match_info["id"],
            request.query.get("context"),
            request.query.get("extension"),
            atoi(request.query.get("priority", "")),
        )
        return ok()

    # A play on a channel or a bridge, with the playback's id in the path, in the query, or neither.
    @r.post(r"/ari/{kind:channels|bridges}/{id}/play{tail:(/[^/]+)?}")
    async def play(request: web.Request) -> web.Response:
        tail, on_bridge = request.match_info["tail"], request.match_info["kind"] == "bridges"
        playback_id = tail[1:] or request.query.get("playbackId") or f"sim-pb-{time.monotonic_ns()}"
        target = w.bridge(request.match_info["id"]) if on_bridge else w.stasis_channel(request.match_info["id"])
        if isinstance(target, Bridge) and bridge_play_fails(request.query, request.query.getall("media", [])):
            w.play_refused(target)  # its announcer joined first
            raise allocation_failed()
        if not isinstance(target, Bridge):
            check_channel_play(request.query)
        return ok(w.play(target, playback_id, _media(request), request.query.get("lang")), status=201)

    @r.post("/ari/channels/{id}/record")
    async def record(request: web.Request) -> web.Response:
        query = request.query
        check_channel_record(query, lambda: w.stasis_channel(request.match_info["id"]), RECORDING_FORMATS)
        recording = w.record(
            request.match_info["id"],
            query["name"],
            query["format"],
            atoi(query.get("maxDurationSeconds", "")),
            atoi(query.get("maxSilenceSeconds", "")),
            query.get("terminateOn", "").lower() or "none",
            query.get("beep", "false") == "true",
            query.get("ifExists", "").lower() or "fail",
        )
        return ok(recording.json(), status=201)

    @r.get("/ari/playbacks/{id}")
    async def get_playback(request: web.Request) -> web.Response:
        found = w.playbacks.get(request.match_info["id"])
        if found is None:
            raise AriFault(404, "Playback not found")
        return ok(found.json())

    @r.get("/ari/bridges")
    async def bridges(request: web.Request) -> web.Response:
        return ok([b.json() for b in w.bridges.values()])

    @r.delete("/ari/channels/{id}")
    async def hangup(request: web.Request) -> web.Response:
        reason, code = request.query.get("reason", ""), request.query.get("reason_code", "")
        channel = w.channel(request.match_info["id"])  # 404 first, as Asterisk checks
        if reason and code:
            raise AriFault(400, "The reason and reason_code can't both be specified")
        if code and not re.match(r"^\s*[+-]?\d", code):
            raise AriFault(400, "Invalid reason for hangup reason code provided")
        if reason and reason not in HANGUP_REASONS:
            raise AriFault(400, "Invalid reason for hangup reason provided")
        w.hangup(channel.id)
        return ok()

    @r.post("/ari/bridges")
    async def create_bridge(request: web.Request) -> web.Response:
        bridge = w.create_bridge(
            request.query.get("bridgeId"), request.query.get("type", "mixing"), request.query.get("name", "")
        )
        return ok(bridge.json())

    @r.post("/ari/bridges/{id}")
    async def create_bridge_with_id(request: web.Request) -> web.Response:
        bridge = w.create_bridge(
            request.match_info["id"], request.query.get("type", "mixing"), request.query.get("name", ""), with_id=True
        )
        return ok(bridge.json())

    @r.get("/ari/bridges/{id}")
    async def get_bridge(request: web.Request) -> web.Response:
        return ok(w.bridge(request.match_info["id"]).json())

    # Joining or leaving a bridge is a command each channel runs in its turn, and is waited for (control.py).
    @r.post("/ari/bridges/{id}/addChannel")
    async def add_channel(request: web.Request) -> web.Response:
        bridge_id, channel_ids = request.match_info["id"], _channels(w, request)
        for channel in w.joining(bridge_id, channel_ids):
            await w.turn(channel.id)
        w.add_to_bridge(bridge_id, channel_ids)
        return ok()

    @r.post("/ari/bridges/{id}/removeChannel")
    async def remove_channel(request: web.Request) -> web.Response:
        bridge_id, channel_ids = request.match_info["id"], _channels(w, request)
        w.leaving(bridge_id, channel_ids)
        for channel_id in channel_ids:
            await w.turn(channel_id)
        w.remove_from_bridge(bridge_id, channel_ids)
        return ok()

    @r.post("/ari/bridges/{id}/record")
    async def record_bridge(request: web.Request) -> web.StreamResponse:
        query = request.query
        if "format" not in query:  # resource_bridges.c looks its NULL format up (strcmp): Asterisk 22.10.1 dies
            w.bridge(request.match_info["id"])  # it finds the bridge first
            return await sim._crash(request, "POST /bridges/{id}/record without format")
        answer = w.record_bridge(request.match_info["id"], query.get("name", ""), query.get("format", ""),
                                 query.get("ifExists", "fail"))  # fmt: skip
        return ok(answer, status=201)

    @r.get("/ari/endpoints/{tech}/{resource}")
    async def endpoint(request: web.Request) -> web.Response:
        return ok(w.endpoint_json(request.match_info["tech"], request.match_info["resource"]))

    @r.post("/ari/channels/{id}/dtmf")
    async def send_dtmf(request: web.Request) -> web.Response:
        digits = request.query.get("dtmf", "")
        if not digits:
            raise AriFault(400, "DTMF is required")
        channel = w.stasis_channel(request.match_info["id"])
        channel.heard.append({"dtmf": digits, "at": time.monotonic()})  # what the caller's phone heard
        return ok()

    @r.post("/ari/playbacks/{id}/control")
    async def control_playback(request: web.Request) -> web.Response:
        w.control_playback(request.match_info["id"], request.query.get("operation", ""))
        return ok()

    @r.put("/ari/applications/{name}/eventFilter")
    async def event_filter(request: web.Request) -> web.Response:
        return ok(w.set_event_filter(request.match_info["name"], await _json_body(request)))

    @r.get("/ari/applications/{name}")
    async def application(request: web.Request) -> web.Response:
        return ok(w.application_json(request.match_info["name"]))

    @r.get("/ari/sounds/{id:.+}")
    async def sound(request: web.Request) -> web.Response:
        if "/" in request.raw_path.split("?")[0].removeprefix("/ari/sounds/"):
            raise AriFault(404, "Resource not found")  # Asterisk has no route for a raw slash
        sound = w.sounds.json(request.match_info["id"])
        if sound is None:
            raise AriFault(404, "Sound not found")
        return ok(sound)

    return r


def _no_content(action: Callable[[str], None]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        action(request.match_info["id"])
        return ok()

    return handler
