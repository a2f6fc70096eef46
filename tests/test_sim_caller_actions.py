"""What a caller's phone does that Asterisk 22 tells an ARI application of (asterisk_sim/caller_actions.py):
hold and unhold, talking where the application set TALK_DETECT, a blind transfer (REFER), and a text message
from a phone behind an endpoint. Each event is checked against Asterisk 22's own description of ARI (its
models in rest_api/events.json: every required field there, none it does not describe), each action's bad
input against a clear 400, and the pytest plugin's helpers as a harness uses them."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

import asterisk_sim
from asterisk_sim import Simulator
from asterisk_sim.pytest_plugin import SimulatedAsterisk

Json = dict[str, Any]
MODELS: dict[str, Json] = {}
for name in ("events", "channels", "bridges", "endpoints"):
    described = json.loads((Path(asterisk_sim.__file__).parent / "rest_api" / f"{name}.json").read_text("utf-8"))
    MODELS |= described["models"]

PARENTS = {child: parent for parent, model in MODELS.items() for child in model.get("subTypes", [])}


def check_model(value: Any, model: str) -> None:
    """`value` as Asterisk's description says a `model` is: its required fields there, and no other field
    (what res/ari/ari_model_validators.c checks of every event Asterisk sends)."""
    if model.startswith("List["):
        assert isinstance(value, list), (model, value)
        for item in value:
            check_model(item, model[5:-1])
        return
    if model not in MODELS:  # string, int, boolean, object, Date
        kinds = {"string": str, "int": int, "long": int, "boolean": bool, "object": dict, "Date": str}
        assert isinstance(value, kinds[model]), (model, value)
        return
    properties = dict(MODELS[model]["properties"])
    parent = PARENTS.get(model)
    while parent:  # Event, then Message: application, timestamp, type, asterisk_id
        properties |= MODELS[parent]["properties"]
        parent = PARENTS.get(parent)
    assert isinstance(value, dict), (model, value)
    undocumented = set(value) - set(properties)
    assert not undocumented, f"{model} has fields Asterisk does not describe: {undocumented}"
    missing = {name for name, p in properties.items() if p.get("required") and name not in value}
    assert not missing, f"{model} lacks required {missing}"
    for name, field in value.items():
        check_model(field, properties[name]["type"])


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Phone:
    """An application's WebSocket and REST, and the control API, on one simulator."""

    def __init__(self, sim: Simulator, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.sim, self.http, self.ws = sim, http, ws

    async def ari(self, method: str, path: str, **query: str) -> Any:
        async with self.http.request(method, f"{self.sim.url}/ari{path}", params=query) as answer:
            assert answer.status < 300, await answer.text()
            return await answer.json() if answer.content_type == "application/json" else None

    async def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(method, f"{self.sim.url}/_sim{path}", json=body) as answer:
            return answer.status, await answer.json() if answer.content_type == "application/json" else None

    async def events(self, count: int, within: float = 5) -> list[Json]:
        got = [await self.ws.receive_json(timeout=within) for _ in range(count)]
        for event in got:
            check_model(event, event["type"])
        return got

    async def nothing_more(self, within: float = 0.3) -> None:
        try:
            extra = await self.ws.receive_json(timeout=within)
        except TimeoutError:
            return
        pytest.fail(f"no more events, not {extra}")

    async def until_quiet(self) -> list[Json]:
        """Every event until none comes for a moment."""
        got: list[Json] = []
        while True:
            try:
                got.append(await self.ws.receive_json(timeout=0.3))
            except TimeoutError:
                break
            check_model(got[-1], got[-1]["type"])
        return got

    async def answered_call(self, caller: str = "12345678") -> str:
        status, placed = await self.control("POST", "/calls", {"from": caller})
        assert status == 201, placed
        call = str(placed["channel_id"])
        await self.events(1)  # StasisStart
        await self.ari("POST", f"/channels/{call}/answer")
        await self.events(1)  # ChannelStateChange
        return call


@pytest_asyncio.fixture
async def phone() -> AsyncIterator[Phone]:
    sim = Simulator(settings=asterisk_sim.settings.Settings(app="harness"))  # neutral, but a call's application
    await sim.start()
    async with (
        aiohttp.ClientSession(headers=basic(sim.user, sim.password)) as http,
        http.ws_connect(f"{sim.url}/ari/events?app=harness") as ws,
    ):
        yield Phone(sim, http, ws)
    await sim.stop()


async def test_hold_and_unhold_as_asterisk_tells_them(phone: Phone) -> None:
    call = await phone.answered_call()
    assert await phone.control("POST", f"/channels/{call}/hold") == (204, None)
    [held] = await phone.events(1)
    assert (held["type"], held["musicclass"], held["channel"]["id"]) == ("ChannelHold", "default", call)
    assert await phone.control("POST", f"/channels/{call}/hold") == (204, None)
    await phone.nothing_more()  # on hold already: the stream's direction did not change, nothing is told
    assert (await phone.control("GET", f"/channels/{call}"))[1]["held"] is True
    await phone.control("POST", f"/channels/{call}/unhold")
    [unheld] = await phone.events(1)
    assert (unheld["type"], unheld["channel"]["id"]) == ("ChannelUnhold", call)
    assert [e["what"] for e in phone.sim.world.journal.entries if e["channel"] == call][-2:] == ["held", "unheld"]


async def test_a_local_channels_hold_is_no_event(phone: Phone) -> None:
    """A Local half is held by its other half: Asterisk passes it on as a control frame, and publishes no
    ChannelHold (main/core_unreal.c); the journal has it all the same."""
    status, placed = await phone.control("POST", "/calls", {"from": "12345678", "technology": "Local"})
    assert status == 201
    call = placed["channel_id"]
    await phone.events(1)
    await phone.ari("POST", f"/channels/{call}/answer")
    await phone.events(1)
    assert await phone.control("POST", f"/channels/{call}/hold") == (204, None)
    await phone.nothing_more()
    assert phone.sim.world.journal.entries[-1]["what"] == "held"


async def test_hold_needs_an_answered_call_and_takes_no_fields(phone: Phone) -> None:
    call = (await phone.control("POST", "/calls", {"from": "12345678"}))[1]["channel_id"]
    await phone.events(1)
    assert await phone.control("POST", f"/channels/{call}/hold") == (
        409,
        {"message": "the channel is Ring: a phone holds only in an answered call"},
    )
    assert await phone.control("POST", f"/channels/{call}/hold", {"music": "jazz"}) == (
        400,
        {"message": "unknown field 'music': it takes no fields"},
    )
    assert (await phone.control("POST", "/channels/nobody/unhold"))[0] == 404
    await phone.nothing_more()


async def test_talking_is_told_only_where_the_application_detects_it(phone: Phone) -> None:
    call = await phone.answered_call()
    await phone.control("POST", f"/channels/{call}/talk", {"seconds": 0.05})
    await phone.nothing_more()  # no TALK_DETECT on the channel: Asterisk listens for nothing
    await phone.ari("POST", f"/channels/{call}/variable", variable="TALK_DETECT(set)", value="200")
    started_at = asyncio.get_running_loop().time()
    assert await phone.control("POST", f"/channels/{call}/talk", {"seconds": 0.3}) == (204, None)
    [started] = await phone.events(1)
    assert (started["type"], started["channel"]["id"]) == ("ChannelTalkingStarted", call)
    assert (await phone.control("POST", f"/channels/{call}/talk", {"seconds": 1}))[0] == 409  # talking already
    [finished] = await phone.events(1)
    # Told once the caller has been silent for the threshold (200 ms here), with how long they talked.
    assert asyncio.get_running_loop().time() - started_at >= 0.45
    assert (finished["type"], finished["duration"], finished["channel"]["id"]) == ("ChannelTalkingFinished", 300, call)
    await phone.ari("POST", f"/channels/{call}/variable", variable="TALK_DETECT(remove)")
    await phone.control("POST", f"/channels/{call}/talk", {"seconds": 0.05})
    await phone.nothing_more()


async def test_talk_detect_with_a_threshold_asterisk_refuses_detects_nothing(phone: Phone) -> None:
    call = await phone.answered_call()
    await phone.ari("POST", f"/channels/{call}/variable", variable="TALK_DETECT(set)", value="0")  # below 1
    await phone.control("POST", f"/channels/{call}/talk", {"seconds": 0.05})
    await phone.nothing_more()
    await phone.ari("POST", f"/channels/{call}/variable", variable="TALK_DETECT(set)")  # Asterisk's 2500 ms
    await phone.control("POST", f"/channels/{call}/talk", {"seconds": 0.05})
    assert [e["type"] for e in await phone.events(1)] == ["ChannelTalkingStarted"]
    await phone.nothing_more(within=1)  # the end only after 2.5 s of silence


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "seconds: required"),
        ({"seconds": "2"}, 'seconds: a number, not "2"'),
        ({"seconds": 0}, "seconds: at least 0.001, not 0"),
        ({"seconds": 1, "loud": True}, "unknown field 'loud': it takes seconds"),
    ],
)
async def test_talk_refuses_bad_input(phone: Phone, body: Json, says: str) -> None:
    call = await phone.answered_call()
    assert await phone.control("POST", f"/channels/{call}/talk", body) == (400, {"message": says})
    assert not phone.sim.world.channels[call].talking


async def test_a_blind_transfer_from_a_bridge(phone: Phone) -> None:
    first, second = await phone.answered_call("11111111"), await phone.answered_call("22222222")
    bridge = (await phone.ari("POST", "/bridges", type="mixing"))["id"]
    await phone.ari("POST", f"/bridges/{bridge}/addChannel", channel=f"{first},{second}")
    await phone.until_quiet()  # each ChannelEnteredBridge, and BRIDGEPEER set on both
    assert await phone.control("POST", f"/channels/{first}/transfer", {"to": "2000"}) == (200, {"result": "Success"})
    everything = await phone.until_quiet()
    told = [e for e in everything if e["type"] != "ChannelVarset"]
    assert [e["type"] for e in told[:6]] == [
        "ChannelUnhold",  # taken off hold first, and told so, held or not (ast_bridge_transfer_blind)
        "BridgeBlindTransfer",
        "StasisStart",  # the Local channel that takes the transferer's place, in its application
        "ChannelLeftBridge",
        "ChannelEnteredBridge",
        "ChannelHangupRequest",  # the transferring phone hangs up, told the transfer went through
    ]
    transfer, local = told[1], told[2]["channel"]
    assert (transfer["channel"]["id"], transfer["transferee"]["id"]) == (first, second)
    assert (transfer["exten"], transfer["context"], transfer["result"], transfer["is_external"]) == (
        "2000",
        "default",
        "Success",
        True,
    )
    assert transfer["replace_channel"]["id"] == local["id"]
    assert local["name"].startswith("Local/2000@default-")
    assert local["name"].endswith(";1")
    assert told[2]["replace_channel"]["id"] == first
    assert (told[3]["channel"]["id"], told[4]["channel"]["id"]) == (first, local["id"])
    assert sorted((await phone.ari("GET", f"/bridges/{bridge}"))["channels"]) == sorted([second, local["id"]])
    history = (await phone.control("GET", f"/channels/{first}"))[1]
    assert (history["gone"], history["hangup"]["by"]) == (True, "caller")


async def test_a_transfer_outside_a_bridge_is_invalid_and_bad_input_is_refused(phone: Phone) -> None:
    call = await phone.answered_call()
    assert await phone.control("POST", f"/channels/{call}/transfer", {"to": "2000"}) == (200, {"result": "Invalid"})
    [transfer] = await phone.events(1)
    assert (transfer["type"], transfer["result"], transfer["channel"]["id"]) == ("BridgeBlindTransfer", "Invalid", call)
    assert "transferee" not in transfer
    assert await phone.control("POST", f"/channels/{call}/transfer", {}) == (400, {"message": "to: required"})
    assert await phone.control("POST", f"/channels/{call}/transfer", {"to": ""}) == (
        400,
        {"message": "to: must not be empty"},
    )
    assert not phone.sim.world.channels[call].gone


async def test_a_text_message_reaches_the_applications_subscribed_to_its_endpoint(phone: Phone) -> None:
    assert (await phone.control("PUT", "/endpoints/PJSIP/alice", {}))[0] == 204
    message = {"to": "1818", "body": "Ring mig op", "name": "Alice"}
    assert await phone.control("POST", "/endpoints/PJSIP/alice/message", message) == (200, {"told": []})
    await phone.nothing_more()  # nobody subscribed: Asterisk's dialplan takes it
    assert (await phone.control("GET", "/state"))[1]["messages"] == [
        {"from": "PJSIP/alice", "kind": "message", "to": "1818", "body": "Ring mig op", "dialplan": True}
    ]
    await phone.ari("POST", "/applications/harness/subscription", eventSource="endpoint:PJSIP/alice")
    assert await phone.control("POST", "/endpoints/PJSIP/alice/message", message) == (200, {"told": ["harness"]})
    [received] = await phone.events(1)
    assert received["type"] == "TextMessageReceived"
    assert received["endpoint"] == {"technology": "PJSIP", "resource": "alice", "state": "online", "channel_ids": []}
    assert {k: received["message"][k] for k in ("from", "to", "body")} == {
        "from": '"Alice" <sip:alice@127.0.0.1>',
        "to": "pjsip:1818@127.0.0.1",
        "body": "Ring mig op",
    }
    assert (await phone.control("POST", "/endpoints/PJSIP/bob/message", message))[0] == 404
    assert await phone.control("POST", "/endpoints/PJSIP/alice/message", {"to": "1818"}) == (
        400,
        {"message": "body: required"},
    )


async def test_the_reference_describes_every_caller_action(phone: Phone) -> None:
    paths = (await phone.control("GET", "/openapi.json"))[1]["paths"]
    for path in ("hold", "unhold", "talk", "transfer"):
        assert "post" in paths[f"/_sim/channels/{{id}}/{path}"]
    described = paths["/_sim/endpoints/{tech}/{resource}/message"]["post"]
    assert described["requestBody"]["content"]["application/json"]["schema"]["required"] == ["to", "body"]


async def test_the_plugins_phone_holds_talks_transfers_and_texts(asterisk_sim: SimulatedAsterisk) -> None:
    async with (
        aiohttp.ClientSession(headers=basic(asterisk_sim.user, asterisk_sim.password)) as http,
        http.ws_connect(f"{asterisk_sim.ari_url}/events?app=desk") as ws,
    ):
        call = asterisk_sim.call("12345678", app="desk")
        assert (await ws.receive_json(timeout=5))["type"] == "StasisStart"
        async with http.post(f"{asterisk_sim.ari_url}/channels/{call}/answer"):
            pass
        async with http.post(
            f"{asterisk_sim.ari_url}/channels/{call}/variable", params={"variable": "TALK_DETECT(set)", "value": "100"}
        ):
            pass
        asterisk_sim.hold(call)
        asterisk_sim.unhold(call)
        asterisk_sim.talk(call, 0.1)
        assert asterisk_sim.transfer(call, "2000") == "Invalid"
        asterisk_sim.control("PUT", "/endpoints/PJSIP/alice", {})
        assert asterisk_sim.send_text("PJSIP/alice", "desk", "hej") == []
        assert asterisk_sim.wait_for(call, "talked")["seconds"] == 0.1
        seen = [(await ws.receive_json(timeout=5))["type"] for _ in range(6)]
        assert seen == [
            "ChannelStateChange",
            "ChannelHold",
            "ChannelUnhold",
            "ChannelTalkingStarted",
            "BridgeBlindTransfer",
            "ChannelTalkingFinished",
        ]
