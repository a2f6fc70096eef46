"""The queue's I/O: the holding bridge, asking Asterisk which agents are busy, ringing and cancelling legs.

Theory of operation
-------------------
Each line with a queue has one `router.calls.queue.Queue` (pure) and one lock. What happens to it (a
caller joins or leaves, an agent leg answers or ends, the look-again timer fires) is one event for
`queue.step`, applied under that lock (`_apply`); its commands are carried out in order before the
lock is released, so that a leg is never cancelled before it was rung. A command that asks Asterisk
something (which agents are busy; a ring Asterisk refuses) brings its answer back as the next event,
under the same lock. This module decides nothing about whom to ring, when to look again or what a
requeue does: it rings, cancels, asks, sets the timer and plays the music the queue says. What a
caller's own call must hear (the agent who won, that the agent hung up) and what the callbacks get (an
agent who answered for one) is handed over *after* the lock is released: the runtime takes a call's
lock before a line's, never the other way round. So are the music and the look for free agents a
change asks for (`queue.LookNext`: applied as an event of its own, under the lock anew).

Agent legs are originated into our application with the arguments
`agent,<line>,<caller channel>,<agent>`; they enter Stasis only when answered. Unanswered legs end
with ChannelDestroyed; answered legs end with StasisEnd and then ChannelDestroyed. Both are routed
here by the leg's id. A leg an earlier run of the router rang, answered after a restart, says by its
arguments whom it was for: it is taken for that caller if they still wait (`queue.LegAnswered`'s
`earlier_run`), once the reconciler has taken them up again if it had not yet.

After a restart the callers found in the holding bridge are put back into the waiting list
(`rejoin`), and a caller whose agent dropped them right after answering goes back to its front
(`requeue`); either way the agents are rung again.

Music on hold is played into the holding bridge by a channel of Asterisk's own, which leaves the
bridge with its last caller (it joins LONELY: res/res_stasis.c) and which Asterisk reports nowhere (no
event, not among the bridge's channels). So the router cannot know whether the music still plays:
each caller put into a holding bridge, or found waiting in one after a restart or a takeover, asks
for it. On a bridge already playing that is harmless: Asterisk 22 restarts the same channel's music
where it was (res/ari/resource_bridges.c, res_musiconhold.c: the file and the position are kept).

The holding bridge has a deterministic id, `callrouter-queue-<line>`, so that a restarted router
finds the one Asterisk still holds. Asterisk 22 now and then lets go of an emptied bridge: every
request on it answers 409 "Bridge not in Stasis application" and it cannot be deleted. Then the
queue moves on to a bridge with the next generation number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from router.ari import (
    CALL_MOVED_ON,
    AriBadRequest,
    AriConflict,
    AriError,
    AriNotFound,
    AriRest,
    AriUnprocessable,
    Event,
)
from router.calls import estimate, flow, queue
from router.calls.queue import Queue
from router.schedule import QueueConfig

log = logging.getLogger(__name__)

HOLDING_PREFIX = "callrouter-queue-"
CALL_BRIDGE_PREFIX = "callrouter-call-"

Deliver = Callable[[str, flow.Event], Awaitable[bool]]  # False: no such call (any more)


async def _nobody_waits(call_id: str) -> bool:
    return False


def call_bridge_id(call_id: str) -> str:
    return f"{CALL_BRIDGE_PREFIX}{call_id}"


@dataclass
class _Line:
    queue: Queue
    bridge: str  # the holding bridge's id
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    bridge_ready: bool = False
    generation: int = 0
    look_again: asyncio.TimerHandle | None = None


class QueueRunner:
    def __init__(self, rest: AriRest, app: str, clock: Callable[[], datetime], deliver: Deliver) -> None:
        self._rest = rest
        self._app = app
        self._clock = clock
        self._deliver = deliver
        self.lines: dict[str, _Line] = {}
        self.legs: dict[str, tuple[str, str]] = {}  # leg id -> (line, caller's channel id)
        self._tasks: set[asyncio.Task[None]] = set()
        # line -> caller's channel id -> when an agent took them: what the wait estimate goes by
        self.answers: dict[str, dict[str, datetime]] = {}
        self._salt = secrets.token_hex(4)  # this run's leg ids differ from any earlier run's
        # After a restart: take up now a caller Asterisk still holds in our holding bridge (True if
        # they wait in our queue now). The runtime sets it to the reconciler's.
        self.take_up_waiting: Callable[[str], Awaitable[bool]] = _nobody_waits
        # An agent answered for a callback (a virtual waiter): (line, callback id, number, leg, agent) to
        # the callbacks' runner (calls/callback_runner.py), which then gets that leg's events too.
        self.callback_answered: Callable[[str, str, str, str, str], Awaitable[None]] | None = None
        self.callback_leg_event: Callable[[Event], Awaitable[bool]] | None = None
        self.handed: set[str] = set()  # legs answered for a callback

    # -- for the caller's call --------------------------------------------------------

    async def enter(self, line: str, config: QueueConfig, call_id: str, caller: str, arrived: datetime) -> None:
        """The caller into the holding bridge (music) and the waiting list, then ring agents."""
        state = self._line(line, config)
        await self._into_holding_bridge(state, call_id)
        await self._apply(line, queue.CallerJoined(call_id=call_id, caller=caller, arrived=arrived))

    async def requeue(
        self, line: str, config: QueueConfig, call_id: str, caller: str, arrived: datetime, dropped_by: str
    ) -> None:
        """An agent dropped the caller right after answering: back into the holding bridge, first in line."""
        state = self._line(line, config)
        await self._into_holding_bridge(state, call_id)
        log.info("queue %s: %s dropped %s at once; back at the front of the queue", line, dropped_by, call_id)
        await self._apply(
            line, queue.CallerRequeued(call_id=call_id, caller=caller, arrived=arrived, dropped_by=dropped_by)
        )

    async def rejoin(
        self, line: str, config: QueueConfig, call_id: str, caller: str, arrived: datetime, bridge: str
    ) -> None:
        """After a restart: a caller Asterisk kept in holding bridge `bridge` waits on, by arrival."""
        state = self._line(line, config)
        state.bridge, state.bridge_ready = bridge, True  # the bridge Asterisk holds is the one in use
        await self._apply(line, queue.CallerJoined(call_id=call_id, caller=caller, arrived=arrived, after_restart=True))

    async def to_virtual(
        self, line: str, config: QueueConfig, call_id: str, callback_id: str, number: str, not_before: datetime
    ) -> None:
        """A waiting caller chose to be called back: their callback takes their place (`queue.to_virtual`)."""
        self._line(line, config)
        event = queue.CallerToCallback(call_id=call_id, callback_id=callback_id, number=number, not_before=not_before)
        await self._apply(line, event)

    async def join_virtual(
        self, line: str, config: QueueConfig, callback_id: str, number: str, arrived: datetime, not_before: datetime
    ) -> None:
        """A callback waits at its caller's place, rung from `not_before` on."""
        self._line(line, config)
        event = queue.CallbackJoined(callback_id=callback_id, number=number, arrived=arrived, not_before=not_before)
        await self._apply(line, event)

    def virtual(self, line: str) -> list[queue.Waiter]:
        state = self.lines.get(line)
        return [w for w in state.queue.waiting if w.virtual] if state else []

    async def leave(self, line: str, call_id: str) -> None:
        """The caller out of the waiting list (their agents stop ringing) and the holding bridge."""
        state = self.lines.get(line)
        if state is None:
            return
        await self._apply(line, queue.CallerLeft(call_id=call_id))
        await self._out_of_holding_bridge(state, call_id)

    def position(self, line: str, call_id: str) -> int | None:
        state = self.lines.get(line)
        return state.queue.position(call_id) if state else None

    def note_answers(self, line: str, answers: dict[str, datetime]) -> None:
        """Callers of `line` taken by an agent (by their channel id), here or (from the call log) before."""
        now = self._clock()
        kept = self.answers.setdefault(line, {})
        kept.update(answers)
        for call_id in [c for c, t in kept.items() if t < now - estimate.WINDOW]:
            del kept[call_id]  # no longer counted: kept no longer

    def estimate(self, line: str, place: int) -> estimate.Estimate | None:
        """How long the caller at `place` will probably wait (`router.calls.estimate`)."""
        return estimate.estimate_wait(self.answers.get(line, {}).values(), self._clock(), place)

    async def bridge(self, line: str, call_id: str, leg_id: str) -> bool:
        """Caller and agent into a mixing bridge of their own (out of the holding bridge first).

        False if the agent is gone (hung up between answering and now); raises CALL_MOVED_ON if the
        caller is."""
        state = self.lines.get(line)
        if state is not None:
            await self._out_of_holding_bridge(state, call_id)
        bridge_id = call_bridge_id(call_id)
        with contextlib.suppress(AriConflict):  # made already (a retried command)
            await self._rest.create_bridge(bridge_id, "mixing", f"call {call_id}")
        try:
            await self._rest.add_channel(bridge_id, call_id, leg_id)
        except (AriBadRequest, AriNotFound, AriConflict, AriUnprocessable) as e:  # one of them left
            if await self._gone(leg_id) and not await self._gone(call_id):
                return False
            raise AriNotFound(e.message, method=e.method, path=e.path) from e
        return True

    async def _gone(self, channel_id: str) -> bool:
        """Whether a channel has left our application (hung up, or on its way out)."""
        try:
            channel = await self._rest.get_channel(channel_id)
        except AriNotFound:
            return True
        return channel.app_name != "Stasis"

    async def end_bridge(self, call_id: str) -> None:
        with contextlib.suppress(*CALL_MOVED_ON):
            await self._rest.destroy_bridge(call_bridge_id(call_id))

    async def hang_up_leg(self, leg_id: str) -> None:
        await self._cancel([leg_id])

    # -- agent legs --------------------------------------------------------------------

    async def on_leg_event(self, event: Event) -> bool:
        """Handle an event of one of our agent legs; False if it is not one."""
        if event.type == "StasisStart" and event.channel is not None and event.args[:1] == ("agent",):
            await self._answered(event.channel.id, event.args, event.channel.name)
            return True
        route = self.legs.get(event.key)
        if route is None:
            return False
        if event.key in self.handed and self.callback_leg_event is not None:
            await self.callback_leg_event(event)  # the callback's call goes on with this agent
        if event.type in ("StasisEnd", "ChannelDestroyed"):
            if event.type == "ChannelDestroyed":
                self.legs.pop(event.key, None)
                self.handed.discard(event.key)
            await self._leg_gone(event.key, *route)
        return True

    async def _answered(self, leg_id: str, args: tuple[str, ...], name: str) -> None:
        route = self.legs.get(leg_id)
        earlier_run = None
        if route is None and len(args) >= 3:  # rung by an earlier run of the router: for a caller still waiting?
            line, call_id = args[1], args[2]
            agent = args[3] if len(args) > 3 else name.partition("/")[2].rpartition("-")[0]
            earlier_run = (agent, call_id)
            if agent and await self._still_waits(line, call_id):
                route = (line, call_id)
        if route is None or route[0] not in self.lines:  # not ours any more (e.g. from before a restart)
            await self._cancel([leg_id])
            return
        await self._apply(route[0], queue.LegAnswered(leg_id=leg_id, earlier_run=earlier_run))

    async def _still_waits(self, line: str, call_id: str) -> bool:
        # Answered in the moment after a restart, before the reconciler took the caller up again:
        # take them up now rather than hang up on the agent and ring them again.
        return self.position(line, call_id) is not None or await self.take_up_waiting(call_id)

    async def _leg_gone(self, leg_id: str, line: str, call_id: str) -> None:
        await self._apply(line, queue.LegEnded(leg_id=leg_id, call_id=call_id))

    async def reconcile(self, missing_legs: set[str], *, bridges_may_be_gone: bool) -> None:
        """End the legs Asterisk no longer has (their ChannelDestroyed went to a connection that is
        no more). After a reconnect Asterisk may have restarted: make sure of the holding bridges
        before the next caller enters."""
        if bridges_may_be_gone:
            for state in self.lines.values():
                state.bridge_ready = False
        for leg_id in missing_legs:
            route = self.legs.get(leg_id)
            if route is None:
                continue
            try:
                await self._rest.get_channel(leg_id)
            except AriNotFound:
                log.info("queue %s: agent leg %s ended while we were disconnected", route[0], leg_id)
                self.legs.pop(leg_id, None)
                await self._leg_gone(leg_id, *route)
            except AriError as e:
                log.warning("queue %s: could not look up agent leg %s: %s", route[0], leg_id, e)

    # -- ringing -----------------------------------------------------------------------

    async def _apply(self, line: str, event: queue.QueueEvent) -> None:
        """Apply `event` to the line's queue and carry out its commands in order, under the line's lock (the
        answers they bring, e.g. which agents are busy, are events applied in turn); then what reaches calls."""
        state = self.lines.get(line)
        if state is None:
            return
        later: list[queue.Command] = []
        async with state.lock:
            events: list[queue.QueueEvent] = [event]
            while events:
                state.queue, commands = queue.step(state.queue, events.pop(0), self._clock())
                later += [c for c in commands if isinstance(c, queue.AFTER_THE_LOCK)]
                events += await self._carry_out(
                    line, state, [c for c in commands if not isinstance(c, queue.AFTER_THE_LOCK)]
                )
        for command in later:
            await self._after_the_lock(line, state, command)

    async def _carry_out(self, line: str, state: _Line, commands: list[queue.Command]) -> list[queue.QueueEvent]:
        """The commands in order (the rings of one look at once); the answers Asterisk gave, as events."""
        answers: list[queue.QueueEvent] = []
        rings = [c for c in commands if isinstance(c, queue.Ring)]  # one look's, one after the other
        for command in commands:
            match command:
                case queue.Ring() if command is rings[0]:
                    answers += await self._make_rings(line, rings)
                case queue.CancelLeg(leg_id):
                    await self._cancel([leg_id])
                case queue.LookForAgents(agents):
                    answers.append(queue.AgentsLooked(busy=await self._busy(list(agents))))
                case queue.LookAgainAt(at):
                    self._look_again(line, state, (at - self._clock()).total_seconds())
        return answers

    async def _make_rings(self, line: str, rings: list[queue.Ring]) -> list[queue.QueueEvent]:
        for ring in rings:
            self.legs[ring.leg_id] = (line, ring.call_id)
        results = await asyncio.gather(*(self._ring(ring, line) for ring in rings), return_exceptions=True)
        failed: list[queue.QueueEvent] = []
        for ring, result in zip(rings, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("queue %s: could not ring %s: %s", line, ring.agent, result)
                self.legs.pop(ring.leg_id, None)
                failed.append(queue.RingFailed(leg_id=ring.leg_id))
        return failed

    async def _after_the_lock(self, line: str, state: _Line, command: queue.Command) -> None:
        """What the queue's commands tell a call or the callbacks (the runtime takes a call's lock before a
        line's, never the other way round), the music, and the next look (`queue.AFTER_THE_LOCK`)."""
        match command:
            case queue.StartMusic():
                await self._music(state)
            case queue.LookNext(new_caller):
                await self._apply(line, queue.Look(new_caller=new_caller))
            case queue.ConnectCaller(call_id, leg_id, agent, waited):
                self._route(line, call_id, leg_id, agent)
                self.note_answers(line, {call_id: self._clock()})
                log.info("queue %s: %s answered for %s after %.0f s", line, agent, call_id, waited)
                if not await self._deliver(call_id, flow.Connected(leg_id, agent, waited)):
                    await self._cancel([leg_id])
            case queue.ConnectCallback(callback_id, number, leg_id, agent):
                self._route(line, callback_id, leg_id, agent)
                self.note_answers(line, {callback_id: self._clock()})
                log.info("queue %s: %s answered for callback %s", line, agent, callback_id)
                self.handed.add(leg_id)
                if self.callback_answered is None:
                    await self._cancel([leg_id])
                else:
                    await self.callback_answered(line, callback_id, number, leg_id, agent)
            case queue.TellAgentLeft(call_id, leg_id):
                await self._deliver(call_id, flow.AgentLeft(leg_id))

    def _route(self, line: str, call_id: str, leg_id: str, agent: str) -> None:
        """A leg's events come here by its id; one an earlier run rang is known only once it is answered."""
        if leg_id not in self.legs:
            log.info("queue %s: %s answered a ring from before the restart for %s", line, agent, call_id)
            self.legs[leg_id] = (line, call_id)

    async def _ring(self, ring: queue.Ring, line: str) -> None:
        await self._rest.originate(
            f"PJSIP/{ring.agent}",
            channel_id=ring.leg_id,
            app=self._app,
            app_args=("agent", line, ring.call_id, ring.agent),
            ring_timeout=ring.seconds,
            caller_id=f'"{line}" <{ring.caller}>',
        )

    async def _busy(self, agents: list[str]) -> frozenset[str]:
        """Agents on a call of their own (their direct line) or offline, as Asterisk sees them now."""
        answers = await asyncio.gather(*(self._rest.get_endpoint("PJSIP", a) for a in agents), return_exceptions=True)
        busy = set()
        for agent, answer in zip(agents, answers, strict=True):
            if isinstance(answer, BaseException):
                if not isinstance(answer, AriError):
                    raise answer
                log.warning("queue: agent %s is not usable: %s", agent, answer)
                busy.add(agent)
            elif answer.channel_ids or answer.state == "offline":
                busy.add(agent)
        return frozenset(busy)

    def _look_again(self, line: str, state: _Line, seconds: float) -> None:
        if state.look_again is not None:
            state.look_again.cancel()

        def fire() -> None:
            state.look_again = None
            self._spawn(self._apply(line, queue.LookAgain()))

        state.look_again = asyncio.get_running_loop().call_later(max(0.05, seconds), fire)

    async def agents_may_be_free(self) -> None:
        """An agent's call that no queue here counted (a conversation from before a restart) ended."""
        for line in list(self.lines):
            await self._apply(line, queue.Look())

    async def _cancel(self, leg_ids: list[str]) -> None:
        for leg_id in leg_ids:
            try:
                await self._rest.hangup(leg_id)
            except CALL_MOVED_ON:
                pass  # ended already
            except AriError as e:
                log.warning("queue: could not hang up agent leg %s: %s", leg_id, e)

    # -- the holding bridge ------------------------------------------------------------

    def _line(self, line: str, config: QueueConfig) -> _Line:
        state = self.lines.get(line)
        if state is None:
            state = self.lines[line] = _Line(Queue(line, config, salt=self._salt), f"{HOLDING_PREFIX}{line}")
        else:
            state.queue, _ = queue.step(state.queue, queue.Reconfigured(config=config), self._clock())
        return state

    async def _into_holding_bridge(self, state: _Line, call_id: str) -> None:
        for _ in range(3):
            if not state.bridge_ready:
                await self._make_holding_bridge(state)
            try:
                await self._rest.add_channel(state.bridge, call_id)
            except AriBadRequest as e:  # "Channel not found": the caller hung up
                raise AriNotFound(e.message, method=e.method, path=e.path) from e
            except AriNotFound:  # "Bridge not found": Asterisk restarted, or someone removed it
                log.warning("queue: holding bridge %s is gone; making it again", state.bridge)
                state.bridge_ready = False
            except AriConflict as e:
                # The bridge Asterisk let go of (see the module's docstring): use a new one.
                log.warning("queue: holding bridge %s unusable (%s); making a new one", state.bridge, e.message)
                state.generation += 1
                state.bridge = f"{HOLDING_PREFIX}{state.queue.line}-{state.generation}"
                state.bridge_ready = False
            else:
                # After the caller is in: music started into a bridge its last caller is just leaving
                # would leave with them.
                await self._music(state)
                return
        raise AriConflict("no usable holding bridge", path=state.bridge)

    async def _out_of_holding_bridge(self, state: _Line, call_id: str) -> None:
        with contextlib.suppress(*CALL_MOVED_ON, AriBadRequest):  # gone, or no longer in it
            await self._rest.remove_channel(state.bridge, call_id)

    async def _make_holding_bridge(self, state: _Line) -> None:
        with contextlib.suppress(AriConflict):  # it exists: ours, from before a restart
            await self._rest.create_bridge(state.bridge, "holding", f"queue {state.queue.line}")
        state.bridge_ready = True

    async def _music(self, state: _Line) -> None:
        """Music on hold in the holding bridge (see the module's docstring). A caller waits on without
        it rather than not at all: a failure is logged, not raised."""
        try:
            await self._rest.start_bridge_moh(state.bridge)
        except AriError as e:
            log.warning("queue %s: no music on hold in %s: %s", state.queue.line, state.bridge, e)

    # -- lifetime ----------------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("queue: background step failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for state in self.lines.values():
            if state.look_again is not None:
                state.look_again.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
