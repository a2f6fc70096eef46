"""ARI's recordings on the simulated Asterisk: live ones (GET, stop, pause, mute, cancel) and stored
ones (list, GET, the file, copy, DELETE), as Asterisk 22 answers them (res/ari/resource_recordings.c).

A live recording is paused and unpaused (its state `paused`, then `recording` again) and muted without
a change of state; cancelling one (DELETE) ends it as Asterisk does, with RecordingFinished, and keeps
no file. A stored recording's file holds what the caller said (recorder.py); one a test put into
`World.stored_recordings` itself is a second of silence.
"""

from __future__ import annotations

from aiohttp import web

from asterisk_sim.answers import AriFault, ok
from asterisk_sim.speech import RATE, wav
from asterisk_sim.world import World


def recording_routes(w: World) -> web.RouteTableDef:
    r = web.RouteTableDef()

    @r.get("/ari/recordings/live/{name}")
    async def live_recording(request: web.Request) -> web.Response:
        return ok(w.live_recording(request.match_info["name"]).json())

    @r.post("/ari/recordings/live/{name}/stop")
    async def stop_recording(request: web.Request) -> web.Response:
        w.stop_recording(w.live_recording(request.match_info["name"]).name)
        return ok()

    @r.delete("/ari/recordings/live/{name}")
    async def cancel_recording(request: web.Request) -> web.Response:
        w.stop_recording(w.live_recording(request.match_info["name"]).name, keep=False)
        return ok()

    @r.route("*", "/ari/recordings/live/{name}/{control:pause|mute}")
    async def pause_or_mute(request: web.Request) -> web.Response:
        if request.method not in ("POST", "DELETE"):
            raise web.HTTPMethodNotAllowed(request.method, ["POST", "DELETE"])
        recording = w.live_recording(request.match_info["name"])
        on = request.method == "POST"
        if request.match_info["control"] == "pause":
            if recording.state in ("recording", "paused"):
                recording.state = "paused" if on else "recording"
        else:
            w.mute_recording(recording, on)
        return ok()

    @r.get("/ari/recordings/stored")
    async def stored_list(_: web.Request) -> web.Response:
        return ok(list(w.stored_recordings.values()))

    @r.get("/ari/recordings/stored/{name}")
    async def stored(request: web.Request) -> web.Response:
        return ok(w.stored_recording(request.match_info["name"]))

    @r.get("/ari/recordings/stored/{name}/file")
    async def stored_file(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        w.stored_recording(name)
        return web.Response(body=w.recorded_audio.get(name) or wav(bytes(2 * RATE)), content_type="audio/wav")

    @r.post("/ari/recordings/stored/{name}/copy")
    async def copy_stored(request: web.Request) -> web.Response:
        source = w.stored_recording(request.match_info["name"])
        destination = request.query.get("destinationRecordingName", "")
        if not destination:
            raise AriFault(400, "Invalid destination recording name")
        if destination in w.stored_recordings:
            raise AriFault(409, "A recording with the same name already exists on the system")
        w.stored_recordings[destination] = {**source, "name": destination}
        if source["name"] in w.recorded_audio:
            w.recorded_audio[destination] = w.recorded_audio[source["name"]]
        return ok(w.stored_recordings[destination])

    @r.delete("/ari/recordings/stored/{name}")
    async def delete_stored(request: web.Request) -> web.Response:
        if w.stored_recordings.pop(request.match_info["name"], None) is None:
            raise AriFault(404, "Recording not found")
        w.recorded_audio.pop(request.match_info["name"], None)
        return ok()

    return r
