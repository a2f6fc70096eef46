"""The one place where ARI events reach calls, the flow's commands are carried out, and timers fire.

Each live call has a lock: the events of its channel (already in order from the event stream),
its timers and its own follow-up events (a saved message) are applied one at a time. A request
that fails because the call moved on (404/409/422) is a hangup to the flow; any other failure,
or a bug, hands that one call to the dialplan fallback and leaves every other call alone.

Load shedding: a call is "in setup" from its StasisStart until the requests of its first step
(answer and the first prompt, or the queue) have been answered. When Asterisk is overloaded its
answers slow down and calls pile up in setup; past `max_calls_in_setup`, a new call is not
answered here at all but handed straight to the dialplan fallback (one request instead of
several, and no events to follow), which follows the same schedule without the router.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from router import flow
from router.ari import CALL_MOVED_ON, AriError, AriNotFound, AriRest, Event
from router.call_log import CallLog, CallRecord
from router.guidance import closed_guidance
from router.messages import Message, MessageStore
from router.metrics import Metrics
from router.queue import QueueConfig
from router.queue_runner import CALL_BRIDGE_PREFIX, QueueRunner
from router.schedule import Decision, Override, Schedule, decide

log = logging.getLogger(__name__)
DEFAULT_SETTINGS = flow.Settings()
# Calls answered at once while Asterisk is slow: well under Asterisk's HTTP session limit, and
# many more than a healthy Asterisk ever has in setup (a call's setup takes milliseconds).
DEFAULT_MAX_CALLS_IN_SETUP = 20
RECONCILE_SECONDS = 60.0
FINISHED_GRACE_SECONDS = 10.0  # a finished call's channel still in our application after this is stranded


def masked(number: str) -> str:
    """A caller's number in logs: personal data, so only its last two digits."""
    return "*" * max(0, len(number) - 2) + number[-2:]


@dataclass
class _Live:
    call: flow.Call
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    queue: QueueConfig | None = None  # the line's queue, when the call went to it
    in_hours: bool = False


@dataclass(frozen=True)
class Outcome:
    call_id: str
    line: str
    outcome: str
    detail: str


class Runtime:
    def __init__(
        self,
        rest: AriRest,
        schedule: Callable[[], Schedule],
        clock: Callable[[], datetime],
        messages: MessageStore,
        prompt_texts: dict[str, str],
        settings: flow.Settings = DEFAULT_SETTINGS,
        language: str = "da",
        overrides: Callable[[], Sequence[Override]] = tuple,
        app: str = "router",
        call_log: CallLog | None = None,
        metrics: Metrics | None = None,
        max_calls_in_setup: int = DEFAULT_MAX_CALLS_IN_SETUP,
    ) -> None:
        self._rest = rest
        self._schedule = schedule
        self._clock = clock
        self._messages = messages
        self._prompt_texts = prompt_texts
        self._settings = settings
        self._language = language
        self._overrides = overrides
        self._call_log = call_log
        self.metrics = metrics or Metrics()
        self.calls: dict[str, _Live] = {}
        self.max_calls_in_setup = max_calls_in_setup
        self.in_setup = 0  # calls whose first step Asterisk has not yet answered
        self._shed: int | None = None  # while shedding load: calls shed since it began
        # Recent calls this process took, newest last: when each was finished (None: not yet).
        self._started: OrderedDict[str, float | None] = OrderedDict()
        self._reconcile_grace = 1.0
        self._finished_grace = FINISHED_GRACE_SECONDS
        self.outcomes: list[Outcome] = []
        self.finished = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self.queues = QueueRunner(rest, app, clock, self.deliver)
        self._adopted: dict[str, str] = {}  # channel -> mixing bridge, for conversations from before a restart
        self._reconciling = asyncio.Lock()

    # -- events in --------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        """The event stream's handler."""
        if await self.queues.on_leg_event(event):
            return  # an agent leg: the queue's
        if event.type == "StasisStart" and event.channel is not None:
            await self._start(event)
            return
        live = self.calls.get(event.key)
        if live is None:
            if event.type == "StasisEnd" and event.key in self._adopted:
                await self._end_adopted(event.key)
            return
        translated = _translate(event)
        if translated is not None:
            await self._deliver(live, translated)

    async def _start(self, event: Event) -> None:
        assert event.channel is not None
        channel = event.channel
        line = event.args[0] if event.args else channel.exten
        call = flow.Call(channel.id, line, channel.caller_number, self._clock(), settings=self._settings)
        live = self.calls[channel.id] = _Live(call)
        self._started[channel.id] = None
        if len(self._started) > 10_000:
            self._started.popitem(last=False)
        began = time.monotonic()
        if self._shed_now():
            async with live.lock:
                live.call, commands = flow.start_shed(call)
                await self._execute(live, commands)
            return
        self.in_setup += 1
        try:
            await self._start_here(live, began)
        finally:
            self.in_setup -= 1

    def _shed_now(self) -> bool:
        """Whether to shed this new call. Shedding starts at the limit and goes on until half of it
        is left, so that it does not flap from one call to the next."""
        limit = self.max_calls_in_setup
        if self._shed is None and self.in_setup >= limit:
            log.warning("overload: %d calls in setup; new calls go to the dialplan fallback", self.in_setup)
            self._shed = 0
        elif self._shed is not None and self.in_setup <= limit // 2:
            log.warning("overload over: %d calls were handed to the dialplan fallback", self._shed)
            self._shed = None
        if self._shed is None:
            return False
        self._shed += 1
        return True

    async def _start_here(self, live: _Live, began: float) -> None:
        call = live.call
        line = call.line
        async with live.lock:
            try:
                schedule = self._schedule()
                if line not in schedule.lines:
                    live.call, commands = flow.start_unknown(call)
                else:
                    decision = decide(schedule, line, call.arrived, self._current_overrides())
                    live.in_hours = decision.open
                    if decision.open:
                        live.call, commands = self._start_open(live, schedule, decision)
                    else:
                        guidance = closed_guidance(schedule, line, decision, self._prompt_texts)
                        live.call, commands = flow.start_closed(call, guidance.prompts)
                log.info("call %s from %s to %s", call.id, masked(call.caller), line)
            except Exception as e:  # a bug must not leave the caller in silence
                log.exception("call %s: could not start", call.id)
                live.call, commands = flow.step(call, flow.Failed(f"start: {type(e).__name__}"))
            await self._execute(live, commands)
        self.metrics.setup.observe(time.monotonic() - began)

    def _start_open(self, live: _Live, schedule: Schedule, decision: Decision) -> tuple[flow.Call, list[flow.Command]]:
        call = live.call
        target = schedule.lines[call.line].open_to
        if not isinstance(target, QueueConfig):
            return flow.start_open(call, target)
        live.queue = target
        closing_in = None
        if not target.serve_after_close and decision.next_change is not None:
            closing_in = (decision.next_change - call.arrived).total_seconds()
        return flow.start_queue(
            call,
            ("welcome",),
            max_wait_seconds=target.max_wait_seconds,
            announce_seconds=target.announce_seconds,
            closing_in_seconds=closing_in,
        )

    async def deliver(self, call_id: str, event: flow.Event) -> bool:
        """An event for a call from elsewhere (the queue); False if there is no such call."""
        live = self.calls.get(call_id)
        if live is None:
            return False
        await self._deliver(live, event)
        return True

    def _current_overrides(self) -> Sequence[Override]:
        try:
            return self._overrides()
        except Exception as e:  # a broken overrides file must not fail calls: the schedule still holds
            log.error("overrides ignored: %s", e)
            return ()

    async def _deliver(self, live: _Live, event: flow.Event) -> None:
        async with live.lock:
            await self._apply(live, event)

    async def _apply(self, live: _Live, event: flow.Event) -> None:
        """Step the call with one event and carry out the commands. The caller holds the lock."""
        try:
            live.call, commands = flow.step(live.call, event)
        except Exception:
            log.exception("call %s: the flow failed on %s", live.call.id, event)
            live.call, commands = flow.step(live.call, flow.Failed("flow error"))
        await self._execute(live, commands)

    # -- commands out -----------------------------------------------------------------

    async def _execute(self, live: _Live, commands: list[flow.Command]) -> None:
        """Carry out the commands in order. When one fails, the flow hears of it (the caller hung up,
        or a fault: the fallback), unless the call is ending anyway or the command only tidied up:
        then the rest still run, so that the call always reaches its Finish."""
        call = live.call
        for command in commands:
            try:
                follow_up = await self._carry_out(live, command)
            except CALL_MOVED_ON:
                if isinstance(command, _TIDYING) or live.call.state == "done":
                    continue  # the call is already gone or gone on: nothing left to do
                await self._apply(live, flow.HungUp())
                return
            except AriError as e:
                log.warning("call %s: %s failed: %s", call.id, type(command).__name__, e)
                self.metrics.ari_errors.labels(type(command).__name__).inc()
                if isinstance(command, flow.ContinueInDialplan):
                    with contextlib.suppress(AriError):  # last resort: never leave the caller in silence
                        await self._rest.hangup(call.id)
                    continue
                if isinstance(command, _TIDYING) or live.call.state == "done":
                    continue
                await self._apply(live, flow.Failed(f"{type(command).__name__}: {e}"))
                return
            except Exception:
                log.exception("call %s: %s failed", call.id, type(command).__name__)
                if live.call.state == "done":
                    continue
                await self._apply(live, flow.Failed(f"{type(command).__name__}: error"))
                return
            if follow_up is not None:
                await self._apply(live, follow_up)

    async def _carry_out(self, live: _Live, command: flow.Command) -> flow.Event | None:
        channel = live.call.id
        match command:
            case flow.Answer():
                await self._rest.answer(channel)
            case flow.Play(playback_id, prompts):
                await self._rest.play(channel, playback_id, [f"sound:callrouter/{p}" for p in prompts], self._language)
            case flow.StopPlayback(playback_id):
                await self._rest.stop_playback(playback_id)
            case flow.Record(name, max_seconds, silence, terminate_on):
                await self._rest.record(
                    channel,
                    name,
                    max_duration_seconds=max_seconds,
                    max_silence_seconds=silence,
                    terminate_on=terminate_on,
                    beep=True,
                )
            case flow.SaveMessage(recording, seconds):
                return flow.MessageSaved(await self._save_message(live.call, recording, seconds))
            case flow.StartTimer(name, seconds):
                self._start_timer(live, name, seconds)
            case flow.ContinueInDialplan(context, extension, priority):
                await self._rest.continue_in_dialplan(channel, context, extension, priority)
            case flow.Hangup():
                await self._rest.hangup(channel)
            case flow.Finish(outcome, detail):
                await self._finish(live, outcome, detail)
            case flow.EnterQueue():
                assert live.queue is not None
                await self.queues.enter(live.call.line, live.queue, channel, live.call.caller, live.call.arrived)
            case flow.LeaveQueue():
                await self.queues.leave(live.call.line, channel)
            case flow.BridgeAgent(leg_id):
                await self.queues.bridge(live.call.line, channel, leg_id)
            case flow.HangupLeg(leg_id):
                await self.queues.hang_up_leg(leg_id)
            case flow.EndBridge():
                await self.queues.end_bridge(channel)
        return None

    async def _save_message(self, call: flow.Call, recording: str, seconds: int | None) -> bool:
        try:
            await self._rest.get_stored_recording(recording)  # Asterisk has the audio
        except AriError as e:
            log.warning("call %s: recording %s not stored: %s", call.id, recording, e)
            return False
        message = Message(call.id, call.line, call.caller, call.arrived, recording, seconds)
        try:
            await asyncio.to_thread(self._messages.save, message)
        except Exception:
            log.exception("call %s: could not store the message", call.id)
            return False
        log.info("call %s: message %s stored (%s s)", call.id, recording, seconds)
        return True

    def _start_timer(self, live: _Live, name: str, seconds: float) -> None:
        def fire() -> None:
            live.timers.pop(name, None)
            event: flow.Event = flow.Timeout(name)
            if name == "announce":  # the place in the queue is known only now
                event = flow.Position(self.queues.position(live.call.line, live.call.id) or 0)
            task = asyncio.create_task(self._deliver(live, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        live.timers[name] = asyncio.get_running_loop().call_later(seconds, fire)

    async def _finish(self, live: _Live, outcome: str, detail: str) -> None:
        for timer in live.timers.values():
            timer.cancel()
        live.timers.clear()
        call = live.call
        self.calls.pop(call.id, None)
        if call.id in self._started:
            self._started[call.id] = time.monotonic()
        seconds = (self._clock() - call.arrived).total_seconds()
        log.info("call %s to %s ended: %s after %.0f s %s", call.id, call.line, outcome, seconds, detail)
        waited = None
        if live.queue is not None:
            waited = call.waited if outcome == "answered" else (call.waited or seconds)
        self.metrics.calls.labels(call.line, outcome).inc()
        if outcome == "answered":
            self.metrics.queue_wait.labels(call.line).observe(call.waited)
        if self._call_log is not None:
            record = CallRecord(call.id, call.line, call.arrived, live.in_hours, outcome, seconds, waited)
            try:
                await asyncio.to_thread(self._call_log.add, record)
            except Exception:  # statistics must never fail a call
                log.exception("call %s: could not log the call", call.id)
        async with self.finished:
            self.outcomes.append(Outcome(call.id, call.line, outcome, detail))
            self.finished.notify_all()

    # -- after a (re)connect ------------------------------------------------------------

    async def reconcile(self, *, reconnected: bool = True) -> None:
        """Make what we know agree with what Asterisk holds: after every connect, and every so often.

        - A call we know that is no longer in our application (Asterisk restarted while we were
          disconnected, or we missed its StasisEnd) ends as hung up; so does an agent leg.
        - A channel still in our application whose call we have finished (its last hangup or
          hand-over failed) is hung up: nobody would ever speak to it again.
        - A channel no call here owns (we restarted): a caller talking with an agent in one of our
          mixing bridges stays connected, and when either side hangs up the other is hung up; an
          agent leg with no conversation is hung up; any other caller (hearing guidance, waiting
          in the queue) goes to the dialplan fallback.

        A call that has just arrived may be listed before its StasisStart reaches us, and one we
        have just handed on may not have left yet: only channels still there after a short grace
        period are acted on.
        """
        async with self._reconciling:
            calls_before, legs_before = set(self.calls), set(self.queues.legs)
            app = await self._rest.get_application()
            present = set(app.channel_ids)
            for call_id in calls_before - present:
                live = self.calls.get(call_id)
                if live is not None:
                    log.info("reconcile: call %s is no longer in our application", call_id)
                    await self._deliver(live, flow.HungUp())
            await self.queues.reconcile(legs_before - present, bridges_may_be_gone=reconnected)
            suspects = [c for c in app.channel_ids if not self._claimed(c) or self._finished(c)]
            if not suspects:
                return
            await asyncio.sleep(self._reconcile_grace)
            still = set((await self._rest.get_application()).channel_ids)
            unclaimed = [c for c in suspects if c in still and not self._claimed(c)]
            await self._adopt_conversations(app.bridge_ids, unclaimed)
            for channel_id in suspects:
                if channel_id not in still:
                    continue
                with contextlib.suppress(*CALL_MOVED_ON):
                    if self._finished(channel_id):
                        await self._rest.hangup(channel_id)
                        log.warning("reconcile: hung up %s, whose call had ended but was still here", channel_id)
                    elif self._claimed(channel_id):
                        continue
                    elif channel_id.startswith("callrouter-leg-"):
                        await self._rest.hangup(channel_id)
                        log.info("reconcile: hung up agent leg %s of a caller we no longer know", channel_id)
                    elif await self._resume_message(channel_id):
                        continue
                    else:
                        channel = await self._rest.get_channel(channel_id)
                        await self._stop_playbacks(channel_id)
                        context = f"callrouter-fallback-{channel.exten}"
                        await self._rest.continue_in_dialplan(channel_id, context, "s", 1)
                        log.info("reconcile: handed %s back to the dialplan fallback", channel_id)

    async def keep_reconciling(self, connected: Callable[[], bool], every: float = RECONCILE_SECONDS) -> None:
        """Reconcile every so often while connected: a hangup that failed even after its retries, or
        an event that never came, is put right within a minute, not at the next reconnect."""
        while True:
            await asyncio.sleep(every)
            if not connected():
                continue  # the reconnect reconciles
            try:
                await self.reconcile(reconnected=False)
            except AriError as e:
                log.warning("reconcile: %s", e)
            except Exception:
                log.exception("reconcile failed")

    async def _resume_message(self, channel_id: str) -> bool:
        """A caller we no longer know who is leaving a message: take the call up again, so that the
        message is stored and listed when it ends (handing them on would lose it: Asterisk would
        finish the recording first, and nobody would list it)."""
        try:
            recording = await self._rest.get_live_recording(flow.message_recording(channel_id))
        except AriNotFound:
            return False
        if recording.state not in ("queued", "recording"):
            return False
        channel = await self._rest.get_channel(channel_id)
        call = flow.Call(channel.id, channel.exten, channel.caller_number, self._clock(), settings=self._settings)
        self.calls[channel_id] = _Live(flow.resume_recording(call))
        self._started[channel_id] = None
        log.info("reconcile: %s is leaving a message; taken up again", channel_id)
        return True

    async def _stop_playbacks(self, channel_id: str) -> None:
        """Stop what the router may have been playing to a caller it no longer knows (404: nothing)."""
        stops = [self._rest.stop_playback(p) for p in flow.playbacks_of(channel_id)]
        for result in await asyncio.gather(*stops, return_exceptions=True):
            if isinstance(result, Exception) and not isinstance(result, AriError):
                raise result

    async def _adopt_conversations(self, bridge_ids: Sequence[str], unclaimed: list[str]) -> None:
        """Callers and agents of ours talking in our mixing bridges from before a restart go on talking."""
        adopted: set[str] = set()
        for bridge_id in bridge_ids:
            if bridge_id.startswith(CALL_BRIDGE_PREFIX):
                with contextlib.suppress(*CALL_MOVED_ON):
                    bridge = await self._rest.get_bridge(bridge_id)
                    found = {c: bridge_id for c in bridge.channels if c in unclaimed}
                    self._adopted.update(found)
                    adopted.update(found.values())
        for bridge_id in adopted:
            talking = [c for c, b in self._adopted.items() if b == bridge_id]
            if len(talking) < 2:  # the other side hung up while we were away
                await self._end_adopted(talking[0])
            else:
                log.info("reconcile: %s go on talking in %s", " and ".join(talking), bridge_id)

    def _finished(self, channel_id: str) -> bool:
        """A call this process finished a while ago: its channel should have left long since (a
        `continue` can take a moment on a busy Asterisk, so not one just handed on)."""
        ended = self._started.get(channel_id)
        return ended is not None and time.monotonic() - ended > self._finished_grace

    def _claimed(self, channel_id: str) -> bool:
        return (
            channel_id in self.calls
            or channel_id in self._started
            or channel_id in self.queues.legs
            or channel_id in self._adopted
        )

    async def _end_adopted(self, channel_id: str) -> None:
        """One side of a conversation from before a restart left: end the other side too."""
        bridge_id = self._adopted.pop(channel_id)
        for other in [c for c, b in self._adopted.items() if b == bridge_id]:
            del self._adopted[other]
            with contextlib.suppress(*CALL_MOVED_ON):
                await self._rest.hangup(other)
        with contextlib.suppress(*CALL_MOVED_ON):
            await self._rest.destroy_bridge(bridge_id)
        log.info("call bridge %s from before a restart ended", bridge_id)

    async def close(self) -> None:
        await self.queues.close()
        for live in self.calls.values():
            for timer in live.timers.values():
                timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


# Commands that only tidy up after a call or a step: their failure changes nothing for the caller.
_TIDYING = (flow.Hangup, flow.StopPlayback, flow.LeaveQueue, flow.HangupLeg, flow.EndBridge)


def _translate(event: Event) -> flow.Event | None:
    """ARI's event as the flow's event, or None when the flow does not care."""
    if event.type == "PlaybackFinished" and event.playback is not None:
        return flow.PlaybackDone(event.playback.id, event.playback.state == "done")
    if event.type == "ChannelDtmfReceived" and event.digit:
        return flow.Digit(event.digit)
    if event.type in ("RecordingFinished", "RecordingFailed") and event.recording is not None:
        ok = event.type == "RecordingFinished"
        return flow.RecordingDone(event.recording.name, event.recording.duration or 0, ok)
    if event.type in ("ChannelHangupRequest", "StasisEnd"):
        return flow.HungUp()
    return None
