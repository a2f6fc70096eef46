"""SIP calls on the simulated Asterisk as Asterisk 22 makes them, seen by an ARI application: the channel
named after its PJSIP endpoint with chan_pjsip's own sequence number, the SIP Call-ID as `protocol_id`, and
a phone's hangup with the causes a BYE and a CANCEL bring. The differential tier compares the same calls
with a real Asterisk 22 and baresip phones (tests/test_sim_fidelity.py, the `sip` scenarios); this is
what a harness sees of them through the control API alone."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio

from asterisk_sim import Simulator

AUTH = {"Authorization": "Basic " + base64.b64encode(b"router:secret").decode()}


@pytest_asyncio.fixture
async def app() -> AsyncIterator[tuple[Simulator, aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]]:
    sim = Simulator("router", "secret")
    await sim.start()
    try:
        async with (
            aiohttp.ClientSession(headers=AUTH) as http,
            http.ws_connect(f"{sim.url}/ari/events?app=router") as ws,
        ):
            yield sim, http, ws
    finally:
        await sim.stop()


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str, within: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        event: dict[str, Any] = await ws.receive_json(timeout=max(0.01, deadline - time.monotonic()))
        if event["type"] == kind:
            return event


async def post(http: aiohttp.ClientSession, url: str, body: dict[str, Any] | None = None) -> Any:
    async with http.post(url, json=body) as answer:
        assert answer.status < 300, await answer.text()
        return await answer.json() if answer.content_type == "application/json" else None


async def test_a_phone_calls_from_its_endpoint(app: Any) -> None:
    sim, http, ws = app
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


async def test_an_answered_call_ends_with_the_phones_bye(app: Any) -> None:
    sim, http, ws = app
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


async def test_a_call_not_yet_answered_ends_with_the_phones_cancel(app: Any) -> None:
    sim, http, ws = app
    call = (await post(http, f"{sim.url}/_sim/calls", {"from": "citizen", "to": "1818"}))["channel_id"]
    await post(http, f"{sim.url}/_sim/channels/{call}/hangup", {})
    hangup = await next_of(ws, "ChannelHangupRequest")
    assert (hangup["cause"], hangup["tech_cause"]) == (127, 487)


async def test_a_call_asterisk_makes_to_an_agent(app: Any) -> None:
    sim, http, ws = app
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
