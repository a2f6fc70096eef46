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

The open branch (a queue; `router.calls.queue` decides which agent rings for whom):

    welcome --PlaybackDone--> queued --Connected--> connected --HungUp / AgentLeft--> Hangup, Finish
                                 |  ^                  |
                                 |  +-- AgentLeft -----+  before `agent-settled` (the agent dropped the
                                 |                        caller at once): back to the front, another agent
                                 |  Position: announce it, then wait for the next one
                                 +--Timeout max-wait / closing--> overflow guidance --> (closed branch's offer)

A router that restarted takes up a caller it finds in its holding bridge with `resume_queued()`: in
the queue again, by arrival, with the time already waited counted.

A hangup ends the call in any state with a named outcome; one during the recording still saves
what was recorded. A request that failed for another reason than the call moving on hands the
call to the dialplan fallback. The caller hears "message saved" only after the store said so.
"""

from __future__ import annotations

from dataclasses import replace

from router.calls import callback_offer
from router.calls.estimate import words as estimate_words
from router.calls.flow_types import (
    AgentLeft,
    Answer,
    BridgeAgent,
    Call,
    CallbackSaved,
    Command,
    Connected,
    ContinueInDialplan,
    Digit,
    DiscardRecording,
    EndBridge,
    EnterQueue,
    Event,
    Failed,
    Finish,
    Hangup,
    HangupLeg,
    HungUp,
    LeaveQueue,
    MessageSaved,
    NoteMessage,
    Play,
    PlaybackDone,
    Position,
    Record,
    RecordingDone,
    RejoinQueue,
    RequestCallback,
    Requeue,
    SaveMessage,
    Settings,
    StartTimer,
    StopPlayback,
    Timeout,
)

__all__ = [  # the vocabulary, for those who speak to a call through this module
    "AgentLeft",
    "Answer",
    "BridgeAgent",
    "Call",
    "CallbackSaved",
    "Command",
    "Connected",
    "ContinueInDialplan",
    "Digit",
    "DiscardRecording",
    "EndBridge",
    "EnterQueue",
    "Event",
    "Failed",
    "Finish",
    "Hangup",
    "HangupLeg",
    "HungUp",
    "LeaveQueue",
    "MessageSaved",
    "NoteMessage",
    "Play",
    "PlaybackDone",
    "Position",
    "Record",
    "RecordingDone",
    "RejoinQueue",
    "RequestCallback",
    "Requeue",
    "SaveMessage",
    "Settings",
    "StartTimer",
    "StopPlayback",
    "Timeout",
]

MAX_SPOKEN_POSITION = 24  # the manifest has the numbers num-0 .. num-24
RECORDING_END_SECONDS = 3.0  # after a hangup, how long Asterisk may take to report the recording

# The playbacks a call may have running, by the suffix of their ids (but for the numbered position
# announcements, which are short): a restarted router stops them before handing a caller it no longer
# knows to the fallback, as Asterisk plays a channel's playback to its end before a `continue`.
PLAYBACKS = ("guidance", "welcome", "unknown", "record-intro", "goodbye", "overflow")


def playbacks_of(call_id: str) -> list[str]:
    return [f"{call_id}-{name}" for name in PLAYBACKS]


MESSAGE_PREFIX = "msg-"


def message_recording(call_id: str) -> str:
    """The name of the recording of a caller's message (an Asterisk stored recording once done)."""
    return MESSAGE_PREFIX + call_id


def resume_recording(call: Call) -> Call:
    """A caller was leaving a message when the router restarted: Asterisk goes on recording, and the
    call is taken up where it was; RecordingFinished (the caller's #, silence or hangup) goes on as usual."""
    return replace(call, state="recording", recording=message_recording(call.id))


def resume_saving(call: Call) -> tuple[Call, list[Command]]:
    """A caller's message was recorded, but its router died before storing it: a restarted router (or
    the standby) stores it now, and the caller still on the line hears that it was received."""
    name = message_recording(call.id)
    return replace(call, state="saving", recording=name), [SaveMessage(name, None)]


def resume_queued(
    call: Call,
    bridge: str,
    *,
    max_wait_left: float,
    announce_seconds: float,
    closing_in_seconds: float | None,
    announcements: int = 0,
    callback: tuple[str, float] | None = None,
) -> tuple[Call, list[Command]]:
    """A caller was waiting in the queue when the router restarted: Asterisk kept them in the holding
    bridge with music; they go on waiting where they were. `announcements` continues the numbering of
    position announcements, so that a new one never takes the id of one still playing."""
    commands = _waiting_timers(max_wait_left, closing_in_seconds)
    if announce_seconds > 0:
        commands.append(StartTimer("announce", announce_seconds))
    if callback is not None:  # the offer, when it is due (or at once, if it was due while we were away)
        commands.append(callback_offer.offer_timer(callback[1]))
    key = callback[0] if callback else None
    state = replace(
        call, state="queued", announce_seconds=announce_seconds, announcements=announcements, callback_key=key
    )
    return state, [*commands, RejoinQueue(bridge)]


def start_closed(call: Call, guidance: tuple[str, ...]) -> tuple[Call, list[Command]]:
    """A caller reached a closed line: answer, say why and what to do instead, offer a message."""
    playback = f"{call.id}-guidance"
    return replace(call, state="guidance", playback=playback), [Answer(), Play(playback, (*guidance, "offer-message"))]


def start_open(call: Call, context: str | None = None) -> tuple[Call, list[Command]]:
    """The line is open and its site keeps its own queue in the dialplan: continue there."""
    target = ContinueInDialplan(context or f"callrouter-open-{call.line}")
    return replace(call, state="done"), [target, Finish("handed_to_dialplan", target.context)]


def start_shed(call: Call) -> tuple[Call, list[Command]]:
    """Too many calls are being set up at once (Asterisk is answering us slowly): this one goes
    straight to the dialplan fallback, which follows the same schedule without the router."""
    target = call.fallback()
    return replace(call, state="done"), [target, Finish("shed_to_dialplan", target.context)]


def start_queue(
    call: Call,
    welcome: tuple[str, ...],
    *,
    max_wait_seconds: float,
    announce_seconds: float,
    closing_in_seconds: float | None,
    callback: tuple[str, float] | None = None,
) -> tuple[Call, list[Command]]:
    """The line is open: a short welcome, then the queue with music until an agent answers.

    `closing_in_seconds`: when the phone hours end, for a line that does not serve callers still
    waiting then (None: it does, or the hours do not end). `callback`: the key that asks for a callback
    and after how many seconds it is offered (calls/callback_offer.py), or None.
    """
    playback = f"{call.id}-welcome"
    commands: list[Command] = [
        Answer(),
        Play(playback, welcome),
        *_waiting_timers(max_wait_seconds, closing_in_seconds),
    ]
    key = None
    if callback is not None:
        key = callback[0]
        commands.append(callback_offer.offer_timer(callback[1]))
    state = replace(call, state="welcome", playback=playback, announce_seconds=announce_seconds, callback_key=key)
    return state, commands


def _waiting_timers(max_wait_seconds: float, closing_in_seconds: float | None) -> list[Command]:
    """How long a caller may wait in the queue, and when the phone hours end for them (None: never)."""
    timers: list[Command] = [StartTimer("max-wait", max(0.0, max_wait_seconds))]
    if closing_in_seconds is not None:
        timers.append(StartTimer("closing", max(0.0, closing_in_seconds)))
    return timers


def start_unknown(call: Call) -> tuple[Call, list[Command]]:
    """A line the schedule does not know: a polite message, never dead air."""
    playback = f"{call.id}-unknown"
    state = replace(call, state="goodbye", playback=playback, outcome="unknown_line")
    return state, [Answer(), Play(playback, ("line-unknown", "goodbye"))]


def step(call: Call, event: Event) -> tuple[Call, list[Command]]:
    """The next state of `call` and what to do, for one event."""
    if isinstance(event, Connected) and call.state not in ("queued", "callback"):
        # The caller left the queue a moment ago (even if the call has ended since): the agent who
        # answered for them must not be left on the line.
        return call, [HangupLeg(event.leg_id)]
    if call.state == "done":
        return call, []
    if isinstance(event, HungUp):
        return _hung_up(call)
    if isinstance(event, Failed):
        return _failed(call, event.what)
    handler = _STATES.get(call.state)
    return handler(call, event) if handler else (call, [])


def _failed(call: Call, what: str) -> tuple[Call, list[Command]]:
    commands: list[Command] = []
    if call.playback is not None:  # Asterisk would play it to its end before the fallback
        commands.append(StopPlayback(call.playback))
    if call.state in ("welcome", "queued", *callback_offer.STATES):
        commands.append(LeaveQueue())
    if call.leg is not None:
        commands += [HangupLeg(call.leg), EndBridge()]
    return replace(call, state="done"), [*commands, call.fallback(), Finish("error_fallback", what)]


def _hung_up(call: Call) -> tuple[Call, list[Command]]:
    if call.state in ("welcome", "queued", *callback_offer.STATES):
        return replace(call, state="done"), [LeaveQueue(), Finish("caller_gave_up", f"in {call.state}")]
    if call.state == "connected":
        assert call.leg is not None
        return replace(call, state="done"), [HangupLeg(call.leg), EndBridge(), _answered(call)]
    if call.overflowed and call.state in ("guidance", "offer"):
        return replace(call, state="done"), [Finish("overflow", f"hung up in {call.state}")]
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
    commands = [*first, Play(playback, ("record-after-beep",)), NoteMessage()]
    return replace(call, state="record-intro", playback=playback), commands


def _record(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, PlaybackDone) and event.playback_id == call.playback:
        name = message_recording(call.id)
        settings = call.settings
        command = Record(name, settings.message_max_seconds, settings.message_silence_seconds)
        return replace(call, state="recording", playback=None, recording=name), [command]
    return call, []


def _recording(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, RecordingDone) and event.name == call.recording:
        if event.ok and event.seconds > 0:
            return replace(call, state="saving"), [SaveMessage(event.name, event.seconds)]
        state, commands = _goodbye(call, ("message-not-saved", "goodbye"), "no_message")
        return state, [DiscardRecording(event.name), *commands]
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
        return replace(call, state="done"), [DiscardRecording(event.name), Finish("caller_hung_up", "nothing recorded")]
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
    if call.overflowed and outcome == "guidance_played":
        outcome = "overflow"
    return replace(call, state="goodbye", playback=playback, outcome=outcome), [Play(playback, prompts)]


def _after_goodbye(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, PlaybackDone) and event.playback_id == call.playback:
        return replace(call, state="done"), [Hangup(), Finish(call.outcome or "guidance_played")]
    return call, []


def _welcome(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, PlaybackDone) and event.playback_id == call.playback:
        commands: list[Command] = [EnterQueue()]
        if call.announce_seconds > 0:
            commands.append(StartTimer("announce", call.announce_seconds))
        return replace(call, state="queued", playback=None), commands
    if isinstance(event, Timeout) and event.name == callback_offer.OFFER_TIMER:
        return call, [callback_offer.offer_timer(2.0)]  # once the welcome is over
    return _queue_timeout(call, event)


def _queued(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, Connected):
        stop: list[Command] = [StopPlayback(call.playback)] if call.playback else []
        state = replace(call, state="connected", playback=None, agent=event.agent, leg=event.leg_id, settled=False)
        settle = StartTimer("agent-settled", call.settings.agent_settle_seconds)
        return replace(state, waited=event.waited_seconds), [*stop, BridgeAgent(event.leg_id), settle]
    if isinstance(event, Position) and event.number == 0:  # between queue and agent: nothing to say
        return call, [StartTimer("announce", call.announce_seconds)]
    if isinstance(event, Position) and call.playback is None:
        playback = f"{call.id}-position-{call.announcements + 1}"
        words = ("queue-position", f"num-{event.number}", "queue-position-end")
        prompts = words if 1 <= event.number <= MAX_SPOKEN_POSITION else ("queue-position-many",)
        if event.estimate is not None:
            prompts = (*prompts, *estimate_words(event.estimate))
        return replace(call, playback=playback, announcements=call.announcements + 1), [Play(playback, prompts)]
    if isinstance(event, PlaybackDone) and event.playback_id == call.playback:
        return replace(call, playback=None), [StartTimer("announce", call.announce_seconds)]
    if isinstance(event, Timeout) and event.name == callback_offer.OFFER_TIMER and call.callback_key:
        return callback_offer.offer(call)
    if isinstance(event, Digit) and event.digit == call.callback_key:
        return callback_offer.begin(call)
    return _queue_timeout(call, event)


def _callback(call: Call, event: Event) -> tuple[Call, list[Command]]:
    """Choosing the number to be called back on (calls/callback_offer.py): an agent who answers meanwhile
    gets the caller, and the queue's timeouts still hold."""
    timed_out = isinstance(event, Timeout) and event.name in ("max-wait", "closing")
    if call.state == "callback" and (isinstance(event, Connected) or timed_out):
        return _queued(replace(call, state="queued", dialogue=None), event)
    return callback_offer.step(call, event)


def _queue_timeout(call: Call, event: Event) -> tuple[Call, list[Command]]:
    """Waited too long, or the phone hours ended: offer the answering machine instead."""
    if isinstance(event, Timeout) and event.name in ("max-wait", "closing"):
        stop: list[Command] = [StopPlayback(call.playback)] if call.playback else []
        playback = f"{call.id}-overflow"
        why = "queue-overflow" if event.name == "max-wait" else "queue-closing"
        state = replace(call, state="guidance", playback=playback, overflowed=True)
        return state, [LeaveQueue(), *stop, Play(playback, (why, "offer-message"))]
    return call, []


def _connected(call: Call, event: Event) -> tuple[Call, list[Command]]:
    if isinstance(event, Timeout) and event.name == "agent-settled":
        return replace(call, settled=True), []
    if isinstance(event, Timeout) and event.name in ("max-wait", "closing") and not call.settled:
        return replace(call, due=event.name), []  # for when the agent drops the caller after all
    if isinstance(event, AgentLeft) and event.leg_id == call.leg:
        if call.settled:
            return replace(call, state="done"), [Hangup(), EndBridge(), _answered(call)]
        return _back_in_queue(call)
    return call, []


def _back_in_queue(call: Call) -> tuple[Call, list[Command]]:
    """The agent dropped the caller right after answering: the caller waits again, first in line."""
    assert call.agent is not None
    state = replace(call, state="queued", agent=None, leg=None, waited=0.0, settled=False, due=None)
    if call.due is not None:  # the wait ran out meanwhile: the answering machine, as it would have been
        end, commands = _queue_timeout(state, Timeout(call.due))
        return end, [EndBridge(), *commands]
    announce: list[Command] = [StartTimer("announce", call.announce_seconds)] if call.announce_seconds > 0 else []
    return state, [EndBridge(), Requeue(call.agent), *announce]


def _answered(call: Call) -> Finish:
    return Finish("answered", f"by {call.agent} after {call.waited:.0f} s")


_STATES = {
    "welcome": _welcome,
    "queued": _queued,
    "callback": _callback,
    "callback-saving": _callback,
    "connected": _connected,
    "guidance": _guidance,
    "offer": _offer,
    "record-intro": _record,
    "recording": _recording,
    "saving": _saving,
    "recording-hungup": _recording_hungup,
    "saving-after-hangup": _saving_after_hangup,
    "goodbye": _after_goodbye,
}
