"""An application written with asyncari 0.20.6 (run in its own virtual environment, not the project's):
it answers a call, plays a sound, and hangs up when the sound has finished. It prints what it saw."""

import json
import sys

import anyio
import asyncari

url, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
seen: list[list[object]] = []


async def main() -> None:
    async with asyncari.connect(url, "router", user, password) as client:
        print("connected", flush=True)
        with anyio.fail_after(30):
            async for message in client:
                kind = message["type"]
                if kind == "StasisStart":
                    channel = message["channel"]
                    seen.append(["StasisStart", channel["state"], channel["caller"]["number"]])
                    await client.channels.answer(channelId=channel["id"])
                    playback = await client.channels.play(channelId=channel["id"], media="sound:hello-world")
                    seen.append(["played", playback.json["media_uri"]])
                elif kind == "PlaybackFinished":
                    seen.append(["PlaybackFinished", message["playback"]["state"]])
                    await client.channels.hangup(channelId=message["playback"]["target_uri"].split(":", 1)[1])
                elif kind == "StasisEnd":
                    seen.append(["StasisEnd"])
                    break
    print(json.dumps(seen), flush=True)


anyio.run(main)
