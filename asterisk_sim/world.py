"""The simulated Asterisk's state: channels, bridges, playbacks, recordings, endpoints.

Theory of operation
-------------------
Everything Asterisk would do on its own (a playback finishing, an agent's phone ringing and
answering, a recording stopping at its maximum length) runs as an asyncio task owned by the
world, so `close()` can end them all. Every change emits the events Asterisk 22 emits, in the
order seen in recordings of a real Asterisk 22.10 with SIP phones:

- hangup: ChannelHangupRequest, ChannelLeftBridge, PlaybackFinished(failed), StasisEnd, and
  ChannelDestroyed only for channels we originated (an inbound caller gets none after StasisEnd);
- a playback of several media: PlaybackStarted, PlaybackContinuing, PlaybackStarted, ...,
  PlaybackFinished(done); a missing sound: PlaybackStarted then PlaybackFinished(failed);
- originate: Dial(""), then Ringing and Dial(RINGING), then Up, Dial(ANSWER) and StasisStart
  with the appArgs; or, unanswered/busy/rejected/offline, ChannelDestroyed with its cause and
  no StasisStart.

REST answers are produced by raising `AriFault(status, message)` with Asterisk's own messages.
Events are sent *before* the REST answer returns, as Asterisk does: a client must be ready to
see the events of a resource before it learns the resource was created.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from asterisk_sim.answers import AriFault, Json, now_text
from asterisk_sim.devices import ALL_DEVICES, DeviceStates

# Q.850 causes Asterisk reports, with its texts.
CAUSES = {
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    32: "Circuit/channel congestion",
}

# The sounds a fresh Debian Asterisk knows (a sample of asterisk-core-sounds-en), plus what tests add.
CORE_SOUNDS = {
    "hello-world",
    "vm-goodbye",
    "tt-monkeys",
    "beep",
    "queue-thereare",
    "queue-callswaiting",
    "pls-hold-while-try",
    "vm-intro",
    "vm-msgsaved",
    "silence/1",
    "digits/1",
}


@dataclass
class AgentScript:
    """How a simulated phone behind an endpoint reacts when rung."""

    behaviour: str = "answer"  # answer | no-answer | busy | reject | offline
    answer_after: float = 0.05
    on_own_call: bool = False  # on a call that is not the app's (a direct line): its endpoint lists a channel
    hang_up_after: float | None = None  # the agent puts the phone down this long after answering (0: at once)


@dataclass
class Channel:
    id: str
    name: str
    caller: Json
    context: str
    exten: str
    originated: bool
    state: str = "Ring"
    app: str | None = None  # the Stasis application it is in, if any
    app_data: str = ""
    bridge: str | None = None
    endpoint: str | None = None  # "PJSIP/agent1" for originated channels
    created: str = field(default_factory=now_text)
    started: float = field(default_factory=time.monotonic)  # for measuring how soon a caller hears something
    heard: list[Json] = field(default_factory=list)  # what the caller would hear, in order
    gone: bool = False
    dialplan_after: Json | None = None  # where `continue` sent it
    continue_after_playback: Json | None = None  # `continue` waiting for the channel's playback to end
    silent: bool = False  # the caller says nothing (ends a recording after maxSilenceSeconds)
    variables: dict[str, str] = field(default_factory=dict)  # set by the application
    # Its application took back the subscription Stasis gave it (DELETE .../subscription): it is told
    # only StasisEnd, which Asterisk sends to the application itself, not on the channel's topic.
    released: bool = False

    @property
    def owner(self) -> str:
        """The application told about this channel: the one it is in, else the one it was sent to."""
        return self.app or self.app_data.split(",")[0]

    def json(self) -> Json:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": "",
            "caller": self.caller,
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": self.context,
                "exten": self.exten,
                "priority": 2 if not self.originated else 1,
                "app_name": "Stasis" if self.app else "AppDial2",
                "app_data": self.app_data,
            },
            "creationtime": self.created,
            "language": "en",
        }


@dataclass
class Bridge:
    id: str
    bridge_type: str
    name: str
    channels: list[str] = field(default_factory=list)
    moh: bool = False
    created: str = field(default_factory=now_text)
    subscribed: str | None = None  # the application told of it, since one of its channels entered it

    def json(self) -> Json:
        technology = "holding_bridge" if self.bridge_type == "holding" else "simple_bridge"
        return {
            "id": self.id,
            "technology": technology,
            "bridge_type": self.bridge_type,
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": self.name,
            "channels": list(self.channels),
            "creationtime": self.created,
            "video_mode": "talker",
        }


@dataclass
class Playback:
    id: str
    media: list[str]
    target_uri: str
    index: int = 0
    state: str = "queued"
    task: asyncio.Task[None] | None = None
    restarted: bool = False  # `restart` asked: the current media plays again from its start
    controlled: asyncio.Event = field(default_factory=asyncio.Event)  # set by pause, unpause, restart

    def json(self) -> Json:
        data: Json = {"id": self.id, "media_uri": self.media[self.index]}
        if self.index + 1 < len(self.media):
            data["next_media_uri"] = self.media[self.index + 1]
        data.update({"target_uri": self.target_uri, "language": "en", "state": self.state})
        return data


@dataclass
class LiveRecording:
    name: str
    fmt: str
    channel_id: str
    terminate_on: str
    max_duration: float
    max_silence: float
    state: str = "queued"
    started: float = 0.0
    task: asyncio.Task[None] | None = None

    def json(self) -> Json:
        return {"name": self.name, "format": self.fmt, "state": self.state, "target_uri": f"channel:{self.channel_id}"}


def contexts_of(extensions_conf: str) -> set[str]:
    """The contexts an extensions.conf defines: its [section] names but [general] and [globals]."""
    found = {m.group(1).strip() for m in re.finditer(r"^\s*\[([^\]]+)\]", extensions_conf, re.MULTILINE)}
    return found - {"general", "globals"}


MEDIA_SCHEMES = {"sound", "recording", "number", "digits", "characters", "tone"}
INBOUND_CONTEXT = "from-citizens"  # where the simulator's calls come from, with Stasis() at priority 2


class World:
    """All of the simulated Asterisk's state, and what it does by itself over time."""

    def __init__(
        self,
        emit: Callable[[str, Json], None],
        *,
        sound_seconds: float = 0.2,
        asterisk_id: str | None = None,
        contexts: Iterable[str] = (),
    ) -> None:
        self._emit_to = emit  # (application, event) -> None
        # Asterisk's entity id (asterisk.conf's entityid; by default a MAC address of the machine):
        # a locally administered address of its own for each simulated Asterisk.
        self.asterisk_id = asterisk_id or ":".join(["02", *(f"{random.randrange(256):02x}" for _ in range(5))])
        # The dialplan, as far as the simulator models it: the contexts a channel sent there by
        # `continue` runs on in (it stays, `dialplan_after` says where). Extensions are not
        # modelled: every extension of a declared context exists. Calls come from INBOUND_CONTEXT,
        # whose dialplan ends after Stasis(). Any other context does not exist: the channel is hung up.
        self.contexts: set[str] = set(contexts)
        self.globals: dict[str, str] = {}  # the dialplan's global variables (GET/POST /asterisk/variable)
        # application -> the event sources it subscribed to, each with how many times (Asterisk counts
        # them: as many DELETEs as POSTs take one back; a device state is subscribed to once).
        self.subscriptions: dict[str, Counter[str]] = {}
        self.devices = DeviceStates()
        self.started_at = self.reloaded_at = now_text()
        # application -> {"allowed": [...], "disallowed": [...]}: PUT /applications/{name}/eventFilter
        self.event_filters: dict[str, dict[str, list[Any]]] = {}
        self.sound_seconds = sound_seconds
        self.sounds = set(CORE_SOUNDS)
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, Playback] = {}  # by id: the newest with that id
        self.running: list[Playback] = []  # every playback not yet finished, duplicates of an id included
        self.live_recordings: dict[str, LiveRecording] = {}
        self.stored_recordings: dict[str, Json] = {}
        self.endpoints: dict[str, AgentScript] = {}
        self.messages: list[Json] = []  # text messages sent to endpoints' phones (PUT .../sendMessage)
        self.connected_apps: set[str] = set()
        self.fallbacks: list[Json] = []  # calls that found no application: STASISSTATUS=FAILED
        self._tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._epoch = int(time.time())

    # -- plumbing -----------------------------------------------------------------

    def _emit(self, app: str | None, event_type: str, **body: Any) -> None:
        """An event on a channel's or bridge's topic: for the application subscribed to it."""
        if app is None:
            return
        if event_type not in ("StasisStart", "StasisEnd") and "channel" in body and not self._hears_channel(app, body):
            return
        self._emit_any(app, event_type, **body)

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def restart(self) -> None:
        """Everything live is gone at once, without an event; what is on disk or configured stays."""
        await self.close()
        for live in (self.channels, self.bridges, self.playbacks, self.live_recordings):
            live.clear()
        self.running.clear()
        self.started_at = self.reloaded_at = now_text()
        self._epoch += 1  # a restarted Asterisk's unique ids start from a new time

    def _next_unique_id(self) -> str:
        return f"{self._epoch}.{next(self._ids)}"

    def channel(self, channel_id: str) -> Channel:
        channel = self.channels.get(channel_id)
        if channel is None or channel.gone:
            raise AriFault(404, "Channel not found")
        return channel

    def stasis_channel(self, channel_id: str) -> Channel:
        channel = self.channel(channel_id)
        if channel.app is None:
            raise AriFault(409, "Channel not in Stasis application")
        return channel

    def bridge(self, bridge_id: str) -> Bridge:
        bridge = self.bridges.get(bridge_id)
        if bridge is None:
            raise AriFault(404, "Bridge not found")
        return bridge

    # -- calls from the outside world (the control API) -----------------------------

    def place_call(
        self,
        caller: str,
        to: str,
        app: str = "router",
        args: list[str] | None = None,
        *,
        name: str = "",
        technology: str = "PJSIP",
    ) -> Channel:
        """A caller (`name` <`caller`>) dials `to`; the dialplan runs Stasis(app, args...). The call
        comes in by SIP (PJSIP), or as the second half of a Local channel (`technology="Local"`, as
        test harnesses on a real Asterisk make calls), which has no RTP of its own."""
        uid = self._next_unique_id()
        if technology not in ("PJSIP", "Local"):
            raise ValueError(f"a call comes in by PJSIP or Local, not {technology!r}")
        number = next(self._ids)
        channel = Channel(
            id=uid,
            name=f"PJSIP/{caller}-{number:08x}"
            if technology == "PJSIP"
            else f"Local/{to}@{INBOUND_CONTEXT}-{number:08x};2",
            caller={"name": name, "number": caller},
            context=INBOUND_CONTEXT,
            exten=to,
            originated=False,
            app_data=",".join([app, *(args or [])]),
        )
        self.channels[uid] = channel
        if app not in self.connected_apps:
            # Asterisk logs "Stasis app 'router' doesn't exist" and the dialplan goes on.
            channel.dialplan_after = {"STASISSTATUS": "FAILED"}
            self.fallbacks.append({"channel": uid, "caller": caller, "to": to, "STASISSTATUS": "FAILED"})
            return channel
        channel.app = app
        self._emit(app, "StasisStart", args=list(args or []), channel=channel.json())
        return channel

    def caller_hangs_up(self, channel_id: str) -> None:
        channel = self.channel(channel_id)
        self._hang_up(channel, cause=16, soft=False)

    def send_dtmf(self, channel_id: str, digit: str) -> None:
        channel = self.channel(channel_id)
        channel.heard.append({"dtmf_sent": digit})
        self._emit(channel.app, "ChannelDtmfReceived", digit=digit, duration_ms=240, channel=channel.json())
        for recording in list(self.live_recordings.values()):
            stops = digit in recording.terminate_on or recording.terminate_on == "any"
            if recording.channel_id == channel_id and recording.state == "recording" and stops:
                self._finish_recording(recording, "done")

    def set_endpoint(self, endpoint: str, script: AgentScript) -> None:
        self.endpoints[endpoint] = script

    # -- channels -------------------------------------------------------------------

    def answer(self, channel_id: str) -> None:
        channel = self.stasis_channel(channel_id)
        if channel.state != "Up":
            channel.state = "Up"
            self._emit(channel.app, "ChannelStateChange", channel=channel.json())

    def ring(self, channel_id: str) -> None:
        channel = self.stasis_channel(channel_id)
        channel.heard.append({"ringing": True})

    def hangup(self, channel_id: str) -> None:
        channel = self.channel(channel_id)
        if channel.originated and channel.app is None:
            self.cancel_ringing(channel)
        else:
            self._hang_up(channel, cause=32, soft=True)

    def _hang_up(self, channel: Channel, *, cause: int, soft: bool) -> None:
        if channel.gone:
            return
        channel.gone = True
        app = channel.app
        if app is not None and channel.state == "Up" and channel.name.startswith("PJSIP/"):  # RTP's statistics
            for variable in ("RTPAUDIOQOS", "RTPAUDIOQOSJITTER", "RTPAUDIOQOSLOSS", "RTPAUDIOQOSRTT", "RTPAUDIOQOSMES"):
                self._emit(app, "ChannelVarset", variable=variable, value="", channel=channel.json())
        request: Json = {"cause": cause, "channel": channel.json()}
        if soft:
            request = {"cause": cause, "soft": True, "channel": channel.json()}
        self._emit(app, "ChannelHangupRequest", **request)
        if channel.bridge is not None:
            self._leave_bridge(channel, self.bridges[channel.bridge])
        for playback in list(self.running):
            if playback.target_uri == f"channel:{channel.id}":
                self._finish_playback(playback, "failed")
        for recording in list(self.live_recordings.values()):
            if recording.channel_id == channel.id and recording.state in ("queued", "recording"):
                self._finish_recording(recording, "done")
        if app is not None:
            self._emit(app, "StasisEnd", channel=channel.json())
        if channel.originated:
            self._emit(
                channel.owner,
                "ChannelDestroyed",
                cause=16 if cause == 32 else cause,
                cause_txt=CAUSES.get(16 if cause == 32 else cause, ""),
                channel=channel.json(),
            )
        channel.app = None

    def continue_in_dialplan(self, channel_id: str, context: str | None, extension: str | None, priority: int) -> None:
        """Where Asterisk's `continue` sends the channel (res/ari/resource_channels.c): a context
        without an extension means its `s`, no context the channel's own. With neither, and no
        priority, the channel goes on past Stasis() in its inbound context."""
        channel = self.stasis_channel(channel_id)
        if context:
            target = {"context": context, "extension": extension or "s"}
        else:
            target = {"context": channel.context, "extension": extension or channel.exten}
        if any(p.target_uri == f"channel:{channel.id}" for p in self.running):
            # Asterisk runs `continue` after the channel's commands before it: a playback plays to
            # its end (or until it is stopped) before the channel leaves for the dialplan.
            channel.continue_after_playback = target
            return
        self._leave_for_dialplan(channel, target)

    def _leave_for_dialplan(self, channel: Channel, target: Json) -> None:
        channel.dialplan_after = target
        channel.heard.append({"dialplan": channel.dialplan_after})
        if channel.bridge is not None:
            self._leave_bridge(channel, self.bridges[channel.bridge])
        self._emit(channel.app, "StasisEnd", channel=channel.json())  # its snapshot still in Stasis
        channel.app = None
        if target["context"] == INBOUND_CONTEXT or target["context"] not in self.contexts:
            # No such context in the dialplan (or back into the inbound one, whose dialplan ends
            # after Stasis()): Asterisk's PBX has nothing to run and hangs the channel up. It has
            # left the application, which hears nothing of it.
            channel.gone = True

    def start_moh(self, channel_id: str) -> None:
        channel = self.stasis_channel(channel_id)
        channel.heard.append({"moh": "start", "at": time.monotonic()})

    def stop_moh(self, channel_id: str) -> None:
        channel = self.stasis_channel(channel_id)
        channel.heard.append({"moh": "stop", "at": time.monotonic()})

    def originate(
        self, endpoint: str, channel_id: str | None, app: str, app_args: list[str], timeout: float, caller_id: str
    ) -> Channel:
        technology, _, resource = endpoint.partition("/")
        if not technology or not resource:
            raise AriFault(400, "Invalid parameters for originating a channel.")
        # Asterisk 22 finds an existing channel by id *prefix* here: "call-1" conflicts with a
        # live "call-1-phone". Ids chosen by a client must never be prefixes of one another.
        if channel_id and any(c.id.startswith(channel_id) for c in self.channels.values() if not c.gone):
            raise AriFault(409, "Channel with given unique ID already exists.")
        if channel_id and channel_id in self.channels:
            raise AriFault(409, "Channel with given unique ID already exists.")
        if endpoint not in self.endpoints:
            raise AriFault(400, f"Endpoint not found: {endpoint}")
        name, _, number = caller_id.partition("<")
        channel = Channel(
            id=channel_id or self._next_unique_id(),
            name=f"{endpoint}-{next(self._ids):08x}",
            caller={"name": name.strip(), "number": number.rstrip(">").strip()},
            context="default",
            exten="s",
            originated=True,
            state="Down",
            endpoint=endpoint,
            app_data=",".join([app, *app_args]),
        )
        self.channels[channel.id] = channel
        self._spawn(self._ring_agent(channel, app, app_args, self.endpoints[endpoint], ring_for=timeout))
        return channel

    async def _ring_agent(
        self, channel: Channel, app: str, args: list[str], script: AgentScript, *, ring_for: float
    ) -> None:
        await asyncio.sleep(0)  # the REST answer goes out first
        resource = channel.endpoint.split("/", 1)[1] if channel.endpoint else ""

        def dial(status: str) -> None:
            peer = channel.json()
            self._emit(app, "Dial", dialstatus=status, forward="", dialstring=resource, peer=peer)

        dial("")
        if script.behaviour == "busy":
            dial("BUSY")
        if script.behaviour in ("busy", "reject", "offline"):
            cause = {"busy": 17, "reject": 21, "offline": 20}[script.behaviour]
            return self._destroy_unanswered(channel, app, cause)
        channel.state = "Ringing"
        self._emit(app, "ChannelStateChange", channel=channel.json())
        dial("RINGING")
        wait = ring_for if script.behaviour == "no-answer" else min(script.answer_after, ring_for)
        await asyncio.sleep(wait)
        if channel.gone:
            return
        if script.behaviour == "no-answer" or script.answer_after > ring_for:
            return self._destroy_unanswered(channel, app, 19)
        channel.state = "Up"
        self._emit(app, "ChannelStateChange", channel=channel.json())
        dial("ANSWER")
        channel.app = app
        self._emit(app, "StasisStart", args=args, channel=channel.json())
        if script.hang_up_after is not None:
            await asyncio.sleep(script.hang_up_after)
            if not channel.gone:
                self._hang_up(channel, cause=16, soft=False)

    def _destroy_unanswered(self, channel: Channel, app: str, cause: int) -> None:
        if channel.gone:
            return
        channel.gone = True
        tech_cause = {17: 486, 19: 480, 20: 404, 21: 603}.get(cause)
        extra = {"tech_cause": tech_cause} if tech_cause else {}
        self._emit(app, "ChannelDestroyed", cause=cause, cause_txt=CAUSES[cause], **extra, channel=channel.json())

    def cancel_ringing(self, channel: Channel) -> None:
        """The app hung up a channel it originated before it was answered."""
        if channel.app is None and channel.originated and not channel.gone:
            channel.gone = True
            self._emit(channel.owner, "ChannelHangupRequest", cause=32, soft=True, channel=channel.json())
            self._emit(channel.owner, "ChannelDestroyed", cause=16, cause_txt=CAUSES[16], channel=channel.json())

    # -- playbacks ------------------------------------------------------------------

    def play(self, target: Channel | Bridge, playback_id: str, media: list[str]) -> Json:
        """Start a playback; the answer shows it queued, as Asterisk's does."""
        if not media or not all(media):
            raise AriFault(400, "media: required")
        # Asterisk does not refuse an id in use: both playbacks play, and the id finds the newer.
        target_uri = f"channel:{target.id}" if isinstance(target, Channel) else f"bridge:{target.id}"
        playback = Playback(playback_id, media, target_uri)
        self.playbacks[playback_id] = playback
        self.running.append(playback)
        answer = playback.json()
        playback.task = self._spawn(self._run_playback(playback, target))
        return answer

    async def _run_playback(self, playback: Playback, target: Channel | Bridge) -> None:
        await asyncio.sleep(0)
        app = self._app_of(target)
        for index, uri in enumerate(playback.media):
            if playback.state in ("done", "failed", "canceled"):
                return
            playback.index = index
            if index > 0:
                playback.state = "continuing"
                playback.index = index - 1
                self._emit(app, "PlaybackContinuing", playback=playback.json())
                playback.index = index
            playback.state = "playing"
            self._emit(app, "PlaybackStarted", playback=playback.json())
            if isinstance(target, Bridge) and target.moh:  # a bridge-wide play on a holding bridge with MOH
                return self._finish_playback(playback, "failed")
            if uri.partition(":")[0] not in MEDIA_SCHEMES:
                # Asterisk starts it, finds no player for the scheme, and drops the playback without
                # a PlaybackFinished (not even at hangup): an application waiting for one waits for ever.
                playback.state = "canceled"
                if self.playbacks.get(playback.id) is playback:
                    del self.playbacks[playback.id]
                self.running.remove(playback)
                return None
            if not self._media_exists(uri):
                if index + 1 < len(playback.media):
                    continue  # a missing sound in a list is skipped: Continuing, then the next one
                return self._finish_playback(playback, "failed")  # the last (or only) one fails
            for channel_id in self._listeners(target):
                self.channels[channel_id].heard.append({"media": uri, "playback": playback.id, "at": time.monotonic()})
            await self._play_for(playback, self.sound_seconds)
        self._finish_playback(playback, "done")

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

    def _finish_playback(self, playback: Playback, state: str) -> None:
        if playback.state in ("done", "failed", "canceled"):
            return
        playback.state = state
        if self.playbacks.get(playback.id) is playback:
            del self.playbacks[playback.id]
        self.running.remove(playback)
        if playback.task is not None and playback.task is not asyncio.current_task():
            playback.task.cancel()
        target_kind, _, target_id = playback.target_uri.partition(":")
        target = self.channels.get(target_id) if target_kind == "channel" else self.bridges.get(target_id)
        self._emit(self._app_of(target), "PlaybackFinished", playback=playback.json())
        if isinstance(target, Channel) and target.continue_after_playback is not None and not target.gone:
            self._continue_when_quiet(target)

    def _continue_when_quiet(self, channel: Channel) -> None:
        """A `continue` that waited for the channel's playbacks: carry it out once none is left."""
        if channel.continue_after_playback is None:
            return
        if not any(p.target_uri == f"channel:{channel.id}" for p in self.running):
            then, channel.continue_after_playback = channel.continue_after_playback, None
            self._leave_for_dialplan(channel, then)

    def control_playback(self, playback_id: str, operation: str) -> None:
        """POST /playbacks/{id}/control, as Asterisk 22 answered it: pause and unpause (which announces
        itself as PlaybackStarted again), restart; forward and reverse are accepted (skipping within
        a media is not modelled)."""
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise AriFault(404, "Playback not found")
        if not operation:
            raise AriFault(400, "Missing operation")
        if operation not in ("pause", "unpause", "restart", "reverse", "forward"):
            raise AriFault(400, f"Invalid operation {operation}")
        target_kind, _, target_id = playback.target_uri.partition(":")
        target = self.channels.get(target_id) if target_kind == "channel" else self.bridges.get(target_id)
        if operation == "pause" and playback.state == "playing":
            playback.state = "paused"
        elif operation == "unpause" and playback.state == "paused":
            playback.state = "playing"
            self._emit(self._app_of(target), "PlaybackStarted", playback=playback.json())
        elif operation == "restart":
            playback.restarted = True
        playback.controlled.set()

    def stop_playback(self, playback_id: str) -> None:
        playback = self.playbacks.get(playback_id)
        if playback is None:
            raise AriFault(404, "Playback not found")
        self._finish_playback(playback, "done")

    def _media_exists(self, uri: str) -> bool:
        kind, _, value = uri.partition(":")
        if kind == "sound":
            return value in self.sounds
        if kind == "recording":
            return value in self.stored_recordings
        return kind in ("number", "digits", "characters", "tone")

    def _listeners(self, target: Channel | Bridge) -> list[str]:
        return [target.id] if isinstance(target, Channel) else list(target.channels)

    def _app_of(self, target: Channel | Bridge | None) -> str | None:
        if isinstance(target, Channel):
            return target.owner
        if isinstance(target, Bridge):
            return next(iter(self.connected_apps), None)
        return None

    # -- bridges --------------------------------------------------------------------

    def create_bridge(self, bridge_id: str | None, bridge_type: str, name: str, *, with_id: bool = False) -> Bridge:
        if bridge_id and bridge_id in self.bridges:
            raise AriFault(409, f"Bridge with id '{bridge_id}' already exists")
        types = {t.strip() for t in (bridge_type or "mixing").split(",")}
        if not types & {"mixing", "holding", "video_sfu"}:  # other words are ignored: no capability left
            if with_id:
                raise AriFault(500, "Unable to create bridge")
            raise AriFault(500, f"Unable to create bridge. Possible duplicate bridge id '{bridge_id or '(null)'}'")
        bridge_id = bridge_id or f"sim-bridge-{next(self._ids)}"
        kind = "holding" if "holding" in types else "mixing"
        bridge = Bridge(bridge_id, kind, name)
        self.bridges[bridge_id] = bridge
        return bridge

    def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        bridge = self.bridge(bridge_id)
        channels = []
        for channel_id in channel_ids:
            channel = self.channels.get(channel_id)
            if channel is None or channel.gone:
                raise AriFault(400, "Channel not found")
            if channel.app is None:
                raise AriFault(422, "Channel not in Stasis application")
            channels.append(channel)
        for channel in channels:
            if channel.bridge == bridge.id:
                continue
            if channel.bridge is not None:
                self._leave_bridge(channel, self.bridges[channel.bridge])
            channel.bridge = bridge.id
            bridge.channels.append(channel.id)
            bridge.subscribed = bridge.subscribed or channel.app
            self._emit(channel.app, "ChannelEnteredBridge", bridge=bridge.json(), channel=channel.json())
            self._note_bridged(bridge)
            if bridge.moh:
                channel.heard.append({"moh": "start", "at": time.monotonic(), "bridge": bridge.id})

    def _note_bridged(self, bridge: Bridge) -> None:
        if bridge.bridge_type != "mixing":
            return
        for channel_id in bridge.channels:
            others = [c for c in bridge.channels if c != channel_id]
            if others:
                self.channels[channel_id].heard.append({"bridged": bridge.id, "with": others})

    def remove_from_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        bridge = self.bridge(bridge_id)
        for channel_id in channel_ids:
            channel = self.channels.get(channel_id)
            if channel is None or channel.gone:
                raise AriFault(400, "Channel not found")
            if channel.bridge != bridge.id:
                raise AriFault(422, "Channel not in this bridge")
        for channel_id in channel_ids:
            self._leave_bridge(self.channels[channel_id], bridge)

    def _leave_bridge(self, channel: Channel, bridge: Bridge) -> None:
        bridge.channels.remove(channel.id)
        channel.bridge = None
        if bridge.moh:
            channel.heard.append({"moh": "stop", "at": time.monotonic(), "bridge": bridge.id})
        self._emit(channel.app, "ChannelLeftBridge", bridge=bridge.json(), channel=channel.json())

    def destroy_bridge(self, bridge_id: str) -> None:
        """As seen on Asterisk 22: an application hears BridgeDestroyed only for a bridge one of its
        channels was in and that was empty when deleted; a bridge deleted with channels in it sends
        them ChannelLeftBridge and nothing more, and one no channel entered sends nothing."""
        bridge = self.bridge(bridge_id)
        held = list(bridge.channels)
        for channel_id in held:
            self._leave_bridge(self.channels[channel_id], bridge)
        del self.bridges[bridge_id]
        if not held:
            self._emit(bridge.subscribed, "BridgeDestroyed", bridge=bridge.json())

    def bridge_moh(self, bridge_id: str, on: bool) -> None:
        bridge = self.bridge(bridge_id)
        if bridge.moh == on:
            return
        bridge.moh = on
        for channel_id in bridge.channels:
            entry = {"moh": "start" if on else "stop", "at": time.monotonic(), "bridge": bridge.id}
            self.channels[channel_id].heard.append(entry)

    # -- recordings -----------------------------------------------------------------

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
        if fmt not in ("wav", "gsm", "ulaw", "alaw", "sln", "g722"):
            raise AriFault(422, "specified format is unknown on this system")
        busy = name in self.live_recordings
        if busy or (name in self.stored_recordings and if_exists == "fail"):
            raise AriFault(409, f"Recording '{name}' already exists and can not be overwritten")
        recording = LiveRecording(name, fmt, channel.id, terminate_on or "none", max_duration, max_silence)
        self.live_recordings[name] = recording
        if beep:
            channel.heard.append({"media": "sound:beep", "recording": name})
        recording.task = self._spawn(self._run_recording(recording, channel))
        return recording

    async def _run_recording(self, recording: LiveRecording, channel: Channel) -> None:
        await asyncio.sleep(0)
        if recording.state != "queued" or channel.gone:
            return
        if channel.state != "Up":  # Asterisk answers the channel to record it (ast_auto_answer)
            self.answer(channel.id)
        recording.state = "recording"
        recording.started = time.monotonic()
        self._emit(channel.app, "RecordingStarted", recording=recording.json())
        limits = [t for t in (recording.max_duration, recording.max_silence if channel.silent else 0) if t > 0]
        if not limits:
            return  # until DTMF or hangup
        await asyncio.sleep(min(limits))
        self._finish_recording(recording, "done")

    def stop_recording(self, name: str) -> None:
        """POST /recordings/live/{name}/stop: the recording ends and is kept."""
        self._finish_recording(self.live_recordings[name], "done")

    def _finish_recording(self, recording: LiveRecording, state: str) -> None:
        if recording.state not in ("queued", "recording"):
            return
        duration = max(1, round(time.monotonic() - recording.started)) if recording.started else 0
        channel = self.channels.get(recording.channel_id)
        if channel is not None and channel.name.startswith("Local/"):
            duration = 0  # nobody sends audio into the harness's Local half: no frames were recorded
        recording.state = state
        self.live_recordings.pop(recording.name, None)
        if recording.task is not None and recording.task is not asyncio.current_task():
            recording.task.cancel()
        app = channel.owner if channel else None
        body = recording.json()
        if state == "done":
            body["duration"] = duration
            if recording.max_silence > 0:  # Asterisk measures talking and silence only when detecting silence
                body.update({"talking_duration": duration, "silence_duration": 0})
            self.stored_recordings[recording.name] = {"name": recording.name, "format": recording.fmt}
        self._emit(app, "RecordingFinished" if state == "done" else "RecordingFailed", recording=body)

    # -- variables and subscriptions ----------------------------------------------------

    def channel_variable(self, channel_id: str, name: str) -> str:
        """A channel's variable, or one of the dialplan functions modelled: CALLERID(num), CALLERID(name)."""
        if not name:
            raise AriFault(400, "Variable name is required")
        channel = self.channels.get(channel_id)
        if channel is None or channel.gone:
            raise AriFault(404, "Provided channel was not found")
        if name.endswith(")"):
            functions = {"CALLERID(num)": channel.caller["number"], "CALLERID(name)": channel.caller["name"]}
            if name not in functions:
                raise AriFault(500, "Unable to read provided function")  # not modelled: see the README
            return str(functions[name])
        if name not in channel.variables:
            raise AriFault(404, "Provided variable was not found")
        return channel.variables[name]

    def set_channel_variable(self, channel_id: str, name: str, value: str) -> None:
        if not name:
            raise AriFault(400, "Variable name is required")
        channel = self.stasis_channel(channel_id)
        channel.variables[name] = value
        self._emit(channel.app, "ChannelVarset", variable=name, value=value, channel=channel.json())

    def subscribe(self, app: str, source: str) -> Json:
        """The application hears of `source` (channel:ID, bridge:ID, endpoint:TECH/RESOURCE or
        deviceState:NAME) too. Only the bookkeeping is modelled: the events of a source outside the
        application's own channels and bridges are not sent."""
        if not source:
            raise AriFault(400, "Missing parameter eventSource")
        self.application_json(app)  # 404 if there is no such application
        scheme, _, name = source.partition(":")
        exists: dict[str, Callable[[], bool]] = {
            "channel": lambda: name in self.channels and not self.channels[name].gone,
            "bridge": lambda: name in self.bridges,
            "endpoint": lambda: name in self.endpoints,
            "deviceState": lambda: True,
        }
        if scheme not in exists:
            raise AriFault(400, "Invalid event source URI scheme")
        if not exists[scheme]():
            raise AriFault(422, "Event source does not exist")
        counts = self.subscriptions.setdefault(app, Counter())
        if scheme == "deviceState":  # once, however often asked; with no name, to every device
            counts[f"deviceState:{name or ALL_DEVICES}"] = 1
        else:
            counts[source] += 1
        return self.application_json(app)

    def unsubscribe(self, app: str, source: str) -> Json:
        """DELETE /applications/{app}/subscription: one subscription to `source` taken back. With none
        left but the one Stasis gave the application for its own channel or bridge, that one goes: the
        application is no longer told of it (res/stasis/app.c counts them alike)."""
        if not source:
            raise AriFault(400, "Missing parameter eventSource")
        self.application_json(app)  # 404 if there is no such application
        scheme, _, name = source.partition(":")
        if scheme not in ("channel", "bridge", "endpoint", "deviceState"):
            raise AriFault(400, "Invalid event source URI scheme")
        counts = self.subscriptions.setdefault(app, Counter())
        if scheme == "deviceState":
            source = f"deviceState:{name or ALL_DEVICES}"
        own_channel = self.channels.get(name) if scheme == "channel" else None
        own_bridge = self.bridges.get(name) if scheme == "bridge" else None
        if counts[source] > 0:
            counts[source] -= 1
            if not counts[source]:
                del counts[source]
        elif own_channel is not None and not own_channel.gone and own_channel.app == app and not own_channel.released:
            own_channel.released = True
        elif own_bridge is not None and own_bridge.subscribed == app:
            own_bridge.subscribed = None
        else:
            raise AriFault(422, "Event source was not subscribed to")
        return self.application_json(app)

    def _hears_channel(self, app: str, body: Json) -> bool:
        channel = self.channels.get(str(body["channel"].get("id", "")))
        if channel is None or not channel.released or channel.app != app:
            return True
        return self.subscriptions.get(app, Counter())[f"channel:{channel.id}"] > 0

    def device_state_changed(self, name: str, state: str) -> None:
        """A `Stasis:` device was set to a new state: its subscribers are told (of it, or of all devices)."""
        for app, counts in self.subscriptions.items():
            if counts[f"deviceState:{name}"] or counts[f"deviceState:{ALL_DEVICES}"]:
                self._emit(app, "DeviceStateChanged", device_state={"name": name, "state": state})

    def device_driver_state(self, technology: str, resource: str) -> str:
        """The state a channel driver reports for TECH/resource: a PJSIP endpoint's (in use while it has
        a channel), a Local channel's (NOT_INUSE if its context exists)."""
        if technology == "PJSIP" and resource in {e.partition("/")[2] for e in self.endpoints}:
            endpoint = self.endpoint_json(technology, resource)
            if endpoint["state"] == "offline":
                return "UNAVAILABLE"
            return "INUSE" if endpoint["channel_ids"] else "NOT_INUSE"
        if technology == "Local":
            context = resource.partition("@")[2].partition("/")[0]
            return "NOT_INUSE" if context in self.contexts | {INBOUND_CONTEXT} else "INVALID"
        return "INVALID"

    def user_event(self, app: str, event_name: str, sources: list[str], variables: Any) -> None:
        """POST /events/user/{eventName} (res/res_stasis.c, stasis_app_user_event): ChannelUserevent to
        `app`, with the snapshots of the sources named (channel:, bridge:, endpoint:)."""
        self.application_json(app)  # 404 if there is no such application
        if variables is not None and not isinstance(variables, dict):
            raise AriFault(500, "Error processing request")
        blob = {**(variables or {}), "eventname": event_name}
        snapshots: Json = {}
        for uri in sources:
            scheme, _, name = uri.partition(":")
            found: Json | None
            if scheme == "channel":
                channel = self.channels.get(name)
                found = channel.json() if channel is not None and not channel.gone else None
            elif scheme == "bridge":
                found = self.bridges[name].json() if name in self.bridges else None
            elif scheme == "endpoint":
                technology, _, resource = name.partition("/")
                found = self.endpoint_json(technology, resource) if name in self.endpoints else None
            else:
                raise AriFault(400, "Invalid event source URI scheme")
            if found is None:
                raise AriFault(422, "Event source was not found")
            snapshots[scheme] = found
        self._emit_any(app, "ChannelUserevent", eventname=event_name, userevent=blob, **snapshots)

    def _emit_any(self, app: str, event_type: str, **body: Any) -> None:
        """An event Asterisk sends to the application itself, whatever it subscribed to."""
        if self.event_allowed(app, event_type):
            self._emit_to(
                app,
                {
                    "type": event_type,
                    "timestamp": now_text(),
                    **body,
                    "asterisk_id": self.asterisk_id,
                    "application": app,
                },
            )

    def set_event_filter(self, app: str, body: Any) -> Json:
        """PUT /applications/{app}/eventFilter as Asterisk 22 does it (res/stasis/app.c): no body resets
        both lists; an object sets the lists it names ({} resets both); the disallowed list is set
        before the allowed one, so a bad allowed list leaves a new disallowed list in place; each
        entry must be an object with a non-empty string "type", kept as given."""
        self.application_json(app)  # 404 if there is no such application
        filters = self.event_filters.setdefault(app, {"allowed": [], "disallowed": []})
        for kind in ("disallowed", "allowed"):
            chosen = body
            if isinstance(body, dict) and body:
                if kind not in body:
                    continue  # not named: not changed
                chosen = body[kind]
            elif isinstance(body, dict):
                chosen = None
            if chosen is not None and (
                not isinstance(chosen, list)
                or not all(isinstance(e, dict) and isinstance(e.get("type"), str) and e["type"] for e in chosen)
            ):
                raise AriFault(400, "Invalid format definition")
            filters[kind] = list(chosen or ())
        return self.application_json(app)

    def event_allowed(self, app: str, event_type: str) -> bool:
        """Disallowed wins; an empty allowed list allows everything."""
        filters = self.event_filters.get(app)
        if filters is None:
            return True
        disallowed = any(e["type"] == event_type for e in filters["disallowed"])
        allowed = not filters["allowed"] or any(e["type"] == event_type for e in filters["allowed"])
        return allowed and not disallowed

    def application_connecting(self, app: str) -> None:
        """An application's WebSocket opens. If it had none and no channel is left in it, Asterisk
        had already dropped the application (its last channel left Stasis, or none was there when
        its WebSocket closed): this is a new one, without the old one's subscriptions or filter."""
        if app not in self.connected_apps and not any(not c.gone and c.app == app for c in self.channels.values()):
            self.event_filters.pop(app, None)
            self.subscriptions.pop(app, None)

    # -- reading --------------------------------------------------------------------

    def endpoint_json(self, technology: str, resource: str) -> Json:
        key = f"{technology}/{resource}"
        script = self.endpoints.get(key)
        if script is None:
            raise AriFault(404, "Endpoint not found")
        busy = [c.id for c in self.channels.values() if not c.gone and c.endpoint == key]
        if script.on_own_call:
            busy.append(f"direct-{resource}")
        state = "offline" if script.behaviour == "offline" else "online"
        return {"technology": technology, "resource": resource, "state": state, "channel_ids": busy}

    def application_json(self, name: str) -> Json:
        in_it = [c for c in self.channels.values() if not c.gone and c.app == name]
        # Asterisk keeps an application while channels are in it, even with its WebSocket gone.
        if name not in self.connected_apps and not in_it:
            raise AriFault(404, "Application not found")
        channels = [c.id for c in in_it if not c.released]
        chosen = self.subscriptions.get(name, Counter())

        def subscribed(scheme: str) -> list[str]:
            return sorted(s.partition(":")[2] for s in chosen if s.startswith(f"{scheme}:"))

        bridges = [b.id for b in self.bridges.values() if b.subscribed == name]
        return {
            "name": name,
            "channel_ids": channels + [c for c in subscribed("channel") if c not in channels],
            "bridge_ids": bridges + [b for b in subscribed("bridge") if b not in bridges],
            "endpoint_ids": subscribed("endpoint"),
            "device_names": subscribed("deviceState"),
            "events_allowed": self.event_filters.get(name, {}).get("allowed", []),
            "events_disallowed": self.event_filters.get(name, {}).get("disallowed", []),
        }
