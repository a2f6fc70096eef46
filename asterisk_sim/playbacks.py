"""The simulated Asterisk's playbacks: played to a channel or a bridge, one at a time, and controlled.

Theory of operation
-------------------
Asterisk plays through a channel's control thread (res/res_stasis_playback.c): a play is a command
queued on the channel, so a channel plays one playback at a time and the others wait, `queued`, in
the order they were asked for. A bridge plays through an announcer channel of Asterisk's own that
joins it for the first play and takes every later one in its queue until the queue is empty; then
it hangs up and leaves (res/ari/resource_bridges.c, bridge_channel_control_thread). Here each
playback's task waits for its turn on its target, then plays its media in turn: PlaybackStarted,
PlaybackContinuing between media, PlaybackFinished at the end. The queue is the channel's queue of
commands (control.py), so a recording asked for during a play starts after it, and the reverse.

What a playback answers depends on its state, by Asterisk's table of operations: a queued one can be
stopped (it is cancelled: it shows `done` at once, and sends its PlaybackFinished only when its turn
comes, without having started) or restarted (nothing happens); any other operation on a playback
that is not playing answers 409 "Can only <operation> while media is playing". When the channel goes
(hung up, or the announcer put out of its bridge), the playback playing fails and each queued one
still takes its turn at once: PlaybackStarted, then PlaybackFinished `failed`, as Asterisk's thread
works through its queue on a channel that has hung up.

`World` (world.py) has this as its part; what it uses of the world is declared below.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

from asterisk_sim.answers import AriFault, Json
from asterisk_sim.journal import Journal
from asterisk_sim.objects import Bridge, Channel, Playback
from asterisk_sim.sounds import DEFAULT_LANGUAGE, Sounds

MEDIA_SCHEMES = {"sound", "recording", "number", "digits", "characters", "tone"}
FINISHED = ("done", "failed", "dropped")  # `canceled` is not finished yet: it waits for its turn
# Asterisk's operations table: what each state allows besides stop (unlisted: 409 "Can only ...").
ALLOWED = {
    "queued": {"restart"},
    "playing": {"pause", "unpause", "restart", "reverse", "forward"},
    "continuing": {"pause", "unpause", "restart", "reverse", "forward"},
    "paused": {"pause", "unpause"},
}


class Playbacks:
    # The world's, set by World.__init__.
    channels: dict[str, Channel]
    bridges: dict[str, Bridge]
    playbacks: dict[str, Playback]
    running: list[Playback]
    sounds: Sounds
    sound_seconds: float
    stored_recordings: dict[str, Json]
    _in_turn: Callable[[str, Callable[[], Coroutine[Any, Any, None]]], asyncio.Task[None]]
    _emit: Callable[..., None]
    _app_of: Callable[[Channel | Bridge | None], str | None]
    _announce: Callable[[Bridge], list[Channel]]
    _left_by_asterisk: Callable[[Bridge, str], None]
    journal: Journal

    def play(self, target: Channel | Bridge, playback_id: str, media: list[str], language: str | None = None) -> Json:
        """Queue a playback on `target`; the answer shows it queued, as Asterisk's does. Its sounds are
        looked for in `language`, else the channel's (a bridge's announcer has the default language)."""
        if not media or not all(media):
            raise AriFault(400, "media: required")
        # Asterisk does not refuse an id in use: both playbacks play, and the id finds the newer.
        target_uri = f"channel:{target.id}" if isinstance(target, Channel) else f"bridge:{target.id}"
        language = language or (target.language if isinstance(target, Channel) else DEFAULT_LANGUAGE)
        playback = Playback(playback_id, media, target_uri, language)
        self.playbacks[playback_id] = playback
        self.running.append(playback)
        answer = playback.json()
        playback.task = self._in_turn(target_uri, lambda: self._run_playback(playback, target))
        return answer

    def play_refused(self, bridge: Bridge) -> None:
        """A bridge's play Asterisk cannot make (no media, a negative offset or skip): its announcer has
        joined the bridge before the playback fails to be made, and hangs up (resource_bridges.c,
        res_stasis_playback.c)."""
        for channel in self._announce(bridge):
            self._emit(channel.app, "ChannelConnectedLine", channel=channel.json())
        self._announcer_done(bridge)

    async def _run_playback(self, playback: Playback, target: Channel | Bridge) -> None:
        """Its turn has come (control.py): the commands before it on its target have ended."""
        if playback.state == "canceled":  # stopped while it waited
            return self._finish_playback(playback, "done")
        app = self._app_of(target)
        for index, uri in enumerate(playback.media):
            if playback.state in FINISHED:
                return None
            playback.index = index
            if index > 0:
                playback.state = "continuing"
                playback.index = index - 1
                self._emit(app, "PlaybackContinuing", playback=playback.json())
                playback.index = index
            playback.state = "playing"
            announced = self._announce(target) if index == 0 and isinstance(target, Bridge) else []
            self._emit(app, "PlaybackStarted", playback=playback.json())
            if announced:
                # A Local half hears of its new connected line through its other half, a hop later: on
                # Asterisk its ChannelConnectedLine comes after the PlaybackStarted.
                await asyncio.sleep(0.01)
                for channel in announced:
                    if not channel.gone:
                        self._emit(channel.app, "ChannelConnectedLine", channel=channel.json())
            if isinstance(target, Bridge) and target.bridge_type == "holding" and target.moh:
                # Seen on Asterisk 22: a holding bridge with music on hold started and fails every play.
                return self._finish_playback(playback, "failed")
            if uri.partition(":")[0] not in MEDIA_SCHEMES:
                # Asterisk starts it, finds no player for the scheme, and drops the playback without
                # a PlaybackFinished (not even at hangup): an application waiting for one waits for ever.
                playback.state = "dropped"
                if self.playbacks.get(playback.id) is playback:
                    del self.playbacks[playback.id]
                self.running.remove(playback)
                return self._announcer_done(target)
            if not self._media_exists(uri, playback.language):
                if index + 1 < len(playback.media):
                    continue  # a missing sound in a list is skipped: Continuing, then the next one
                return self._finish_playback(playback, "failed")  # the last (or only) one fails
            for channel_id in self._listeners(target):
                heard = {"media": uri, "playback": playback.id, "at": time.monotonic()}
                self.channels[channel_id].heard.append(heard)
                playback.heard.append((channel_id, heard))
                self.journal.note(channel_id, "heard", media=uri, playback=playback.id)
            await self._play_for(playback, self._seconds_of(uri))
            self._media_ended(playback, "played")
        self._finish_playback(playback, "done")

    def _seconds_of(self, uri: str) -> float:
        kind, _, name = uri.partition(":")
        known = self.sounds.seconds(name) if kind == "sound" else None
        return self.sound_seconds if known is None else known

    async def _play_for(self, playback: Playback, seconds: float) -> None:
        """A media's length of playing time: a paused playback does not advance, a restarted one
        starts its media again."""
        loop = asyncio.get_running_loop()
        left = seconds
        while left > 0:
            began, paused = loop.time(), playback.state == "paused"
            playback.controlled.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(playback.controlled.wait(), None if paused else left)
            if playback.restarted:
                playback.restarted, left = False, seconds
            elif not paused:
                left -= loop.time() - began

    def _media_ended(self, playback: Playback, how: str) -> None:
        """What the listeners heard of a media ends: `played` to its end, `stopped` by the application, or
        `cut` (its channel hung up, or it left the bridge)."""
        for channel_id, heard in playback.heard:
            heard |= {"ended": time.monotonic(), "end": how}
            self.journal.note(channel_id, "media ended", media=heard["media"], playback=playback.id, end=how)
        playback.heard.clear()

    def _finish_playback(self, playback: Playback, state: str, how: str = "cut") -> None:
        if playback.state in FINISHED:
            return
        self._media_ended(playback, how)
        playback.state = state
        if self.playbacks.get(playback.id) is playback:
            del self.playbacks[playback.id]
        self.running.remove(playback)
        if playback.task is not None and playback.task is not asyncio.current_task():
            playback.task.cancel()
        target = self._target_of(playback)
        self._emit(self._app_of(target), "PlaybackFinished", playback=playback.json())
        self._announcer_done(target)

    def _announcer_done(self, target: Channel | Bridge | None) -> None:
        """A bridge's announcer hangs up and leaves once nothing is left in its queue."""
        if isinstance(target, Bridge) and not any(p.target_uri == f"bridge:{target.id}" for p in self.running):
            self._left_by_asterisk(target, "announcer")

    def _target_of(self, playback: Playback) -> Channel | Bridge | None:
        kind, _, target_id = playback.target_uri.partition(":")
        return self.channels.get(target_id) if kind == "channel" else self.bridges.get(target_id)

    def _playing_channel_gone(self, target_uri: str) -> None:
        """The channel playing `target_uri`'s playbacks hung up (a caller, or a bridge's announcer put
        out): the one playing fails, then each queued one takes its turn on a channel that is gone."""
        for playback in [p for p in self.running if p.target_uri == target_uri]:
            if playback.state == "queued":
                playback.state = "playing"
                self._emit(self._app_of(self._target_of(playback)), "PlaybackStarted", playback=playback.json())
            self._finish_playback(playback, "done" if playback.state == "canceled" else "failed")

    def control_playback(self, playback_id: str, operation: str) -> None:
        """POST /playbacks/{id}/control, as res/ari/resource_playbacks.c checks it (the operation first)
        and Asterisk 22 answered it: pause and unpause (which announces itself as PlaybackStarted
        again), restart; forward and reverse are accepted (skipping within a media is not modelled)."""
        if not operation:
            raise AriFault(400, "Missing operation")
        if operation not in ("pause", "unpause", "restart", "reverse", "forward"):
            raise AriFault(400, f"Invalid operation {operation}")
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise AriFault(404, "Playback not found")
        if operation not in ALLOWED.get(playback.state, set()):
            raise AriFault(409, f"Can only {operation} while media is playing")
        if playback.state == "queued":
            return  # a restart of what has not started
        if operation == "pause" and playback.state != "paused":
            playback.state = "paused"
        elif operation == "unpause" and playback.state == "paused":
            playback.state = "playing"
            self._emit(self._app_of(self._target_of(playback)), "PlaybackStarted", playback=playback.json())
        elif operation == "restart":
            playback.restarted = True
        playback.controlled.set()

    def stop_playback(self, playback_id: str) -> None:
        """DELETE /playbacks/{id}: a playing one ends `done`; a queued one is cancelled (below)."""
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise AriFault(404, "Playback not found")
        if playback.state == "queued":
            playback.state = "canceled"  # shown as done; its PlaybackFinished comes at its turn
        elif playback.state != "canceled":
            self._finish_playback(playback, "done", "stopped")

    def _media_exists(self, uri: str, language: str) -> bool:
        kind, _, value = uri.partition(":")
        if kind == "sound":
            return self.sounds.playable(value, language)
        if kind == "recording":
            return value in self.stored_recordings
        return kind in ("number", "digits", "characters", "tone")

    def _listeners(self, target: Channel | Bridge) -> list[str]:
        return [target.id] if isinstance(target, Channel) else list(target.channels)
