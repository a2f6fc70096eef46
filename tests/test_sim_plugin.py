"""The pytest plugin as a developer of another ARI application meets it: the `asterisk_sim` fixture, a
ten-line application of theirs run as its own process, and a test that reads like the call. (The example in
docs/simulator.md is this file's first test; scripts/sim-dist runs the page's own code, as written there.)"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from asterisk_sim.pytest_plugin import SimulatedAsterisk

APP = """
import asyncio, sys, aiohttp
async def main(url, auth):
    async with aiohttp.ClientSession(headers={"Authorization": auth}) as http:
        async with http.ws_connect(f"{url}/events?app=hello") as events:
            print("connected", flush=True)
            async for message in events:
                event = message.json()
                if event["type"] == "StasisStart":
                    channel = event["channel"]["id"]
                    await http.post(f"{url}/channels/{channel}/answer")
                    await http.post(f"{url}/channels/{channel}/play", params={"media": "sound:hello-world"})
                elif event["type"] == "PlaybackFinished":
                    await http.delete(f"{url}/{event['playback']['target_uri'].replace(':', 's/', 1)}")
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.fixture
def hello_app(asterisk_sim: SimulatedAsterisk, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """The application under test, as its own process, connected to the simulator."""
    (tmp_path / "hello.py").write_text(APP, encoding="utf-8")
    auth = "Basic " + base64.b64encode(f"{asterisk_sim.user}:{asterisk_sim.password}".encode()).decode()
    process = subprocess.Popen(
        [sys.executable, str(tmp_path / "hello.py"), asterisk_sim.ari_url, auth], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "connected\n"
    yield process
    process.terminate()
    process.wait(timeout=10)
    process.stdout.close()


def test_the_caller_hears_hello_then_the_application_hangs_up(
    asterisk_sim: SimulatedAsterisk, hello_app: subprocess.Popen[str]
) -> None:
    call = asterisk_sim.call("12345678", app="hello")
    asterisk_sim.wait_for(call, "answered")
    assert asterisk_sim.heard(call, "sound:hello-world")["end"] == "played"
    assert asterisk_sim.wait_for(call, "hung up")["by"] == "application"


def test_a_wait_that_fails_shows_the_calls_history(asterisk_sim: SimulatedAsterisk) -> None:
    call = asterisk_sim.call("12345678", app="nobody")  # no application: the dialplan goes on
    with pytest.raises(AssertionError, match=r"no 'answered' within 0.2 s. What happened to it:") as failed:
        asterisk_sim.wait_for(call, "answered", within=0.2)
    assert '"STASISSTATUS": "FAILED"' in str(failed.value)


def test_a_refused_control_request_says_why(asterisk_sim: SimulatedAsterisk) -> None:
    with pytest.raises(AssertionError, match=r"400 .*args: a list of strings"):
        asterisk_sim.call("12345678", args="a,b")
