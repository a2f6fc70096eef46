"""The compose file for real: Docker (Debian's docker.io) and Compose v2 run the site's stack, and the
simulated Asterisk in its container, on this run's own loopback; real baresip phones call into it.

In order, on one engine: `--profile sim` starts the simulator alone, and its container passes the contract
tier's simulator scenarios; Asterisk without the site's pjsip.conf takes no SIP and says why; the site's
stack (Asterisk and the router, secrets from the environment, Asterisk's site files docs/deploying.md's own, see
site_files.py) becomes healthy through /readyz; a call while the line is closed (an override through the
router's API, so the hour does not matter) hears the guidance and leaves a message, listed with its audio;
a call while it is open reaches an agent's phone and the agent's tone reaches the caller; after `compose
down` and `up` the message is still there; with the router killed, Asterisk's own fallback answers by the
schedule, and the router takes calls again when it is back. Then the hygiene: users, secrets in layers,
tzdata, the build context, sizes; and at the end no container, network or daemon is left.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from router.schedule import decide, load_schedule
from tests import real_asterisk
from tests.conftest import ROOT
from tests.containers import site_files
from tests.containers.engine import STATE, Engine, unavailable_reason
from tests.sip_phone import Phone, silence, stat, tone, tone_seconds
from tests.test_peer_clients import APPS, CLIENTS, PEERS, run_app

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"CONTAINER TIER SKIPPED: {REASON}")

ARI_PASSWORD = "ci;p&ss#w:rd"  # ; & # : each break something naive (a .conf comment, a query, a header)
API_TOKEN = secrets.token_hex(32)
API = "http://127.0.0.1:8089"
IMAGES = ("callrouter-ci-router", "callrouter-ci-asterisk", "callrouter-ci-asterisk-sim")
AGENT_HZ = 1000


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    site = Path(tempfile.mkdtemp(prefix="callrouter-site-"))
    engine = Engine(
        {"ARI_PASSWORD": ARI_PASSWORD, "CALLROUTER_API_TOKEN": API_TOKEN}, [site_files.write_override(site)]
    )
    engine.start()
    try:
        yield engine
    finally:
        engine.compose("--profile", "site", "--profile", "sim", "down", "--volumes", "--timeout", "5", check=False)
        shutil.rmtree(site)
        engine.docker("image", "prune", "--force", check=False)  # the classic builder's dangling layers
        left = engine.docker("ps", "--all", "--quiet", check=False).stdout.split()
        networks = engine.docker("network", "ls", "--format", "{{.Name}}", check=False).stdout.split()
        engine.stop()
        mounts = [line for line in Path("/proc/self/mounts").read_text().splitlines() if str(STATE) in line]
        assert mounts == [], f"mounts left behind: {mounts}"
        assert left == [], f"containers left behind: {left}"
        assert sorted(networks) == ["host", "none"], f"networks made: {networks}"


def api(path: str, method: str = "GET", body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """The router's HTTP API in its container, with the token."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(API + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {API_TOKEN}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(
                raw
            ) if response.headers.get_content_type() == "application/json" else raw
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return 0, str(e)


def wait_for_ping(url: str, within: float = 30) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url + "/ari/asterisk/ping", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers (401 without credentials)
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"nothing answers at {url} within {within} s")


def wait_until_healthy(engine: Engine, service: str, within: float = 90) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        status = engine.docker("inspect", "--format", "{{.State.Health.Status}}", engine.container(service)).stdout
        if status.strip() == "healthy":
            return
        time.sleep(1)
    logs = engine.compose("logs", "--tail", "40", check=False).stdout
    pytest.fail(f"{service} not healthy within {within} s:\n{logs}")


def override(state: str, minutes: int = 60) -> None:
    until = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
    status, body = api(
        "/overrides", "POST", {"line": "1818", "state": state, "reason": "staff_shortage", "until": until}
    )
    assert status == 201, body


def router_log(engine: Engine) -> str:
    return engine.compose("logs", "--no-color", "router", check=False).stdout


async def wait_for_log(engine: Engine, pattern: str, within: float, after: int = 0) -> re.Match[str]:
    """The first line like `pattern` in the router's log, from character `after` on."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        if found := re.search(pattern, router_log(engine)[after:]):
            return found
        await asyncio.sleep(0.5)
    pytest.fail(f"no router log line like {pattern!r} within {within} s:\n{router_log(engine)[-3000:]}")


# -- the simulated Asterisk in its container ----------------------------------------------------


def running_services(engine: Engine) -> list[str]:
    """Every running container's service, as the engine sees them (not only the ones compose is told of)."""
    listed = engine.docker("ps", "--format", '{{.Label "com.docker.compose.service"}}').stdout.split()
    return sorted(listed)


def test_the_sim_profile_starts_only_the_simulator_which_passes_the_contract_scenarios(engine: Engine) -> None:
    engine.env["ARI_PASSWORD"] = real_asterisk.PASSWORD  # the contract tier's credentials
    try:
        engine.compose("--profile", "sim", "up", "--detach")  # the documentation's and the file's command, detached
        assert running_services(engine) == ["asterisk-sim"], "an Asterisk beside the simulator wants 8088 too"
        wait_for_ping("http://127.0.0.1:8088")
        # Installed from its own distribution, and serving Asterisk's description of ARI with no option given
        # (what asyncari and npm's ari-client build themselves from).
        shown = engine.compose("--profile", "sim", "exec", "asterisk-sim", "pip", "show", "asterisk-sim").stdout
        assert "License-Expression: EUPL-1.2 AND GPL-2.0-only" in shown, shown
        auth = base64.b64encode(f"{real_asterisk.USER}:{real_asterisk.PASSWORD}".encode()).decode()
        asked = urllib.request.Request(
            "http://127.0.0.1:8088/ari/api-docs/resources.json", headers={"Authorization": f"Basic {auth}"}
        )
        with urllib.request.urlopen(asked, timeout=10) as answer:
            assert json.load(answer)["basePath"] == "http://127.0.0.1:8088/ari"
        scenarios = ["tests/test_ari_contract.py", "-k", "sim"]
        env = {**os.environ, "CALLROUTER_SIM_URL": "http://127.0.0.1:8088", "CALLROUTER_CONTAINER_TIER": ""}
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *scenarios],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        print(result.stdout.strip().splitlines()[-1])
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert re.search(r"\b1\d passed\b", result.stdout), result.stdout[-500:]  # every simulator scenario ran
    finally:
        engine.compose("--profile", "site", "--profile", "sim", "rm", "--stop", "--force", check=False)
        engine.env["ARI_PASSWORD"] = ARI_PASSWORD


async def test_the_simulators_image_run_with_no_options_lets_every_peer_client_in(engine: Engine) -> None:
    """`docker run <the simulator's image>`, nothing given: user asterisk and a password made up for the run,
    printed first in its log; asyncari, the ari-client of PyPI and npm's ari-client build themselves from its
    API description and see a call through it. A well-known password does not open it."""
    name = "callrouter-ci-sim-bare"
    engine.docker("run", "--detach", "--rm", "--name", name, "--network", "host", "callrouter-ci-asterisk-sim")
    try:
        wait_for_ping("http://127.0.0.1:8088")
        banner = engine.docker("logs", name).stdout
        found = re.search(r"user '([^']+)', password '([^']+)'", banner)
        assert found, banner
        user, password = found.groups()
        assert user == "asterisk", banner
        async with aiohttp.ClientSession() as session:
            for guess in ("secret", ""):
                auth = {"Authorization": "Basic " + base64.b64encode(f"{user}:{guess}".encode()).decode()}
                async with session.get("http://127.0.0.1:8088/ari/asterisk/ping", headers=auth) as refused:
                    assert refused.status == 401

            async def call() -> None:
                body = {"from": "12345678", "app": "router"}
                async with session.post("http://127.0.0.1:8088/_sim/calls", json=body) as placed:
                    assert placed.status == 201, await placed.text()

            for requirement, (folder, installed, app) in CLIENTS.items():
                if not (PEERS / folder / installed).exists():
                    pytest.fail(f"no {requirement} in {PEERS / folder}: run scripts/peer-clients")
                js = app.endswith(".js")
                command = ["node", str(APPS / app)] if js else [str(PEERS / folder / installed), str(APPS / app)]
                env = {**os.environ, "NODE_PATH": str(PEERS / folder / "node_modules")}
                seen = await run_app((command, env), "http://127.0.0.1:8088", user, password, call)
                assert seen[0] == ["StasisStart", "Ring", "12345678"], (requirement, seen)
                assert seen[-1] == ["StasisEnd"], (requirement, seen)
    finally:
        engine.docker("rm", "--force", name, check=False)


# -- Asterisk without the site's files ------------------------------------------------------------


def sip_answer(port: int = 5060) -> bytes | None:
    """What Asterisk answers to a REGISTER for the example's agent1 on loopback, or None: no answer."""
    register = (
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5199;branch=z9hG4bK-ci-1;rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:agent1@127.0.0.1>;tag=ci\r\nTo: <sip:agent1@127.0.0.1>\r\n"
        "Call-ID: ci-register@127.0.0.1\r\nCSeq: 1 REGISTER\r\nContact: <sip:agent1@127.0.0.1:5199>\r\n"
        "Expires: 60\r\nContent-Length: 0\r\n\r\n"
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 5199))
        udp.connect(("127.0.0.1", port))
        udp.settimeout(3)
        try:
            udp.send(register.encode())
            return udp.recv(4096)
        except (TimeoutError, ConnectionRefusedError):  # nothing listens: the port is closed, or silent
            return None


def test_without_the_sites_pjsip_conf_asterisk_takes_no_sip_and_says_why(engine: Engine) -> None:
    engine.compose("up", "--detach", "asterisk", site=False)  # a site that forgot its own files
    try:
        asterisk = engine.container("asterisk")
        for _ in range(60):  # its control socket first, then every module loaded
            booted = engine.docker("exec", asterisk, "asterisk", "-rx", "core waitfullybooted", check=False)
            if "fully booted" in booted.stdout:
                break
            time.sleep(0.5)
        endpoints = engine.docker("exec", asterisk, "asterisk", "-rx", "pjsip show endpoints")
        assert "No objects found" in endpoints.stdout, endpoints.stdout
        transports = engine.docker("exec", asterisk, "asterisk", "-rx", "pjsip show transports").stdout
        assert "No objects found" in transports, transports
        assert sip_answer() is None, "Asterisk answers SIP with no site pjsip.conf"
        iax = engine.docker("exec", asterisk, "asterisk", "-rx", "iax2 show users").stdout
        assert "guest" not in iax, f"Debian's sample IAX guest: {iax}"
        public = engine.docker("exec", asterisk, "asterisk", "-rx", "dialplan show public").stdout
        assert "There is no existence of 'public' context" in public, public
        shipped = engine.docker("exec", asterisk, "grep", "-rl", "change-me", "/etc/asterisk", check=False)
        assert shipped.stdout == "", f"an example password in the image: {shipped.stdout}"
        log = engine.compose("logs", "--no-color", "asterisk", site=False).stdout
        assert "no site pjsip.conf is mounted at /etc/asterisk/pjsip.conf" in log, log[-3000:]
        assert "no /etc/asterisk/extensions_site.conf is mounted" in log, log[-3000:]
    finally:
        engine.compose("rm", "--stop", "--force", "asterisk", site=False, check=False)


# -- the site's stack ------------------------------------------------------------------------


def test_the_stack_comes_up_healthy_through_readyz(engine: Engine) -> None:
    # CI's citizen phone calls from the page's inbound context: the page's file is what routes its calls.
    citizen = rf"\[citizen\]\(phone\)\ncontext = {re.escape(site_files.inbound_context())}\n"
    assert re.search(citizen, site_files.CI_PJSIP.read_text(encoding="utf-8")), "deploy/ci/pjsip.conf's citizen"
    engine.compose("up", "--detach")  # the page's command: the site's profile, from .env
    assert running_services(engine) == ["asterisk", "router"]
    wait_until_healthy(engine, "router")
    health = json.loads(
        engine.docker("inspect", "--format", "{{json .Config.Healthcheck}}", engine.container("router")).stdout
    )
    assert any("/readyz" in part for part in health["Test"])
    status, body = api("/readyz")
    assert status == 200, body  # the ARI password with ; & # : got through the secret to both


async def test_a_closed_call_hears_the_guidance_and_its_message_is_listed_with_audio(engine: Engine) -> None:
    override("closed")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        voice = tone(folder / "voice.wav", 700, 60)
        async with Phone(folder, "citizen", 5070, voice) as phone:
            mark = len(router_log(engine))
            await phone.send("/dial sip:1818@127.0.0.1:5060\n")
            call = (await wait_for_log(engine, r"call (\S+) from \S+ to 1818", within=20, after=mark)).group(1)
            await asyncio.sleep(3)
            await phone.send("1")  # during the guidance
            await asyncio.sleep(12)  # "Indtal din besked ... efter tonen", the beep, and seconds of the caller
            await phone.send("#")
            await wait_for_log(engine, rf"call {re.escape(call)} to 1818 ended: message_left", within=30)
            await asyncio.sleep(1)
        [heard] = phone.heard()
        assert stat(heard)["RMS     amplitude"] > 0.01, "the caller heard the guidance, not silence"
    status, body = api("/messages")
    assert status == 200
    [message] = [m for m in body["messages"] if m["id"] == call]
    assert (message["line"], message["caller"]) == ("1818", "citizen")
    status, audio = api(f"/messages/{call}/audio")
    assert status == 200
    assert audio[:4] == b"RIFF"
    assert len(audio) > 8000 * 2 * 3, "seconds of the caller's tone, not an empty file"


async def test_an_open_call_reaches_the_agent_and_hears_the_agents_voice(engine: Engine) -> None:
    override("open")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "caller").mkdir()
        (folder / "agent1").mkdir()
        async with (
            Phone(folder / "agent1", "agent1", 5080, tone(folder / "agent1" / "v.wav", AGENT_HZ, 60), auto_answer=True),
            Phone(folder / "caller", "citizen", 5070, silence(folder / "caller" / "q.wav", 60)) as caller,
        ):
            mark = len(router_log(engine))
            await caller.send("/dial sip:1818@127.0.0.1:5060\n")
            call = (await wait_for_log(engine, r"call (\S+) from \S+ to 1818", within=20, after=mark)).group(1)
            await wait_for_log(engine, rf"queue 1818: agent1 answered for {re.escape(call)}", within=40)
            await asyncio.sleep(5)
            await caller.send("/hangup\n")
            await wait_for_log(engine, rf"call {re.escape(call)} to 1818 ended: answered", within=20)
            await asyncio.sleep(1)
        heard = caller.heard()
        assert heard, "the caller's phone recorded nothing"
        assert len(tone_seconds(heard[-1], AGENT_HZ)) >= 3, "the agent's voice reached the caller"


def test_after_compose_down_and_up_the_messages_are_still_there(engine: Engine) -> None:
    status, before = api("/messages")
    assert status == 200
    assert before["messages"]
    engine.compose("down", "--timeout", "10")  # the volumes stay
    engine.compose("up", "--detach", "asterisk", "router")
    wait_until_healthy(engine, "router")
    status, after = api("/messages")
    assert status == 200
    assert after["messages"] == before["messages"]
    status, audio = api(f"/messages/{after['messages'][0]['id']}/audio")
    assert (status, audio[:4]) == (200, b"RIFF"), "the audio is kept in Asterisk's volume"


async def test_with_the_router_killed_the_fallback_answers_by_the_schedule_and_the_router_comes_back(
    engine: Engine,
) -> None:
    router = engine.container("router")
    engine.docker("update", "--restart", "no", router)  # so that the engine does not bring it straight back
    engine.docker("kill", router)
    asterisk = engine.container("asterisk")
    schedule = load_schedule(ROOT / "schedule.yaml")
    expected = "callrouter-open-1818" if decide(schedule, "1818", datetime.now(UTC)).open else "callrouter-closed-1818"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with Phone(folder, "citizen", 5070, silence(folder / "q.wav", 30)) as phone:
            await phone.send("/dial sip:1818@127.0.0.1:5060\n")
            contexts = ""
            for _ in range(40):
                await asyncio.sleep(0.5)
                contexts = engine.docker("exec", asterisk, "asterisk", "-rx", "core show channels concise").stdout
                if "callrouter-open-1818" in contexts or "callrouter-closed-1818" in contexts:
                    break
            await phone.send("/hangup\n")
        assert expected in contexts, f"expected the fallback's {expected}: {contexts}"
    engine.compose("up", "--detach", "router")  # back, with its restart policy
    wait_until_healthy(engine, "router")
    override("closed", minutes=5)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        async with Phone(folder, "citizen", 5070, silence(folder / "q.wav", 30)) as phone:
            mark = len(router_log(engine))
            await phone.send("/dial sip:1818@127.0.0.1:5060\n")
            await wait_for_log(engine, r"call \S+ from \S+ to 1818", within=20, after=mark)
            await phone.send("/hangup\n")
    status, _ = api("/overrides/1818", "DELETE")
    assert status == 200


# -- hygiene ------------------------------------------------------------------------------------


def test_the_images_run_as_users_other_than_root(engine: Engine) -> None:
    for image in IMAGES:
        user = engine.docker("image", "inspect", "--format", "{{.Config.User}}", image).stdout.strip()
        assert user not in ("", "0", "root"), f"{image} runs as {user or 'root'}"
    for service in ("router", "asterisk"):
        # Every process of the running container, as the engine sees them (pid, uid, command).
        processes = engine.docker("top", engine.container(service), "-eo", "pid,uid,comm").stdout.splitlines()[1:]
        assert processes, service
        assert all(line.split()[1] != "0" for line in processes), f"{service} runs a process as root: {processes}"


def test_no_password_or_token_is_in_any_image_layer_or_config(engine: Engine) -> None:
    needles = [ARI_PASSWORD.encode(), API_TOKEN.encode(), real_asterisk.PASSWORD.encode()]
    for image in IMAGES:
        history = engine.docker("history", "--no-trunc", image).stdout.encode()
        inspected = engine.docker("image", "inspect", image).stdout.encode()
        for needle in needles:
            assert needle not in history, image
            assert needle not in inspected, image
        with tempfile.TemporaryDirectory() as tmp:
            saved = Path(tmp) / "image.tar"
            engine.docker("save", "--output", str(saved), image)
            with saved.open("rb") as f:
                while chunk := f.read(1 << 24):
                    assert not any(n in chunk for n in needles), f"a secret is in a layer of {image}"
    for service in ("router", "asterisk"):
        config = engine.docker("inspect", engine.container(service)).stdout
        assert ARI_PASSWORD not in config, f"the {service} container's config"
        assert API_TOKEN not in config, f"the {service} container's config"


def test_the_router_image_knows_copenhagen_time_without_tz(engine: Engine) -> None:
    result = engine.docker("run", "--rm", "--network", "none", "callrouter-ci-router", "at", "2024-01-04T15:30")
    assert (
        "TZ="
        not in engine.docker("image", "inspect", "--format", "{{json .Config.Env}}", "callrouter-ci-router").stdout
    )
    assert result.stdout.startswith("line 1818 at Thu 2024-01-04 15:30 (+0100): OPEN"), result.stdout


def test_the_build_context_leaves_out_the_venv_caches_and_test_output(engine: Engine) -> None:
    dockerfile = "FROM callrouter-ci/debian:bookworm\nCOPY . /context\n"
    build = subprocess.run(
        ["bash", "-c", ". scripts/container-env && docker build --quiet -t callrouter-ci/context-check -f - .", "x"],
        cwd=ROOT, input=dockerfile, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    try:
        listed = engine.docker(
            "run", "--rm", "--network", "none", "callrouter-ci/context-check", "ls", "-a", "/context"
        )
        names = set(listed.stdout.split())
        assert {"router", "pyproject.toml", "schedule.yaml"} <= names
        assert not names & {".venv", ".git", ".mypy_cache", ".pytest_cache", "test-artifacts", "tests"}, names
    finally:
        engine.docker("image", "rm", "callrouter-ci/context-check", check=False)


def test_print_the_image_sizes(engine: Engine) -> None:
    sizes = engine.docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").stdout.split("\n")
    shown = sorted(line for line in sizes if line.startswith(("callrouter-ci-", "callrouter-ci/")))
    print("\nimage sizes: " + "; ".join(shown))
    assert len(shown) >= len(IMAGES)
