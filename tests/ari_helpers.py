"""Helpers for ARI tests: an event recorder that tests can wait on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from router.ari import Event
from router.ari.events import Dispatcher
from router.calls.runtime import Runtime

# Events every call produces that say nothing about call flow.
NOISE = {"ChannelVarset", "ChannelConnectedLine", "ChannelDialplan", "ChannelCallerId"}


class Recorder:
    """An event handler that keeps every event, and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Condition()

    async def __call__(self, event: Event) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    async def wait_for(
        self, event_type: str, match: Callable[[Event], bool] = lambda e: True, within: float = 5
    ) -> Event:
        def found() -> Event | None:
            return next((e for e in self.events if e.type == event_type and match(e)), None)

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        event = found()
        assert event is not None
        return event

    def types(self, key: str) -> list[str]:
        """The flow-relevant event types about one channel (or 'bridge:ID'), in arrival order."""
        return [e.type for e in self.events if e.key == key and e.type not in NOISE]


async def until(condition: Callable[[], bool], within: float = 5) -> None:
    """Wait until `condition` holds, looking every 10 ms; fail the test after `within` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 -- polls state that a handler or the simulator changes
            await asyncio.sleep(0.01)


class AsteriskQuirk(UserWarning):
    """A behaviour of the real Asterisk worth seeing in the test summary; it does not fail a test."""


async def outcome_of(runtime: Runtime, call_id: str, within: float = 10) -> str:
    """Wait for the router to end call `call_id`, and say how it ended."""
    async with asyncio.timeout(within), runtime.finished:
        await runtime.finished.wait_for(lambda: any(o.call_id == call_id for o in runtime.outcomes))
    return next(o.outcome for o in runtime.outcomes if o.call_id == call_id)


class ArrivalOrder(Dispatcher):
    """The router's per-key dispatcher, which also writes down every event in the order it came off
    the WebSocket: across channels the handler may see a burst of events in another order (each
    channel's in turn), and the differential tier compares what Asterisk sent."""

    def __init__(self, handler: Callable[[Event], Awaitable[None]], arrived: list[Event]) -> None:
        super().__init__(handler)
        self.arrived = arrived

    def put(self, event: Event) -> None:
        self.arrived.append(event)
        super().put(event)
