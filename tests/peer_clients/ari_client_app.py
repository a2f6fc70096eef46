"""An application written with ari-client 0.9.0 (run in its own virtual environment, not the project's):
it answers a call, plays a sound, and hangs up when the sound has finished. It prints what it saw."""

import asyncio
import json
import sys
import urllib.parse

from ari_client import AriClient, PlaybackFinishedEvent, StasisEndEvent, StasisStartEvent

url, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
host, port = urllib.parse.urlparse(url).hostname or "", urllib.parse.urlparse(url).port or 8088
seen: list[list[object]] = []
calls = {}
done = asyncio.Event()
client = AriClient(host=host, port=port, ari_user=user, ari_password=password, tls_enabled=False)


@client.on_stasis_start
async def started(event: StasisStartEvent) -> None:
    calls[event.channel.id] = event.channel
    seen.append(["StasisStart", event.channel.state, event.channel.caller.number])
    await event.channel.answer()
    playback = await event.channel.play(media="sound:hello-world")
    seen.append(["played", playback.media_uri])


@client.on_playback_finished
async def finished(event: PlaybackFinishedEvent) -> None:
    seen.append(["PlaybackFinished", event.playback.state])
    await calls[event.playback.target_uri.split(":", 1)[1]].stop()  # hang up


@client.on_stasis_end
async def ended(event: StasisEndEvent) -> None:
    seen.append(["StasisEnd"])
    done.set()


async def main() -> None:
    await client.connect(app="router")
    print("connected", flush=True)
    try:
        await asyncio.wait_for(done.wait(), 30)
    finally:
        await client.disconnect()
    print(json.dumps(seen), flush=True)


asyncio.run(main())
