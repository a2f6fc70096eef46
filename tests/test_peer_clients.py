"""Third-party ARI clients, unchanged, against the simulated Asterisk and the real one: the same outcome.

Each client is installed from PyPI or npm into a folder of its own (never a project dependency):
`scripts/peer-clients` makes them in .venv/peer-clients/, outside the tests' network namespace, and
scripts/test runs it first. Each runs a small application (tests/peer_clients/) as its own process: on StasisStart it
answers, plays a sound, and hangs up when the sound has finished, printing what it saw. The harness
places one call on each Asterisk; the two printouts must be equal.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path

import aiohttp
import pytest

from asterisk_sim import Simulator
from tests import real_asterisk
from tests.conftest import ROUTER_SIM
from tests.test_ari_contract import RealBackend

APPS = Path(__file__).with_name("peer_clients")
PEERS = Path(__file__).resolve().parent.parent / ".venv/peer-clients"
# A client's requirement: its folder under PEERS, its interpreter there, and its application.
CLIENTS = {
    "ari-client==0.9.0": ("ari-client-0.9.0", "bin/python", "ari_client_app.py"),
    "asyncari==0.20.6": ("asyncari-0.20.6", "bin/python", "asyncari_app.py"),
    "npm ari-client@2.2.0": ("ari-client-npm-2.2.0", "node_modules/ari-client/package.json", "ari_client_npm_app.js"),
}
Client = tuple[list[str], dict[str, str]]  # the command that runs its application, and its environment


@pytest.fixture(params=list(CLIENTS))
def client(request: pytest.FixtureRequest) -> Client:
    requirement: str = request.param
    folder, installed, app = CLIENTS[requirement]
    if not (PEERS / folder / installed).exists():
        missing = f"no {requirement} in {PEERS / folder}: run scripts/peer-clients"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(f"PEER CLIENTS SKIPPED: {missing}")
    if app.endswith(".js"):
        return ["node", str(APPS / app)], {**os.environ, "NODE_PATH": str(PEERS / folder / "node_modules")}
    return [str(PEERS / folder / installed), str(APPS / app)], dict(os.environ)


async def run_app(client: Client, url: str, user: str, password: str, place_call: object) -> list[object]:
    command, env = client
    process = await asyncio.create_subprocess_exec(
        *command, url.rstrip("/") + "/", user, password,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        first = await asyncio.wait_for(process.stdout.readline(), 30)
        if first != b"connected\n":
            assert process.stderr is not None
            pytest.fail(f"{Path(command[-1]).name} did not connect: {(await process.stderr.read()).decode()[-3000:]}")
        await asyncio.sleep(0.3)  # its WebSocket is up: the application exists in Asterisk
        await place_call()  # type: ignore[operator]
        out, err = await asyncio.wait_for(process.communicate(), 45)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()[-3000:]
    seen: list[object] = json.loads(out.decode().strip().splitlines()[-1])
    return seen


async def test_the_client_sees_the_same_call_on_both(client: Client, real_asterisk_url: str) -> None:
    user, password = real_asterisk.PEER_USER, real_asterisk.PEER_PASSWORD
    sim = Simulator(
        user, password, sound_seconds=0.5, settings=ROUTER_SIM
    )  # its own copy of Asterisk's description of ARI
    await sim.start()
    try:

        async def sim_call() -> None:
            sim.world.place_call("12345678", "1818", "router", name="Borger")

        on_sim = await run_app(client, sim.url, user, password, sim_call)
    finally:
        await sim.stop()
    async with aiohttp.ClientSession() as session:
        real = RealBackend(session, real_asterisk_url)
        helper = asyncio.create_task(real.phones.run())  # the callers' halves; the client is the application
        try:
            await asyncio.wait_for(real.phones.connected.wait(), 10)
            on_real = await run_app(client, real_asterisk_url, user, password, real.call)
        finally:
            helper.cancel()
            await asyncio.gather(helper, return_exceptions=True)
    print(f"\n{Path(client[0][-1]).name}: {on_real}")
    assert on_sim == on_real
    assert ["StasisEnd"] in on_real, "the application saw its call through"


async def test_the_client_connects_to_a_simulator_started_with_no_options(client: Client) -> None:
    """`python -m asterisk_sim` as docs/simulator.md starts it, nothing given: port 8088, user asterisk and a
    password made up for the run, printed on its first line (the tests run in a network namespace of their
    own, so the port is free). No well-known password opens it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asterisk_sim",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith(("ARI_", "ASTERISK_SIM_"))},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        url = banner.split("ARI on ")[1].split("/ari")[0]
        user, password = banner.split("user '")[1].split("'")[0], banner.split("password '")[1].split("'")[0]
        assert user == "asterisk", banner
        assert len(password) >= 16, banner
        async with aiohttp.ClientSession() as session:
            for guess in ("secret", ""):
                auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{guess}".encode()).decode()}
                async with session.get(f"{url}/ari/asterisk/ping", headers=auth) as refused:
                    assert refused.status == 401

            async def call() -> None:
                placed = await session.post(f"{url}/_sim/calls", json={"from": "12345678", "app": "router"})
                assert placed.status == 201, await placed.text()

            seen = await run_app(client, url, user, password, call)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)
    assert seen[0] == ["StasisStart", "Ring", "12345678"]
    assert ["PlaybackFinished", "done"] in seen
    assert seen[-1] == ["StasisEnd"]
