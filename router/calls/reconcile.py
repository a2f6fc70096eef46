"""Reconcile: make what the router knows agree with what Asterisk holds, after every connect and every minute.

Theory of operation
-------------------
Asterisk holds the truth. It does not re-send StasisStart for channels already in our application,
and events sent while we were not connected are lost; so after every (re)connect, and every
`RECONCILE_SECONDS` while connected, the reconciler reads `GET /applications/{app}` and compares:

- a call we know that is no longer in our application (Asterisk restarted while we were away, or
  we missed its StasisEnd) ends as hung up; so does an agent leg;
- a channel still in our application whose call we have finished (its last hangup or hand-over
  failed) is hung up: nobody would ever speak to it again;
- a channel no call here owns (we restarted): a caller talking with an agent in one of our mixing
  bridges stays connected (the conversation is *adopted*: when either side hangs up, the other is
  hung up too); callers in a holding bridge are the queue's, and wait on in it, taken up in the
  order they arrived, their wait so far counted; an answered agent leg with no conversation is hung
  up, while one still ringing is left to ring (Asterisk lists it among the application's channels;
  answered, it is taken for its caller if they still wait, `queue_runner`); a
  caller leaving a message is taken up again in its recording state; any other caller (hearing
  guidance) goes to the dialplan fallback, after we stop what we may have been playing to them
  (Asterisk would otherwise play it to its end before the `continue`).

A call taken up again is dated by its channel's `creationtime`, measured against Asterisk's own
clock (the ping's timestamp), so that a router whose clock differs from Asterisk's still counts
the right wait.

A call that has just arrived may be listed before its StasisStart reaches us, and one we have just
handed on may not have left yet: only channels still there after a short grace period are acted on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from router.ari import CALL_MOVED_ON, AriError, AriNotFound, AriRest
from router.ari.models import Channel
from router.calls import flow
from router.calls.dialout_runner import PREFIX as DIAL_PREFIX
from router.calls.dialout_runner import DialOuts
from router.calls.live import LiveCall, RecentCalls, dialled_line
from router.calls.queue_runner import CALL_BRIDGE_PREFIX, HOLDING_PREFIX, QueueRunner

log = logging.getLogger(__name__)

RECONCILE_SECONDS = 60.0
FINISHED_GRACE_SECONDS = 10.0  # a finished call's channel still in our application after this is stranded


class Runtime(Protocol):
    """What the reconciler works with: the runtime (runtime.py) as seen from here, so that this module needs
    nothing of the runtime's (which imports it)."""

    rest: AriRest
    calls: dict[str, LiveCall]
    recent: RecentCalls
    queues: QueueRunner
    dialouts: DialOuts

    def now(self) -> datetime: ...

    def new_call(self, channel: Channel, line: str, arrived: datetime | None = None) -> flow.Call: ...

    def take_up(self, call: flow.Call) -> LiveCall: ...

    async def deliver_to(self, live: LiveCall, event: flow.Event) -> None: ...

    async def resume_queued(self, channel: Channel, bridge: str, arrived: datetime) -> bool: ...

    async def resume_saving(self, channel: Channel, arrived: datetime) -> None: ...

    async def take_in_recording(self, channel_id: str) -> bool: ...


class Reconciler:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._rest = runtime.rest
        self.grace = 1.0  # how long a channel nobody claims must stay before we act on it
        self.finished_grace = FINISHED_GRACE_SECONDS
        self.adopted: dict[str, str] = {}  # channel -> mixing bridge, for conversations from before a restart
        self._running = asyncio.Lock()

    async def reconcile(self, *, reconnected: bool = True) -> None:
        """One comparison with Asterisk (see the module's docstring)."""
        runtime = self._runtime
        async with self._running:
            calls_before, legs_before = set(runtime.calls), set(runtime.queues.legs)
            app = await self._rest.get_application()
            present = set(app.channel_ids)
            for call_id in calls_before - present:
                live = runtime.calls.get(call_id)
                if live is not None:
                    log.info("reconcile: call %s is no longer in our application", call_id)
                    await runtime.deliver_to(live, flow.HungUp())
            await runtime.queues.reconcile(legs_before - present, bridges_may_be_gone=reconnected)
            suspects = [c for c in app.channel_ids if not self._claimed(c) or self._finished(c)]
            if suspects:
                await self._settle_all(app.bridge_ids, suspects)
            await self._take_in_messages()

    async def _settle_all(self, bridge_ids: Sequence[str], suspects: list[str]) -> None:
        """The channels in our application that no live call accounts for, after the grace period."""
        await asyncio.sleep(self.grace)
        still = set((await self._rest.get_application()).channel_ids)
        unclaimed = [c for c in suspects if c in still and not self._claimed(c)]
        await self._adopt_conversations(bridge_ids, unclaimed)
        held = await self._held(bridge_ids, unclaimed)
        if held:
            await self._requeue(held)
        taken_up = {channel.id for channel, _ in held}
        for channel_id in suspects:
            if channel_id in still and channel_id not in taken_up:
                with contextlib.suppress(*CALL_MOVED_ON):
                    await self._settle(channel_id)

    async def _take_in_messages(self) -> None:
        """Messages whose router died after the recording ended and before the store committed them
        (the caller gone since): a finished recording `msg-<channel>` that no live call here owns is
        a message. Stored once, however many routers find it: the store ignores an id it has."""
        for recording in await self._rest.list_stored_recordings():
            channel_id = recording.name.removeprefix(flow.MESSAGE_PREFIX)
            if channel_id == recording.name or channel_id in self._runtime.calls:
                continue  # not a message's, or its call stores it
            with contextlib.suppress(AriNotFound):  # still being recorded: its call is taken up by _settle
                await self._rest.get_live_recording(recording.name)
                continue
            await self._runtime.take_in_recording(channel_id)

    async def take_up_waiting(self, channel_id: str) -> bool:
        """A ring from before a restart was answered for `channel_id` before the grace period ended:
        if Asterisk holds that caller in one of our holding bridges, they wait on in our queue now
        (True), so that the agent who answered is theirs."""
        if self._claimed(channel_id):
            return channel_id in self._runtime.calls
        app = await self._rest.get_application()
        if channel_id not in app.channel_ids:
            return False
        held = await self._held(app.bridge_ids, [channel_id])
        if held:
            await self._requeue(held)
        return channel_id in self._runtime.calls

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

    async def on_stasis_end(self, channel_id: str) -> bool:
        """A channel we hold no call for left our application: one side of an adopted conversation?"""
        if channel_id not in self.adopted:
            return False
        await self._end_adopted(channel_id)
        return True

    async def _settle(self, channel_id: str) -> None:
        """Act on one channel still in our application that no live call accounts for."""
        if self._finished(channel_id):
            await self._rest.hangup(channel_id)
            log.warning("reconcile: hung up %s, whose call had ended but was still here", channel_id)
        elif self._claimed(channel_id):
            return
        elif channel_id.startswith(DIAL_PREFIX):
            return  # a "Ring op" from before a restart: a staff member is on it, and hangs up when done
        elif channel_id.startswith("callrouter-leg-"):
            leg = await self._rest.get_channel(channel_id)
            if leg.app_name != "Stasis":
                return  # still ringing: taken for its caller if answered while they wait, else it times out
            await self._rest.hangup(channel_id)
            log.info("reconcile: hung up agent leg %s of a caller we no longer know", channel_id)
        elif not await self._resume_message(channel_id):
            await self._hand_on(await self._rest.get_channel(channel_id))

    async def _hand_on(self, channel: Channel) -> None:
        """A caller we no longer know goes to the dialplan fallback, which follows the same schedule."""
        await self._stop_playbacks(channel.id)
        await self._rest.continue_in_dialplan(channel.id, f"callrouter-fallback-{dialled_line(channel)}", "s", 1)
        log.info("reconcile: handed %s back to the dialplan fallback", channel.id)

    async def _held(self, bridge_ids: Sequence[str], unclaimed: list[str]) -> list[tuple[Channel, str]]:
        """The callers of ours waiting in our holding bridges, by arrival, with the bridge each is in."""
        held: list[tuple[Channel, str]] = []
        for bridge_id in bridge_ids:
            if not bridge_id.startswith(HOLDING_PREFIX):
                continue
            with contextlib.suppress(*CALL_MOVED_ON):
                bridge = await self._rest.get_bridge(bridge_id)
                for channel_id in bridge.channels:
                    if channel_id in unclaimed:
                        with contextlib.suppress(*CALL_MOVED_ON):
                            held.append((await self._rest.get_channel(channel_id), bridge_id))
        return sorted(
            held,
            key=lambda found: (found[0].created is None, found[0].created or datetime.min, channel_order(found[0].id)),
        )

    async def _requeue(self, held: list[tuple[Channel, str]]) -> None:
        """Callers Asterisk kept waiting while we were away wait on in the queue, in the order they came."""
        clocks = await self._clocks()
        for channel, bridge in held:
            if self._claimed(channel.id):  # taken up meanwhile (its agent answered, `take_up_waiting`)
                continue
            with contextlib.suppress(*CALL_MOVED_ON):
                if not await self._runtime.resume_queued(channel, bridge, self._arrival(channel, clocks)):
                    await self._hand_on(channel)

    async def _clocks(self) -> tuple[datetime, datetime | None]:
        """Our clock and Asterisk's, read together."""
        try:
            theirs = await self._rest.asterisk_time()
        except AriError as e:
            log.warning("reconcile: Asterisk's clock unknown (%s); waits count from now", e)
            theirs = None
        return self._runtime.now(), theirs

    @staticmethod
    def _arrival(channel: Channel, clocks: tuple[datetime, datetime | None]) -> datetime:
        """When the call reached Asterisk, on our clock: its age by Asterisk's clock, back from our now."""
        ours, theirs = clocks
        if theirs is None or channel.created is None:
            return ours
        return ours - max(timedelta(0), theirs - channel.created)

    async def _resume_message(self, channel_id: str) -> bool:
        """A caller we no longer know who is leaving a message: take the call up again, so that the
        message is stored and listed when it ends (handing them on would lose it: Asterisk would
        finish the recording first, and nobody would list it). One whose message was recorded but
        not stored (its router died in between) waits on the line: it is stored, and they hear so."""
        name = flow.message_recording(channel_id)
        try:
            recording = await self._rest.get_live_recording(name)
        except AriNotFound:
            recording = None
        if recording is None or recording.state not in ("queued", "recording"):
            try:
                await self._rest.get_stored_recording(name)
            except AriNotFound:
                return False
            channel = await self._rest.get_channel(channel_id)
            await self._runtime.resume_saving(channel, self._arrival(channel, await self._clocks()))
            log.info("reconcile: %s left a message that was not stored; stored now", channel_id)
            return True
        channel = await self._rest.get_channel(channel_id)
        arrived = self._arrival(channel, await self._clocks())
        self._runtime.take_up(flow.resume_recording(self._runtime.new_call(channel, dialled_line(channel), arrived)))
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
                    self.adopted.update(found)
                    adopted.update(found.values())
        for bridge_id in adopted:
            talking = [c for c, b in self.adopted.items() if b == bridge_id]
            if len(talking) < 2:  # the other side hung up while we were away
                await self._end_adopted(talking[0])
            else:
                log.info("reconcile: %s go on talking in %s", " and ".join(talking), bridge_id)

    async def _end_adopted(self, channel_id: str) -> None:
        """One side of a conversation from before a restart left: end the other side too."""
        bridge_id = self.adopted.pop(channel_id)
        for other in [c for c, b in self.adopted.items() if b == bridge_id]:
            del self.adopted[other]
            with contextlib.suppress(*CALL_MOVED_ON):
                await self._rest.hangup(other)
        with contextlib.suppress(*CALL_MOVED_ON):
            await self._rest.destroy_bridge(bridge_id)
        log.info("call bridge %s from before a restart ended", bridge_id)
        await self._runtime.queues.agents_may_be_free()

    def _finished(self, channel_id: str) -> bool:
        """A call this process finished a while ago: its channel should have left long since (a
        `continue` can take a moment on a busy Asterisk, so not one just handed on)."""
        return self._runtime.recent.finished_before(channel_id, self.finished_grace)

    def _claimed(self, channel_id: str) -> bool:
        runtime = self._runtime
        return (
            channel_id in runtime.calls
            or channel_id in runtime.recent
            or channel_id in runtime.queues.legs
            or channel_id in self.adopted
            or channel_id in runtime.dialouts.legs
        )


def channel_order(channel_id: str) -> tuple[tuple[int, int, str], ...]:
    """Asterisk's channel ids (`1717171717.9`, `1717171717.10`, or with a system name before them) in the
    order Asterisk made them: their numbers compared as numbers, so that .10 comes after .9 when two
    callers arrived within the same millisecond (creationtime's resolution)."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in channel_id.replace("-", ".").split(".")
    )
