"""A channel handed on, on the simulated Asterisk: moved to another application, snooped on,
redirected, told of a transfer's progress, claimed from a broadcast; and its RTP statistics. Each
answers as Asterisk 22 does (res/ari/resource_channels.c, resource_events.c), checked by the
differential tier.

One request Asterisk 22.10.1 does not survive: `move` without an `app` (stasis_app_control_move takes
the length of a NULL name). The simulator does what that Asterisk does, as far as a client can see:
the request's connection closes unanswered, every WebSocket drops, and every channel and bridge is
gone; it is counted in /_sim/state (`crashes`), so that a harness can check its application never
sends it. Then it serves again, as a supervised Asterisk restarted would.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from asterisk_sim.answers import AriFault, app_args, atoi, ok
from asterisk_sim.world import World

SNOOP_DIRECTIONS = ("none", "both", "out", "in")  # of spy and of whisper
TRANSFER_STATES = ("channel_progress", "channel_answered", "channel_unavailable", "channel_declined")


def channel_routes(w: World, crash: Callable[[web.Request, str], Awaitable[web.StreamResponse]]) -> web.RouteTableDef:
    """`crash(request, why)`: the simulated Asterisk dies as the real one would (server.py)."""
    r = web.RouteTableDef()

    @r.post("/ari/channels/{id}/move")
    async def move(request: web.Request) -> web.StreamResponse:
        app = request.query.get("app")
        if app is None:
            w.channel(request.match_info["id"])  # Asterisk finds the channel first, then falls over
            return await crash(request, "POST /channels/{id}/move without app")
        args = app_args(request)
        w.move(request.match_info["id"], app, args)
        return ok()

    async def snoop(request: web.Request, snoop_id: str | None) -> web.Response:
        spy, whisper = request.query.get("spy", "") or "none", request.query.get("whisper", "") or "none"
        for name, value in (("spy", spy), ("whisper", whisper)):
            if value not in SNOOP_DIRECTIONS:
                raise AriFault(400, f"Invalid direction specified for {name}")
        if spy == whisper == "none":
            raise AriFault(400, "Direction must be specified for at least spy or whisper")
        app = request.query.get("app", "")
        if not app:
            raise AriFault(400, "Application name is required")
        args = app_args(request)
        return ok(w.snoop(request.match_info["id"], snoop_id or request.query.get("snoopId"), app, args))

    @r.post("/ari/channels/{id}/snoop")
    async def snoop_without_id(request: web.Request) -> web.Response:
        return await snoop(request, None)

    @r.post("/ari/channels/{id}/snoop/{snoop}")
    async def snoop_with_id(request: web.Request) -> web.Response:
        return await snoop(request, request.match_info["snoop"])

    @r.get("/ari/channels/{id}/rtp_statistics")
    async def rtp_statistics(request: web.Request) -> web.Response:
        channel = w.channel(request.match_info["id"])
        if not channel.name.startswith("PJSIP/"):
            raise AriFault(403, "Unsupported channel type")
        raise AriFault(404, "RTP info not found")  # the simulator carries no RTP to count

    @r.post("/ari/channels/{id}/transfer_progress")
    async def transfer_progress(request: web.Request) -> web.Response:
        channel = w.stasis_channel(request.match_info["id"])
        states = request.query.get("states", "")
        if not states:
            raise AriFault(400, "states must not be empty")
        if states.lower() not in TRANSFER_STATES:
            raise AriFault(400, "Invalid states value")
        channel.heard.append({"transfer_progress": states.lower()})
        return ok()

    @r.post("/ari/channels/{id}/redirect")
    async def redirect(request: web.Request) -> web.Response:
        channel = w.stasis_channel(request.match_info["id"])
        endpoint = request.query.get("endpoint", "")
        if not endpoint:
            raise AriFault(400, "Required parameter 'endpoint' not provided.")
        technology, slash, resource = endpoint.partition("/")
        if not slash:
            raise AriFault(422, f"Endpoint parameter '{endpoint}' does not contain tech/resource")
        if not resource:
            raise AriFault(422, f"No resource provided in endpoint parameter '{endpoint}'")
        own = channel.name.partition("/")[0]
        if technology.lower() != own.lower():
            raise AriFault(422, f"Endpoint technology '{technology}' does not match channel technology '{own}'")
        # What the SIP side does with it (a 302, a REFER) is not modelled: the phone is told where.
        channel.heard.append({"redirect": endpoint})
        return ok()

    @r.post("/ari/channels/create")
    async def create(request: web.Request) -> web.Response:
        args = app_args(request)
        endpoint, app = request.query.get("endpoint", ""), request.query.get("app", "")
        return ok(w.create(endpoint, request.query.get("channelId"), app, args))

    @r.post("/ari/channels/{id}/dial")
    async def dial(request: web.Request) -> web.Response:
        w.dial(request.match_info["id"], atoi(request.query.get("timeout", "0")))
        return ok()

    @r.post("/ari/channels/externalMedia")
    async def external_media(request: web.Request) -> web.Response:
        return ok(w.external_media(_external_media_parameters(request)))

    @r.post("/ari/bridges/{id}/videoSource/{channel}")
    async def video_source(request: web.Request) -> web.Response:
        bridge = w.bridge(request.match_info["id"])
        channel = w.channels.get(request.match_info["channel"])
        if channel is None or channel.gone:  # resource_bridges.c's own lookup: 400, not 404
            raise AriFault(400, "Channel not found")
        if channel.app is None:
            raise AriFault(422, "Channel not in Stasis application")
        await w.turn(channel.id)  # a command the channel runs in its turn, and Asterisk waits for
        if channel.id not in bridge.channels:
            raise AriFault(422, "Channel not in this bridge")
        bridge.video_source = request.match_info["channel"]
        return ok()

    @r.delete("/ari/bridges/{id}/videoSource")
    async def clear_video_source(request: web.Request) -> web.Response:
        w.bridge(request.match_info["id"]).video_source = None
        return ok()

    @r.post("/ari/events/claim")
    async def claim(request: web.Request) -> web.Response:
        if not request.query.get("channelId"):
            raise AriFault(400, "channelId parameter is required")
        if not request.query.get("application"):
            raise AriFault(400, "application parameter is required")
        raise AriFault(404, "Channel not found or not in broadcast state")  # the simulator broadcasts nothing

    return r


def _external_media_parameters(request: web.Request) -> dict[str, str]:
    """POST /channels/externalMedia's parameters checked in Asterisk's order (ast_ari_channels_external_media)."""
    q = request.query
    app = q.get("app", "")
    if not app:
        raise AriFault(400, "app cannot be empty")
    transport, encapsulation = q.get("transport") or "udp", q.get("encapsulation") or "rtp"
    if transport == "websocket" and encapsulation != "none":
        raise AriFault(400, "encapsulation must be 'none' for websocket transport")
    if encapsulation == "rtp" and transport != "udp":
        raise AriFault(400, "transport must be 'udp' for rtp encapsulation")
    if encapsulation == "audiosocket" and transport != "tcp":
        raise AriFault(400, "transport must be 'tcp' for audiosocket encapsulation")
    connection = q.get("connection_type") or "client"
    host = q.get("external_host", "")
    if transport != "websocket" and connection == "server":
        raise AriFault(400, "'server' connection_type can only be used with the websocket transport")
    if not host and connection == "client":
        raise AriFault(400, "external_host is required for all but websocket server connections")
    if transport == "websocket":
        raise AriFault(400, "external_host must be a valid websocket_client connection id.")  # none configured
    address, colon, port = host.rpartition(":")
    if not colon or not address or not port.isdigit():
        raise AriFault(400, "external_host must be <host>:<port> for all transports other than websocket")
    fmt = q.get("format", "")
    if not fmt:
        raise AriFault(400, "format cannot be empty")
    direction = q.get("direction", "both")
    if direction not in ("both", "in", "out"):
        raise AriFault(400, "Invalid direction specified")
    return {
        "app": app,
        "host": host,
        "format": fmt,
        "encapsulation": encapsulation,
        "channel_id": q.get("channelId", ""),
    }
