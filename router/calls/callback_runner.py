"""The queues' callbacks at work: kept in the store, held in the queues as virtual waiters, and made.

Theory of operation
-------------------
A caller who chose a callback (calls/callback_offer.py) is kept in the store (office/callbacks.py) and
their place in the queue goes to a virtual waiter with the callback's id (`request`). Every few seconds,
and at once when this router starts taking calls (a restart, a standby taking over), `sync` makes the
queues agree with the store: every open callback of an open line waits in its line's queue (one another
router took, or one this router learned of first from the store), and one that is closed or made
elsewhere leaves it. A line whose phone hours ended holds none: `when_closed: message` makes each open
one a message (and its e-mail), `next_opening` leaves them in the store for the next phone hours.

When an agent answers for a virtual waiter, the callback is claimed in the store (a compare and set:
of all routers and all their agents, one holds it). The claim lapses by itself after `CLAIM_SECONDS`, so
that a router that died calling leaves it to the others. The agent hears whom they are calling, the
citizen is called through the line's `callback:` target with its caller id, hears who calls, and the two
are bridged (calls/dialout.py's machine, carried out by DialOuts). The citizen answered: the callback is
done. Busy or no answer: the agent hears so and is released, the attempt is counted, and the callback
waits again from `retry_minutes` later; after the last attempt it becomes a message. A claim that cannot
be had (another router has it) hangs up on the agent, who is free for the next caller.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from router.calls import dialout
from router.calls.dialout_runner import DialOuts, Riding, new_attempt_id
from router.calls.queue_runner import QueueRunner
from router.office.callbacks import Callback, CallbackStore
from router.office.messages import Message, MessageStore
from router.schedule import DialOut, Override, QueueCallback, QueueConfig, Schedule, WhenClosed, decide

log = logging.getLogger(__name__)
SYNC_SECONDS = 5.0
CLAIM_MARGIN_SECONDS = 60  # beyond the agent's intro and the citizen's ringing
INTRO = ("callback-agent-intro",)
GREETING = ("callback-citizen-greeting",)
FAREWELL = ("callback-agent-not-reached",)
OUTCOME_TEXT = {"busy": "optaget", "no-answer": "intet svar"}
PHONE_HOURS_ENDED = "telefontiden sluttede, før det blev borgerens tur"


def offered(schedule: Schedule, line: str) -> tuple[QueueConfig, QueueCallback, DialOut] | None:
    """The line's queue, its callback settings and its dial target, if it offers callbacks."""
    found = schedule.lines.get(line)
    if found is None or not isinstance(found.open_to, QueueConfig):
        return None
    if found.open_to.callback is None or found.callback is None:
        return None
    return found.open_to, found.open_to.callback, found.callback


def offer_of(schedule: Schedule, line: str, waited: float = 0.0) -> tuple[str, float] | None:
    """The key that asks for a callback and how long until it is offered (after `waited`), if the line offers one."""
    found = offered(schedule, line)
    return None if found is None else (found[1].key, max(0.0, found[1].offer_after_seconds - waited))


class CallbackRunner:
    def __init__(
        self,
        store: CallbackStore | None,
        messages: MessageStore,
        queues: QueueRunner,
        dialouts: DialOuts,
        schedule: Callable[[], Schedule],
        overrides: Callable[[], Sequence[Override]],
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._messages = messages
        self._queues = queues
        self._dialouts = dialouts
        self._schedule = schedule
        self._overrides = overrides
        self._clock = clock
        self.node = secrets.token_hex(6)  # the claims' holder: this run of this router
        self.message_id_suffix = ""  # as the runtime's (two Asterisks number channels alike)
        self.on_message_saved: Callable[[], None] = lambda: None
        self.open_per_line: dict[str, int] = {}  # as the last sync found them (for /status)
        # Answered here and not yet waiting again: a look at the store from before must not put them back.
        self._handled: set[str] = set()
        queues.callback_answered = self._answered
        queues.callback_leg_event = dialouts.on_event

    # -- the caller asked -------------------------------------------------------------

    async def request(self, call_id: str, line: str, caller: str, arrived: datetime, number: str) -> bool:
        """Keep a callback to `number` for the waiting caller `call_id`; it takes their place. False if the
        store did not keep it (the caller waits on)."""
        found = offered(self._schedule(), line)
        if self._store is None or found is None:
            return False
        now = self._clock()
        callback = Callback(call_id + self.message_id_suffix, line, caller, number, arrived, now, now)
        try:
            await asyncio.to_thread(self._store.add, callback)
        except Exception:
            log.exception("callback for %s: not kept", call_id)
            return False
        await self._queues.to_virtual(line, found[0], call_id, callback.id, number, now)
        log.info("call %s: callback %s kept; it waits at the caller's place", call_id, callback.id)
        return True

    # -- agreeing with the store --------------------------------------------------------

    async def keep_syncing(self, every: float = SYNC_SECONDS) -> None:
        while True:
            try:
                await self.sync()
            except Exception:
                log.exception("callbacks: could not agree with the store; trying again")
            await asyncio.sleep(every)

    async def sync(self) -> None:
        if self._store is None:
            return
        stored = await asyncio.to_thread(self._store.open)
        schedule, now = self._schedule(), self._clock()
        counts: dict[str, int] = {}
        for callback in stored:
            counts[callback.line] = counts.get(callback.line, 0) + 1
        self.open_per_line = counts
        self._handled &= {c.id for c in stored}  # made or a message now: no look at the store has them
        wanted: set[str] = set(self._handled)
        for callback in stored:
            if callback.id in self._handled:
                continue
            found = offered(schedule, callback.line)
            if found is None or callback.line not in schedule.lines:
                continue  # a line that no longer offers callbacks: they wait in the store, and show
            if not decide(schedule, callback.line, now, self._overrides()).open:
                if found[1].when_closed is WhenClosed.MESSAGE and not callback.claimed(now):
                    await self._to_message(callback, PHONE_HOURS_ENDED)
                continue
            wanted.add(callback.id)
            not_before = max(callback.next_attempt, callback.claimed_until or callback.next_attempt)
            await self._queues.join_virtual(
                callback.line, found[0], callback.id, callback.number, callback.arrived, not_before
            )
        for line in list(self._queues.lines):
            for waiter in self._queues.virtual(line):
                if waiter.call_id not in wanted and not waiter.ringing:
                    await self._queues.leave(line, waiter.call_id)

    # -- an agent answered for one -------------------------------------------------------

    async def _answered(self, line: str, callback_id: str, number: str, leg_id: str, agent: str) -> None:
        self._handled.add(callback_id)
        found = offered(self._schedule(), line)
        now = self._clock()
        claimed = None
        if found is not None and self._store is not None:
            target = found[2]
            until = now + timedelta(seconds=target.ring_seconds + CLAIM_MARGIN_SECONDS)
            try:
                claimed = await asyncio.to_thread(self._store.claim, callback_id, self.node, now, until)
            except Exception:
                log.exception("callback %s: could not be claimed", callback_id)
        if found is None or claimed is None:
            log.info("callback %s: made or being made elsewhere; %s is free again", callback_id, agent)
            self._handled.discard(callback_id)  # the store says what becomes of it
            await self._queues.hang_up_leg(leg_id)
            return
        target = found[2]
        attempt = dialout.Attempt(
            new_attempt_id(),
            callback_id,
            agent,
            f"PJSIP/{agent}",
            target.endpoint(number),
            number,
            target.caller_id,
            target.ring_seconds,
            now,
            staff_channel=leg_id,
            greeting=GREETING,
        )
        intro = (*INTRO, *(f"num-{d}" for d in number))
        riding = Riding(intro, FAREWELL, lambda a: self._step(a, claimed))
        log.info("callback %s: %s answered; calling the citizen (attempt %d)", callback_id, agent, claimed.attempts + 1)
        await self._dialouts.begin_answered(attempt, riding)

    async def _step(self, attempt: dialout.Attempt, callback: Callback) -> None:
        """What came of a callback's call so far, kept."""
        assert self._store is not None
        store, now = self._store, self._clock()
        if attempt.state == "greeting":  # the citizen answered: made (a second report would change nothing)
            await asyncio.to_thread(store.done, callback.id, self.node, now)
            log.info("callback %s: the citizen answered", callback.id)
            return
        if attempt.state == "talking":
            return
        if attempt.state != "done" or attempt.outcome == "talked":
            return
        found = offered(self._schedule(), callback.line)
        if attempt.outcome in ("busy", "no-answer") and found is not None:
            settings = found[1]
            retry = now + timedelta(minutes=settings.retry_minutes)
            after = await asyncio.to_thread(store.failed, callback.id, self.node, attempt.outcome, retry)
            log.info("callback %s: %s", callback.id, attempt.outcome)
            if after is None:
                return
            if after.attempts >= settings.attempts:
                tried = ", ".join(OUTCOME_TEXT.get(o, o) for o in after.outcomes)
                await self._to_message(after, f"{after.attempts} forsøg: {tried}")
                return
            await self._wait_again(callback, found[0], retry)
            return
        # The agent left before the citizen answered: no attempt on the citizen counted; it waits on, after
        # the queue's pause (a phone that answers and drops at once must not be rung again and again).
        pause = now + timedelta(seconds=found[0].retry_seconds if found else 60)
        await asyncio.to_thread(store.release, callback.id, self.node, pause)
        if found is not None:
            await self._wait_again(callback, found[0], pause)

    async def _wait_again(self, callback: Callback, config: QueueConfig, not_before: datetime) -> None:
        self._handled.discard(callback.id)
        await self._queues.join_virtual(
            callback.line, config, callback.id, callback.number, callback.arrived, not_before
        )

    async def _to_message(self, callback: Callback, why: str) -> None:
        """A callback that could not be made becomes a message in the console, e-mailed as messages are."""
        assert self._store is not None
        line = self._schedule().lines.get(callback.line)
        message = Message(
            f"callback-{callback.id}", callback.line, callback.number, callback.requested, "", None, callback=why
        )
        try:
            created = await asyncio.to_thread(self._messages.save, message, line.notify if line else ())
            if await asyncio.to_thread(self._store.to_message, callback.id, self._clock()):
                log.info("callback %s: not made (%s); it is a message now", callback.id, why)
                self.on_message_saved()
            elif created:  # claimed meanwhile (or made a message by another router): no message of ours
                await asyncio.to_thread(self._messages.delete, message.id)
        except Exception:
            log.exception("callback %s: could not become a message; tried again later", callback.id)
