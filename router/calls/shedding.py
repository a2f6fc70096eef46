"""Load shedding: when Asterisk answers slowly, new calls go to the dialplan fallback unanswered.

A call is "in setup" from its StasisStart until the requests of its first step (answer and the
first prompt, or the queue) have been answered. When Asterisk is overloaded its answers slow down
and calls pile up in setup; past `limit`, a new call is not answered by the router at all but handed
straight to the dialplan fallback (one request instead of several, and no events to follow), which
follows the same schedule without the router. Shedding goes on until half the limit is left, so that
it does not flap from one call to the next.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)

# Calls answered at once while Asterisk is slow: well under Asterisk's HTTP session limit, and
# many more than a healthy Asterisk ever has in setup (a call's setup takes milliseconds).
DEFAULT_MAX_CALLS_IN_SETUP = 20


class LoadShedder:
    def __init__(self, limit: int = DEFAULT_MAX_CALLS_IN_SETUP) -> None:
        self.limit = limit
        self.in_setup = 0  # calls whose first step Asterisk has not yet answered
        self._shed: int | None = None  # while shedding: calls shed since it began

    def shed_next(self) -> bool:
        """Whether to shed the call that has just arrived."""
        if self._shed is None and self.in_setup >= self.limit:
            log.warning("overload: %d calls in setup; new calls go to the dialplan fallback", self.in_setup)
            self._shed = 0
        elif self._shed is not None and self.in_setup <= self.limit // 2:
            log.warning("overload over: %d calls were handed to the dialplan fallback", self._shed)
            self._shed = None
        if self._shed is None:
            return False
        self._shed += 1
        return True

    @contextlib.contextmanager
    def setting_up(self) -> Iterator[None]:
        """Count a call as in setup for the duration of the block."""
        self.in_setup += 1
        try:
            yield
        finally:
            self.in_setup -= 1
