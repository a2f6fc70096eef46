"""The control API as a harness meets it: every field checked (400 naming it, nothing done), keys only on
an answered call, a reference at /_sim/openapi.json that describes what is checked, and a page at /_sim."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from asterisk_sim import Simulator

Json = dict[str, Any]


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator()
    await simulator.start()
    yield simulator
    await simulator.stop()


async def send(sim: Simulator, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{sim.url}/_sim{path}", json=body, data=raw) as answer,
    ):
        return answer.status, await answer.json() if answer.content_type == "application/json" else None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"from": "12345678", "args": "a,b"}, 'args: a list of strings, not "a,b"'),
        ({"from": "12345678", "args": ["a", 1]}, 'args: a list of strings, not ["a", 1]'),
        ({"from": "12345678", "technology": "SIP"}, 'technology: one of PJSIP, Local, not "SIP"'),
        ({"from": "12345678", "context": "from-citizens"}, "unknown field 'context': it takes from, name, to, app,"),
        ({"from": 12345678}, "from: a string, not 12345678"),
        ({"to": ""}, "to: must not be empty"),
        ({"app": 5}, "app: a string, not 5"),
        ({"from": "12345678"}, "app: required (the simulator's settings name no application for calls)"),
    ],
)
async def test_a_call_with_a_wrong_field_is_refused_and_not_placed(sim: Simulator, body: Json, says: str) -> None:
    status, answer = await send(sim, "POST", "/calls", body)
    assert status == 400
    assert answer["message"].startswith(says), answer
    assert sim.world.channels == {}, "nothing was done"


async def test_bodies_that_are_not_objects_are_refused(sim: Simulator) -> None:
    assert await send(sim, "POST", "/calls", raw=b"{from") == (400, {"message": "the body must be JSON"})
    assert await send(sim, "POST", "/calls", ["12345678"]) == (
        400,
        {"message": 'the body must be a JSON object, not ["12345678"]'},
    )
    assert (await send(sim, "POST", "/websockets/drop", {"now": True}))[1] == {
        "message": "unknown field 'now': it takes no fields"
    }


async def test_keys_only_on_an_answered_call_and_only_a_phones_keys(sim: Simulator) -> None:
    status, placed = await send(sim, "POST", "/calls", {"from": "12345678", "app": "nobody-here"})
    assert status == 201
    call = placed["channel_id"]
    status, refused = await send(sim, "POST", f"/channels/{call}/dtmf", {"digits": "1"})
    assert (status, refused["message"]) == (409, "the channel is Ring: keys need an answered call")
    sim.world.channels[call].state = "Up"
    for wrong, says in [("12x", 'digits: only the keys 0123456789*#ABCD, not "x"'), ("", "digits: must not be empty")]:
        assert await send(sim, "POST", f"/channels/{call}/dtmf", {"digits": wrong}) == (400, {"message": says})
    assert await send(sim, "POST", f"/channels/{call}/dtmf", {}) == (400, {"message": "digits: required"})
    assert (await send(sim, "POST", f"/channels/{call}/dtmf", {"digits": "1#"}))[0] == 204
    assert [h for h in sim.world.channels[call].heard if "dtmf_sent" in h] == [{"dtmf_sent": "1"}, {"dtmf_sent": "#"}]
    assert await send(sim, "POST", "/channels/no-such-channel/dtmf", {"digits": "1"}) == (
        404,
        {"message": "Channel not found"},
    )
    assert (await send(sim, "POST", f"/channels/{call}/hangup", {"cause": 17}))[0] == 400
    assert (await send(sim, "POST", f"/channels/{call}/hangup"))[0] == 204
    assert sim.world.channels[call].gone, "hung up"
    assert (await send(sim, "POST", f"/channels/{call}/dtmf", {"digits": "1"}))[0] == 404


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/endpoints/PJSIP/agent1", {"behaviour": "sleep"}, "behaviour: one of answer, no-answer, busy, reject,"),
        ("/endpoints/PJSIP/agent1", {"answer_after": -1}, "answer_after: at least 0, not -1"),
        ("/endpoints/PJSIP/agent1", {"answer_after": "2"}, 'answer_after: a number, not "2"'),
        ("/faults", {"status": "500"}, 'status: an integer, not "500"'),
        ("/faults", {"probability": 2}, "probability: at most 1, not 2"),
        ("/faults", {"count": 1.5}, "count: an integer, not 1.5"),
        ("/events/delay", {"seconds": True}, "seconds: a number, not true"),
        ("/available", {"available": "no"}, 'available: a boolean, not "no"'),
        ("/sounds", {"names": "beep"}, 'names: a list of strings, not "beep"'),
        ("/channels/x/silent", {"silent": 0}, "silent: a boolean, not 0"),
    ],
)
async def test_every_route_checks_its_fields(sim: Simulator, path: str, body: Json, says: str) -> None:
    method = "PUT" if path.startswith(("/endpoints", "/available")) else "POST"
    status, answer = await send(sim, method, path, body)
    assert (status, answer["message"][: len(says)]) == (400, says)
    assert (sim.faults, sim.event_delay, sim.available, sim.world.endpoints.get("PJSIP/agent1")) == (
        [],
        0.0,
        True,
        None,
    )


async def test_the_reference_describes_what_is_checked(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{sim.url}/_sim/openapi.json") as answer:
        assert answer.status == 200
        reference = await answer.json()
    assert reference["openapi"].startswith("3.")
    call = reference["paths"]["/_sim/calls"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert call["additionalProperties"] is False
    assert call["properties"]["args"] == {
        "type": "array", "items": {"type": "string"}, "description": "the application's arguments", "default": []
    }  # fmt: skip
    assert call["properties"]["technology"]["enum"] == ["PJSIP", "Local"]
    dtmf = reference["paths"]["/_sim/channels/{id}/dtmf"]["post"]
    assert dtmf["requestBody"]["content"]["application/json"]["schema"]["required"] == ["digits"]
    assert set(dtmf["responses"]) == {"204", "400", "404", "409"}
    async with aiohttp.ClientSession() as http, http.get(f"{sim.url}/_sim") as answer:
        assert (answer.status, answer.content_type) == (200, "text/html")
        page = await answer.text()
    assert "/_sim/openapi.json" in page
    assert all(path in page for path in reference["paths"]), "every route is on the page"
