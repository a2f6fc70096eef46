"""Asterisk's description of ARI, served by the simulator with no options as Asterisk 22.10 serves it.

Swagger clients (asyncari, npm's ari-client) read /ari/api-docs/resources.json and every file it lists
before they connect; the simulator ships Asterisk 22.10's files (asterisk_sim/rest_api/, GPL-2.0) and
serves them with `basePath` pointing at the asker, as res_ari.c does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest_asyncio

from asterisk_sim import Simulator
from tests import real_asterisk

ASKER = "phones.example.org:8088"  # the Host a client used, whatever the server's own address


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(real_asterisk.USER, real_asterisk.PASSWORD)  # no description given: its own
    await simulator.start()
    yield simulator
    await simulator.stop()


async def served(url: str, path: str, host: str = ASKER) -> tuple[int, Any]:
    headers = {**real_asterisk.AUTHORIZATION, "Host": host}
    async with aiohttp.ClientSession() as session, session.get(f"{url}/ari/api-docs/{path}", headers=headers) as got:
        return got.status, await got.json(content_type=None)


async def test_the_description_is_served_with_the_askers_base_path(sim: Simulator) -> None:
    status, resources = await served(sim.url, "resources.json")
    assert status == 200
    assert resources["basePath"] == f"http://{ASKER}/ari"
    names = [api["path"].removeprefix("/api-docs/").replace(".{format}", ".json") for api in resources["apis"]]
    assert "channels.json" in names
    for name in names:
        status, document = await served(sim.url, name)
        assert status == 200, name
        assert document["basePath"] == f"http://{ASKER}/ari"
        assert document["resourcePath"] == f"/api-docs/{name.replace('.json', '.{format}')}"


async def test_what_is_not_there_is_refused_as_asterisk_does(sim: Simulator) -> None:
    assert await served(sim.url, "no-such-file.json") == (404, {"message": "Resource not found"})
    assert await served(sim.url, "") == (404, {"message": "ARI URLs do not end with a slash. Try /ari/api-docs"})
    async with aiohttp.ClientSession() as session, session.get(f"{sim.url}/ari/api-docs/resources.json") as got:
        assert (got.status, await got.json()) == (401, {"message": "Authentication required"})


async def test_the_description_is_the_real_asterisks(sim: Simulator, real_asterisk_url: str) -> None:
    """Every file, byte for byte as JSON (keys in their order), after `basePath`, which names the server."""
    _, resources = await served(real_asterisk_url, "resources.json")
    names = ["resources.json"] + [
        api["path"].removeprefix("/api-docs/").replace(".{format}", ".json") for api in resources["apis"]
    ]
    for name in [*names, "no-such-file.json", ""]:
        real = await served(real_asterisk_url, name)
        on_sim = await served(sim.url, name)
        assert json.dumps(on_sim) == json.dumps(real), name
