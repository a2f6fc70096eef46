"""The simulated Asterisk's defaults are a stock Asterisk's, not the call router's: ARI user `asterisk`, a
password given or made up for the run (and printed), calls into the context `default` dialling `s`, no
application named; a settings file sets them, the router's shipped as an example (asterisk_sim/settings.py)."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import aiohttp
import pytest

from asterisk_sim import Simulator
from asterisk_sim.settings import ROUTER_EXAMPLE, BadSettings, Settings, load_settings


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def status_of(http: aiohttp.ClientSession, url: str, user: str, password: str) -> int:
    async with http.get(f"{url}/ari/asterisk/ping", headers=basic(user, password)) as answer:
        return answer.status


async def test_a_simulator_made_with_nothing_has_a_password_of_its_own() -> None:
    one, other = Simulator(), Simulator()
    assert (one.user, other.user) == ("asterisk", "asterisk")
    assert one.password != other.password
    assert len(one.password) >= 16
    await one.start()
    try:
        async with aiohttp.ClientSession() as http:
            assert await status_of(http, one.url, "asterisk", one.password) == 200
            for user, guess in [("asterisk", "secret"), ("router", "secret"), ("asterisk", "")]:
                assert await status_of(http, one.url, user, guess) == 401
            async with http.post(f"{one.url}/_sim/calls", json={"from": "12345678", "app": "hello"}) as placed:
                channel = one.world.channels[(await placed.json())["channel_id"]]
            assert (channel.context, channel.exten) == ("default", "s")
            async with http.post(f"{one.url}/_sim/calls", json={"from": "12345678"}) as unnamed:
                assert unnamed.status == 400
                assert (await unnamed.json())["message"].startswith("app: required")
    finally:
        await one.stop()


async def test_the_routers_example_settings() -> None:
    settings = load_settings(ROUTER_EXAMPLE)
    assert settings == Settings(user="router", context="from-citizens", app="router", to="1818")
    sim = Simulator(password="s3cret", settings=settings)
    assert sim.user == "router"
    await sim.start()
    try:
        call = {"from": "12345678", "technology": "Local"}
        async with aiohttp.ClientSession() as http, http.post(f"{sim.url}/_sim/calls", json=call) as placed:
            channel = sim.world.channels[(await placed.json())["channel_id"]]
        assert (channel.context, channel.exten, channel.owner) == ("from-citizens", "1818", "router")
        assert channel.name.startswith("Local/1818@from-citizens-")
    finally:
        await sim.stop()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('user = "x"\nport = 8088\n', "unknown key 'port': it takes user (the ARI user), context"),
        ("app = 5\n", "app: a text that is not empty, not 5"),
        ('contexts = "a"\n', "contexts: a list of context names, not 'a'"),
        ("user = \n", "not TOML: "),
    ],
)
def test_a_settings_file_is_read_strictly(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "sim.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadSettings) as refused:
        load_settings(path)
    assert str(refused.value).startswith(f"{path}: {says}")


def run(*options: str, env: dict[str, str]) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ARI_", "ASTERISK_SIM_"))}
    command = [sys.executable, "-m", "asterisk_sim", "--port", "0", *options]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**clean, **env})


def first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    try:
        return process.stdout.readline()
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_started_without_a_password_it_makes_one_up_and_says_so() -> None:
    banner = first_line(run(env={}))
    assert "(user 'asterisk', password '" in banner, banner
    assert "made up for this run: set ARI_PASSWORD to choose one" in banner
    given = first_line(run(env={"ARI_PASSWORD": "s3cret"}))
    assert "(user 'asterisk'), control API" in given, given  # a password given is not printed
    assert "s3cret" not in given


def test_started_with_the_routers_settings_and_a_user_and_password_of_the_environment(tmp_path: Path) -> None:
    banner = first_line(run(env={"ASTERISK_SIM_CONFIG": str(ROUTER_EXAMPLE), "ARI_PASSWORD": "x"}))
    assert "(user 'router')" in banner, banner
    assert "(user 'desk', password '" in first_line(run("--config", str(ROUTER_EXAMPLE), env={"ARI_USER": "desk"}))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("colour = 'red'\n", encoding="utf-8")
    refused = run("--config", str(wrong), env={})
    _, err = refused.communicate(timeout=20)
    assert refused.returncode == 2
    assert f"--config: {wrong}: unknown key 'colour'" in err


async def test_the_plugin_fixture_needs_no_options(tmp_path: Path) -> None:
    """A newcomer's first test file, run by pytest as they would, with no option: the fixture's simulator
    has its own user and password, and a call names its application."""
    (tmp_path / "test_first.py").write_text(
        "def test_first(asterisk_sim):\n"
        "    assert asterisk_sim.user == 'asterisk'\n"
        "    assert asterisk_sim.password not in ('', 'secret')\n"
        "    call = asterisk_sim.call('12345678', app='nobody')\n"
        "    assert asterisk_sim.history(call)['state'] == 'Ring'\n",
        encoding="utf-8",
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ARI_", "ASTERISK_SIM_"))}
    # Installed from its distribution, its entry point brings the plugin; in this checkout, it is named.
    installed = any(e.name == "asterisk_sim" for e in entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "asterisk_sim.pytest_plugin"]
    ran = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin, "test_first.py",
        cwd=tmp_path, env=clean, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(ran.communicate(), 60)
    assert ran.returncode == 0, out.decode()[-3000:]
    assert "1 passed" in out.decode()
