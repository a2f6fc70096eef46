"""The simulated Asterisk's recordings, of a channel or a bridge, and what a caller says into them.

A channel's recording starts once the channel is up (Asterisk answers it to record it) and ends at
its `maxDurationSeconds`, after `maxSilenceSeconds` of the caller's silence, at a `terminateOn` key,
when stopped or cancelled, or when the channel hangs up. The caller talks on and on by default; the
control API makes them silent (`/silent`) or say a WAV file (`/say`, speech.py), after which they are
silent, so a recording that detects silence ends `maxSilenceSeconds` after the speech. The stored file
holds what was said while the recording ran (on a bridge: every channel's, mixed), silence elsewhere
and while muted; the durations are whole seconds, as Asterisk's, and are not measured from the audio.

`World` (world.py) has this as its part; what it uses of the world is declared below.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from array import array
from collections.abc import Callable, Coroutine
from typing import Any

from asterisk_sim.answers import AriFault, Json
from asterisk_sim.objects import Bridge, Channel, LiveRecording
from asterisk_sim.speech import recorded, seconds_of, wav

LIVE = ("queued", "recording", "paused")  # a live recording's states before it ends
RECORDING_FORMATS = ("wav", "gsm", "ulaw", "alaw", "sln", "g722")


class Recorder:
    # The world's, set by World.__init__.
    channels: dict[str, Channel]
    bridges: dict[str, Bridge]
    live_recordings: dict[str, LiveRecording]
    stored_recordings: dict[str, Json]
    recorded_audio: dict[str, bytes]  # a stored recording's file, by name
    _joined_by_asterisk: Callable[[Bridge, str, str], list[Channel]]
    _left_by_asterisk: Callable[[Bridge, str], None]
    _ids: itertools.count[int]
    _emit: Callable[..., None]
    _spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]
    _in_turn: Callable[[str, Callable[[], Coroutine[Any, Any, None]]], asyncio.Task[None]]
    channel: Callable[[str], Channel]
    stasis_channel: Callable[[str], Channel]
    bridge: Callable[[str], Bridge]
    answer: Callable[[str], None]
    _set_by_asterisk: Callable[[Channel, str, str], None]
    _app_of: Callable[[Channel | Bridge | None], str | None]

    def record(
        self,
        channel_id: str,
        name: str,
        fmt: str,
        max_duration: float,
        max_silence: float,
        terminate_on: str,
        beep: bool,
        if_exists: str,
    ) -> LiveRecording:
        channel = self.stasis_channel(channel_id)
        if not name or not fmt:
            raise AriFault(400, "Invalid parameters")
        if fmt not in RECORDING_FORMATS:
            raise AriFault(422, "specified format is unknown on this system")
        self._check_recording_name(name, if_exists)
        recording = LiveRecording(name, fmt, channel.id, terminate_on or "none", max_duration, max_silence)
        self.live_recordings[name] = recording
        if beep:
            channel.heard.append({"media": "sound:beep", "recording": name})
        recording.task = self._in_turn(f"channel:{channel.id}", lambda: self._run_recording(recording, channel))
        return recording

    def record_bridge(self, bridge_id: str, name: str, fmt: str, if_exists: str) -> Json:
        """POST /bridges/{id}/record: Asterisk puts a Recorder channel into the bridge (each channel there
        has it as BRIDGEPEER; a Local one's connected line changes the first time), and records what
        the bridge mixes. It checks the name only once the recorder is in."""
        bridge = self.bridge(bridge_id)
        if fmt not in RECORDING_FORMATS:
            raise AriFault(422, "specified format is unknown on this system")
        role = f"recorder {next(self._ids)}"
        for channel in self._joined_by_asterisk(bridge, role, "Recorder/ARI"):
            self._emit(channel.app, "ChannelConnectedLine", channel=channel.json())
        try:
            if not name:
                raise AriFault(500, "Error parsing request")
            self._check_recording_name(name, if_exists)
        except AriFault:
            self._left_by_asterisk(bridge, role)  # its recording never started: it hangs up
            raise
        recording = LiveRecording(name, fmt, "", "none", 0, 0, bridge_id=bridge.id, recorder=role)
        self.live_recordings[name] = recording
        answer = recording.json()  # queued, as Asterisk answers
        recording.state, recording.started = "recording", time.monotonic()
        self._emit(self._app_of(bridge), "RecordingStarted", recording=recording.json())
        return answer

    def _check_recording_name(self, name: str, if_exists: str) -> None:
        busy = name in self.live_recordings
        if busy or (name in self.stored_recordings and if_exists == "fail"):
            raise AriFault(409, f"Recording '{name}' already exists and can not be overwritten")

    async def _run_recording(self, recording: LiveRecording, channel: Channel) -> None:
        """Its turn has come on the channel (control.py): a play asked for before it has ended."""
        if recording.state != "queued" or channel.gone:
            return
        if channel.state != "Up":  # Asterisk answers the channel to record it (ast_auto_answer)
            self.answer(channel.id)
        recording.state = "recording"
        recording.started = time.monotonic()
        self._emit(channel.app, "RecordingStarted", recording=recording.json())
        while True:  # until its limit, or DTMF or hangup; what the caller does may move the limit
            ends = _recording_ends(recording, channel)
            channel.spoke.clear()
            wait = None if ends is None else max(0.0, ends - time.monotonic())
            try:
                await asyncio.wait_for(channel.spoke.wait(), wait)
            except TimeoutError:
                return self._finish_recording(recording, "done")

    def say(self, channel_id: str, samples: bytes) -> None:
        """The caller says `samples` (speech.py), from now: they talk for its length, then are silent."""
        channel = self.channel(channel_id)
        channel.speech, channel.said_at, channel.silent = samples, time.monotonic(), False
        channel.spoke.set()

    def set_silent(self, channel_id: str, silent: bool) -> None:
        """The caller says nothing from now (or talks on and on, as by default)."""
        channel = self.channel(channel_id)
        channel.silent, channel.speech, channel.silent_since = silent, b"", time.monotonic()
        channel.spoke.set()

    def mute_recording(self, recording: LiveRecording, on: bool) -> None:
        """POST/DELETE .../mute: silence is recorded in place of the channel's audio meanwhile."""
        now = time.monotonic()
        if on and recording.muted_since is None:
            recording.muted_since = now
        elif not on and recording.muted_since is not None:
            recording.muted_spans.append((recording.muted_since, now))
            recording.muted_since = None

    def live_recording(self, name: str) -> LiveRecording:
        found = self.live_recordings.get(name)
        if found is None or found.state not in LIVE:
            raise AriFault(404, "Recording not found")
        return found

    def stored_recording(self, name: str) -> Json:
        found = self.stored_recordings.get(name)
        if found is None:
            raise AriFault(404, "Recording not found")
        return found

    def stop_recording(self, name: str, *, keep: bool = True) -> None:
        """POST /recordings/live/{name}/stop: the recording ends and is kept. Cancelled (DELETE), it ends
        alike, RecordingFinished and all, but its file is deleted."""
        self._finish_recording(self.live_recordings[name], "done", keep=keep)

    def _finish_recording(self, recording: LiveRecording, state: str, *, keep: bool = True) -> None:
        if recording.state not in LIVE:
            return
        duration = max(1, round(time.monotonic() - recording.started)) if recording.started else 0
        channel = self.channels.get(recording.channel_id)
        bridge = self.bridges.get(recording.bridge_id or "")
        heard = [channel] if channel is not None else [self.channels[c] for c in bridge.channels] if bridge else []
        no_frames = all(c.name.startswith("Local/") and not c.speech for c in heard)
        if no_frames:
            duration = 0  # nobody sends audio into the harness's Local half: no frames were recorded
        recording.state = state
        self.live_recordings.pop(recording.name, None)
        if recording.task is not None and recording.task is not asyncio.current_task():
            recording.task.cancel()
        app = channel.owner if channel else self._app_of(bridge)
        body = recording.json()
        if state == "done":
            body["duration"] = duration
            if recording.max_silence > 0:  # Asterisk measures talking and silence only when detecting silence
                body.update({"talking_duration": duration, "silence_duration": 0})
            if keep:
                self.stored_recordings[recording.name] = {"name": recording.name, "format": recording.fmt}
                # No frames, no samples: Asterisk writes the file's header alone (seen on Asterisk 22).
                self.recorded_audio[recording.name] = wav(b"" if no_frames else _what_was_recorded(recording, heard))
        self._emit(app, "RecordingFinished" if state == "done" else "RecordingFailed", recording=body)
        if bridge is not None and recording.recorder is not None:
            self._left_by_asterisk(bridge, recording.recorder)  # the recorder hangs up


def _recording_ends(recording: LiveRecording, channel: Channel) -> float | None:
    """When the recording reaches a limit, as the caller is now; None: not by itself."""
    ends = [recording.started + recording.max_duration] if recording.max_duration > 0 else []
    if recording.max_silence > 0:
        if channel.silent:
            ends.append(max(recording.started, channel.silent_since) + recording.max_silence)
        elif channel.speech:
            spoken = channel.said_at + seconds_of(channel.speech)  # silent since: the speech's end
            ends.append(max(recording.started, spoken) + recording.max_silence)
    return min(ends) if ends else None


def _what_was_recorded(recording: LiveRecording, heard: list[Channel]) -> bytes:
    """The samples of the recording's span: what each channel said meanwhile, mixed, muted spans silent."""
    ended = time.monotonic()
    muted = [*recording.muted_spans, *([(recording.muted_since, ended)] if recording.muted_since is not None else [])]
    began = recording.started or ended
    tracks = [recorded(began, ended, c.speech, c.said_at, muted) for c in heard if c.speech]
    if len(tracks) <= 1:
        return tracks[0] if tracks else recorded(began, ended, b"", began, muted)  # nobody said anything
    mixed = array("h", bytes(len(tracks[0])))
    for track in tracks:
        for i, sample in enumerate(array("h", track)):
            mixed[i] = max(-32768, min(32767, mixed[i] + sample))
    return mixed.tobytes()
