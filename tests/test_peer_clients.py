"""Third-party ARI clients, unchanged, against the simulated Asterisk and the real one: the same outcome.

Each client is installed from PyPI into a virtual environment of its own (never a project dependency):
`scripts/peer-clients` makes them in .venv/peer-clients/, outside the tests' network namespace, and
scripts/test runs it first. Each runs a small application (tests/peer_clients/) as its own process: on StasisStart it
answers, plays a sound, and hangs up when the sound has finished, printing what it saw. The harness
places one call on each Asterisk; the two printouts must be equal.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import aiohttp
import pytest

from asterisk_sim import Simulator
from tests import real_asterisk
from tests.test_ari_contract import RealBackend

APPS = Path(__file__).with_name("peer_clients")
PEERS = Path(__file__).resolve().parent.parent / ".venv/peer-clients"
CLIENTS = {"ari-client==0.9.0": "ari_client_app.py", "asyncari==0.20.6": "asyncari_app.py"}


@pytest.fixture(params=list(CLIENTS))
def client(request: pytest.FixtureRequest) -> tuple[Path, Path]:
    """(its virtual environment's python, the application) for one client."""
    requirement: str = request.param
    python = PEERS / requirement.replace("==", "-") / "bin/python"
    if not python.exists():
        missing = f"no virtual environment for {requirement} at {python.parent.parent}: run scripts/peer-clients"
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(f"PEER CLIENTS SKIPPED: {missing}")
    return python, APPS / CLIENTS[requirement]


async def run_app(python: Path, app: Path, url: str, user: str, password: str, place_call: object) -> list[object]:
    process = await asyncio.create_subprocess_exec(
        str(python), str(app), url.rstrip("/") + "/", user, password,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        first = await asyncio.wait_for(process.stdout.readline(), 30)
        if first != b"connected\n":
            assert process.stderr is not None
            pytest.fail(f"{app.name} did not connect: {(await process.stderr.read()).decode()[-3000:]}")
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


async def test_the_client_sees_the_same_call_on_both(client: tuple[Path, Path], real_asterisk_url: str) -> None:
    python, app = client
    user, password = real_asterisk.PEER_USER, real_asterisk.PEER_PASSWORD
    # asyncari builds itself from Asterisk's description of ARI: the simulator serves the real one's.
    sim = Simulator(user, password, sound_seconds=0.5, api_docs=real_asterisk.ROOT / "usr/share/asterisk/rest-api")
    await sim.start()
    try:

        async def sim_call() -> None:
            sim.world.place_call("12345678", "1818", "router", name="Borger")

        on_sim = await run_app(python, app, sim.url, user, password, sim_call)
    finally:
        await sim.stop()
    async with aiohttp.ClientSession() as session:
        real = RealBackend(session, real_asterisk_url)
        helper = asyncio.create_task(real.phones.run())  # the callers' halves; the client is the application
        try:
            await asyncio.wait_for(real.phones.connected.wait(), 10)
            on_real = await run_app(python, app, real_asterisk_url, user, password, real.call)
        finally:
            helper.cancel()
            await asyncio.gather(helper, return_exceptions=True)
    print(f"\n{app.name}: {on_real}")
    assert on_sim == on_real
    assert ["StasisEnd"] in on_real, "the application saw its call through"
