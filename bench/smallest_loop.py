"""The smallest ARI application that does for a caller what the router does at a closed hour: on StasisStart,
answer, and play the same prompts in one request. Nothing else: no schedule, no state, no retries, no logs.

Its own process, as `callrouter run` is, so that the yardstick (bench_yardstick.py) measures both from
outside in the same way: the same application name, the same 16 connections to Asterisk, the same events.
On SIGTERM it prints how many requests it sent.

Run: ARI_PASSWORD=... python bench/smallest_loop.py http://127.0.0.1:18088 "sound:a,sound:b"
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys

import aiohttp


async def main(url: str, media: str) -> None:
    token = base64.b64encode(f"{os.environ.get('ARI_USER', 'router')}:{os.environ['ARI_PASSWORD']}".encode())
    headers = {"Authorization": f"Basic {token.decode()}"}
    sent = 0
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=16)) as http:

        async def handle(event: dict[str, object]) -> None:
            nonlocal sent
            channel = event.get("channel")
            if event.get("type") != "StasisStart" or not isinstance(channel, dict):
                return
            for path, params in (("answer", {}), ("play", {"media": media, "lang": "da"})):
                sent += 1
                try:
                    async with http.post(f"{url}/ari/channels/{channel['id']}/{path}", params=params) as answer:
                        await answer.read()
                except aiohttp.ClientError:
                    return

        async def read(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for message in ws:
                task = asyncio.create_task(handle(json.loads(message.data)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

        async with http.ws_connect(f"{url}/ari/events", params={"app": "router"}) as ws:
            print("smallest loop: connected", flush=True)
            reader = asyncio.create_task(read(ws))
            await stop.wait()
            reader.cancel()
    print(f"smallest loop: requests {sent}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
