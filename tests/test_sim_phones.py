"""A phone the simulated Asterisk rings, answered when the harness says so (`POST
/_sim/channels/{id}/pick-up`), whatever its endpoint's behaviour; refused when nothing rings."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio

from asterisk_sim import Simulator

AUTH = {"Authorization": "Basic " + base64.b64encode(b"router:secret").decode()}


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator("router", "secret")
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
