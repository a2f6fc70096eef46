"""The control API under /_sim: what a test harness (or a demo) does to the simulated world, as a phone, a
trunk or an operator would, and what it reads back. Every body is checked against control_schema.ROUTES,
which /_sim/openapi.json and the page at /_sim describe."""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from asterisk_sim.answers import VERSION, AriFault, Json, ok
from asterisk_sim.control_schema import ROUTES, BadRequest, Route, openapi, read_fields, read_query
from asterisk_sim.objects import AgentScript
from asterisk_sim.settings import Settings
from asterisk_sim.speech import NotSpeech, samples_of

if TYPE_CHECKING:
    from asterisk_sim.world import World


class Controlled(Protocol):
    """What the control API works on: the simulator (server.py) as seen from here, so that this module
    needs nothing of the server's (which imports it)."""

    world: World
    settings: Settings
    requests: list[Json]
    faults: list[Fault]
    event_delay: float
    available: bool
    crashes: list[Json]

    async def drop_websockets(self) -> None: ...

    async def restart(self) -> None: ...


@dataclass
class Fault:
    """Make matching ARI requests fail or slow down: `match` is fnmatch over 'METHOD /path'."""

    match: str
    status: int = 500
    probability: float = 1.0
    count: int | None = None  # how many times at most; None: until cleared
    delay: float = 0.0  # seconds before answering (with status 0: answer normally, just late)
    after: bool = False  # carry the request out, then answer `status`: the answer is lost, not the request


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


async def _fields(request: web.Request, route: Route) -> Json:
    try:
        return read_query(route, request.query) if route.query else read_fields(route, await request.read())
    except BadRequest as e:
        raise web.HTTPBadRequest(text=json.dumps({"message": str(e)}), content_type="application/json") from None


@web.middleware
async def control_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """A control request about a channel that Asterisk would refuse answers as ARI would (its status and
    words), not as a server error."""
    if not request.path.startswith("/_sim"):
        return await handler(request)  # type: ignore[no-any-return]
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except AriFault as e:
        return _error(e.status, e.message)


def control_routes(sim: Controlled) -> web.RouteTableDef:
    w = sim.world
    r = web.RouteTableDef()

    @r.get("/_sim")
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=_page(), content_type="text/html")

    @r.get("/_sim/openapi.json")
    async def reference(request: web.Request) -> web.Response:
        return ok(openapi(VERSION))

    @r.post("/_sim/calls")
    async def place_call(request: web.Request) -> web.Response:
        given = await _fields(request, ROUTES["call"])
        app = given["app"] or sim.settings.app
        if app is None:
            return _error(400, "app: required (the simulator's settings name no application for calls)")
        to = given["to"] or sim.settings.to
        channel = w.place_call(
            given["from"],
            to,
            app,
            given["args"],
            name=given["name"],
            technology=given["technology"],
            endpoint=given["endpoint"],
        )
        return ok({"channel_id": channel.id, "stasis": channel.app is not None}, status=201)

    # What a phone does that takes no fields: the caller hangs up, the phone a channel rings answers.
    holds: list[tuple[str, Callable[[str], None]]] = [
        ("hold", lambda channel_id: w.caller_holds(channel_id, True)),
        ("unhold", lambda channel_id: w.caller_holds(channel_id, False)),
    ]
    for key, action in [("hangup", w.caller_hangs_up), ("pick-up", w.phone_picks_up), *holds]:
        r.route(ROUTES[key].method, ROUTES[key].path)(_on_a_channel(ROUTES[key], action))

    @r.post("/_sim/channels/{id}/talk")
    async def talk(request: web.Request) -> web.Response:
        given = await _fields(request, ROUTES["talk"])
        w.caller_talks(request.match_info["id"], given["seconds"])
        return ok()

    @r.post("/_sim/channels/{id}/transfer")
    async def transfer(request: web.Request) -> web.Response:
        given = await _fields(request, ROUTES["transfer"])
        return ok({"result": w.caller_transfers(request.match_info["id"], given["to"])})

    @r.post("/_sim/endpoints/{tech}/{resource}/message")
    async def text(request: web.Request) -> web.Response:
        given = await _fields(request, ROUTES["text"])
        endpoint = f"{request.match_info['tech']}/{request.match_info['resource']}"
        return ok({"told": w.endpoint_texts(endpoint, given["to"], given["body"], given["name"])})

    @r.post("/_sim/channels/{id}/dtmf")
    async def press(request: web.Request) -> web.Response:
        given = await _fields(request, ROUTES["dtmf"])
        channel = w.channel(request.match_info["id"])
        if channel.state != "Up":  # keys go in the call's media (RFC 4733), which flows once it is answered
            return _error(409, f"the channel is {channel.state}: keys need an answered call")
        for digit in given["digits"]:
            w.send_dtmf(channel.id, digit)
        return ok()

    @r.post("/_sim/channels/{id}/silent")
    async def silent(request: web.Request) -> web.Response:
        given = await _fields(request, ROUTES["silent"])
        w.set_silent(request.match_info["id"], given["silent"])
        return ok()

    @r.post("/_sim/channels/{id}/say")
    async def say(request: web.Request) -> web.Response:
        try:
            samples = samples_of(await request.read())
        except NotSpeech as e:
            return _error(400, str(e))
        w.say(request.match_info["id"], samples)
        return ok()

    @r.get("/_sim/channels/{id}")
    async def heard(request: web.Request) -> web.Response:
        channel = w.channels.get(request.match_info["id"])
        if channel is None:
            return _error(404, "Channel not found")
        return ok(
            {
                "id": channel.id,
                "state": channel.state,
                "gone": channel.gone,
                "app": channel.app,
                "bridge": channel.bridge,
                "heard": channel.heard,
                "dialplan_after": channel.dialplan_after,
                "answered_at": channel.answered_at,
                "hangup": channel.hangup,
                "held": channel.held,
            }
        )

    @r.get("/_sim/events")
    async def events(request: web.Request) -> web.Response:
        given = await _fields(request, ROUTES["events"])
        happened, missed = await w.journal.after(given["after"], given["wait"])
        following = happened[-1]["seq"] if happened else given["after"]
        return ok({"events": happened, "next": following, "missed": missed})

    @r.put("/_sim/endpoints/{tech}/{resource}")
    async def endpoint(request: web.Request) -> web.Response:
        given = await _fields(request, ROUTES["endpoint"])
        script = AgentScript(
            given["behaviour"], given["answer_after"], given["on_own_call"], given["hang_up_after"], given["context"]
        )
        w.set_endpoint(f"{request.match_info['tech']}/{request.match_info['resource']}", script)
        return ok()

    @r.put("/_sim/dialplan/{context}")
    async def declare_context(request: web.Request) -> web.Response:
        """A context of the dialplan (see World.contexts): `continue` into it leaves the channel there."""
        await _fields(request, ROUTES["dialplan"])
        w.contexts.add(request.match_info["context"])
        return ok()

    @r.post("/_sim/sounds")
    async def sounds(request: web.Request) -> web.Response:
        given = await _fields(request, ROUTES["sounds"])
        w.sounds.update(given["names"], given["language"], given["format"], given["seconds"])
        return ok()

    @r.get("/_sim/state")
    async def state(request: web.Request) -> web.Response:
        return ok(
            {
                "channels": [c.id for c in w.channels.values() if not c.gone],
                "bridges": list(w.bridges),
                "apps": sorted(w.connected_apps),
                "fallbacks": w.fallbacks,
                "stored_recordings": sorted(w.stored_recordings),
                "messages": w.messages,
                "crashes": sim.crashes,
            }
        )

    @r.get("/_sim/requests")
    async def requests(request: web.Request) -> web.Response:
        return ok(sim.requests)

    @r.post("/_sim/faults")
    async def add_fault(request: web.Request) -> web.Response:
        sim.faults.append(Fault(**await _fields(request, ROUTES["fault"])))
        return ok()

    @r.delete("/_sim/faults")
    async def clear_faults(request: web.Request) -> web.Response:
        sim.faults.clear()
        sim.event_delay = 0.0
        return ok()

    @r.post("/_sim/events/delay")
    async def delay(request: web.Request) -> web.Response:
        sim.event_delay = float((await _fields(request, ROUTES["event-delay"]))["seconds"])
        return ok()

    @r.post("/_sim/websockets/drop")
    async def drop(request: web.Request) -> web.Response:
        await _fields(request, ROUTES["drop"])
        await sim.drop_websockets()
        return ok()

    @r.post("/_sim/restart")
    async def restart(request: web.Request) -> web.Response:
        await _fields(request, ROUTES["restart"])
        await sim.restart()
        return ok()

    @r.put("/_sim/available")
    async def available(request: web.Request) -> web.Response:
        sim.available = (await _fields(request, ROUTES["available"]))["available"]
        if not sim.available:
            with contextlib.suppress(Exception):
                await sim.drop_websockets()
        return ok()

    return r


def _on_a_channel(route: Route, action: Callable[[str], None]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        await _fields(request, route)
        action(request.match_info["id"])
        return ok()

    return handler


def _page() -> str:
    """A plain page for a person: every route, what it does and what it takes (the same table as
    /_sim/openapi.json)."""
    rows = []
    for route in ROUTES.values():
        takes = ", ".join(
            f"<code>{f.name}</code> ({f.kind}{', required' if f.required else ''}): {html.escape(f.help)}"
            for f in route.fields
        ) or {"wav": "a WAV file (8 kHz, mono, 16-bit)", "none": ""}.get(route.body, "nothing")
        rows.append(
            f"<tr><td><code>{route.method} {html.escape(route.path)}</code></td>"
            f"<td>{html.escape(route.summary)}</td><td>{takes}</td></tr>"
        )
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>Simulated Asterisk: control API</title>"
        "</head><body><h1>The simulated Asterisk's control API</h1>"
        "<p>ARI is under <code>/ari</code>; this API is for test harnesses. Bodies are JSON objects; an unknown "
        'field or a wrong value is refused with 400 and a message. Reference: <a href="/_sim/openapi.json">'
        "/_sim/openapi.json</a> (OpenAPI 3.1).</p>"
        "<table><tr><th>request</th><th>what it does</th><th>fields</th></tr>" + "".join(rows) + "</table>"
        "</body></html>\n"
    )
