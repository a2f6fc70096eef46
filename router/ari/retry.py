"""Retrying requests that are safe to retry, without ever doubling their effect.

Theory of operation
-------------------
A request that failed because Asterisk did not answer (refused, reset, timed out) or answered 5xx
may still have taken effect: the answer, not the request, may be what was lost. So only requests
whose repetition cannot do anything twice are retried:

- reads (GET) and deletions (DELETE): a repeated DELETE of what the first one removed answers 404,
  which callers treat as done;
- requests with an id the client chose (answer, play with a playback id, a bridge with an id, an
  originate with a channel id, a recording with a name) and `continue`. Each names how a retry
  recognises that the first try took effect: Asterisk answering 409 for the resource it made
  (`conflict_ok`), the call having moved on (`moved_on_ok`, for continue), events already seen for
  the resource's id (`seen`), or a GET that finds it (`probe`). Asterisk does not refuse a second
  playback with the same id (it plays both), so a play is never repeated once its id is seen or
  found.

Retries pause briefly (`PAUSES`) and stop at a deadline: `within(seconds)` sets one for the
requests a task makes in the block, the call's own (the runtime sets it per step of a call); with
none set, `BUDGET_SECONDS` from the first try.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8)  # before each further try: six in all, over 1.55 s
BUDGET_SECONDS = 8.0  # a request's deadline, retries included, when the caller set none

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("ari_deadline", default=None)


@dataclass(frozen=True, slots=True)
class Retry:
    """How a retry of one request tells that the first try already took effect (see the module)."""

    conflict_ok: bool = False
    moved_on_ok: bool = False
    seen: str | None = None
    probe: str | None = None


ONCE = None  # a request that is never repeated
PLAIN = Retry()  # repeating it can do nothing twice (GET, DELETE, answer, addChannel, moh)


@contextlib.contextmanager
def within(seconds: float) -> Iterator[None]:
    """Requests made in this block give up retrying `seconds` from now (or at an earlier deadline)."""
    end = time.monotonic() + seconds
    current = _deadline.get()
    token = _deadline.set(end if current is None else min(end, current))
    try:
        yield
    finally:
        _deadline.reset(token)


def deadline() -> float:
    """When the request starting now must be done by, retries included."""
    current = _deadline.get()
    return current if current is not None else time.monotonic() + BUDGET_SECONDS


class SeenIds:
    """The ids of channels, playbacks and recordings that recent events were about.

    The event reader notes them as frames arrive (before any handler runs), so a retry can see that
    its first try made the resource even while the events about it wait for their handler.
    """

    def __init__(self, keep: int = 50_000) -> None:
        self._keep = keep
        self._ids: OrderedDict[str, None] = OrderedDict()

    def note(self, resource_id: str) -> None:
        self._ids[resource_id] = None
        self._ids.move_to_end(resource_id)
        if len(self._ids) > self._keep:
            self._ids.popitem(last=False)

    def __contains__(self, resource_id: object) -> bool:
        return resource_id in self._ids
