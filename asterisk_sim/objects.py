"""The simulated Asterisk's objects (channels, bridges, playbacks, live recordings, the phones behind
endpoints), each shown as ARI shows it (`json()`), and the constants of Asterisk's they carry."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from asterisk_sim.answers import Json, now_text

INBOUND_CONTEXT = "default"  # where calls come in unless set up otherwise (settings.py), Stasis() at priority 2

# Q.850 causes Asterisk reports, with its texts.
CAUSES = {
    0: "Unknown",  # none set: a SIP phone's BYE (ast_cause2str's text for a cause it does not know)
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    32: "Circuit/channel congestion",
}

# The sounds a fresh Debian Asterisk knows (a sample of asterisk-core-sounds-en), plus what tests add, in
# GSM in three languages: Debian's sounds/en and sounds/en_US are links to sounds/en_US_f_Allison.
CORE_SOUND_LANGUAGES = ("en", "en_US", "en_US_f_Allison")
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
    context: str = "default"  # a PJSIP endpoint's (pjsip.conf's `context`): where its channels start


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
    protocol_id: str = ""  # a SIP channel's Call-ID (the phone's, or Asterisk's own for a call it makes)
    created: str = field(default_factory=now_text)
    started: float = field(default_factory=time.monotonic)  # for measuring how soon a caller hears something
    heard: list[Json] = field(default_factory=list)  # what the caller would hear, in order
    gone: bool = False
    answered_at: float | None = None  # time.monotonic(), as the `at` of what it heard
    hangup: Json | None = None  # {"cause", "by": caller | application | phone | asterisk, "at"}
    dialplan_after: Json | None = None  # where `continue` sent it
    silent: bool = False  # the caller says nothing (ends a recording after maxSilenceSeconds)
    silent_since: float = 0.0
    speech: bytes = b""  # what the caller last said (recorder.py): 8 kHz, 16-bit samples
    said_at: float = 0.0
    spoke: asyncio.Event = field(default_factory=asyncio.Event)  # set when the caller's talking changes
    variables: dict[str, str] = field(default_factory=dict)  # set by the application
    # Its application took back the subscription Stasis gave it (DELETE .../subscription): it is told
    # only StasisEnd, which Asterisk sends to the application itself, not on the channel's topic.
    released: bool = False
    # Where it is in the dialplan, for a channel that is not a call's (a snoop starts at default,s,1, with
    # no application until it enters Stasis).
    priority: int | None = None
    outside_stasis: str = "AppDial2"
    outside_data: str | None = None  # its dialplan app's data outside Stasis, where not `app_data`
    connected_changed: bool = False  # a Local half's connected line, once something else was bridged with it
    connected: Json = field(default_factory=lambda: {"name": "", "number": ""})  # the connected line
    language: str = "en"  # asterisk.conf's defaultlanguage; a play without `lang` looks for sounds in it
    held: bool = False  # its phone put the call on hold (caller_actions.py)
    talking: bool = False  # the caller talks now (POST /_sim/channels/{id}/talk)
    talk_detect: int | None = None  # TALK_DETECT(set): its silence threshold in ms; None: not detecting

    @property
    def owner(self) -> str:
        """The application told about this channel: the one it is in, else the one it was sent to."""
        return self.app or self.app_data.split(",")[0]

    def json(self) -> Json:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": self.protocol_id,
            "caller": self.caller,
            "connected": dict(self.connected),
            "accountcode": "",
            "dialplan": {
                "context": self.context,
                "exten": self.exten,
                "priority": self.priority or (2 if not self.originated else 1),
                "app_name": "Stasis" if self.app else self.outside_stasis,
                "app_data": self.app_data if self.app or self.outside_data is None else self.outside_data,
            },
            "creationtime": self.created,
            "language": self.language,
        }


@dataclass
class Bridge:
    id: str
    bridge_type: str
    name: str
    channels: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # `channels` in Asterisk's own order (bridging.py)
    technology: str = "simple_bridge"  # a mixing bridge's: softmix while it has more than two members
    # Asterisk's own channels in it, by what they do ("moh", "announcer", "recorder <n>") -> their
    # names: members of the bridge (in `members`, for BRIDGEPEER and its technology), never listed.
    own: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=now_text)
    # app -> how often its channels' entering subscribed it to the bridge, less the leavings that
    # took one back (bridging.py): while above nought, the application is told of the bridge.
    watching: Counter[str] = field(default_factory=Counter)
    variables: dict[str, str] = field(default_factory=dict)  # POST /bridges/{id}/variable(s)
    video_source: str | None = None  # the channel whose video everyone sees (POST .../videoSource)

    @property
    def moh(self) -> bool:
        """Music on hold is playing in it (POST /bridges/{id}/moh): its channel is in the bridge."""
        return "moh" in self.own

    @property
    def subscribed(self) -> str | None:
        """The application told of the bridge because one of its channels entered it."""
        return next((app for app, times in self.watching.items() if times > 0), None)

    def json(self) -> Json:
        technology = "holding_bridge" if self.bridge_type == "holding" else self.technology
        return {
            "id": self.id,
            "technology": technology,
            "bridge_type": self.bridge_type,
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": self.name,
            "channels": sorted(self.channels),  # Asterisk's snapshot holds them in a sorted container
            "creationtime": self.created,
            "video_mode": "talker",
        }


@dataclass
class Playback:
    id: str
    media: list[str]
    target_uri: str
    language: str = "en"  # the `lang` asked, else the channel's
    index: int = 0
    state: str = "queued"
    task: asyncio.Task[None] | None = None
    restarted: bool = False  # `restart` asked: the current media plays again from its start
    controlled: asyncio.Event = field(default_factory=asyncio.Event)  # set by pause, unpause, restart
    heard: list[tuple[str, Json]] = field(default_factory=list)  # (channel, its `heard` entry) of the media playing

    def json(self) -> Json:
        data: Json = {"id": self.id, "media_uri": self.media[self.index]}
        if self.index + 1 < len(self.media):
            data["next_media_uri"] = self.media[self.index + 1]
        # A playback stopped while it was queued is `done` to ARI (res_stasis_playback.c, state_to_string).
        state = "done" if self.state == "canceled" else self.state
        data.update({"target_uri": self.target_uri, "language": self.language, "state": state})
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
    bridge_id: str | None = None  # a bridge's recording (POST /bridges/{id}/record): channel_id is ""
    recorder: str | None = None  # and the role of Asterisk's channel that records it there (bridging.py)
    # POST .../mute: silence is recorded in place of the channel's audio, since then, and in these spans
    muted_since: float | None = None
    muted_spans: list[tuple[float, float]] = field(default_factory=list)

    @property
    def muted(self) -> bool:
        return self.muted_since is not None

    def json(self) -> Json:
        target = f"bridge:{self.bridge_id}" if self.bridge_id else f"channel:{self.channel_id}"
        return {"name": self.name, "format": self.fmt, "state": self.state, "target_uri": target}
