"""A copy of a small table of the store, renewed in the background (overrides.py, closures.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from router.office.store import Store

log = logging.getLogger(__name__)


async def keep_refreshing(
    store: Store, refresh: Callable[[], None], what: str, every: float, on_failure: Callable[[], None] = lambda: None
) -> None:
    """Call `refresh` every `every` seconds until cancelled; a failure keeps the last copy and is logged
    once, and so is the store answering again.

    The embedded store is read here, in the event loop: asking its data version takes under 0.1 ms, and a
    read of a small table (0.7 ms, after a write) begins deferred, which in WAL mode never waits for a
    writer; handing it to a thread twice a second made callers wait for the GIL while the thread ran (the
    first-audio tail in BENCHMARKS.md). PostgreSQL is across a network, so its read goes on in a thread."""
    inline = not store.shared
    failing = False
    while True:
        try:
            if inline:
                refresh()
            else:
                await asyncio.to_thread(refresh)
            if failing:
                log.info("%s: the store answers again", what)
            failing = False
        except Exception as e:
            if not failing:
                log.warning("%s: cannot read the store (%s); the last known %s stay in force", what, e, what)
            failing = True
            on_failure()
        await asyncio.sleep(every)
