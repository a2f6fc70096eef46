"""What happened to calls, in order, as a harness waits for it: GET /_sim/events (a long poll).

Each entry is what a phone or its line saw: a call placed, answered, a sound heard and how it ended, keys
pressed, the hangup with its cause and who hung up. Entries are numbered from 1; a harness asks for those
after the last number it has, and waits (up to a limit) when there are none yet, so it never polls.

A simulator left running for days (a harness's container, a load test) must not grow without bound, so
only the last `KEPT` entries are kept. A harness that asks for entries already let go is told how many it
missed (`missed`) rather than being silently given a gap.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from typing import Any

from asterisk_sim.answers import Json

KEPT = 50_000  # about 10 MB of entries; a harness reads them within seconds


class Journal:
    def __init__(self, kept: int = KEPT) -> None:
        self.entries: collections.deque[Json] = collections.deque(maxlen=kept)
        self.last = 0  # the number of the newest entry (0: none yet)
        self._changed = asyncio.Event()

    def note(self, channel_id: str, what: str, **facts: Any) -> None:
        self.last += 1
        self.entries.append({"seq": self.last, "at": time.monotonic(), "channel": channel_id, "what": what, **facts})
        self._changed.set()  # wakes every waiter; the next wait is on a new event
        self._changed = asyncio.Event()

    async def after(self, seq: int, wait: float) -> tuple[list[Json], int]:
        """The entries after number `seq`, waiting up to `wait` seconds for the first of them, and how
        many entries after `seq` were let go before they were asked for."""
        if self.last <= seq and wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)
        first = self.last - len(self.entries) + 1  # the oldest entry kept
        missed = max(0, first - 1 - seq)
        return list(self.entries)[max(0, seq - first + 1) :], missed
