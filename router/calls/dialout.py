"""One "Ring op" from the console, as a pure state machine: events in, commands out, no clock, no I/O.

Theory of operation. The staff member's own phone is rung first (an originate into our Stasis
application, which the leg enters only when answered). When they answer, the citizen is dialled
through the line's `callback:` target with the line's number as caller id, and the staff member hears
ringing meanwhile. When the citizen answers, that ringing stops and both legs go into a mixing bridge
of their own. A queue's callback (calls/callback_runner.py) has a `greeting`: the citizen who answers
hears it first, alone on their channel, while the agent still hears ringing; only then are the two
bridged (the citizen learns who is calling before the agent speaks, and the agent does not hear the
citizen meanwhile). Whichever side ends first, the other is hung up and the bridge destroyed; the
attempt is then `done` with an outcome:

    staff-unanswered   the staff member's phone was not answered (or was busy, or offline)
    cancelled          the staff member hung up while the citizen's phone rang
    busy               the citizen's line was busy
    no-answer          the citizen did not answer (or the call could not be put through)
    talked             they talked (or the citizen answered and an end came during the greeting);
                       `seconds` is how long

A leg's end may be reported twice (ChannelHangupRequest, StasisEnd, ChannelDestroyed): after the first,
the others change nothing. Ids are the attempt's with a suffix, chosen so that neither is a prefix of
the other (Asterisk finds an originate's channel id by prefix).

    ringing-staff --StaffAnswered--> ringing-citizen --CitizenAnswered--> talking
                                          |                                  ^
                                          +--CitizenAnswered (a greeting)--> greeting --Greeted--+

    and from every state, a leg's end --> done
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

State = Literal["ringing-staff", "ringing-citizen", "greeting", "talking", "done"]
Leg = Literal["staff", "citizen"]
Outcome = Literal["staff-unanswered", "cancelled", "busy", "no-answer", "talked"]
OUTCOME_TEXT: dict[str, str] = {  # as staff read them, in the console and its Log
    "talked": "talte med borgeren",
    "busy": "optaget",
    "no-answer": "intet svar",
    "cancelled": "afbrudt, før borgeren svarede",
    "staff-unanswered": "din telefon blev ikke taget",
}
APP_ARG = "dialout"  # the originated legs' first Stasis argument: `dialout,<attempt>,<staff|citizen>`
STAFF_RING_SECONDS = 30
BUSY_CAUSES = frozenset({17})  # Q.850 user busy


@dataclass(frozen=True)
class Attempt:
    id: str
    message_id: str
    staff: str  # the account's name
    staff_endpoint: str  # PJSIP/agent1
    citizen_endpoint: str  # the line's dial target with the number in it
    citizen_number: str  # shown on the staff member's phone while it rings
    caller_id: str  # the line's number, shown to the citizen
    citizen_ring_seconds: int
    started: datetime
    state: State = "ringing-staff"
    answered: datetime | None = None  # when the citizen answered
    ended: datetime | None = None
    outcome: Outcome | None = None
    staff_ring_seconds: int = STAFF_RING_SECONDS
    # A queue's callback: the agent's leg, answered already (the machine then starts with `Answered("staff")`).
    staff_channel: str = ""
    greeting: tuple[str, ...] = ()  # prompts the citizen hears on answering, before the bridge (a callback's)

    @property
    def staff_leg(self) -> str:
        return self.staff_channel or f"{self.id}-staff"

    @property
    def citizen_leg(self) -> str:
        return f"{self.id}-citizen"

    @property
    def bridge(self) -> str:
        return f"{self.id}-bridge"

    @property
    def greeting_playback(self) -> str:
        return f"{self.id}-greeting"

    @property
    def seconds(self) -> float | None:
        """How long they talked, once it ended (None if the citizen never answered)."""
        if self.answered is None or self.ended is None:
            return None
        return (self.ended - self.answered).total_seconds()


# Events: what Asterisk said about one of the attempt's legs.


@dataclass(frozen=True)
class Answered:
    leg: Leg
    at: datetime


@dataclass(frozen=True)
class Ended:
    leg: Leg
    at: datetime
    cause: int = 16  # Q.850; 16 is a normal clearing


@dataclass(frozen=True)
class Greeted:
    """The citizen's greeting finished playing (or could not be played)."""

    at: datetime


Event = Answered | Ended | Greeted


# Commands.


@dataclass(frozen=True)
class Originate:
    channel_id: str
    endpoint: str
    app_args: tuple[str, ...]
    ring_seconds: int
    caller_id: str  # `"name" <number>`


@dataclass(frozen=True)
class Ring:
    """Ringing tone to an answered channel (the staff member, while the citizen's phone rings)."""

    channel_id: str


@dataclass(frozen=True)
class StopRinging:
    """The ringing tone off again. Asterisk plays it on the channel itself, and goes on playing it, over
    what the bridge brings, until told to stop: without this, the staff member never hears the citizen."""

    channel_id: str


@dataclass(frozen=True)
class Greet:
    """Play `prompts` to the answered citizen, alone; `Greeted` when it is over."""

    channel_id: str
    playback_id: str
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class Bridge:
    bridge_id: str
    channel_ids: tuple[str, ...]


@dataclass(frozen=True)
class HangUp:
    channel_id: str


@dataclass(frozen=True)
class DestroyBridge:
    bridge_id: str


@dataclass(frozen=True)
class Finished:
    """The attempt is over: record it."""


Command = Originate | Ring | StopRinging | Greet | Bridge | HangUp | DestroyBridge | Finished


def start(attempt: Attempt) -> tuple[Attempt, list[Command]]:
    """Ring the staff member's own phone, showing them whom they are about to call."""
    ring = Originate(
        attempt.staff_leg,
        attempt.staff_endpoint,
        (APP_ARG, attempt.id, "staff"),
        attempt.staff_ring_seconds,
        f'"Ring op" <{attempt.citizen_number}>',
    )
    return replace(attempt, state="ringing-staff"), [ring]


def step(attempt: Attempt, event: Event) -> tuple[Attempt, list[Command]]:
    match attempt.state, event:
        case "ringing-staff", Answered("staff"):
            dial = Originate(
                attempt.citizen_leg,
                attempt.citizen_endpoint,
                (APP_ARG, attempt.id, "citizen"),
                attempt.citizen_ring_seconds,
                f'"{attempt.caller_id}" <{attempt.caller_id}>',
            )
            return replace(attempt, state="ringing-citizen"), [dial, Ring(attempt.staff_leg)]
        case "ringing-staff", Ended("staff", at):
            return _done(attempt, at, "staff-unanswered", [])
        case "ringing-citizen", Answered("citizen", at) if attempt.greeting:
            greet = Greet(attempt.citizen_leg, attempt.greeting_playback, attempt.greeting)
            return replace(attempt, state="greeting", answered=at), [greet]
        case "ringing-citizen", Answered("citizen", at):
            return _talk(replace(attempt, answered=at))
        case "greeting", Greeted():
            return _talk(attempt)
        case "greeting", Ended(leg, at):
            other = attempt.citizen_leg if leg == "staff" else attempt.staff_leg
            return _done(attempt, at, "talked", [HangUp(other)])
        case "ringing-citizen", Ended("staff", at):
            return _done(attempt, at, "cancelled", [HangUp(attempt.citizen_leg)])
        case "ringing-citizen", Ended("citizen", at, cause):
            outcome: Outcome = "busy" if cause in BUSY_CAUSES else "no-answer"
            return _done(attempt, at, outcome, [HangUp(attempt.staff_leg)])
        case "talking", Ended(leg, at):
            other = attempt.citizen_leg if leg == "staff" else attempt.staff_leg
            return _done(attempt, at, "talked", [HangUp(other), DestroyBridge(attempt.bridge)])
    return attempt, []  # a second report of an end, or an answer after the attempt ended: nothing to do


def _talk(attempt: Attempt) -> tuple[Attempt, list[Command]]:
    """The citizen answered (and was greeted): the staff member's ringing off, and the two bridged."""
    both = (attempt.staff_leg, attempt.citizen_leg)
    return replace(attempt, state="talking"), [StopRinging(attempt.staff_leg), Bridge(attempt.bridge, both)]


def _done(attempt: Attempt, at: datetime, outcome: Outcome, tidy: list[Command]) -> tuple[Attempt, list[Command]]:
    return replace(attempt, state="done", ended=at, outcome=outcome), [*tidy, Finished()]
