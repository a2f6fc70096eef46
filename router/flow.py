"""One caller's call, as a pure state machine: events in, commands out.

Theory of operation
-------------------
`start()` turns the schedule's decision for a new call into the first commands; after that,
`step(call, event)` returns the call's next state and the commands to carry out. Nothing here
does I/O, reads a clock or chooses a random id: ids derive from the call id, so tests are
deterministic and the events of a resource can be matched even when they arrive before the
answer to the request that made it.

The closed branch, in states:

    guidance --PlaybackDone--> offer --Digit 1--> record-intro --PlaybackDone--> recording
       |  Digit 1 (barge in)          |  Timeout                                  |
       +------> record-intro          +--> goodbye              RecordingDone ----+
                                                                  |
               saving <--------- duration > 0 -------------------+--- nothing recorded --> goodbye
                 |  MessageSaved ok: "message-saved", goodbye; failed: "not saved", goodbye
               goodbye --PlaybackDone--> Hangup, Finish

A hangup ends the call in any state with a named outcome; one during the recording still saves
what was recorded. A request that failed for another reason than the call moving on hands the
call to the dialplan fallback. The caller hears "message saved" only after the store said so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

# -- events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaybackDone:
    playback_id: str
    ok: bool


@dataclass(frozen=True)
class Digit:
    digit: str


@dataclass(frozen=True)
class RecordingDone:
    name: str
    seconds: int  # 0: nothing was recorded
    ok: bool = True


@dataclass(frozen=True)
class MessageSaved:
    ok: bool


@dataclass(frozen=True)
class Timeout:
    name: str


@dataclass(frozen=True)
class HungUp:
    pass


@dataclass(frozen=True)
class Failed:
    what: str


Event = PlaybackDone | Digit | RecordingDone | MessageSaved | Timeout | HungUp | Failed

# -- commands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    pass


@dataclass(frozen=True)
class Play:
    playback_id: str
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True)
class Record:
    name: str
    max_seconds: int
    max_silence_seconds: int
    terminate_on: str = "#"


@dataclass(frozen=True)
class SaveMessage:
    recording: str
    seconds: int | None  # None: the caller hung up before Asterisk said how long


@dataclass(frozen=True)
class StartTimer:
    name: str
    seconds: float


@dataclass(frozen=True)
class ContinueInDialplan:
    context: str
    extension: str = "s"
    priority: int = 1


@dataclass(frozen=True)
class Hangup:
    pass


@dataclass(frozen=True)
class Finish:
    outcome: str  # guidance_played, message_left, caller_hung_up, handed_to_dialplan, error_fallback, ...
    detail: str = ""


Command = Answer | Play | StopPlayback | Record | SaveMessage | StartTimer | ContinueInDialplan | Hangup | Finish

# -- the call ---------------------------------------------------------------------------

RECORDING_END_SECONDS = 3.0  # after a hangup, how long Asterisk may take to report the recording


@dataclass(frozen=True)
class Settings:
    offer_seconds: float = 8.0  # how long to wait for "1" after the guidance
    message_max_seconds: int = 120
    message_silence_seconds: int = 6


@dataclass(frozen=True)
class Call:
    id: str
    line: str
    caller: str
    arrived: datetime
    state: str = "new"
    playback: str | None = None  # the playback now running, if any
    recording: str | None = None
    outcome: str | None = None  # decided before the goodbye is played
    settings: Settings = Settings()

    def fallback(self) -> ContinueInDialplan:
        return ContinueInDialplan(f"callrouter-fallback-{self.line}")


def start_closed(call: Call, guidance: tuple[str, ...]) -> tuple[Call, list[Command]]:
    """A caller reached a closed line: answer, say why and what to do instead, offer a message."""
    playback = f"{call.id}-guidance"
    return replace(call, state="guidance", playback=playback), [Answer(), Play(playback, (*guidance, "offer-message"))]


def start_open(call: Call) -> tuple[Call, list[Command]]:
    """The line is open: hand the call to the site's open context (it rings the agents)."""
    target = ContinueInDialplan(f"callrouter-open-{call.line}")
    return replace(call, state="done"), [target, Finish("handed_to_dialplan", target.context)]


def start_unknown(call: Call) -> tuple[Call, list[Command]]:
    """A line the schedule does not know: a polite message, never dead air."""
    playback = f"{call.id}-unknown"
    state = replace(call, state="goodbye", playback=playback, outcome="unknown_line")
    return state, [Answer(), Play(playback, ("line-unknown", "goodbye"))]


def step(call: Call, event: Event) -> tuple[Call, list[Command]]:
    """The next state of `call` and what to do, for one event."""
    if call.state == "done":
        return call, []
    if isinstance(event, HungUp):
        return _hung_up(call)
    if isinstance(event, Failed):
        return replace(call, state="done"), [call.fallback(), Finish("error_fallback", event.what)]
    handler = _STATES.get(call.state)
    return handler(call, event) if handler else (call, [])


def _hung_up(call: Call) -> tuple[Call, list[Command]]:
    outcome = call.outcome or {"offer": "guidance_played"}.get(call.state, "caller_hung_up")
    if call.state == "recording":
        # What was recorded is kept. Asterisk reports the hangup before it has finished the
        # recording, so wait for RecordingFinished (or, failing that, a few seconds) to store it.
        return replace(call, state="recording-hungup"), [StartTimer("recording-end", RECORDING_END_SECONDS)]
    if call.state in ("recording-hungup", "saving", "saving-after-hangup"):
        state = "recording-hungup" if call.state == "recording-hungup" else "saving-after-hangup"
        return replace(call, state=state), []
    return replace(call, state="done"), [Finish(outcome, f"in {call.state}")]


def _guidance(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, Digit) and event.digit == "1":
        assert call.playback is not None
        return _record_intro(call, [StopPlayback(call.playback)])
    if isinstance(event, PlaybackDone) and event.playback_id == call.playback:
        return replace(call, state="offer", playback=None), [StartTimer("offer", call.settings.offer_seconds)]
    return call, []


def _offer(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, Digit) and event.digit == "1":
        return _record_intro(call, [])
    if isinstance(event, Timeout) and event.name == "offer":
        return _goodbye(call, ("goodbye",), "guidance_played")
    return call, []


def _record_intro(call: Call, first: list[Command]) -> tuple[Call, list[Command]]:
    playback = f"{call.id}-record-intro"
    return replace(call, state="record-intro", playback=playback), [*first, Play(playback, ("record-after-beep",))]


def _record(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, PlaybackDone) and event.playback_id == call.playback:
        name = f"msg-{call.id}"
        settings = call.settings
        command = Record(name, settings.message_max_seconds, settings.message_silence_seconds)
        return replace(call, state="recording", playback=None, recording=name), [command]
    return call, []


def _recording(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, RecordingDone) and event.name == call.recording:
        if event.ok and event.seconds > 0:
            return replace(call, state="saving"), [SaveMessage(event.name, event.seconds)]
        return _goodbye(call, ("message-not-saved", "goodbye"), "no_message")
    return call, []


def _saving(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, MessageSaved):
        if event.ok:
            return _goodbye(call, ("message-saved", "goodbye"), "message_left")
        return _goodbye(call, ("message-not-saved", "goodbye"), "message_not_saved")
    return call, []


def _recording_hungup(call: Call, event: Event) -> tuple[Call, list[Command]]:
    assert call.recording is not None
    if isinstance(event, RecordingDone) and event.name == call.recording:
        if event.ok and event.seconds > 0:
            return replace(call, state="saving-after-hangup"), [SaveMessage(event.name, event.seconds)]
        return replace(call, state="done"), [Finish("caller_hung_up", "nothing recorded")]
    if isinstance(event, Timeout) and event.name == "recording-end":
        return replace(call, state="saving-after-hangup"), [SaveMessage(call.recording, None)]
    return call, []


def _saving_after_hangup(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, MessageSaved):
        outcome = "message_left" if event.ok else "caller_hung_up"
        return replace(call, state="done"), [Finish(outcome, "caller hung up while recording")]
    return call, []


def _goodbye(call: Call, prompts: tuple[str, ...], outcome: str) -> tuple[Call, list[Command]]:
    playback = f"{call.id}-goodbye"
    return replace(call, state="goodbye", playback=playback, outcome=outcome), [Play(playback, prompts)]


def _after_goodbye(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, PlaybackDone) and event.playback_id == call.playback:
        return replace(call, state="done"), [Hangup(), Finish(call.outcome or "guidance_played")]
    return call, []


_STATES = {
    "guidance": _guidance,
    "offer": _offer,
    "record-intro": _record,
    "recording": _recording,
    "saving": _saving,
    "recording-hungup": _recording_hungup,
    "saving-after-hangup": _saving_after_hangup,
    "goodbye": _after_goodbye,
}
