"""REST over the events WebSocket on the simulator alone (the differential tier compares the rest with the
real Asterisk: tests/test_sim_fidelity.py, rest_over_the_websocket)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio

from asterisk_sim import Simulator

AUTH = {"Authorization": "Basic cm91dGVyOnNlY3JldA=="}  # router:secret


@pytest_asyncio.fixture
async def ws() -> AsyncIterator[tuple[Simulator, aiohttp.ClientWebSocketResponse]]:
    sim = Simulator("router", "secret")
    await sim.start()
    async with aiohttp.ClientSession(headers=AUTH) as session:
        socket = await session.ws_connect(f"{sim.url}/ari/events?app=harness", headers={"Host": "pbx.example:8088"})
        yield sim, socket
        await socket.close()
    await sim.stop()


async def ask(socket: aiohttp.ClientWebSocketResponse, **request: Any) -> Any:
    await socket.send_str(json.dumps({"type": "RESTRequest", **request}))
    while True:  # the events the request causes may come before its answer, as on Asterisk
        answer = await socket.receive_json(timeout=5)
        if answer["type"] == "RESTResponse":
            return answer


async def test_a_call_answered_over_the_websocket(
    ws: tuple[Simulator, aiohttp.ClientWebSocketResponse],
) -> None:
    sim, socket = ws
    call = sim.world.place_call("12345678", "1818", "harness")
    assert (await socket.receive_json(timeout=5))["type"] == "StasisStart"
    answered = await ask(socket, method="POST", uri=f"channels/{call.id}/answer", request_id="1")
    assert (answered["status_code"], answered["reason_phrase"], answered["request_id"]) == (204, "No Content", "1")
    assert "message_body" not in answered
    got = await ask(socket, method="GET", uri=f"channels/{call.id}")
    assert json.loads(got["message_body"])["state"] == "Up"
    assert got["message_body"] == json.dumps(json.loads(got["message_body"]), separators=(",", ":"))  # compact
    assert [r["path"] for r in sim.requests][-2:] == [f"/channels/{call.id}/answer", f"/channels/{call.id}"]


async def test_the_description_names_the_websockets_host(ws: tuple[Simulator, aiohttp.ClientWebSocketResponse]) -> None:
    _, socket = ws
    got = await ask(socket, method="GET", uri="api-docs/resources.json")
    assert json.loads(got["message_body"])["basePath"] == "http://pbx.example:8088/ari"


async def test_a_file_is_not_sent_on_a_websocket(ws: tuple[Simulator, aiohttp.ClientWebSocketResponse]) -> None:
    sim, socket = ws
    sim.world.stored_recordings["greeting"] = {"name": "greeting", "format": "wav"}
    got = await ask(socket, method="GET", uri="recordings/stored/greeting/file")
    assert (got["status_code"], got["reason_phrase"]) == (406, "Not Acceptable.  Use HTTP GET")
