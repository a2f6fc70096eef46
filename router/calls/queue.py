"""One line's queue, as pure data: who waits, which agent rings for whom, and who gets whom.

Theory of operation
-------------------
The queue is a state machine, as one call is (calls/flow.py): `step(queue, event, now)` applies one
event (a caller joins, is requeued, leaves or becomes a callback; a callback waits; an agent leg answers,
ends or could not be rung; the agents were looked at; the look-again timer fired; the settings changed)
and returns the new queue and the commands to carry out, in order. calls/queue_runner.py carries them
out and decides nothing. Some commands ask a question of Asterisk, answered by the next event:
`LookForAgents` (which of these agents are busy on a call of their own, or offline?) is answered by
`AgentsLooked`, a `Ring` Asterisk refuses by `RingFailed`. The rest of this module is the transitions
`step` is made of (each also usable alone).

The runner applies an event under the line's lock and carries out its commands before releasing it,
except `AFTER_THE_LOCK`: what reaches a call or the callbacks (`ConnectCaller`, `ConnectCallback`,
`TellAgentLeft`; the runtime takes a call's lock before a line's), the music on hold a caller found
waiting after a restart asks for (`StartMusic`, see queue_runner.py), and `LookNext`. Every change that
may let someone be rung (not a caller leaving) ends in `LookNext`: the look for free agents is an event
of its own (`Look`, or `LookAgain` when the timer fires), applied under the lock anew, so that a change
is never held up behind Asterisk's answers about the agents. It asks nothing when nothing can change:
everyone waiting has a phone ringing and one agent per caller rings (ring all adds the free agents), or
a new caller came while the last look found every agent busy and the look-again timer is set.

Callers wait in arrival order. `dispatch()` looks at the agents that are free (not ringing for us,
not talking to one of our callers, and not on a call of their own, which `AgentsLooked` says) and
rings them for the waiting callers:

- ring_all: every free agent rings for the first caller, also one whose other phones ring already;
  first come, first served: an agent who frees up rings for the caller who has waited longest, and
  the callers behind wait while the first one pauses between rounds;
- round_robin: one agent per caller, taking turns in the configured order;
- longest_idle: one agent per caller, the one whose last call of ours ended longest ago first.

Asterisk cancels a ring after `ring_seconds` (the originate timeout); when the last ringing phone
of a caller gives up, that caller is tried again `retry_seconds` later. `dispatch()` also says when
it wants to look again (`LookAgainAt`), because agents busy on their direct lines free up without
telling us, and a waiter's pause or a callback's next attempt ends without an event.

The first agent leg to answer wins: `answered()` removes the caller from the queue and cancels
the others; a leg that answers for a caller no longer waiting is hung up. Events are applied one
at a time, so when two agents answer at once exactly one is bridged. An agent who drops the caller
right after answering sends them back to the front (`requeue()`); that agent is not rung for that
caller for a retry pause (but may ring for the next caller meanwhile).

A callback ("keep my place and call me back") is a virtual waiter: it keeps the place of the caller who
asked for it (their arrival), so it counts in everyone's position (`position()`, which a caller's
announcement asks for) and in the estimate, but there is no caller on the line; its `not_before` is its
next attempt, and until then the callers behind it are rung (with ring_all too: a callback does not hold
the queue up). An agent who answers for it is handed to the callbacks (`ConnectCallback`), who call the
citizen (calls/callback_runner.py).

Leg ids are derived from the caller's channel id, the round, the agent and the queue's `salt`,
and all have the same length: Asterisk 22 finds channel ids by prefix, so ids of unequal length
could collide. The salt differs from one run of the router to the next, so that a restarted router
never chooses the id of a leg the previous one left ringing; such a leg that is answered after the
restart is taken for its caller if they are still waiting (`adopt_leg()`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from router.schedule.model import QueueConfig, Strategy


@dataclass(frozen=True, slots=True)
class Waiter:
    call_id: str
    caller: str
    since: datetime
    ringing: frozenset[str] = frozenset()  # leg ids
    not_before: datetime | None = None  # no ringing before this (after an unanswered round)
    dropped_by: frozenset[str] = frozenset()  # agents who answered and left at once: not rung for this caller
    dropped_until: datetime | None = None  # ... before this (then again, if they are free)
    virtual: bool = False  # a callback: `call_id` is the callback's, `caller` the number to call


@dataclass(frozen=True, slots=True)
class Leg:
    id: str
    agent: str
    call_id: str


@dataclass(frozen=True, slots=True)
class Queue:
    line: str
    config: QueueConfig
    waiting: tuple[Waiter, ...] = ()
    legs: tuple[Leg, ...] = ()  # ringing for a waiting caller
    talking: tuple[tuple[str, str], ...] = ()  # (agent, leg id) of answered legs still up
    idle_since: tuple[tuple[str, datetime], ...] = ()  # when each agent's last call of ours ended
    turn: int = 0  # round robin: index of the agent to try first
    salt: str = ""  # this run of the router's, in every leg id (see the module's docstring)
    rounds: int = 0  # rounds of ringing so far: each round's legs have ids of their own
    all_busy: bool = False  # the last look found no agent free
    look_again: datetime | None = None  # when the look-again timer fires (None: none set, or it fired)

    def position(self, call_id: str) -> int | None:
        """1 for the caller who is served next."""
        for i, waiter in enumerate(self.waiting, 1):
            if waiter.call_id == call_id:
                return i
        return None

    def waiter(self, call_id: str) -> Waiter | None:
        return next((w for w in self.waiting if w.call_id == call_id), None)

    def agent_of(self, leg_id: str) -> str | None:
        leg = next((leg for leg in self.legs if leg.id == leg_id), None)
        if leg is not None:
            return leg.agent
        return next((agent for agent, leg in self.talking if leg == leg_id), None)

    def engaged(self) -> frozenset[str]:
        """Agents ringing or talking for this queue."""
        return frozenset(leg.agent for leg in self.legs) | frozenset(agent for agent, _ in self.talking)


# -- commands for the I/O layer ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ring:
    leg_id: str
    agent: str
    call_id: str
    caller: str
    seconds: int


@dataclass(frozen=True, slots=True)
class CancelLeg:
    leg_id: str


@dataclass(frozen=True, slots=True)
class Connect:
    call_id: str
    leg_id: str
    agent: str


QueueCommand = Ring | CancelLeg | Connect


def leg_id(call_id: str, round_number: int, agent: str, salt: str = "") -> str:
    digest = hashlib.blake2b(f"{call_id}\0{round_number}\0{agent}\0{salt}".encode(), digest_size=10).hexdigest()
    return f"callrouter-leg-{digest}"


# -- transitions ------------------------------------------------------------------------


def join(queue: Queue, call_id: str, caller: str, arrived: datetime) -> Queue:
    """A caller joins, in order of arrival: the welcome before it may end in any order."""
    if queue.waiter(call_id) is not None:
        return queue
    waiting = list(queue.waiting)
    place = len(waiting)
    while place > 0 and waiting[place - 1].since > arrived:
        place -= 1
    waiting.insert(place, Waiter(call_id, caller, arrived))
    return replace(queue, waiting=tuple(waiting))


def join_virtual(queue: Queue, callback_id: str, number: str, arrived: datetime, not_before: datetime) -> Queue:
    """A callback waits at the place of its caller's arrival, rung from `not_before` on. Known already:
    its next attempt is `not_before` now (unless an agent rings for it)."""
    known = queue.waiter(callback_id)
    if known is not None:
        if known.ringing or known.not_before == not_before:
            return queue
        return replace(
            queue, waiting=tuple(replace(w, not_before=not_before) if w is known else w for w in queue.waiting)
        )
    queue = join(queue, callback_id, number, arrived)
    return replace(
        queue,
        waiting=tuple(
            replace(w, virtual=True, not_before=not_before) if w.call_id == callback_id else w for w in queue.waiting
        ),
    )


def to_virtual(
    queue: Queue, call_id: str, callback_id: str, number: str, not_before: datetime
) -> tuple[Queue, list[CancelLeg]]:
    """A waiting caller chose to be called back: a callback takes their place (their agents stop ringing,
    and ring again for the callback from `not_before` on)."""
    waiter = queue.waiter(call_id)
    queue, commands = leave(queue, call_id)
    if waiter is None:
        return queue, commands
    return join_virtual(queue, callback_id, number, waiter.since, not_before), commands


def requeue(queue: Queue, call_id: str, caller: str, arrived: datetime, dropped_by: str, now: datetime) -> Queue:
    """An agent answered and dropped the caller at once: the caller waits again, first in line, and that
    agent is not rung for them for `retry_seconds` (a phone that answers and fails would loop)."""
    if queue.waiter(call_id) is not None:
        return queue
    until = now + timedelta(seconds=queue.config.retry_seconds)
    waiter = Waiter(call_id, caller, arrived, dropped_by=frozenset({dropped_by}), dropped_until=until)
    return replace(queue, waiting=(waiter, *queue.waiting))


def adopt_leg(queue: Queue, leg_id: str, agent: str, call_id: str) -> Queue:
    """A leg rung by an earlier run of the router was answered: ringing for `call_id`, if they wait."""
    waiter = queue.waiter(call_id)
    if waiter is None or any(leg.id == leg_id for leg in queue.legs):
        return queue
    waiting = tuple(replace(w, ringing=w.ringing | {leg_id}) if w is waiter else w for w in queue.waiting)
    return replace(queue, waiting=waiting, legs=(*queue.legs, Leg(leg_id, agent, call_id)))


def leave(queue: Queue, call_id: str) -> tuple[Queue, list[CancelLeg]]:
    """The caller hung up or gave up waiting: forget them and stop their agents ringing."""
    cancelled = [leg for leg in queue.legs if leg.call_id == call_id]
    queue = replace(
        queue,
        waiting=tuple(w for w in queue.waiting if w.call_id != call_id),
        legs=tuple(leg for leg in queue.legs if leg.call_id != call_id),
    )
    return queue, [CancelLeg(leg.id) for leg in cancelled]


def dispatch(
    queue: Queue, now: datetime, busy: frozenset[str] = frozenset()
) -> tuple[Queue, list[Ring], datetime | None]:
    """Ring free agents for waiting callers. Also returns when to look again (None: no need)."""
    config = queue.config
    free = [a for a in config.agents if a not in busy and a not in queue.engaged()]
    rings: list[Ring] = []
    waiting = list(queue.waiting)
    turn = queue.turn
    rounds = queue.rounds
    look_again: datetime | None = None
    ring_all = config.strategy is Strategy.RING_ALL
    retry = now + timedelta(seconds=config.retry_seconds)
    for i, waiter in enumerate(waiting):
        if waiter.ringing and not ring_all:
            continue  # one agent per caller at a time
        if waiter.not_before is not None and waiter.not_before > now:
            look_again = min(look_again or waiter.not_before, waiter.not_before)
            if ring_all and not waiter.virtual:
                break  # first come, first served: the callers behind wait for the first one's next round
            continue
        if not free:
            # Agents on their direct lines free up without an event to us: look again later.
            look_again = min(look_again or retry, retry)
            break
        dropped = waiter.dropped_by if waiter.dropped_until is not None and waiter.dropped_until > now else ()
        candidates = [a for a in free if a not in dropped]
        if not candidates:  # only the agent who dropped this caller is free: for a caller behind, then
            assert waiter.dropped_until is not None
            look_again = min(look_again or waiter.dropped_until, waiter.dropped_until)
            continue
        if ring_all:
            chosen = list(candidates)
        elif config.strategy is Strategy.ROUND_ROBIN:
            order = config.agents[turn:] + config.agents[:turn]
            chosen = [next(a for a in order if a in candidates)]
            turn = (config.agents.index(chosen[0]) + 1) % len(config.agents)
        else:
            idle = dict(queue.idle_since)
            never = datetime.min.replace(tzinfo=now.tzinfo)
            chosen = [min(candidates, key=lambda a: (idle.get(a, never), config.agents.index(a)))]
        free = [a for a in free if a not in chosen]
        rounds += 1
        new = [
            Ring(leg_id(waiter.call_id, rounds, a, queue.salt), a, waiter.call_id, waiter.caller, config.ring_seconds)
            for a in chosen
        ]
        rings += new
        ringing = waiter.ringing | {r.leg_id for r in new}
        waiting[i] = replace(waiter, ringing=ringing, not_before=None)
    legs = queue.legs + tuple(Leg(r.leg_id, r.agent, r.call_id) for r in rings)
    return replace(queue, waiting=tuple(waiting), legs=legs, turn=turn, rounds=rounds), rings, look_again


def answered(queue: Queue, leg_id: str) -> tuple[Queue, list[QueueCommand]]:
    """An agent picked up. The first leg of a waiting caller wins; any other is hung up."""
    leg = next((leg for leg in queue.legs if leg.id == leg_id), None)
    if leg is None:  # cancelled a moment ago, or its caller already has an agent
        return queue, [CancelLeg(leg_id)]
    others = [other for other in queue.legs if other.call_id == leg.call_id and other.id != leg_id]
    queue = replace(
        queue,
        waiting=tuple(w for w in queue.waiting if w.call_id != leg.call_id),
        legs=tuple(other for other in queue.legs if other.call_id != leg.call_id),
        talking=(*queue.talking, (leg.agent, leg.id)),
    )
    return queue, [*(CancelLeg(other.id) for other in others), Connect(leg.call_id, leg.id, leg.agent)]


def leg_ended(queue: Queue, leg_id: str, now: datetime) -> Queue:
    """An agent leg is gone: unanswered (timeout, busy, rejected, cancelled) or hung up after talking.

    Idempotent: Asterisk reports an answered leg's end twice (StasisEnd, then ChannelDestroyed).
    """
    talking = [(agent, leg) for agent, leg in queue.talking if leg == leg_id]
    if talking:
        [(agent, _)] = talking
        idle = (*((a, t) for a, t in queue.idle_since if a != agent), (agent, now))
        return replace(queue, talking=tuple(t for t in queue.talking if t[1] != leg_id), idle_since=idle)
    leg = next((leg for leg in queue.legs if leg.id == leg_id), None)
    if leg is None:
        return queue
    waiting = []
    for waiter in queue.waiting:
        if leg_id in waiter.ringing:
            ringing = waiter.ringing - {leg_id}
            retry = None if ringing else now + timedelta(seconds=queue.config.retry_seconds)
            waiter = replace(waiter, ringing=ringing, not_before=retry)
        waiting.append(waiter)
    return replace(queue, waiting=tuple(waiting), legs=tuple(other for other in queue.legs if other.id != leg_id))


def reconfigure(queue: Queue, config: QueueConfig) -> Queue:
    """A reloaded schedule changed the queue's settings: keep who waits and who talks."""
    if config == queue.config:
        return queue
    return replace(queue, config=config, turn=queue.turn % max(1, len(config.agents)))


# -- the one entry point: an event in, commands out -------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerJoined:
    """A caller is in the holding bridge. `after_restart`: found there after a restart or a takeover."""

    call_id: str
    caller: str
    arrived: datetime
    after_restart: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerRequeued:
    """An agent answered and dropped the caller at once; the caller is back in the holding bridge."""

    call_id: str
    caller: str
    arrived: datetime
    dropped_by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerLeft:
    """A waiter (a caller, or a callback) leaves: hung up, gave up, or the callback is closed."""

    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackJoined:
    """A callback waits at its caller's place (`join_virtual`)."""

    callback_id: str
    number: str
    arrived: datetime
    not_before: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class CallerToCallback:
    """A waiting caller chose to be called back (`to_virtual`)."""

    call_id: str
    callback_id: str
    number: str
    not_before: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class LegAnswered:
    """An agent leg answered. `earlier_run`: (agent, call id) of a leg an earlier run of the router rang."""

    leg_id: str
    earlier_run: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LegEnded:
    """An agent leg is gone (`leg_ended`); `call_id` is whom it rang for."""

    leg_id: str
    call_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RingFailed:
    """Asterisk refused to ring a leg (`Ring`)."""

    leg_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentsLooked:
    """The answer to `LookForAgents`: which of the agents asked about are busy (their own call, offline)."""

    busy: frozenset[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Look:
    """The look a change asked for (`LookNext`), under the line's lock anew."""

    new_caller: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class LookAgain:
    """The look-again timer fired, or an agent's call no queue counted ended: agents may be free."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconfigured:
    config: QueueConfig


QueueEvent = (
    CallerJoined
    | CallerRequeued
    | CallerLeft
    | CallbackJoined
    | CallerToCallback
    | LegAnswered
    | LegEnded
    | RingFailed
    | AgentsLooked
    | Look
    | LookAgain
    | Reconfigured
)


@dataclass(frozen=True, slots=True)
class LookNext:
    """Once this event is done and the line's lock released, apply `Look` (as a new event)."""

    new_caller: bool = False


@dataclass(frozen=True, slots=True)
class LookForAgents:
    """Ask Asterisk which of `agents` are busy; answer with `AgentsLooked`."""

    agents: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LookAgainAt:
    """(Re)set the line's look-again timer; when it fires, `LookAgain`."""

    at: datetime


@dataclass(frozen=True, slots=True)
class StartMusic:
    """Music on hold into the holding bridge (it may have left with a caller while the router was away)."""


@dataclass(frozen=True, slots=True)
class ConnectCaller:
    """Tell the caller's call that `agent` took them (after the line's lock)."""

    call_id: str
    leg_id: str
    agent: str
    waited: float


@dataclass(frozen=True, slots=True)
class ConnectCallback:
    """Hand the agent's leg to the callbacks (after the line's lock): they call the citizen."""

    callback_id: str
    number: str
    leg_id: str
    agent: str


@dataclass(frozen=True, slots=True)
class TellAgentLeft:
    """Tell the caller's call that its agent hung up (after the line's lock)."""

    call_id: str
    leg_id: str


Command = (
    Ring
    | CancelLeg
    | LookForAgents
    | LookAgainAt
    | StartMusic
    | ConnectCaller
    | ConnectCallback
    | TellAgentLeft
    | LookNext
)
# Carried out once the line's lock is released, in order: see the module's docstring.
AFTER_THE_LOCK = (StartMusic, ConnectCaller, ConnectCallback, TellAgentLeft, LookNext)


def step(queue: Queue, event: QueueEvent, now: datetime) -> tuple[Queue, list[Command]]:
    """Apply one event; the commands are to be carried out in order (see the module's docstring)."""
    commands: list[Command] = []
    match event:
        case CallerJoined(call_id=call_id, caller=caller, arrived=arrived, after_restart=after_restart):
            queue = join(queue, call_id, caller, arrived)
            if not after_restart:
                return queue, [LookNext(new_caller=True)]
            commands.append(StartMusic())
        case CallerRequeued(call_id=call_id, caller=caller, arrived=arrived, dropped_by=dropped_by):
            queue = requeue(queue, call_id, caller, arrived, dropped_by, now)
        case CallerLeft(call_id=call_id):
            queue, cancels = leave(queue, call_id)
            return queue, list(cancels)
        case CallbackJoined(callback_id=callback_id, number=number, arrived=arrived, not_before=not_before):
            queue = join_virtual(queue, callback_id, number, arrived, not_before)
        case CallerToCallback(call_id=call_id, callback_id=callback_id, number=number, not_before=not_before):
            queue, cancels = to_virtual(queue, call_id, callback_id, number, not_before)
            commands += cancels
        case LegAnswered(leg_id=leg_id, earlier_run=earlier_run):
            return _answered(queue, leg_id, earlier_run, now)
        case LegEnded(leg_id=leg_id, call_id=call_id):
            if any(leg == leg_id for _, leg in queue.talking):
                commands.append(TellAgentLeft(call_id, leg_id))
            queue = leg_ended(queue, leg_id, now)
        case RingFailed(leg_id=leg_id):
            return leg_ended(queue, leg_id, now), []
        case Look(new_caller=new_caller):
            return queue, _look(queue, new_caller=new_caller)
        case LookAgain():
            queue = replace(queue, look_again=None)
            return queue, _look(queue)
        case AgentsLooked(busy=busy):
            return _ring(queue, busy, now)
        case Reconfigured(config=config):
            return reconfigure(queue, config), []
    return queue, [*commands, LookNext()]


def _look(queue: Queue, *, new_caller: bool = False) -> list[Command]:
    """Ask which agents are busy, unless that cannot change anything: everyone waiting has a phone ringing
    and one agent per caller rings (ring all adds the free agents), or a new caller came while the last look
    found every agent busy (the look-again timer is set: it looks again)."""
    if all(w.ringing for w in queue.waiting) and queue.config.strategy is not Strategy.RING_ALL:
        return []
    if new_caller and queue.all_busy and queue.look_again is not None:
        return []
    engaged = queue.engaged()
    return [LookForAgents(tuple(a for a in queue.config.agents if a not in engaged))]


def _ring(queue: Queue, busy: frozenset[str], now: datetime) -> tuple[Queue, list[Command]]:
    all_busy = busy | queue.engaged() >= set(queue.config.agents)
    queue, rings, look_again = dispatch(queue, now, busy)
    queue = replace(queue, all_busy=all_busy)
    if look_again is None:
        return queue, list(rings)
    return replace(queue, look_again=look_again), [*rings, LookAgainAt(look_again)]


def _answered(
    queue: Queue, leg_id: str, earlier_run: tuple[str, str] | None, now: datetime
) -> tuple[Queue, list[Command]]:
    if earlier_run is not None:
        queue = adopt_leg(queue, leg_id, *earlier_run)
    leg = next((leg for leg in queue.legs if leg.id == leg_id), None)
    waiter = queue.waiter(leg.call_id) if leg is not None else None
    queue, commands = answered(queue, leg_id)
    out: list[Command] = []
    for command in commands:
        if not isinstance(command, Connect):
            out.append(command)
        elif waiter is not None and waiter.virtual:
            out.append(ConnectCallback(command.call_id, waiter.caller, command.leg_id, command.agent))
        elif waiter is not None:
            out.append(
                ConnectCaller(command.call_id, command.leg_id, command.agent, (now - waiter.since).total_seconds())
            )
    return queue, out
