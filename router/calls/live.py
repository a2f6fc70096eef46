"""The calls a running router holds, as the runtime and the reconciler both see them."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from router.ari.models import Channel
from router.calls import flow
from router.schedule import QueueConfig


def dialled_line(channel: Channel) -> str:
    """The line a caller in our application dialled: Stasis(app,<line>)'s argument, else the extension."""
    return channel.stasis_args[0] if channel.stasis_args else channel.exten


@dataclass
class LiveCall:
    """One call in progress: its pure state, and what the shell keeps beside it."""

    call: flow.Call
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # its events, timers and follow-ups, one at a time
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    queue: QueueConfig | None = None  # the line's queue, when the call went to it
    in_hours: bool = False


class RecentCalls:
    """The calls this process took, newest last, and when each was finished (None: not yet).

    Bounded: only the last `keep` are remembered, which is far more than a reconcile period sees.
    """

    def __init__(self, keep: int = 10_000) -> None:
        self._keep = keep
        self._finished: OrderedDict[str, float | None] = OrderedDict()

    def started(self, call_id: str) -> None:
        self._finished[call_id] = None
        if len(self._finished) > self._keep:
            self._finished.popitem(last=False)

    def finished(self, call_id: str) -> None:
        if call_id in self._finished:
            self._finished[call_id] = time.monotonic()

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._finished

    def finished_before(self, call_id: str, seconds_ago: float) -> bool:
        """Whether the call was finished more than `seconds_ago` seconds ago."""
        ended = self._finished.get(call_id)
        return ended is not None and time.monotonic() - ended > seconds_ago
