"""The simulated Asterisk reads every request's parameters as Asterisk 22.10 does (asterisk_sim/validation.py):
by their type in its API description, never refusing a wrong type, from a JSON or form body too. What the
real Asterisk answers to each kind is the differential tier's question (tests/fidelity_parameters.py); this
is what an application meets on the simulator, and the reading itself."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from asterisk_sim import Simulator
from asterisk_sim.validation import c_name, find, operations, read, separate_args

AUTH = {"Authorization": "Basic " + base64.b64encode(b"router:secret").decode()}


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator("router", "secret")
    await simulator.start()
    simulator.world.connected_apps.add("router")
    try:
        yield simulator
    finally:
        await simulator.stop()


async def ari(sim: Simulator, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(headers=AUTH) as session,
        session.request(method, f"{sim.url}/ari{path}", **kwargs) as answer,
    ):
        body = await answer.json() if answer.content_type == "application/json" else None
        return answer.status, body


async def test_a_number_that_is_not_one_is_read_as_asterisk_reads_it(sim: Simulator) -> None:
    call = sim.world.place_call("12345678", "1818", "router")
    await ari(sim, "POST", f"/channels/{call.id}/answer")
    status, body = await ari(
        sim, "POST", f"/channels/{call.id}/record", params={"name": "v1", "format": "wav", "maxDurationSeconds": "abc"}
    )
    assert (status, body["name"]) == (201, "v1"), "atoi: abc is 0, no limit; not refused"
    status, body = await ari(sim, "POST", f"/channels/{call.id}/play", params={"media": "sound:beep", "skipms": "-5x"})
    assert (status, body) == (400, {"message": "skipms cannot be negative"}), "atoi: -5x is -5"


async def test_a_boolean_is_true_for_asterisks_words_of_yes(sim: Simulator) -> None:
    call = sim.world.place_call("12345678", "1818", "router")
    await ari(sim, "POST", f"/channels/{call.id}/answer")
    params = {"name": "v2", "format": "wav", "beep": "Yes"}
    status, _ = await ari(sim, "POST", f"/channels/{call.id}/record", params=params)
    assert status == 201
    assert {"media": "sound:beep", "recording": "v2"} in [
        {k: v for k, v in heard.items() if k != "at"} for heard in call.heard
    ], "ast_true: Yes is true, so the caller heard the beep"


async def test_parameters_in_a_json_or_form_body_count_as_in_the_query(sim: Simulator) -> None:
    call = sim.world.place_call("12345678", "1818", "router")
    status, _ = await ari(sim, "POST", f"/channels/{call.id}/variable", json={"variable": "FID_A", "value": "ja"})
    assert status == 204
    assert sim.world.channel_variable(call.id, "FID_A") == "ja"
    status, _ = await ari(sim, "POST", f"/channels/{call.id}/variable", data={"variable": "FID_B", "value": "nej"})
    assert status == 204
    assert sim.world.channel_variable(call.id, "FID_B") == "nej"
    status, body = await ari(sim, "POST", f"/channels/{call.id}/variable", json={"variable": 5})
    assert (status, body) == (400, {"message": "Variable name is required"}), "not a JSON string: no name"
    status, body = await ari(sim, "POST", f"/channels/{call.id}/variable", data="{bad", headers=JSON)
    assert (status, body) == (400, {"message": "Error parsing request body"})


JSON = {"Content-Type": "application/json"}


async def test_too_many_values_and_the_missing_are_refused_in_asterisks_words(sim: Simulator) -> None:
    call = sim.world.place_call("12345678", "1818", "router")
    names = ",".join(f"V{i}" for i in range(128))
    status, body = await ari(sim, "GET", f"/channels/{call.id}/variables", params={"variables": names})
    assert (status, body) == (400, {"message": "Too many values for variables"})
    status, body = await ari(sim, "POST", "/channels", params={"app": "router"})
    assert (status, body) == (400, {"message": "Endpoint must be specified"})
    status, body = await ari(sim, "POST", "/channels", params={"endpoint": "PJSIP/x"})
    assert (status, body) == (400, {"message": "Application or extension must be specified"})
    sim.world.create_bridge("b1", "mixing", "")
    status, body = await ari(sim, "POST", "/bridges/b1/addChannel")
    assert (status, body) == (400, {"message": "Missing parameter channel"})


async def test_a_bridge_variable_set_without_a_name_is_what_asterisk_22_10_1_dies_of(sim: Simulator) -> None:
    sim.world.create_bridge("b1", "mixing", "")
    async with aiohttp.ClientSession(headers=AUTH) as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await session.post(f"{sim.url}/ari/bridges/b1/variable")
    assert [c["why"] for c in sim.crashes] == ["POST /bridges/{id}/variable without variable"]
    assert "b1" not in sim.world.bridges, "everything live is gone, as after a restart"


def test_the_reading_follows_the_description() -> None:
    assert len(operations()) > 100
    create = find("POST", "/channels/create")
    assert create is not None
    assert create.path == "/channels/create", "a literal segment before an id"
    originate = find("POST", "/channels/abc")
    assert originate is not None
    assert originate.path == "/channels/{channelId}"
    assert find("POST", "/channels/abc/nothing") is None
    given = [("timeout", " 12s"), ("priority", "x"), ("other", "kept"), ("timeout", "7")]
    assert read(originate, given, {"callerId": 5, "app": "a"}) == [
        ("other", "kept"),
        ("timeout", "7"),
        ("priority", "0"),
        ("app", "a"),
    ], "the last wins; a JSON field that is not a string is none"
    assert separate_args('a,"b,c",(d,e),x\\,y,') == ["a", "b,c", "(d,e)", "x,y", ""]
    assert len(separate_args("," * 300)) == 128
    assert c_name("maxDurationSeconds") == "max_duration_seconds"
