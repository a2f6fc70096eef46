"""What happened to calls, in order, as a harness waits for it: GET /_sim/events (a long poll).

Each entry is what a phone or its line saw: a call placed, answered, a sound heard and how it ended, keys
pressed, the hangup with its cause and who hung up. Entries are numbered from 1; a harness asks for those
after the last number it has, and waits (up to a limit) when there are none yet, so it never polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from asterisk_sim.answers import Json


class Journal:
    def __init__(self) -> None:
        self.entries: list[Json] = []
        self._changed = asyncio.Event()

    def note(self, channel_id: str, what: str, **facts: Any) -> None:
        self.entries.append(
            {"seq": len(self.entries) + 1, "at": time.monotonic(), "channel": channel_id, "what": what, **facts}
        )
        self._changed.set()  # wakes every waiter; the next wait is on a new event
        self._changed = asyncio.Event()

    async def after(self, seq: int, wait: float) -> list[Json]:
        """The entries after number `seq`, waiting up to `wait` seconds for the first of them."""
        if len(self.entries) <= seq and wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)
        return self.entries[seq:]
