"""The simulated Asterisk run on its own, as docs/simulator.md shows a newcomer."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from asterisk_sim import Simulator
from asterisk_sim.settings import ROUTER_EXAMPLE
from router.ari import AriConfig, AriRest
from tests.conftest import ROOT, ROUTER_SIM


async def test_run_it_and_place_a_call_with_the_control_api() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "asterisk_sim",
        "--port",
        "0",
        "--agent",
        "PJSIP/agent1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "ARI_PASSWORD": "s3cret"},
    )
    try:
        assert process.stdout is not None
        banner = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert banner.startswith("simulated Asterisk: ARI on http://127.0.0.1:")
        url = banner.split("ARI on ")[1].split("/ari")[0]
        async with aiohttp.ClientSession() as session:
            config = AriConfig(url=url, app="router", user="asterisk", password="s3cret")  # its default user
            rest = AriRest(session, config)
            await rest.ping()
            async with session.ws_connect(
                f"{config.events_url}?app=router", headers={"Authorization": config.authorization}
            ) as ws:
                call = {"from": "12345678", "to": "1818", "app": "router"}
                async with session.post(f"{url}/_sim/calls", json=call) as placed:
                    assert placed.status == 201
                    channel_id = (await placed.json())["channel_id"]
                event = await ws.receive_json(timeout=5)
                assert (event["type"], event["channel"]["id"]) == ("StasisStart", channel_id)
                assert (await rest.get_endpoint("PJSIP", "agent1")).state == "online"
                async with session.get(f"{url}/_sim/state") as state:
                    assert (await state.json())["channels"] == [channel_id]
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_callrouter_run_takes_a_call_and_stops_on_sigterm(tmp_path: Path) -> None:
    api = "127.0.0.1:18189"
    env = {**os.environ, "ARI_PASSWORD": "s3cret", "ARI_USER": "router", "TZ": "UTC", "CALLROUTER_API": api}
    sounds = tmp_path / "sounds"  # the router's prompts, where `callrouter prompts build` puts them
    (sounds / "da" / "callrouter").mkdir(parents=True)
    for name in ("line-unknown", "goodbye"):
        (sounds / "da" / "callrouter" / f"{name}.wav").write_bytes(b"")
    sim = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "asterisk_sim", "--port", "0", "--sound-seconds", "0.05", "--sounds", str(sounds),
        "--config", str(ROUTER_EXAMPLE),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
    )  # fmt: skip
    router: asyncio.subprocess.Process | None = None
    try:
        assert sim.stdout is not None
        banner = (await asyncio.wait_for(sim.stdout.readline(), 20)).decode()
        url = banner.split("ARI on ")[1].split("/ari")[0]
        async with aiohttp.ClientSession() as session:
            router = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "router", "--schedule", str(ROOT / "schedule.yaml"), "run",
                "--data", str(tmp_path / "data"),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env={**env, "ARI_URL": url},
            )  # fmt: skip
            async with asyncio.timeout(20):
                while "router" not in (await (await session.get(f"{url}/_sim/state")).json())["apps"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            placed = await session.post(f"{url}/_sim/calls", json={"from": "12345678", "to": "4242", "args": ["4242"]})
            channel_id = (await placed.json())["channel_id"]
            async with asyncio.timeout(20):
                while not (channel := await (await session.get(f"{url}/_sim/channels/{channel_id}")).json())["gone"]:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            heard = [h["media"] for h in channel["heard"] if "media" in h]
            assert heard == ["sound:callrouter/line-unknown", "sound:callrouter/goodbye"]
            status = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "router", "--schedule", str(ROOT / "schedule.yaml"), "status", "--api", api,
                stdout=asyncio.subprocess.PIPE, env=env,
            )  # fmt: skip
            out, _ = await status.communicate()
            assert status.returncode == 0
            assert "ARI connected" in out.decode()
            assert "line 1818: " in out.decode()
        router.terminate()
        assert await asyncio.wait_for(router.wait(), 10) == 0
        assert router.stderr is not None
        log = (await router.stderr.read()).decode()
        assert "ended: unknown_line" in log
        assert "12345678" not in log  # caller numbers are masked in logs
        report = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "router", "--schedule", str(ROOT / "schedule.yaml"), "--data", str(tmp_path / "data"),
            "report", "--from", (datetime.now(UTC) - timedelta(days=1)).date().isoformat(), "--days", "3", "--json",
            stdout=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        out, _ = await report.communicate()
        [day] = json.loads(out)
        assert (day["line"], day["calls"], day["answered"]) == ("4242", 1, 0)
    finally:
        for process in (router, sim):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()


async def test_a_move_without_an_application_falls_over_as_asterisk_22_does() -> None:
    # Seen on Debian's Asterisk 22.10.1 (the real tier's): POST /channels/{id}/move with no `app` kills
    # the process (strlen(NULL) in stasis_app_control_move); the client's connection closes unanswered
    # and every WebSocket with it. A harness on the simulator learns it as it would on Asterisk.
    sim = Simulator("router", "s3cret", settings=ROUTER_SIM)
    await sim.start()
    try:
        async with aiohttp.ClientSession() as session:
            config = AriConfig(url=sim.url, app="router", user="router", password="s3cret")
            headers = {"Authorization": config.authorization}
            async with session.ws_connect(f"{config.events_url}?app=router", headers=headers) as ws:
                channel = sim.world.place_call("12345678", "1818", "router")
                assert (await ws.receive_json(timeout=5))["type"] == "StasisStart"
                async with session.post(f"{sim.url}/ari/channels/no-such-channel/move", headers=headers) as missing:
                    assert missing.status == 404  # the channel is looked for first: no crash without one
                with pytest.raises(aiohttp.ServerDisconnectedError):
                    async with session.post(f"{sim.url}/ari/channels/{channel.id}/move", headers=headers):
                        pass
                closed = await ws.receive(timeout=5)
                assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
            async with session.get(f"{sim.url}/_sim/state") as answer:
                state = await answer.json()
            assert state["channels"] == []
            assert [c["why"] for c in state["crashes"]] == ["POST /channels/{id}/move without app"]
    finally:
        await sim.stop()


async def test_a_restart_forgets_what_only_lived_in_asterisks_memory() -> None:
    # Seen on the real tier's Asterisk 22.10.1, stopped and started again on the same files: a global set
    # through ARI reads empty afterwards and a log channel added through ARI is gone (both were only in
    # its memory); a device state set through ARI stays (Asterisk keeps it in its astdb).
    sim = Simulator("router", "s3cret", settings=ROUTER_SIM)
    await sim.start()
    try:
        config = AriConfig(url=sim.url, app="router", user="router", password="s3cret")
        async with aiohttp.ClientSession(headers={"Authorization": config.authorization}) as s:
            ari = f"{sim.url}/ari"
            for method, path in [
                ("POST", "/asterisk/variable?variable=FIDGLOBAL&value=kept"),
                ("PUT", "/deviceStates/Stasis:desk?deviceState=BUSY"),
                ("POST", "/asterisk/logging/mine?configuration=notice"),
            ]:
                async with s.request(method, ari + path) as answer:
                    assert answer.status == 204, await answer.text()
            async with s.post(f"{sim.url}/_sim/restart") as answer:
                assert answer.status < 300
            async with s.get(f"{ari}/asterisk/variable?variable=FIDGLOBAL") as answer:
                assert await answer.json() == {"value": ""}
            async with s.get(f"{ari}/deviceStates/Stasis:desk") as answer:
                assert await answer.json() == {"name": "Stasis:desk", "state": "BUSY"}
            async with s.get(f"{ari}/asterisk/logging") as answer:
                assert [c["type"] for c in await answer.json()] == ["Console"]
            async with s.put(f"{ari}/asterisk/logging/mine/rotate") as answer:
                assert answer.status == 404
    finally:
        await sim.stop()
