"""ARI's resources beside the calls' own, on the simulated Asterisk: /asterisk/info, /deviceStates,
user events, the endpoint lists and messages, an application's subscriptions taken back, and a
channel's indications that an application hears nothing of (ringing stopped, progress, hold, mute,
silence): a hold is what the far end hears, so Asterisk's ChannelHold is for a channel put on hold by
its phone, not one the application holds.

Each answers as Asterisk 22 does, word for word (res/ari/resource_*.c), checked by the differential
tier (tests/test_sim_fidelity.py).
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from asterisk_sim.answers import VERSION, AriFault, Json, ok
from asterisk_sim.world import World

# What GET /asterisk/info says of the build: Debian's Asterisk 22.10.1, the one the simulator is checked against.
BUILD = {
    "os": "Linux",
    "kernel": "unknown",
    "machine": "unknown",
    "options": "OPTIONAL_API, TEST_FRAMEWORK",
    "date": "2026-07-20 21:35:32 UTC",
    "user": "nobody",
}
DIRECTIONS = ("in", "out", "both")
TECHNOLOGIES = ("PJSIP",)  # those with endpoints (a Local channel has none: "invalid tech Local")


def resource_routes(w: World, json_body: Any) -> web.RouteTableDef:
    """`json_body(request)`: the request's body read as Asterisk reads one (server.py)."""
    r = web.RouteTableDef()

    @r.get("/ari/asterisk/info")
    async def info(request: web.Request) -> web.Response:
        parts: Json = {
            "build": BUILD,
            "system": {"version": VERSION, "entity_id": w.asterisk_id},
            "config": {"name": "", "default_language": "en", "setid": {"user": "", "group": ""}},
            "status": {"startup_time": w.started_at, "last_reload_time": w.reloaded_at},
        }
        only = request.query.get("only")
        if only is not None:  # a comma-separated list; names Asterisk does not know are left out
            wanted = {name.strip() for name in only.split(",")}
            parts = {name: part for name, part in parts.items() if name in wanted}
        return ok(parts)

    # -- device states ------------------------------------------------------------------

    @r.get("/ari/deviceStates")
    async def device_states(_: web.Request) -> web.Response:
        return ok(w.devices.listed())

    @r.get("/ari/deviceStates/{name}")
    async def device_state(request: web.Request) -> web.Response:
        return ok(w.devices.state(request.match_info["name"], w.device_driver_state))

    @r.put("/ari/deviceStates/{name}")
    async def set_device_state(request: web.Request) -> web.Response:
        changed = w.devices.update(request.match_info["name"], request.query.get("deviceState"))
        if changed is not None:
            w.device_state_changed(*changed)
        return ok()

    @r.delete("/ari/deviceStates/{name}")
    async def delete_device_state(request: web.Request) -> web.Response:
        w.devices.delete(request.match_info["name"])
        return ok()

    # -- applications' subscriptions and user events -------------------------------------------

    @r.route("*", "/ari/applications/{name}/subscription")
    async def subscription(request: web.Request) -> web.Response:
        if request.method not in ("POST", "DELETE"):
            raise web.HTTPMethodNotAllowed(request.method, ["POST", "DELETE"])
        change = w.subscribe if request.method == "POST" else w.unsubscribe
        sources = [s for v in request.query.getall("eventSource", []) for s in v.split(",")]
        answer: Json = {}
        for source in sources or [""]:  # none: the request is refused for it
            answer = change(request.match_info["name"], source)
        return ok(answer)

    @r.post("/ari/events/user/{event}")
    async def user_event(request: web.Request) -> web.Response:
        body = await json_body(request)
        fields = body if isinstance(body, dict) else {}  # a body may carry the parameters too
        app = request.query.get("application") or str(fields.get("application") or "")
        if not app:
            raise AriFault(400, "Missing parameter application")
        sources = [s for v in request.query.getall("source", []) for s in v.split(",") if s]
        w.user_event(app, request.match_info["event"], sources, fields.get("variables"))
        return ok()

    # -- endpoints ------------------------------------------------------------------------

    @r.get("/ari/endpoints")
    async def endpoints(_: web.Request) -> web.Response:
        return ok([w.endpoint_json(*name.split("/", 1)) for name in w.endpoints])

    @r.get("/ari/endpoints/{tech}")
    async def endpoints_of(request: web.Request) -> web.Response:
        technology = request.match_info["tech"]
        if technology not in TECHNOLOGIES:
            raise AriFault(404, f"No Endpoints found - invalid tech {technology}")
        known = [name.split("/", 1) for name in w.endpoints]
        return ok([w.endpoint_json(tech, resource) for tech, resource in known if tech == technology])

    @r.get("/ari/applications")
    async def applications(_: web.Request) -> web.Response:
        registered = w.connected_apps | {c.app for c in w.channels.values() if c.app and not c.gone}
        return ok([w.application_json(name) for name in sorted(registered)])

    @r.get("/ari/sounds")
    async def sounds(request: web.Request) -> web.Response:
        language, fmt = request.query.get("lang"), request.query.get("format")
        found = w.sounds.listing(language, fmt)
        if not found:
            raise AriFault(404, "No sounds found that matched the query")
        return ok(found)

    # A text message (PUT .../sendMessage) or a REFER (POST .../refer), to `to` or to the endpoint named.
    for method, kind, action in (("PUT", "message", "sendMessage"), ("POST", "refer", "refer")):

        async def to_anyone(request: web.Request, kind: str = kind) -> web.Response:
            to = request.query.get("to", "")
            if not to:
                raise AriFault(400, "To must be specified")
            technology, _, resource = to.partition(":")
            return _message(w, technology, resource.partition("@")[0], request, kind)

        async def to_endpoint(request: web.Request, kind: str = kind) -> web.Response:
            return _message(w, request.match_info["tech"], request.match_info["resource"], request, kind)

        r.route(method, f"/ari/endpoints/{action}")(to_anyone)
        r.route(method, f"/ari/endpoints/{{tech}}/{{resource}}/{action}")(to_endpoint)

    # -- a channel's indications ---------------------------------------------------------------

    def indication(what: str, check_direction: bool = False) -> Any:
        async def handler(request: web.Request) -> web.Response:
            channel = w.stasis_channel(request.match_info["id"])
            heard: Json = {what: request.method == "POST", "at": time.monotonic()}
            if check_direction:
                direction = request.query.get("direction", "")
                if not direction:
                    raise AriFault(400, "Direction is required")
                if direction not in DIRECTIONS:
                    raise AriFault(400, "Invalid direction specified")
                heard["direction"] = direction
            channel.heard.append(heard)  # what the caller's phone heard (GET /_sim/channels/{id})
            return ok()

        return handler

    r.post("/ari/channels/{id}/progress")(indication("progress"))
    for verb in ("post", "delete"):
        getattr(r, verb)("/ari/channels/{id}/ring")(indication("ringing"))
        getattr(r, verb)("/ari/channels/{id}/hold")(indication("hold"))
        getattr(r, verb)("/ari/channels/{id}/mute")(indication("mute", check_direction=True))
        getattr(r, verb)("/ari/channels/{id}/silence")(indication("silence"))
    return r


def _message(w: World, technology: str, resource: str, request: web.Request, kind: str) -> web.Response:
    """A text message or a REFER to an endpoint's phone (SIP MESSAGE, REFER): accepted only for an
    endpoint the simulator has, and written down (/_sim/state, `messages`)."""
    if f"{technology.upper()}/{resource}" not in w.endpoints or not resource:
        raise AriFault(404, "Endpoint not found")
    what = "refer_to" if kind == "refer" else "body"
    message = {"kind": kind, "from": request.query.get("from", ""), what: request.query.get(what, "")}
    w.messages.append({"to": f"{technology.upper()}/{resource}", **message})
    return web.Response(status=202)  # Accepted, with no body
