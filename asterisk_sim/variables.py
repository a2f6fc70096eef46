"""Variables on the simulated Asterisk: a channel's and a bridge's, one at a time or several
(`/variables`, new in Asterisk 22), and the dialplan's globals, as res/ari/resource_channels.c,
resource_bridges.c and resource_asterisk.c answer them.

Setting several checks every value before it sets any: each a string, or an object with a string
`value` and an optional boolean `report_events`. A channel's variable set sends ChannelVarset to its
application; a bridge's sends nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from asterisk_sim.answers import AriFault, ok
from asterisk_sim.world import World

ReadBody = Callable[[web.Request], Awaitable[Any]]
Crash = Callable[[web.Request, str], Awaitable[web.StreamResponse]]


def variable_routes(w: World, json_body: ReadBody, crash: Crash) -> web.RouteTableDef:
    """`json_body(request)`: the request's body read as Asterisk reads one; `crash(request, why)`: the
    simulated Asterisk dies as the real one would (server.py)."""
    r = web.RouteTableDef()

    @r.get("/ari/channels/{id}/variable")
    async def get_variable(request: web.Request) -> web.Response:
        name = request.query.get("variable", "")
        return ok({"value": w.channel_variable(request.match_info["id"], name)})

    @r.post("/ari/channels/{id}/variable")
    async def set_variable(request: web.Request) -> web.Response:
        name = request.query.get("variable", "")
        if name and w.channels.get(request.match_info["id"]) is not None:
            await w.turn(request.match_info["id"])  # a command Asterisk waits for (control.py)
        w.set_channel_variable(request.match_info["id"], name, request.query.get("value"))
        return ok()

    @r.get("/ari/channels/{id}/variables")
    async def get_variables(request: web.Request) -> web.Response:
        names = _names(request)
        if w.channels.get(request.match_info["id"]) is None:
            raise AriFault(404, "Provided channel was not found")
        return ok({"variables": {name: w.channel_variable(request.match_info["id"], name) for name in names}})

    @r.post("/ari/channels/{id}/variables")
    async def set_variables(request: web.Request) -> web.Response:
        body = await json_body(request)
        if body is None:
            raise AriFault(400, "The 'variables' field is required")
        found = w.channels.get(request.match_info["id"])
        if found is None or found.gone:
            raise AriFault(404, "Provided channel was not found")
        channel = w.stasis_channel(found.id)
        values = _values(body)
        await w.turn(channel.id)  # each a command Asterisk waits for (control.py)
        for name, value in values.items():
            w.set_channel_variable(channel.id, name, value)
        return ok()

    @r.get("/ari/bridges/{id}/variable")
    async def get_bridge_variable(request: web.Request) -> web.Response:
        name = _name(request)
        bridge = w.bridge(request.match_info["id"])
        if name not in bridge.variables:
            raise AriFault(404, "Provided variable was not found")
        return ok({"value": bridge.variables[name]})

    @r.post("/ari/bridges/{id}/variable")
    async def set_bridge_variable(request: web.Request) -> web.StreamResponse:
        if "variable" not in request.query:  # resource_bridges.c takes strlen of the NULL name: Asterisk dies
            return await crash(request, "POST /bridges/{id}/variable without variable")
        name = _name(request)
        w.bridge(request.match_info["id"]).variables[name.strip()] = request.query.get("value", "")
        return ok()

    @r.get("/ari/bridges/{id}/variables")
    async def get_bridge_variables(request: web.Request) -> web.Response:
        names = _names(request)
        bridge = w.bridges.get(request.match_info["id"])
        if bridge is None:
            raise AriFault(404, "Provided bridge was not found")
        missing = [name for name in names if name not in bridge.variables]
        if missing:
            raise AriFault(404, "Provided variable was not found")
        return ok({"variables": {name: bridge.variables[name] for name in names}})

    @r.post("/ari/bridges/{id}/variables")
    async def set_bridge_variables(request: web.Request) -> web.Response:
        body = await json_body(request)
        if body is None:
            raise AriFault(400, "The 'variables' field is required")
        bridge = w.bridges.get(request.match_info["id"])
        if bridge is None:
            raise AriFault(404, "Provided bridge was not found")
        bridge.variables.update(_values(body))
        return ok()

    @r.get("/ari/asterisk/variable")
    async def get_global(request: web.Request) -> web.Response:
        name = _name(request)
        return ok({"value": w.globals.get(name, "")})  # an unset global reads as empty, as in Asterisk

    @r.post("/ari/asterisk/variable")
    async def set_global(request: web.Request) -> web.Response:
        name = _name(request)
        w.globals[name] = value = request.query.get("value", "")
        w.global_variable_set(name, value)
        return ok()

    return r


def _name(request: web.Request) -> str:
    name = request.query.get("variable", "")
    if not name:
        raise AriFault(400, "Variable name is required")
    return name


def _names(request: web.Request) -> list[str]:
    """The `variables` query of a GET: a comma-separated list, each name stripped of spaces."""
    names = [n.strip() for v in request.query.getall("variables", []) for n in v.split(",")]
    if not names:
        raise AriFault(400, "At least one variable name is required")
    if any(not name for name in names):
        raise AriFault(400, "Variable names are required")
    return names


def _values(body: Any) -> dict[str, str]:
    """The `variables` object of a POST's body, every value checked before any is set."""
    variables = body.get("variables") if isinstance(body, dict) else None
    if not isinstance(variables, dict):
        raise AriFault(400, "The 'variables' field must be a JSON object")
    values: dict[str, str] = {}
    for name, given in variables.items():
        if not name:
            continue  # Asterisk skips a variable without a name
        if isinstance(given, dict):
            value, report = given.get("value"), given.get("report_events")
            if not isinstance(value, str):
                raise AriFault(400, "Each object value in 'variables' must include string field 'value'")
            if report is not None and not isinstance(report, bool):
                raise AriFault(400, "Field 'report_events' in 'variables' entries must be boolean")
            given = value
        elif not isinstance(given, str):
            raise AriFault(
                400, "Each value in 'variables' must be a string or an object with 'value' and optional 'report_events'"
            )
        values[name.strip()] = given
    return values
