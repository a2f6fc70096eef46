"""Load shedding: when Asterisk answers slowly, new calls go to the dialplan fallback unanswered.

A call is "in setup" from its StasisStart until the requests of its first step (answer and the
first prompt, or the queue) have been answered. The signal is Asterisk's own latency: while the
oldest call in setup has waited longer than `latency_limit`, Asterisk is not keeping up, and a new
call is not answered by the router at all but handed straight to the dialplan fallback (one request
instead of several, and no events to follow), which follows the same schedule without the router.
A healthy Asterisk answers in milliseconds, so however many calls arrive at once, none is shed
while it keeps answering in time. `limit` is only a backstop on the count (a flood far beyond
Asterisk's HTTP session limit). Shedding goes on until the oldest call in setup is younger than
half the latency limit and at most half the limit are in setup, so that it does not flap from one
call to the next.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Iterator

log = logging.getLogger(__name__)

# Asterisk's HTTP server allows 100 sessions from all its clients together (http.conf's sessionlimit);
# calls in setup beyond this many would only wait in line for our 16 connections.
DEFAULT_MAX_CALLS_IN_SETUP = 100
# A caller hears ringing meanwhile; a second without an answer from Asterisk is an overload, not a blip.
DEFAULT_LATENCY_LIMIT = 1.0


class LoadShedder:
    def __init__(
        self,
        limit: int = DEFAULT_MAX_CALLS_IN_SETUP,
        latency_limit: float = DEFAULT_LATENCY_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.latency_limit = latency_limit
        self._clock = clock
        self._started: dict[int, float] = {}  # calls in setup: when each began
        self._ids = itertools.count()
        self._shed: int | None = None  # while shedding: calls shed since it began

    @property
    def in_setup(self) -> int:
        """Calls whose first step Asterisk has not yet answered."""
        return len(self._started)

    def oldest_wait(self) -> float:
        """How long the oldest call in setup has waited for Asterisk (0 with none in setup)."""
        return self._clock() - min(self._started.values()) if self._started else 0.0

    def shed_next(self) -> bool:
        """Whether to shed the call that has just arrived."""
        wait = self.oldest_wait()
        if self._shed is None and (wait > self.latency_limit or self.in_setup >= self.limit):
            log.warning(
                "overload: Asterisk has not answered a call's first step for %.1f s (%d in setup); "
                "new calls go to the dialplan fallback",
                wait,
                self.in_setup,
            )
            self._shed = 0
        elif self._shed is not None and wait < self.latency_limit / 2 and self.in_setup <= self.limit // 2:
            log.warning("overload over: %d calls were handed to the dialplan fallback", self._shed)
            self._shed = None
        if self._shed is None:
            return False
        self._shed += 1
        return True

    @contextlib.contextmanager
    def setting_up(self) -> Iterator[None]:
        """Count a call as in setup for the duration of the block."""
        token = next(self._ids)
        self._started[token] = self._clock()
        try:
            yield
        finally:
            del self._started[token]
