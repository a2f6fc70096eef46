"""The call flow's vocabulary (calls/flow.py): the events a call gets, the commands it gives, and the call
itself. Pure data; flow.py and the callback dialogue (calls/callback_offer.py) step on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from router.calls.estimate import Estimate

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


@dataclass(frozen=True)
class Position:
    """Time to tell a waiting caller their place in the queue (1: next to be served), and how long they
    will probably wait (None: too little to go on, so nothing is said)."""

    number: int
    estimate: Estimate | None = None


@dataclass(frozen=True)
class Connected:
    """An agent answered for this caller and won: bridge the two."""

    leg_id: str
    agent: str
    waited_seconds: float


@dataclass(frozen=True)
class AgentLeft:
    leg_id: str


@dataclass(frozen=True)
class CallbackSaved:
    """The store kept the caller's callback (ok), or could not."""

    ok: bool


Event = (
    PlaybackDone
    | Digit
    | RecordingDone
    | MessageSaved
    | Timeout
    | HungUp
    | Failed
    | Position
    | Connected
    | AgentLeft
    | CallbackSaved
)

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
class NoteMessage:
    """Note in the store who is about to leave a message (office/recording_notes.py), in the
    background: should this router die before storing it, another stores it under their number."""


@dataclass(frozen=True)
class SaveMessage:
    recording: str
    seconds: int | None  # None: the caller hung up before Asterisk said how long


@dataclass(frozen=True)
class DiscardRecording:
    """Delete a recording that holds no message (nothing said, or Asterisk failed it) from Asterisk's
    stored recordings: nothing else would, and its spool would fill with them."""

    recording: str


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
    outcome: str  # guidance_played, message_left, caller_hung_up, handed_to_dialplan, shed_to_dialplan, ...
    detail: str = ""


@dataclass(frozen=True)
class EnterQueue:
    """Into the line's holding bridge (music on hold) and the queue's waiting list."""


@dataclass(frozen=True)
class Requeue:
    """Back into the holding bridge and to the front of the waiting list: `dropped_by` answered and
    left at once, so the other agents ring (that one not for this caller until a retry pause passed)."""

    dropped_by: str


@dataclass(frozen=True)
class RejoinQueue:
    """After a restart: the caller is in holding bridge `bridge` already; back into the waiting list."""

    bridge: str


@dataclass(frozen=True)
class LeaveQueue:
    """Out of the waiting list (agents ringing for this caller stop) and the holding bridge."""


@dataclass(frozen=True)
class BridgeAgent:
    """Caller and the agent's leg into a mixing bridge of their own."""

    leg_id: str


@dataclass(frozen=True)
class HangupLeg:
    leg_id: str


@dataclass(frozen=True)
class EndBridge:
    """Remove the caller's mixing bridge (after the conversation)."""


@dataclass(frozen=True)
class RequestCallback:
    """Keep a callback to `number` in the store, and let it take the caller's place in the queue."""

    number: str


Command = (
    Answer
    | Play
    | StopPlayback
    | Record
    | NoteMessage
    | SaveMessage
    | DiscardRecording
    | StartTimer
    | ContinueInDialplan
    | Hangup
    | Finish
    | EnterQueue
    | Requeue
    | RejoinQueue
    | LeaveQueue
    | BridgeAgent
    | HangupLeg
    | EndBridge
    | RequestCallback
)

# -- the call ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    offer_seconds: float = 8.0  # how long to wait for "1" after the guidance
    message_max_seconds: int = 120
    message_silence_seconds: int = 6
    # An agent who leaves within this long of answering dropped the caller (a wrong button, a phone
    # that answers and fails): the caller goes back to the front of the queue instead of being hung up.
    agent_settle_seconds: float = 2.0
    callback_input_seconds: float = 8.0  # how long to wait for a key in the callback dialogue
    callback_tries: int = 3  # bad or missing numbers before the dialogue gives up (the caller waits on)


@dataclass(frozen=True)
class Dialogue:
    """Where a caller is in choosing the number to be called back on (calls/callback_offer.py)."""

    number: str  # the number to confirm ("" when there is none: one must be keyed in)
    typed: str = ""  # keys pressed towards another number
    tries: int = 0  # unusable or missing answers so far
    prompts: int = 0  # playbacks so far, each with an id of its own


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
    announce_seconds: float = 0  # queue: position announcements every so often; 0: none
    announcements: int = 0
    overflowed: bool = False  # queue: the caller waited too long and was offered the answering machine
    agent: str | None = None
    leg: str | None = None
    waited: float = 0.0
    settled: bool = False  # queue: the agent stayed past agent_settle_seconds
    due: str | None = None  # queue: a max-wait or closing timeout that fired while an agent was connecting
    caller_name: str = ""  # the name the call carried (CALLERID(name)), kept with a message
    callback_key: str | None = None  # queue: the key that asks for a callback (None: not offered)
    dialogue: Dialogue | None = None  # queue: choosing the number to be called back on

    def fallback(self) -> ContinueInDialplan:
        return ContinueInDialplan(f"callrouter-fallback-{self.line}")
