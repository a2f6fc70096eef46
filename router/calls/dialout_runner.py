"""The I/O of the console's "Ring op": carries out calls/dialout.py's commands and feeds it its legs' events.

One attempt at a time per message is the console's to ensure (the message's claim, in the store, so
across nodes too); here each attempt has a lock, so that its legs' events are applied one at a time.
A leg's id names its attempt (`callrouter-dial-<id>-staff`), and the legs enter our application with
the arguments `dialout,<attempt>,<staff|citizen>`, so the runtime hands them here before anything else.

When an attempt ends it is recorded on its message (office/dial_attempts.py) and in the audit log; the
last attempt of each message stays in memory for the console to show how it went.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from router.ari import CALL_MOVED_ON, AriError, AriRest, Event
from router.calls import dialout
from router.calls.dialout import Attempt
from router.office import danish
from router.office.accounts import AccountStore
from router.office.dial_attempts import DialAttempt, DialAttemptStore
from router.office.messages import loggable

log = logging.getLogger(__name__)
PREFIX = "callrouter-dial-"
ENDS = frozenset({"StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"})


def new_attempt_id() -> str:
    return PREFIX + secrets.token_hex(8)


@dataclass(frozen=True)
class Riding:
    """A queue's callback on the machine (calls/callback_runner.py): the agent answered already and hears
    `intro` before the citizen is called (the citizen's greeting is the attempt's, dialout.py plays it);
    the agent hears `farewell` when the citizen could not be reached. `on_step` hears of every step
    instead of the message's record."""

    intro: tuple[str, ...]
    farewell: tuple[str, ...]
    on_step: Callable[[Attempt], Awaitable[None]]


@dataclass
class _Live:
    attempt: Attempt
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class DialOuts:
    def __init__(
        self,
        rest: AriRest,
        app: str,
        clock: Callable[[], datetime],
        attempts: DialAttemptStore | None = None,
        accounts: AccountStore | None = None,
        language: str = "da",
    ) -> None:
        self._language = language
        self._riding: dict[str, Riding] = {}  # by attempt id: the queue's callbacks
        self._rest = rest
        self._app = app
        self._clock = clock
        self._store = attempts
        self._accounts = accounts
        self.live: dict[str, _Live] = {}  # by attempt id, until it is done
        self.latest: dict[str, Attempt] = {}  # by message id: its last attempt here, done or not
        self.legs: dict[str, tuple[str, str]] = {}  # channel id -> (attempt id, "staff" | "citizen")

    def of_message(self, message_id: str) -> Attempt | None:
        return self.latest.get(message_id)

    async def begin(self, attempt: Attempt) -> None:
        """Ring the staff member's phone. Raises AriError if Asterisk would not (the attempt is then recorded)."""
        live = self.live[attempt.id] = _Live(attempt)
        self.latest[attempt.message_id] = attempt
        self.legs[attempt.staff_leg] = (attempt.id, "staff")
        self.legs[attempt.citizen_leg] = (attempt.id, "citizen")
        async with live.lock:
            live.attempt, commands = dialout.start(attempt)
            try:
                await self._execute(live, commands)
            except AriError:
                await self._apply(live, dialout.Ended("staff", self._clock(), cause=0))
                raise

    async def begin_answered(self, attempt: Attempt, riding: Riding) -> None:
        """A queue's callback: the agent's leg is up; tell them whom they call, then call the citizen."""
        live = self.live[attempt.id] = _Live(attempt)
        self._riding[attempt.id] = riding
        self.legs[attempt.staff_leg] = (attempt.id, "staff")
        self.legs[attempt.citizen_leg] = (attempt.id, "citizen")
        async with live.lock:
            try:
                await self._play(attempt.staff_leg, f"{attempt.id}-intro", riding.intro)
            except AriError as e:  # the agent is gone
                log.info("callback %s: the agent could not be told (%s)", attempt.id, e)
                await self._apply(live, dialout.Ended("staff", self._clock(), cause=0))

    async def _play(self, channel_id: str, playback_id: str, prompts: tuple[str, ...]) -> None:
        media = [f"sound:callrouter/{p}" for p in prompts]
        await self._rest.play(channel_id, playback_id, media, self._language)

    async def on_event(self, event: Event) -> bool:
        """An event of one of our legs; False if it is not one."""
        route = self.legs.get(event.key)
        if event.type == "PlaybackFinished" and route is not None and event.playback is not None:
            return await self._played(route[0], event.playback.id, event.key)
        if event.type == "StasisStart" and event.args[:1] == (dialout.APP_ARG,) and route is None:
            # A leg of an attempt this router no longer knows (it restarted): nobody would speak to it.
            with contextlib.suppress(AriError):
                await self._rest.hangup(event.key)
            return True
        if route is None:
            return False
        attempt_id, leg = route
        live = self.live.get(attempt_id)
        if event.type == "ChannelDestroyed":
            self.legs.pop(event.key, None)
        if live is None:
            return True
        side: dialout.Leg = "staff" if leg == "staff" else "citizen"
        if event.type == "StasisStart":
            await self._deliver(live, dialout.Answered(side, self._clock()))
        elif event.type in ENDS:
            await self._deliver(live, dialout.Ended(side, self._clock(), cause=event.cause or 16))
        return True

    async def _played(self, attempt_id: str, playback_id: str, channel_id: str) -> bool:
        live = self.live.get(attempt_id)
        if playback_id == f"{attempt_id}-intro" and live is not None:
            await self._deliver(live, dialout.Answered("staff", self._clock()))
        elif live is not None and playback_id == live.attempt.greeting_playback:
            await self._deliver(live, dialout.Greeted(self._clock()))
        elif playback_id == f"{attempt_id}-farewell":
            with contextlib.suppress(AriError):
                await self._rest.hangup(channel_id)
        return True

    async def _deliver(self, live: _Live, event: dialout.Event) -> None:
        async with live.lock:
            await self._apply(live, event)

    async def _apply(self, live: _Live, event: dialout.Event) -> None:
        live.attempt, commands = dialout.step(live.attempt, event)
        riding = self._riding.get(live.attempt.id)
        if riding is None:
            self.latest[live.attempt.message_id] = live.attempt
        elif commands:
            await riding.on_step(live.attempt)
        try:
            await self._execute(live, commands)
        except AriError as e:  # a leg could not be rung or bridged: the attempt ends, both legs hung up
            log.warning("dial-out %s: %s", live.attempt.id, e)
            if live.attempt.state != "done":
                side: dialout.Leg = "citizen" if live.attempt.state == "ringing-citizen" else "staff"
                await self._apply(live, dialout.Ended(side, self._clock(), cause=0))
                for leg in (live.attempt.staff_leg, live.attempt.citizen_leg):
                    with contextlib.suppress(AriError):
                        await self._rest.hangup(leg)

    async def _execute(self, live: _Live, commands: list[dialout.Command]) -> None:
        for command in commands:
            match command:
                case dialout.Originate(channel_id, endpoint, args, seconds, caller_id):
                    await self._rest.originate(
                        endpoint,
                        channel_id=channel_id,
                        app=self._app,
                        app_args=args,
                        ring_timeout=seconds,
                        caller_id=caller_id,
                    )
                case dialout.Ring(channel_id):
                    with contextlib.suppress(*CALL_MOVED_ON):  # the staff member hung up: its event says so
                        await self._rest.ring(channel_id)
                case dialout.StopRinging(channel_id):
                    with contextlib.suppress(*CALL_MOVED_ON):
                        await self._rest.stop_ringing(channel_id)
                case dialout.Greet(channel_id, playback_id, prompts):
                    try:
                        await self._play(channel_id, playback_id, prompts)
                    except AriError as e:  # they talk without it (or the citizen's end says they are gone)
                        log.info("dial-out %s: no greeting (%s)", live.attempt.id, e)
                        await self._apply(live, dialout.Greeted(self._clock()))
                case dialout.Bridge(bridge_id, channel_ids):
                    await self._rest.create_bridge(bridge_id, "mixing", "ring op")
                    await self._rest.add_channel(bridge_id, *channel_ids)
                case dialout.HangUp(channel_id) if self._farewell(live.attempt, channel_id):
                    try:
                        await self._play(
                            channel_id, f"{live.attempt.id}-farewell", self._riding[live.attempt.id].farewell
                        )
                    except AriError:
                        with contextlib.suppress(AriError):
                            await self._rest.hangup(channel_id)
                case dialout.HangUp(channel_id):
                    with contextlib.suppress(*CALL_MOVED_ON):
                        await self._rest.hangup(channel_id)
                case dialout.DestroyBridge(bridge_id):
                    with contextlib.suppress(*CALL_MOVED_ON):
                        await self._rest.destroy_bridge(bridge_id)
                case dialout.Finished():
                    await self._finished(live.attempt)

    def _farewell(self, attempt: Attempt, channel_id: str) -> bool:
        """Whether the agent of a callback is told the citizen was not reached, before being hung up."""
        riding = attempt.id in self._riding and attempt.outcome in ("busy", "no-answer")
        return riding and channel_id == attempt.staff_leg

    async def _finished(self, attempt: Attempt) -> None:
        self.live.pop(attempt.id, None)
        if self._riding.pop(attempt.id, None) is not None:
            return  # a queue's callback: its runner kept what came of it (`Riding.on_step`)
        outcome = attempt.outcome or "no-answer"
        seconds = attempt.seconds
        log.info("dial-out %s by %s on %s: %s", attempt.id, attempt.staff, loggable(attempt.message_id), outcome)
        record = DialAttempt(attempt.id, attempt.message_id, attempt.staff, attempt.started, outcome, seconds)
        length = f" ({danish.seconds(seconds)})" if seconds is not None else ""
        try:
            if self._store is not None:
                await asyncio.to_thread(self._store.record, record)
            if self._accounts is not None:
                detail = f"{loggable(attempt.message_id)}: {dialout.OUTCOME_TEXT[outcome]}{length}"
                await asyncio.to_thread(self._accounts.audit, self._clock(), attempt.staff, "ringede op", detail)
        except Exception:  # the store is down: the call itself went as it went; the log keeps it
            log.exception("dial-out %s: not recorded (%s%s)", attempt.id, outcome, length)
