"""The simulated Asterisk run on its own, as the README shows a newcomer."""

from __future__ import annotations

import asyncio
import os
import sys

import aiohttp

from router.ari import AriConfig, AriRest


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
            config = AriConfig(url=url, app="router", user="router", password="s3cret")
            rest = AriRest(session, config)
            await rest.ping()
            async with session.ws_connect(
                f"{config.events_url}?app=router", headers={"Authorization": config.authorization}
            ) as ws:
                async with session.post(f"{url}/_sim/calls", json={"from": "12345678", "to": "1818"}) as placed:
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
