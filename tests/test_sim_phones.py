"""A phone the simulated Asterisk rings, answered when the harness says so (`POST
/_sim/channels/{id}/pick-up`), whatever its endpoint's behaviour; refused when nothing rings. SIP calls as
Asterisk 22 makes them: channel names, Call-IDs, and the causes of a phone's BYE and CANCEL."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio

from asterisk_sim import Simulator
from asterisk_sim.settings import Settings

AUTH = {"Authorization": "Basic " + base64.b64encode(b"router:secret").decode()}


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator("router", "secret", settings=Settings(app="router"))  # calls into the app "router"
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str, within: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        event: dict[str, Any] = await ws.receive_json(timeout=max(0.01, deadline - time.monotonic()))
        if event["type"] == kind:
            return event


async def test_a_phone_that_would_never_answer_picks_up_when_told(sim: Simulator) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as http, http.ws_connect(f"{sim.url}/ari/events?app=router") as ws:
        async with http.put(f"{sim.url}/_sim/endpoints/PJSIP/agent1", json={"behaviour": "no-answer"}) as put:
            assert put.status == 204
        params = {"endpoint": "PJSIP/agent1", "app": "router", "timeout": "30"}
        async with http.post(f"{sim.url}/ari/channels", params=params) as originated:
            leg = (await originated.json())["id"]
        ringing = await next_of(ws, "ChannelStateChange")
        assert (ringing["channel"]["id"], ringing["channel"]["state"]) == (leg, "Ringing")
        began = time.monotonic()
        async with http.post(f"{sim.url}/_sim/channels/{leg}/pick-up", json={}) as picked:
            assert picked.status == 204
        started = await next_of(ws, "StasisStart")
        assert (started["channel"]["id"], started["channel"]["state"]) == (leg, "Up")
        assert time.monotonic() - began < 2, "answered when told, not after its ring timeout"
        async with http.post(f"{sim.url}/_sim/channels/{leg}/pick-up", json={}) as again:
            assert again.status == 409
            assert (await again.json()) == {"message": "Channel is not ringing (state Up)"}


async def test_a_caller_who_is_not_being_rung_cannot_pick_up(sim: Simulator) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.post(f"{sim.url}/_sim/calls", json={"from": "12345678", "app": "router"}) as placed:
            caller = (await placed.json())["channel_id"]
        async with http.post(f"{sim.url}/_sim/channels/{caller}/pick-up", json={}) as picked:
            assert picked.status == 409
        async with http.post(f"{sim.url}/_sim/channels/no-such/pick-up", json={}) as missing:
            assert missing.status == 404


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any] | None = None) -> Any:
    async with http.post(url, json=body) as answer:
        assert answer.status < 300, await answer.text()
        return await answer.json() if answer.content_type == "application/json" else None


App = tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]


@pytest_asyncio.fixture
async def app(sim: Simulator) -> AsyncIterator[App]:
    """An ARI application `router` on the simulator: its HTTP session and its event WebSocket."""
    async with aiohttp.ClientSession(headers=AUTH) as http, http.ws_connect(f"{sim.url}/ari/events?app=router") as ws:
        yield http, ws


async def test_a_sip_phone_calls_from_its_endpoint(sim: Simulator, app: App) -> None:
    """As Asterisk 22's chan_pjsip: the channel is named after its endpoint, with the driver's own
    sequence number, and carries the phone's Call-ID (the differential tier's `sip` scenarios compare it
    with a real Asterisk and baresip)."""
    http, ws = app
    await post(http, f"{sim.url}/_sim/calls", {"from": "12345678", "to": "1818", "endpoint": "citizen"})
    first = (await next_of(ws, "StasisStart"))["channel"]
    assert first["name"] == "PJSIP/citizen-00000000", "the endpoint's name, and chan_pjsip's first number"
    assert first["caller"] == {"name": "", "number": "12345678"}
    assert first["connected"] == {"name": "", "number": ""}
    assert re.fullmatch(r"[0-9a-f]{16}", first["protocol_id"]), "the phone's Call-ID"
    await post(http, f"{sim.url}/_sim/calls", {"from": "87654321", "to": "1818"})
    second = (await next_of(ws, "StasisStart"))["channel"]
    assert second["name"] == "PJSIP/87654321-00000001", "by default the endpoint its From user names"
    assert second["protocol_id"] != first["protocol_id"]


async def test_an_answered_sip_call_ends_with_the_phones_bye(sim: Simulator, app: App) -> None:
    http, ws = app
    call = (await post(http, f"{sim.url}/_sim/calls", {"from": "citizen", "to": "1818"}))["channel_id"]
    await post(http, f"{sim.url}/ari/channels/{call}/answer")
    await post(http, f"{sim.url}/_sim/channels/{call}/hangup", {})
    quality = await next_of(ws, "ChannelVarset")
    assert quality["variable"] == "RTPAUDIOQOS"
    assert re.fullmatch(r"ssrc=\d+;themssrc=\d+;lp=0;rxjitter=[\d.]+;rxcount=\d+;.*;txmes=[\d.]+", quality["value"])
    hangup = await next_of(ws, "ChannelHangupRequest")
    assert "cause" not in hangup, "a BYE sets no cause"
    assert "soft" not in hangup
    journal = (await (await http.get(f"{sim.url}/_sim/channels/{call}")).json())["hangup"]
    assert (journal["cause"], journal["by"]) == (0, "caller")


async def test_a_sip_call_not_yet_answered_ends_with_the_phones_cancel(sim: Simulator, app: App) -> None:
    http, ws = app
    call = (await post(http, f"{sim.url}/_sim/calls", {"from": "citizen", "to": "1818"}))["channel_id"]
    await post(http, f"{sim.url}/_sim/channels/{call}/hangup", {})
    hangup = await next_of(ws, "ChannelHangupRequest")
    assert (hangup["cause"], hangup["tech_cause"]) == (127, 487)


async def test_a_sip_call_asterisk_makes_to_an_agent(sim: Simulator, app: App) -> None:
    http, ws = app
    script = {"behaviour": "answer", "answer_after": 0, "context": "from-agents"}
    async with http.put(f"{sim.url}/_sim/endpoints/PJSIP/agent1", json=script) as put:
        assert put.status == 204
    params = {"endpoint": "PJSIP/agent1", "app": "router", "callerId": "1818 <1818>"}
    async with http.post(f"{sim.url}/ari/channels", params=params) as originated:
        leg = await originated.json()
    assert re.fullmatch(r"PJSIP/agent1-[0-9a-f]{8}", leg["name"])
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", leg["protocol_id"])
    assert leg["caller"] == leg["connected"] == {"name": "1818", "number": "1818"}
    assert leg["dialplan"]["context"] == "from-agents"
    await next_of(ws, "StasisStart")
    await post(http, f"{sim.url}/_sim/channels/{leg['id']}/hangup", {})
    destroyed = await next_of(ws, "ChannelDestroyed")
    assert (destroyed["cause"], destroyed["cause_txt"]) == (0, "Unknown")


async def test_a_busy_sip_phone_answers_486_at_once(sim: Simulator, app: App) -> None:
    http, ws = app
    async with http.put(f"{sim.url}/_sim/endpoints/PJSIP/agent1", json={"behaviour": "busy"}) as put:
        assert put.status == 204
    async with http.post(f"{sim.url}/ari/channels", params={"endpoint": "PJSIP/agent1", "app": "router"}) as answer:
        assert answer.status == 200
    hangup = await next_of(ws, "ChannelHangupRequest")
    assert (hangup["cause"], hangup["tech_cause"]) == (17, 486)
    assert (await next_of(ws, "Dial"))["dialstatus"] == "BUSY"
    destroyed = await next_of(ws, "ChannelDestroyed")
    assert (destroyed["cause"], destroyed["cause_txt"], destroyed["tech_cause"]) == (17, "User busy", 486)
