"""How long a waiting caller will probably wait, from what the queue has served recently (pure).

The rules
---------
- The data: the instants at which the line's agents took a caller from the queue (answered), from
  this router's own recent history and the office's call log (arrival + wait of each answered call,
  so that a restarted router, or one taking over from another node, starts from the recent figures).
- Too little to go on, so nothing is said: fewer than `MIN_ANSWERS` answers in the last `WINDOW`,
  or the newest of them older than `STALE` (the office may have gone to lunch since).
- The method: the median time between consecutive answers in the window is how often the queue takes
  the next caller, whatever the number of agents (two agents answering take callers twice as often,
  and the gaps show it). A caller at place p waits about p such gaps. The median, not the mean, so that
  one quiet spell with nobody waiting (a long gap) or two answers at once do not sway it.
  Callers ahead who give up would shorten the wait; they are not counted, so the estimate errs long
  rather than promising a caller too little.
- Said as a person would: never "0 minutes" (at least 1); whole minutes up to 10; then to the nearest
  5 minutes up to 30; above that (from 32.5 minutes) only "more than half an hour". Rounding half up.

It is monotonic in the place (a caller further back never hears less) and never negative.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

WINDOW = timedelta(hours=1)
MIN_ANSWERS = 3
STALE = timedelta(minutes=30)
LONGEST = 30  # minutes: above this, "more than half an hour"
TOO_LITTLE = "for lidt at gå efter"  # what the console and /status say when nothing is said to callers


@dataclass(frozen=True, slots=True)
class Estimate:
    minutes: int  # as said: 1-10, 15, 20, 25, 30
    more: bool = False  # more than `minutes` (half an hour): said as "over en halv time"

    def danish(self) -> str:
        """As the console writes it."""
        if self.more:
            return "over en halv time"
        return f"omkring {self.minutes} {'minut' if self.minutes == 1 else 'minutter'}"


def recent(answers: Iterable[datetime], now: datetime) -> list[datetime]:
    """The answers that count at `now` (in the window, none from the future), oldest first."""
    return sorted(t for t in answers if now - WINDOW <= t <= now)


def estimate_wait(answers: Iterable[datetime], now: datetime, place: int) -> Estimate | None:
    """The wait of the caller at `place` (1: served next), or None when there is too little to go on."""
    found = recent(answers, now)
    if place < 1 or len(found) < MIN_ANSWERS or now - found[-1] > STALE:
        return None
    gap = statistics.median((b - a).total_seconds() for a, b in pairwise(found))
    return spoken(place * gap)


def spoken(seconds: float) -> Estimate:
    """A wait in seconds as a person would say it (see the module's docstring)."""
    minutes = int(max(0.0, seconds) / 60 + 0.5)
    if minutes <= 10:
        return Estimate(max(1, minutes))
    fives = int(minutes / 5 + 0.5) * 5
    return Estimate(fives) if fives <= LONGEST else Estimate(LONGEST, more=True)


def words(estimate: Estimate) -> tuple[str, ...]:
    """The prompts that say it to a caller."""
    if estimate.more:
        return ("queue-estimate-long",)
    unit = "queue-estimate-minute" if estimate.minutes == 1 else "queue-estimate-minutes"
    return ("queue-estimate", f"num-{estimate.minutes}", unit)
