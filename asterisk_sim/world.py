"""The simulated Asterisk's state: channels, bridges, playbacks, recordings, endpoints.

Theory of operation
-------------------
Everything Asterisk would do on its own (a playback finishing, an agent's phone ringing and
answering, a recording stopping at its maximum length) runs as an asyncio task owned by the
world, so `close()` can end them all. Every change emits the events Asterisk 22 emits, in the
order seen in recordings of a real Asterisk 22.10 with SIP phones:

- hangup: ChannelHangupRequest, PlaybackFinished(failed) for its own play, ChannelLeftBridge,
  StasisEnd, and ChannelDestroyed only for channels we originated (an inbound caller gets none
  after StasisEnd);
- a playback of several media: PlaybackStarted, PlaybackContinuing, PlaybackStarted, ...,
  PlaybackFinished(done); a missing sound: PlaybackStarted then PlaybackFinished(failed); a
  channel's playbacks one at a time, the others queued (playbacks.py);
- originate: Dial(""), then Ringing and Dial(RINGING), then Up, Dial(ANSWER), STASISSTATUS
  cleared and StasisStart with the appArgs (hung up later: StasisEnd, STASISSTATUS=SUCCESS,
  ChannelDestroyed); or, unanswered/busy/rejected/offline, ChannelDestroyed with its cause and
  no StasisStart. A Local channel rings only if its dialplan would (`no-answer`).

REST answers are produced by raising `AriFault(status, message)` with Asterisk's own messages.
Events are sent *before* the REST answer returns, as Asterisk does: a client must be ready to
see the events of a resource before it learns the resource was created.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from asterisk_sim.administration import configured_log_channels
from asterisk_sim.answers import AriFault, Json, allocation_failed, now_text
from asterisk_sim.applications import Applications
from asterisk_sim.bridging import Bridging
from asterisk_sim.caller_actions import CallerActions
from asterisk_sim.control import Controls
from asterisk_sim.devices import DeviceStates
from asterisk_sim.dialplan_functions import (
    PRESENTATION_CODE,
    PRESENTATION_TEXT,
    is_function,
    read_builtin,
    read_function,
    write_function,
)
from asterisk_sim.journal import Journal
from asterisk_sim.objects import (
    CAUSES,
    CORE_SOUND_LANGUAGES,
    CORE_SOUNDS,
    INBOUND_CONTEXT,
    AgentScript,
    Bridge,
    Channel,
    LiveRecording,
    Playback,
)
from asterisk_sim.playbacks import Playbacks
from asterisk_sim.recorder import LIVE, Recorder
from asterisk_sim.ringing import Ringing
from asterisk_sim.sip import BYE, CANCEL, asterisk_call_id, phone_call_id, rtp_quality
from asterisk_sim.sounds import Sounds


def contexts_of(extensions_conf: str) -> set[str]:
    """The contexts an extensions.conf defines: its [section] names but [general] and [globals]."""
    found = {m.group(1).strip() for m in re.finditer(r"^\s*\[([^\]]+)\]", extensions_conf, re.MULTILINE)}
    return found - {"general", "globals"}


class World(Applications, Bridging, Controls, Playbacks, Recorder, Ringing, CallerActions):
    """All of the simulated Asterisk's state, and what it does by itself over time."""

    def __init__(
        self,
        emit: Callable[[str, Json], None],
        *,
        sound_seconds: float = 0.2,
        asterisk_id: str | None = None,
        contexts: Iterable[str] = (),
        sounds: Path | None = None,
        inbound_context: str = INBOUND_CONTEXT,
    ) -> None:
        self._emit_to = emit  # (application, event) -> None
        # Asterisk's entity id (asterisk.conf's entityid; by default a MAC address of the machine):
        # a locally administered address of its own for each simulated Asterisk.
        self.asterisk_id = asterisk_id or ":".join(["02", *(f"{random.randrange(256):02x}" for _ in range(5))])
        # The dialplan, as far as the simulator models it: the contexts a channel sent there by
        # `continue` runs on in (it stays, `dialplan_after` says where). Extensions are not
        # modelled: every extension of a declared context exists. Calls come from the inbound context
        # (settings.py), whose dialplan ends after Stasis(). Any other context does not exist: the channel
        # is hung up.
        self.contexts: set[str] = set(contexts)
        self.inbound_context = inbound_context
        # The dialplan's global variables (GET/POST /asterisk/variable). extensions.conf's [globals] is
        # not modelled: every one is set through ARI, and lives until Asterisk restarts.
        self.globals: dict[str, str] = {}
        self.log_channels = configured_log_channels()  # GET/POST /asterisk/logging
        # application -> the event sources it subscribed to, each with how many times (Asterisk counts
        # them: as many DELETEs as POSTs take one back; a device state is subscribed to once).
        self.subscriptions: dict[str, Counter[str]] = {}
        self.devices = DeviceStates()
        self.started_at = self.reloaded_at = now_text()
        # application -> {"allowed": [...], "disallowed": [...]}: PUT /applications/{name}/eventFilter
        self.event_filters: dict[str, dict[str, list[Any]]] = {}
        self.sound_seconds = sound_seconds
        self.sounds = Sounds(sounds)  # and a fresh Debian Asterisk's core sounds, in English
        for language in CORE_SOUND_LANGUAGES:
            self.sounds.update(CORE_SOUNDS, language)
        self.channels: dict[str, Channel] = {}
        self.journal = Journal()  # what happened to calls, for harnesses (GET /_sim/events)
        self.bridges: dict[str, Bridge] = {}
        self.playbacks: dict[str, Playback] = {}  # by id: the newest with that id
        self.running: list[Playback] = []  # every playback not yet finished, duplicates of an id included
        self.live_recordings: dict[str, LiveRecording] = {}
        self.stored_recordings: dict[str, Json] = {}
        self.recorded_audio: dict[str, bytes] = {}  # a stored recording's file, by name
        self.endpoints: dict[str, AgentScript] = {}
        self._picked_up: dict[str, asyncio.Event] = {}  # a ringing phone's, by channel: set when it answers now
        self.messages: list[Json] = []  # text messages sent to endpoints' phones (PUT .../sendMessage)
        self.connected_apps: set[str] = set()
        self.fallbacks: list[Json] = []  # calls that found no application: STASISSTATUS=FAILED
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_command: dict[str, asyncio.Task[None]] = {}  # by target: what comes next waits for it
        self._ids = itertools.count(1)
        self._sip_channels = itertools.count(0)  # chan_pjsip's chan_idx: every PJSIP channel's number, from 0
        # Recorder/ARI-00000001;2, Announcer/ARI-00000002;2, ...: the channels a bridge records and plays with
        self._recorders = itertools.count(1)
        self._epoch = int(time.time())

    # -- plumbing -----------------------------------------------------------------

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
        """Everything live is gone at once, without an event; what is on disk or configured stays. As a
        real Asterisk 22 restarted: the globals and log channels set through ARI are gone (they were
        only in its memory), device states stay (Asterisk keeps them in its astdb)."""
        await self.close()
        for live in (self.channels, self.bridges, self.playbacks, self.live_recordings, self.globals):
            live.clear()
        self.log_channels[:] = configured_log_channels()
        self.running.clear()
        self._last_command.clear()
        self.started_at = self.reloaded_at = now_text()
        self._epoch += 1  # a restarted Asterisk's unique ids start from a new time
        self._recorders = itertools.count(1)
        self._sip_channels = itertools.count(0)  # a new process's

    def _next_unique_id(self) -> str:
        return f"{self._epoch}.{next(self._ids)}"

    def _sip_name(self, endpoint: str) -> str:
        """A PJSIP channel's name, as chan_pjsip makes it: its endpoint's, and the driver's own sequence
        number (one for calls in and out alike, from 0 when Asterisk starts), in eight hex digits."""
        return f"PJSIP/{endpoint}-{next(self._sip_channels):08x}"

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
        app: str,
        args: list[str] | None = None,
        *,
        name: str = "",
        technology: str = "PJSIP",
        endpoint: str = "",
    ) -> Channel:
        """A caller (`name` <`caller`>) dials `to`; the dialplan runs Stasis(app, args...). The call
        comes in by SIP (PJSIP) from `endpoint`, by default the one named as the caller's number (as
        Asterisk identifies a phone by its From header's user), its channel named after the endpoint and
        carrying the phone's Call-ID; or as the second half of a Local channel (`technology="Local"`, as
        test harnesses on a real Asterisk make calls), which has no RTP of its own."""
        uid = self._next_unique_id()
        if technology not in ("PJSIP", "Local"):
            raise ValueError(f"a call comes in by PJSIP or Local, not {technology!r}")
        sip = technology == "PJSIP"
        channel = Channel(
            id=uid,
            name=self._sip_name(endpoint or caller)
            if sip
            else f"Local/{to}@{self.inbound_context}-{next(self._ids):08x};2",
            protocol_id=phone_call_id() if sip else "",
            caller={"name": name, "number": caller},
            context=self.inbound_context,
            exten=to,
            originated=False,
            app_data=",".join([app, *(args or [])]),
        )
        if technology == "Local":  # a Local half's connected line is the other half's caller: the same
            channel.connected = dict(channel.caller)
        self.channels[uid] = channel
        facts = {"from": caller, "name": name, "to": to, "technology": technology, "app": app}
        if sip:
            facts["endpoint"] = endpoint or caller
        self.journal.note(uid, "called", **facts, stasis=app in self.connected_apps)
        if app not in self.connected_apps:
            # Asterisk logs "Stasis app '<app>' doesn't exist" and the dialplan goes on.
            channel.dialplan_after = {"STASISSTATUS": "FAILED"}
            self.fallbacks.append({"channel": uid, "caller": caller, "to": to, "STASISSTATUS": "FAILED"})
            return channel
        channel.app = app
        self._emit(app, "StasisStart", args=list(args or []), channel=channel.json())
        return channel

    def caller_hangs_up(self, channel_id: str) -> None:
        """The caller hangs up: a SIP phone with a BYE or a CANCEL, with their causes (sip.py); a Local
        half's caller with Normal Clearing."""
        channel = self.channel(channel_id)
        cause, tech_cause = (BYE if channel.state == "Up" else CANCEL) if self._is_sip(channel) else (16, 0)
        self._hang_up(channel, cause=cause, soft=False, by="caller", tech_cause=tech_cause)

    @staticmethod
    def _is_sip(channel: Channel) -> bool:
        return channel.name.startswith("PJSIP/")

    def send_dtmf(self, channel_id: str, digit: str) -> None:
        channel = self.channel(channel_id)
        channel.heard.append({"dtmf_sent": digit})
        self.journal.note(channel.id, "pressed", digit=digit)
        self._emit(channel.app, "ChannelDtmfReceived", digit=digit, duration_ms=240, channel=channel.json())
        for recording in list(self.live_recordings.values()):
            stops = digit in recording.terminate_on or recording.terminate_on == "any"
            if recording.channel_id == channel_id and recording.state == "recording" and stops:
                self._finish_recording(recording, "done")

    def set_endpoint(self, endpoint: str, script: AgentScript) -> None:
        self.endpoints[endpoint] = script

    def phone_picks_up(self, channel_id: str) -> None:
        """The phone a channel is ringing is answered now, whatever its endpoint's script says."""
        channel = self.channel(channel_id)
        picked_up = self._picked_up.get(channel_id)
        if picked_up is None or channel.gone or channel.state != "Ringing":
            raise AriFault(409, f"Channel is not ringing (state {channel.state})")
        picked_up.set()

    # -- channels -------------------------------------------------------------------

    def answer(self, channel_id: str) -> None:
        channel = self.stasis_channel(channel_id)
        if channel.state != "Up":
            channel.state = "Up"
            self._answered(channel)
            self._emit(channel.app, "ChannelStateChange", channel=channel.json())

    def _answered(self, channel: Channel) -> None:
        channel.answered_at = time.monotonic()
        self.journal.note(channel.id, "answered")

    def hangup(self, channel_id: str) -> None:
        channel = self.channel(channel_id)
        if channel.originated and channel.app is None:
            self.cancel_ringing(channel)
        else:
            self._hang_up(channel, cause=32, soft=True, by="application")

    def _hang_up(self, channel: Channel, *, cause: int, soft: bool, by: str = "asterisk", tech_cause: int = 0) -> None:
        if channel.gone:
            return
        channel.gone = True
        self._hung_up(channel, cause, by)
        app = channel.app
        if app is not None and channel.state == "Up" and self._is_sip(channel):  # RTP's statistics
            for variable, value in rtp_quality(time.monotonic() - (channel.answered_at or time.monotonic())):
                self._emit(app, "ChannelVarset", variable=variable, value=value, channel=channel.json())
        request: Json = {"cause": cause, "channel": channel.json()} if cause else {"channel": channel.json()}
        if tech_cause:
            request["tech_cause"] = tech_cause
        if soft:
            request = {"cause": cause, "soft": True, "channel": channel.json()}
        self._emit(app, "ChannelHangupRequest", **request)
        # Its playbacks end before it leaves its bridge: on Asterisk 22 the play (through the bridge) is
        # cut short first, then the channel's bridge thread lets go (seen in every run of
        # commands_wait_their_turn_on_a_channel).
        self._playing_channel_gone(f"channel:{channel.id}")
        if channel.bridge is not None:
            self._leave_bridge(channel, self.bridges[channel.bridge], leaving_stasis=True)
        for recording in list(self.live_recordings.values()):
            if recording.channel_id == channel.id and recording.state in LIVE:
                # One still queued behind a play fails (as Asterisk 22 answered most often; it may also
                # just have started, and end at once).
                self._finish_recording(recording, "failed" if recording.state == "queued" else "done")
        if app is not None:
            self._emit(app, "StasisEnd", channel=channel.json())
        if not channel.originated and self._watchers({"channel": {"id": channel.id}}):
            self._after_stasis_for_watchers(channel)
        if channel.originated:
            owner = channel.owner
            if app is not None:  # Stasis() returns; the application is still subscribed to its own channel
                self._set_by_asterisk(channel, "STASISSTATUS", "SUCCESS")
            channel.app = None  # destroyed where it was before Stasis
            self._emit(
                owner,
                "ChannelDestroyed",
                cause=16 if cause == 32 else cause,
                cause_txt=CAUSES.get(16 if cause == 32 else cause, ""),
                channel=channel.json(),
            )
        channel.app = None

    def _hung_up(self, channel: Channel, cause: int, by: str) -> None:
        """Who hung up (the caller, the application, the phone rung, or Asterisk itself), and why."""
        channel.hangup = {"cause": cause, "by": by, "at": time.monotonic()}
        self.journal.note(channel.id, "hung up", cause=cause, by=by)

    def _after_stasis_for_watchers(self, channel: Channel) -> None:
        """An inbound call's channel after StasisEnd: its dialplan's Stasis() returns, the PBX hangs it up
        and it is destroyed. Its application has left it; an application subscribed to it by name hears
        all of it (as seen on Asterisk 22 after a DELETE)."""
        channel.variables["STASISSTATUS"] = "SUCCESS"
        seen = channel.json()
        self._emit(None, "ChannelVarset", variable="STASISSTATUS", value="SUCCESS", channel=seen)
        self._emit(None, "ChannelHangupRequest", cause=16, soft=True, channel=seen)
        gone = {**seen, "dialplan": {**seen["dialplan"], "app_name": "", "app_data": ""}}
        self._emit(None, "ChannelDestroyed", cause=16, cause_txt=CAUSES[16], channel=gone)

    def continue_in_dialplan(self, channel_id: str, context: str | None, extension: str | None, priority: int) -> None:
        """Where Asterisk's `continue` sends the channel (res/ari/resource_channels.c): a context
        without an extension means its `s`, no context the channel's own. With neither, and no
        priority, the channel goes on past Stasis() in its inbound context."""
        channel = self.stasis_channel(channel_id)
        if context:
            target = {"context": context, "extension": extension or "s"}
        else:
            target = {"context": channel.context, "extension": extension or channel.exten}

        def leave() -> None:
            # Asterisk runs `continue` after the channel's commands before it (control.py): a play or a
            # recording ends (or is stopped) before the channel leaves for the dialplan.
            if not channel.gone and channel.app is not None:
                self._leave_for_dialplan(channel, target)

        self._in_its_turn(channel.id, leave)

    def _leave_for_dialplan(self, channel: Channel, target: Json) -> None:
        channel.dialplan_after = target
        channel.heard.append({"dialplan": channel.dialplan_after})
        if channel.bridge is not None:
            self._leave_bridge(channel, self.bridges[channel.bridge], leaving_stasis=True)
        self._emit(channel.app, "StasisEnd", channel=channel.json())  # its snapshot still in Stasis
        channel.app = None
        if target["context"] == self.inbound_context or target["context"] not in self.contexts:
            # No such context in the dialplan (or back into the inbound one, whose dialplan ends
            # after Stasis()): Asterisk's PBX has nothing to run and hangs the channel up. It has
            # left the application, which hears nothing of it.
            channel.gone = True

    def snoop(self, channel_id: str, snoop_id: str | None, app: str, args: list[str]) -> Json:
        """POST /channels/{id}/snoop: a Snoop channel on `channel_id`, answered, entering `app`. The answer
        shows it before it entered Stasis, as Asterisk's does. What it hears is not modelled."""
        spied = self.channels.get(channel_id)
        if spied is None or spied.gone:
            raise AriFault(404, "Provided channel was not found")
        uid = snoop_id or self._next_unique_id()
        if uid in self.channels and not self.channels[uid].gone:
            raise AriFault(500, "Snoop channel could not be created")
        name = f"Snoop/{spied.id}-{next(self._ids):08x}"
        channel = self._new_channel(uid, name, originated=False, state="Up", priority=1, outside_stasis="")
        answer = channel.json()
        channel.app, channel.app_data = app, ",".join([app, *args])
        self._emit(app, "StasisStart", args=args, channel=channel.json())
        return answer

    def _new_channel(self, uid: str, name: str, **fields: Any) -> Channel:
        """A channel that is not a call's: nobody calls on it, and it starts at default,s."""
        channel = Channel(id=uid, name=name, caller={"name": "", "number": ""}, context="default", exten="s", **fields)
        self.channels[uid] = channel
        return channel

    def external_media(self, parameters: dict[str, str]) -> Json:
        """POST /channels/externalMedia: a channel whose media goes to a host outside (RTP over UDP, or
        AudioSocket over TCP), entering its application. No media flows in the simulator."""
        uid = parameters["channel_id"] or self._next_unique_id()
        if uid in self.channels and not self.channels[uid].gone:
            # Asterisk's 409 for the id is overwritten by the 500 of a failed external media channel.
            raise AriFault(500, "An internal error prevented this request from being handled")
        technology = "AudioSocket" if parameters["encapsulation"] == "audiosocket" else "UnicastRTP"
        name = f"{technology}/{parameters['host']}-0x{next(self._ids):012x}"
        channel = self._new_channel(
            uid, name, originated=True, state="Down", app_data="(Outgoing Line)", outside_data="(Outgoing Line)"
        )
        app = parameters["app"]
        if technology == "UnicastRTP":
            port = str(10000 + next(self._ids) % 5000 * 2)  # Asterisk's: a free even port of rtp.conf's range
            channel.variables.update({"UNICASTRTP_LOCAL_ADDRESS": "127.0.0.1", "UNICASTRTP_LOCAL_PORT": port})
        answer = channel.json()
        if technology == "UnicastRTP":
            answer["channelvars"] = dict(sorted(channel.variables.items()))
        if app not in self.connected_apps:  # the dialplan's Stasis() finds no application: hung up
            channel.gone = True
            return answer
        channel.app_data = app
        if technology == "UnicastRTP":  # dialled and up at once, as seen on Asterisk 22
            dialstring = f"{parameters['host']}/c({parameters['format']})"
            self._emit(app, "Dial", dialstatus="", forward="", dialstring=dialstring, peer=channel.json())
            channel.state = "Up"
            self._emit(app, "ChannelStateChange", channel=channel.json())
            self._emit(app, "Dial", dialstatus="ANSWER", forward="", dialstring=dialstring, peer=channel.json())
        self._into_stasis(channel, app, [])
        return answer

    def start_moh(self, channel_id: str) -> None:
        channel = self.stasis_channel(channel_id)
        channel.heard.append({"moh": "start", "at": time.monotonic()})

    def stop_moh(self, channel_id: str) -> None:
        channel = self.stasis_channel(channel_id)
        channel.heard.append({"moh": "stop", "at": time.monotonic()})

    def ring(self, channel_id: str) -> None:
        """POST /channels/{id}/ring: the channel hears ringing (Asterisk's indication, until another sound)."""
        channel = self.stasis_channel(channel_id)
        channel.heard.append({"ringing": "start", "at": time.monotonic()})

    def originate(
        self, endpoint: str, channel_id: str | None, app: str, app_args: list[str], timeout: float, caller_id: str
    ) -> Channel:
        technology, _, resource = endpoint.partition("/")
        if not technology or not resource:
            raise AriFault(400, "Invalid parameters for originating a channel.")
        # Asterisk 22 finds an existing channel by id *prefix* here: "call-1" conflicts with a
        # live "call-1-phone". Ids chosen by a client must never be prefixes of one another.
        if endpoint not in self.endpoints:  # Asterisk cannot make a channel to it: that comes first
            raise allocation_failed()
        if channel_id and any(c.id.startswith(channel_id) for c in self.channels.values() if not c.gone):
            raise AriFault(409, "Channel with given unique ID already exists")
        if channel_id and channel_id in self.channels:
            raise AriFault(409, "Channel with given unique ID already exists")
        name, _, number = caller_id.partition("<")
        channel = Channel(
            id=channel_id or self._next_unique_id(),
            name=self._sip_name(resource) if technology == "PJSIP" else f"{endpoint}-{next(self._ids):08x}",
            protocol_id=asterisk_call_id() if technology == "PJSIP" else "",
            caller={"name": name.strip(), "number": number.rstrip(">").strip()},
            context=self.endpoints[endpoint].context if technology == "PJSIP" else "default",
            exten="s",
            originated=True,
            state="Down",
            endpoint=endpoint,
            app_data=",".join([app, *app_args]),
            outside_data="(Outgoing Line)",  # Dial()'s, as the SIP traces of Asterisk 22 show it
        )
        channel.connected = dict(channel.caller)  # the caller id given is its connected line too (main/pbx.c)
        self.channels[channel.id] = channel
        self._spawn(self._ring_agent(channel, app, app_args, self.endpoints[endpoint], ring_for=timeout))
        return channel

    def create(self, endpoint: str, channel_id: str | None, app: str, app_args: list[str]) -> Json:
        """POST /channels/create: a channel to `endpoint`, not yet dialled, in `app` at once (Down). The
        answer shows it before it entered Stasis, as Asterisk's does."""
        if not endpoint:
            raise AriFault(400, "Endpoint must be specified")
        if endpoint not in self.endpoints:
            raise allocation_failed()
        if channel_id and channel_id in self.channels and not self.channels[channel_id].gone:
            raise AriFault(409, "Channel with given unique ID already exists")
        technology, _, resource = endpoint.partition("/")
        # A Local channel's first half starts where it leads (`exten@context`), as Asterisk's does.
        exten, _, context = resource.partition("/")[0].partition("@") if technology == "Local" else ("s", "", "")
        sip = technology == "PJSIP"
        channel = Channel(
            id=channel_id or self._next_unique_id(),
            name=self._sip_name(resource)
            if sip
            else f"{endpoint}-{next(self._ids):08x}" + (";1" if technology == "Local" else ""),
            protocol_id=asterisk_call_id() if sip else "",  # its dialog, and so its Call-ID, exists already
            caller={"name": "", "number": ""},
            context=context or (self.endpoints[endpoint].context if sip else "default"),
            exten=exten,
            originated=True,
            state="Down",
            endpoint=endpoint,
            outside_stasis="",
            outside_data="",
        )
        self.channels[channel.id] = channel
        answer = channel.json()
        if app:
            channel.app_data = ",".join([app, *app_args])
            # Asterisk runs Stasis() on it at once (res/ari/resource_channels.c): its application,
            # already subscribed, hears the dialplan change.
            snapshot = {**channel.json(), "dialplan": {**answer["dialplan"], "app_name": "Stasis"}}
            snapshot["dialplan"]["app_data"] = channel.app_data
            self._emit(
                app, "ChannelDialplan", dialplan_app="Stasis", dialplan_app_data=channel.app_data, channel=snapshot
            )
            self._into_stasis(channel, app, app_args)
        return answer

    def _into_stasis(self, channel: Channel, app: str, args: list[str]) -> None:
        """A channel of the application's (originated or created) enters Stasis(): app_stasis.c clears
        STASISSTATUS first, which the application, subscribed already, hears."""
        channel.app = app
        self._set_by_asterisk(channel, "STASISSTATUS", "")
        self._emit(app, "StasisStart", args=args, channel=channel.json())

    # -- playbacks: playbacks.py; on whose topic ------------------------------------

    def _app_of(self, target: Channel | Bridge | None) -> str | None:
        if isinstance(target, Channel):
            return target.owner
        if isinstance(target, Bridge):
            # On the bridge's topic: the application of a channel that was in it, or one subscribed to it.
            subscribers = [app for app, counts in self.subscriptions.items() if counts[f"bridge:{target.id}"]]
            return target.subscribed or next(iter(subscribers), None)
        return None

    # -- variables ------------------------------------------------------------------------

    def _set_by_asterisk(self, channel: Channel, name: str, value: str) -> None:
        channel.variables[name] = value
        self._emit(channel.app, "ChannelVarset", variable=name, value=value, channel=channel.json())

    def _clear_by_asterisk(self, channel: Channel, name: str) -> None:
        """Asterisk unsets a variable: a ChannelVarset with no value only if it had one."""
        if channel.variables.pop(name, ""):
            self._emit(channel.app, "ChannelVarset", variable=name, value="", channel=channel.json())

    def channel_variable(self, channel_id: str, name: str) -> str:
        """A channel's variable, a built-in one or a dialplan function (dialplan_functions.py)."""
        if not name:
            raise AriFault(400, "Variable name is required")
        channel = self.channels.get(channel_id)
        if channel is None or channel.gone:
            raise AriFault(404, "Provided channel was not found")
        if is_function(name):
            return read_function(channel, name, self.globals)
        builtin = read_builtin(channel, name)
        if builtin is not None:
            return builtin
        if name in channel.variables:
            return channel.variables[name]
        if name in self.globals:
            return self.globals[name]
        raise AriFault(404, "Provided variable was not found")

    def set_channel_variable(self, channel_id: str, name: str, value: str | None) -> None:
        """`value` None: unset (pbx_builtin_setvar_helper with NULL), told only if it had a value."""
        if not name:
            raise AriFault(400, "Variable name is required")
        channel = self.stasis_channel(channel_id)
        if value is None:
            if is_function(name):
                value = ""
            else:
                if channel.variables.pop(name, ""):
                    self._emit(channel.app, "ChannelVarset", variable=name, value="", channel=channel.json())
                return
        if self.talk_detect(channel, name, value):  # TALK_DETECT(set|remove): caller_actions.py
            return
        if is_function(name):  # its own events, if any: no ChannelVarset
            if write_function(channel, name, value):
                self._emit(
                    channel.app,
                    "ChannelCallerId",
                    caller_presentation=PRESENTATION_CODE,
                    caller_presentation_txt=PRESENTATION_TEXT,
                    channel=channel.json(),
                )
            return
        channel.variables[name] = value
        self._emit(channel.app, "ChannelVarset", variable=name, value=value, channel=channel.json())
