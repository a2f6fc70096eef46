"""The one place where ARI events reach calls, the flow's commands are carried out, and timers fire.

Each live call has a lock: the events of its channel (already in order from the event stream),
its timers and its own follow-up events (a saved message) are applied one at a time. A request
that fails because the call moved on (404/409/422) is a hangup to the flow; any other failure,
or a bug, hands that one call to the dialplan fallback and leaves every other call alone.

Two jobs of their own live beside it: `shedding` (new calls to the fallback while Asterisk is
slow) and `reconcile` (agreeing with what Asterisk holds after a connect, and every minute).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from router.ari import CALL_MOVED_ON, AriError, AriRest, Event, within
from router.ari.models import Channel
from router.calls import estimate, flow
from router.calls.callback_runner import CallbackRunner, offer_of
from router.calls.dialout_runner import DialOuts
from router.calls.live import LiveCall, RecentCalls, dialled_line
from router.calls.queue_runner import QueueRunner
from router.calls.reconcile import Reconciler
from router.calls.shedding import DEFAULT_LATENCY_LIMIT, DEFAULT_MAX_CALLS_IN_SETUP, LoadShedder
from router.calls.start_cache import StartDecisions
from router.office import caller_id
from router.office.accounts import AccountStore
from router.office.call_log import CallLog, CallRecord
from router.office.callbacks import CallbackStore
from router.office.dial_attempts import DialAttemptStore
from router.office.fallback_messages import wav_seconds
from router.office.messages import Message, MessageStore, loggable
from router.office.recording_notes import Noted, RecordingNotes
from router.office.spool import Spool, keep
from router.schedule import Decision, Override, QueueConfig, Schedule, decide

log = logging.getLogger(__name__)
DEFAULT_SETTINGS = flow.Settings()
# How long one command of a call may take, its requests' retries included, before the call is handed
# to the dialplan fallback: a caller should not sit in silence for longer.
COMMAND_SECONDS = 8.0

# The events the calls act on: the runtime's (_translate, a StasisStart), the queue's agent legs'
# and reconcile's. The event stream hands only these to `on_event`, and asks Asterisk not to send
# the two that nothing here needs and that come most often: a PlaybackContinuing between any two
# prompts of a list (27 in the closed-hour guidance), a ChannelVarset for each variable that the
# dialplan or a bridge sets.
HANDLED_EVENTS = frozenset(
    {
        "StasisStart",
        "StasisEnd",
        "ChannelDestroyed",
        "ChannelHangupRequest",
        "ChannelDtmfReceived",
        "PlaybackFinished",
        "RecordingFinished",
        "RecordingFailed",
    }
)
NOT_NEEDED_EVENTS = ("PlaybackContinuing", "ChannelVarset")

__all__ = [
    "DEFAULT_MAX_CALLS_IN_SETUP",
    "HANDLED_EVENTS",
    "NOT_NEEDED_EVENTS",
    "CallFigures",
    "Outcome",
    "Runtime",
]


class CallFigures(Protocol):
    """What the runtime reports as calls go; `router.web.metrics.Metrics` keeps them for Prometheus."""

    def call_set_up(self, seconds: float) -> None: ...
    def call_ended(self, line: str, outcome: str) -> None: ...
    def call_answered(self, line: str, waited_seconds: float) -> None: ...
    def request_failed(self, request: str) -> None: ...


class NoFigures:
    """Figures nobody reads (a runtime in a test, a benchmark)."""

    def call_set_up(self, seconds: float) -> None:
        pass

    def call_ended(self, line: str, outcome: str) -> None:
        pass

    def call_answered(self, line: str, waited_seconds: float) -> None:
        pass

    def request_failed(self, request: str) -> None:
        pass


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
        figures: CallFigures | None = None,
        max_calls_in_setup: int = DEFAULT_MAX_CALLS_IN_SETUP,
        setup_latency_limit: float = DEFAULT_LATENCY_LIMIT,
        spool: Spool | None = None,
        notes: RecordingNotes | None = None,
        dial_attempts: DialAttemptStore | None = None,
        accounts: AccountStore | None = None,
        callbacks: CallbackStore | None = None,
    ) -> None:
        self.rest = rest
        self._schedule = schedule
        self._clock = clock
        self._messages = messages
        self._spool = spool  # where a message waits when the store does not answer
        self._notes = notes  # who is leaving a message now, for a router that finds it after we died
        self._starts = StartDecisions(prompt_texts)
        self._settings = settings
        self._language = language
        self._overrides = overrides
        self._call_log = call_log
        self._figures: CallFigures = figures or NoFigures()
        self.calls: dict[str, LiveCall] = {}
        self.recent = RecentCalls()
        self.shedder = LoadShedder(max_calls_in_setup, setup_latency_limit)
        self.outcomes: list[Outcome] = []
        self.finished = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        self.queues = QueueRunner(rest, app, clock, self.deliver)
        self.dialouts = DialOuts(rest, app, clock, dial_attempts, accounts, language)  # the console's "Ring op"
        args = (callbacks, messages, self.queues, self.dialouts, schedule, self._current_overrides, clock)
        self.callbacks = CallbackRunner(*args)  # the queues' "keep my place and call me back"
        self.reconciler = Reconciler(self)
        self.queues.take_up_waiting = self.reconciler.take_up_waiting
        self.on_message_saved: Callable[[], None] = lambda: None  # e.g. wakes the e-mail sender
        # Two Asterisks may give two calls the same channel id (its time and a counter); where their
        # routers share a store, a message's id and a call log record's also name the Asterisk
        # ("@<its entity id>").
        self.message_id_suffix = ""

    # -- events in --------------------------------------------------------------------

    async def on_event(self, event: Event) -> None:
        """The event stream's handler."""
        if await self.queues.on_leg_event(event):
            return  # an agent leg: the queue's
        if await self.dialouts.on_event(event):
            return  # a leg of a "Ring op"
        if event.type == "StasisStart" and event.channel is not None:
            await self._start(event)
            return
        live = self.calls.get(event.key)
        if live is None:
            if event.type == "StasisEnd":
                await self.reconciler.on_stasis_end(event.key)
            return
        translated = _translate(event)
        if translated is not None:
            await self.deliver_to(live, translated)

    async def _start(self, event: Event) -> None:
        assert event.channel is not None
        channel = event.channel
        line = event.args[0] if event.args else channel.exten
        live = self.take_up(self.new_call(channel, line))
        call = live.call
        began = time.monotonic()
        if self.shedder.shed_next():
            async with live.lock:
                live.call, commands = flow.start_shed(call)
                await self._execute(live, commands)
            return
        with self.shedder.setting_up():
            await self._start_here(live, began)

    def new_call(self, channel: Channel, line: str, arrived: datetime | None = None) -> flow.Call:
        """A call for a channel in our application, arrived now unless said otherwise."""
        when = arrived if arrived is not None else self._clock()
        return flow.Call(
            channel.id, line, channel.caller_number, when, settings=self._settings, caller_name=channel.caller_name
        )

    def now(self) -> datetime:
        return self._clock()

    async def resume_queued(self, channel: Channel, bridge: str, arrived: datetime) -> bool:
        """After a restart: a caller found waiting in holding bridge `bridge` waits on in our queue, with
        the time waited so far counted. False if their line has no queue now (they go to the fallback)."""
        line = dialled_line(channel)
        schedule = self._schedule()
        target = schedule.lines[line].open_to if line in schedule.lines else None
        if not isinstance(target, QueueConfig):
            return False
        call = self.new_call(channel, line, arrived)
        live = self.take_up(call)
        live.queue, live.in_hours = target, True
        now = self._clock()
        waited = (now - arrived).total_seconds()
        closing_in = None
        if not target.serve_after_close:
            decision = decide(schedule, line, now, self._current_overrides())
            closing_in = 0.0 if not decision.open else _seconds_until(decision.next_change, now)
        announcements = int(waited // target.announce_seconds) if target.announce_seconds else 0
        async with live.lock:
            live.call, commands = flow.resume_queued(
                call,
                bridge,
                max_wait_left=target.max_wait_seconds - waited,
                announce_seconds=target.announce_seconds,
                closing_in_seconds=closing_in,
                announcements=announcements,
                callback=offer_of(schedule, line, waited),
            )
            await self._execute(live, commands)
        log.info(
            "call %s from %s to %s waits on in the queue (%.0f s so far)",
            call.id,
            caller_id.masked(call.caller),
            caller_id.dialled(line),
            waited,
        )
        return True

    def take_up(self, call: flow.Call) -> LiveCall:
        """Hold `call` as live from now on: its events reach it, and reconcile counts it as ours."""
        live = self.calls[call.id] = LiveCall(call)
        self.recent.started(call.id)
        return live

    async def _start_here(self, live: LiveCall, began: float) -> None:
        call = live.call
        line = call.line
        async with live.lock:
            try:
                schedule = self._schedule()
                if line not in schedule.lines:
                    live.call, commands = flow.start_unknown(call)
                else:
                    decision, guidance = self._starts.decide(schedule, line, call.arrived, self._current_overrides())
                    live.in_hours = decision.open
                    if guidance is None:
                        live.call, commands = self._start_open(live, schedule, decision)
                    else:
                        live.call, commands = flow.start_closed(call, guidance.prompts)
                log.info("call %s from %s to %s", call.id, caller_id.masked(call.caller), caller_id.dialled(line))
            except Exception as e:  # a bug must not leave the caller in silence
                log.exception("call %s: could not start", call.id)
                live.call, commands = flow.step(call, flow.Failed(f"start: {type(e).__name__}"))
            await self._execute(live, commands)
        self._figures.call_set_up(time.monotonic() - began)

    def _start_open(
        self, live: LiveCall, schedule: Schedule, decision: Decision
    ) -> tuple[flow.Call, list[flow.Command]]:
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
            callback=offer_of(schedule, call.line),
        )

    async def deliver(self, call_id: str, event: flow.Event) -> bool:
        """An event for a call from elsewhere (the queue); False if there is no such call."""
        live = self.calls.get(call_id)
        if live is None:
            return False
        await self.deliver_to(live, event)
        return True

    def _current_overrides(self) -> Sequence[Override]:
        try:
            return self._overrides()
        except Exception as e:  # a broken overrides file must not fail calls: the schedule still holds
            log.error("overrides ignored: %s", e)
            return ()

    async def deliver_to(self, live: LiveCall, event: flow.Event) -> None:
        async with live.lock:
            await self._apply(live, event)

    async def _apply(self, live: LiveCall, event: flow.Event) -> None:
        """Step the call with one event and carry out the commands. The caller holds the lock."""
        try:
            live.call, commands = flow.step(live.call, event)
        except Exception:
            log.exception("call %s: the flow failed on %s", live.call.id, event)
            live.call, commands = flow.step(live.call, flow.Failed("flow error"))
        await self._execute(live, commands)

    # -- commands out -----------------------------------------------------------------

    async def _execute(self, live: LiveCall, commands: list[flow.Command]) -> None:
        """Carry out the commands in order. When one fails, the flow hears of it (the caller hung up,
        or a fault: the fallback), unless the call is ending anyway or the command only tidied up:
        then the rest still run, so that the call always reaches its Finish."""
        call = live.call
        for command in commands:
            try:
                with within(COMMAND_SECONDS):
                    follow_up = await self._carry_out(live, command)
            except CALL_MOVED_ON:
                if isinstance(command, _TIDYING) or live.call.state == "done":
                    continue  # the call is already gone or gone on: nothing left to do
                await self._apply(live, flow.HungUp())
                return
            except AriError as e:
                log.warning("call %s: %s failed: %s", call.id, type(command).__name__, e)
                self._figures.request_failed(type(command).__name__)
                if isinstance(command, flow.ContinueInDialplan):
                    with contextlib.suppress(AriError):  # last resort: never leave the caller in silence
                        await self.rest.hangup(call.id)
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

    async def _carry_out(self, live: LiveCall, command: flow.Command) -> flow.Event | None:
        channel = live.call.id
        match command:
            case flow.Answer():
                await self.rest.answer(channel)
            case flow.Play(playback_id, prompts):
                await self.rest.play(channel, playback_id, [f"sound:callrouter/{p}" for p in prompts], self._language)
            case flow.StopPlayback(playback_id):
                await self.rest.stop_playback(playback_id)
            case flow.Record(name, max_seconds, silence, terminate_on):
                await self.rest.record(
                    channel,
                    name,
                    max_duration_seconds=max_seconds,
                    max_silence_seconds=silence,
                    terminate_on=terminate_on,
                    beep=True,
                )
            case flow.NoteMessage():
                self._background(self._note_recording(live.call))
            case flow.SaveMessage(recording, seconds):
                return flow.MessageSaved(await self._save_message(live.call, recording, seconds))
            case flow.DiscardRecording(recording):  # 404: none was made (a tidying command, see _execute)
                self._background(self._forget_recording(live.call.id))
                await self.rest.delete_stored_recording(recording)
            case flow.StartTimer(name, seconds):
                self._start_timer(live, name, seconds)
            case flow.ContinueInDialplan(context, extension, priority):
                await self.rest.continue_in_dialplan(channel, context, extension, priority)
            case flow.Hangup():
                await self.rest.hangup(channel)
            case flow.Finish(outcome, detail):
                await self._finish(live, outcome, detail)
            case flow.EnterQueue():
                assert live.queue is not None
                await self.queues.enter(live.call.line, live.queue, channel, live.call.caller, live.call.arrived)
            case flow.Requeue(dropped_by):
                assert live.queue is not None
                call = live.call
                await self.queues.requeue(call.line, live.queue, channel, call.caller, call.arrived, dropped_by)
            case flow.RejoinQueue(bridge):
                assert live.queue is not None
                call = live.call
                await self.queues.rejoin(call.line, live.queue, channel, call.caller, call.arrived, bridge)
            case flow.LeaveQueue():
                await self.queues.leave(live.call.line, channel)
            case flow.BridgeAgent(leg_id):
                if not await self.queues.bridge(live.call.line, channel, leg_id):
                    return flow.AgentLeft(leg_id)  # the agent hung up before the bridge was made
            case flow.HangupLeg(leg_id):
                await self.queues.hang_up_leg(leg_id)
            case flow.EndBridge():
                await self.queues.end_bridge(channel)
            case flow.RequestCallback(number):
                call = live.call
                return flow.CallbackSaved(
                    await self.callbacks.request(channel, call.line, call.caller, call.arrived, number)
                )
        return None

    async def _save_message(self, call: flow.Call, recording: str, seconds: int | None) -> bool:
        """The audio from Asterisk into the store with the message (and its e-mail, in the same
        transaction), and only then out of Asterisk. True once it is committed (office/spool.py)."""
        try:
            audio = await self.rest.stored_recording_file(recording)
        except AriError as e:
            log.warning("call %s: recording %s not stored: %s", call.id, recording, e)
            return False
        if seconds is None:
            seconds = wav_seconds(audio)
        message = Message(
            call.id + self.message_id_suffix, call.line, call.caller, call.arrived, recording, seconds,
            caller_name=call.caller_name,
        )  # fmt: skip
        line = self._schedule().lines.get(call.line)
        try:
            where = await keep(self._messages, self._spool, message, line.notify if line else (), audio)
        except Exception:
            log.exception("call %s: could not keep the message", call.id)
            return False
        self.on_message_saved()
        log.info("call %s: message %s kept in the %s (%s s)", call.id, recording, where, seconds)
        self._background(self._forget_recording(call.id))
        try:
            await self.rest.delete_stored_recording(recording)
        except AriError as e:  # retention deletes it with the message
            log.warning("call %s: recording %s kept, but not deleted in Asterisk: %s", call.id, recording, e)
        return True

    async def take_in_recording(self, channel_id: str) -> bool:
        """A message recording in Asterisk that no live call here owns: its router died between the
        recording's end and the store's commit (a caller who hung up meanwhile, or before a takeover).
        Stored as the message it is, once: the store ignores an id it has. False if it must wait (the
        store does not answer, so the caller's number cannot be looked up)."""
        message_id = channel_id + self.message_id_suffix
        try:
            known = await asyncio.to_thread(self._messages.get, message_id) is not None
            if known and await asyncio.to_thread(self._messages.audio, message_id) is None:
                return True  # a message from before the store kept audio: it is heard from Asterisk
            noted = await asyncio.to_thread(self._notes.get, message_id) if self._notes is not None else None
        except Exception as e:
            log.warning("message %s: the store does not answer (%s); stored later", loggable(message_id), e)
            return False
        if noted is None:  # the note did not reach the store: a message of an unknown caller, on the main line
            log.warning("message %s: nobody noted who left it; stored without the caller", loggable(message_id))
            noted = Noted(message_id, next(iter(self._schedule().lines)), "", self._clock())
        call = flow.Call(channel_id, noted.line, noted.caller, noted.arrived, settings=self._settings)
        saved = await self._save_message(call, flow.message_recording(channel_id), None)
        if saved:
            log.info("message %s, left while no router held it, stored", loggable(message_id))
        return saved

    async def resume_saving(self, channel: Channel, arrived: datetime) -> None:
        """After a restart or a takeover: a caller whose message was recorded but not stored waits on
        the line. Store it, and tell them."""
        live = self.take_up(self.new_call(channel, dialled_line(channel), arrived))
        async with live.lock:
            live.call, commands = flow.resume_saving(live.call)
            await self._execute(live, commands)

    async def _note_recording(self, call: flow.Call) -> None:
        if self._notes is None:
            return
        noted = Noted(call.id + self.message_id_suffix, call.line, call.caller, call.arrived)
        try:
            await asyncio.to_thread(self._notes.note, noted)
        except Exception as e:  # only the caller's number is at stake, and only if this router dies
            log.warning("call %s: could not note who is leaving a message (%s)", call.id, e)

    async def _forget_recording(self, call_id: str) -> None:
        if self._notes is None:
            return
        try:
            await asyncio.to_thread(self._notes.forget, call_id + self.message_id_suffix)
        except Exception as e:
            log.warning("call %s: could not forget the note of its message (%s)", call_id, e)

    def _background(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_timer(self, live: LiveCall, name: str, seconds: float) -> None:
        earlier = live.timers.pop(name, None)
        if earlier is not None:  # one timer of a name at a time: the new one replaces it
            earlier.cancel()

        def fire() -> None:
            live.timers.pop(name, None)
            event: flow.Event = flow.Timeout(name)
            if name == "announce":  # the place in the queue is known only now
                place = self.queues.position(live.call.line, live.call.id) or 0
                event = flow.Position(place, self.queues.estimate(live.call.line, place))
            self._background(self.deliver_to(live, event))

        live.timers[name] = asyncio.get_running_loop().call_later(seconds, fire)

    async def _finish(self, live: LiveCall, outcome: str, detail: str) -> None:
        for timer in live.timers.values():
            timer.cancel()
        live.timers.clear()
        call = live.call
        self.calls.pop(call.id, None)
        self.recent.finished(call.id)
        seconds = (self._clock() - call.arrived).total_seconds()
        log.info(
            "call %s to %s ended: %s after %.0f s %s", call.id, caller_id.dialled(call.line), outcome, seconds, detail,
            extra={"call_id": call.id, "line": caller_id.dialled(call.line), "outcome": outcome},
        )  # fmt: skip
        waited = None
        if live.queue is not None:
            waited = call.waited if outcome == "answered" else (call.waited or seconds)
        self._figures.call_ended(call.line, outcome)
        if outcome == "answered":
            self._figures.call_answered(call.line, call.waited)
        if self._call_log is not None:  # stored in batches by the call log itself
            record_id = call.id + self.message_id_suffix  # as a message's: two Asterisks number channels alike
            self._call_log.note(CallRecord(record_id, call.line, call.arrived, live.in_hours, outcome, seconds, waited))
        async with self.finished:
            self.outcomes.append(Outcome(call.id, call.line, outcome, detail))
            self.finished.notify_all()

    async def recall_answers(self) -> None:
        """The queue's answers of the last while, from the call log (this node's and any other's on the
        same store): the wait estimate need not start from nothing after a restart or a takeover."""
        if self._call_log is None:
            return
        now = self._clock()
        try:  # a call answered within the window may have arrived up to a window earlier
            records = await asyncio.to_thread(self._call_log.between, now - 2 * estimate.WINDOW, now)
        except Exception:
            log.exception("call log: could not read the recent answers; the wait estimate starts from nothing")
            return
        for line, answers in answered_at(records).items():
            self.queues.note_answers(line, answers)

    async def reconcile(self, *, reconnected: bool = True) -> None:
        """Agree with what Asterisk holds (the event stream calls this after every connect)."""
        await self.reconciler.reconcile(reconnected=reconnected)

    async def close(self) -> None:
        await self.queues.close()
        for live in self.calls.values():
            for timer in live.timers.values():
                timer.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _seconds_until(instant: datetime | None, now: datetime) -> float | None:
    return None if instant is None else (instant - now).total_seconds()


# Commands that only tidy up after a call or a step: their failure changes nothing for the caller.
_TIDYING = (flow.Hangup, flow.DiscardRecording, flow.StopPlayback, flow.LeaveQueue, flow.HangupLeg, flow.EndBridge)


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


def answered_at(records: list[CallRecord]) -> dict[str, dict[str, datetime]]:
    """line -> call id -> when an agent took the caller, for the answered calls among `records`."""
    found: dict[str, dict[str, datetime]] = {}
    for r in records:
        if r.outcome == "answered" and r.waited is not None:
            found.setdefault(r.line, {})[r.id] = r.arrived + timedelta(seconds=r.waited)
    return found
