"""The fallback dialplan: the schedule as GotoIfTime rules, for calls that arrive while the router is down.

Theory of operation
-------------------
When the router is not connected, Stasis() fails (STASISSTATUS=FAILED) and the call goes on in the
dialplan. So that it still follows the schedule, this module writes the schedule out as Asterisk
GotoIfTime() rules, from the same core that answers `decide()`:

1. For each weekday, the *usual* open windows are the ones that day of the week has most often over
   the period, or over eight weeks from its start when the period is shorter (a short period would
   leave the weekdays it does not contain without hours, and the fallback's closed message speaks the
   usual week): the weekly hours.
2. Every date whose windows differ from its weekday's usual ones (a holiday, a closing day, a
   closure, an extra opening, new hours from a later version) becomes an exception, matched first by
   its day of the month and month.
3. GotoIfTime has no year, so the rules cover one period of at most a year from a start date: they
   must be regenerated with the schedule, and before the period ends (the file says until when).

GotoIfTime's end time is inclusive to the minute: "10:00-11:59" still matches at 11:59:59. A window
[10:00, 12:00) is therefore written 10:00-11:59, and a window ending at midnight ends 23:59.

In phone hours a line with a `queue:` goes on to `callrouter-open-<line>`, written here too from the
queue's own agents, so that the fallback and the router's queue never ring different people: all of
them at once for the queue's `ring_seconds`, then the answering machine. A line with
`open_context:` goes to that context, as the router sends it; a line with neither goes to the site's
own `callrouter-open-<line>`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from router.calls.guidance import hours_sentence, slug
from router.schedule.localtime import wall
from router.schedule.model import WEEKDAYS, QueueConfig
from router.schedule.timeline import Schedule, day_plan

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MAX_DAYS = 365  # GotoIfTime has no year: one date may appear only once in the period
USUAL_WEEK_DAYS = 56  # the usual week is read from at least this many days

Minutes = tuple[tuple[int, int], ...]  # open windows of a day: [start, end) in minutes after midnight


@dataclass(frozen=True)
class FallbackDialplan:
    line: str
    first: date
    days: int
    usual: tuple[Minutes, ...]  # Monday first
    exceptions: tuple[tuple[date, Minutes, str], ...]  # (date, windows, why)


def fallback_for(schedule: Schedule, line_id: str, first: date, days: int = MAX_DAYS) -> FallbackDialplan:
    """The usual week and the exceptions to it over `days` days from `first`."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"the period is 1 to {MAX_DAYS} days, not {days}")
    schedule.line(line_id)
    by_day: dict[date, tuple[Minutes, str]] = {}
    for offset in range(max(days, USUAL_WEEK_DAYS)):
        day = first + timedelta(days=offset)
        plan = day_plan(schedule, line_id, day)
        windows = tuple(_minutes(start, end, day, schedule) for start, end in plan.windows)
        why = " / ".join(dict.fromkeys(_text(n.label or n.cause or str(n.reason)) for n in plan.notes))
        by_day[day] = (windows, why)
    usual = []
    for weekday in range(7):
        counts = Counter(w for d, (w, _) in by_day.items() if d.weekday() == weekday)
        usual.append(counts.most_common(1)[0][0] if counts else ())
    last = first + timedelta(days=days - 1)
    exceptions = tuple(
        (day, windows, why or "other hours")
        for day, (windows, why) in by_day.items()
        if day <= last and windows != usual[day.weekday()]
    )
    return FallbackDialplan(line_id, first, days, tuple(usual), exceptions)


def _minutes(start: datetime, end: datetime, day: date, schedule: Schedule) -> tuple[int, int]:
    def minute(instant: datetime) -> int:
        local = wall(instant, schedule.tz)
        return 24 * 60 if local.date() > day else local.hour * 60 + local.minute

    return minute(start), minute(end)


def _text(label: str) -> str:
    """A name safe inside NoOp() and after ';': no comment, argument or bracket characters."""
    return "".join(" " if c in ';,()[]\\"\n\r' else c for c in label).strip()


def _times(window: tuple[int, int]) -> str:
    start, end = window
    last = end - 1  # inclusive end minute
    return f"{start // 60:02d}:{start % 60:02d}-{last // 60:02d}:{last % 60:02d}"


def render(
    fallback: FallbackDialplan,
    schedule: Schedule,
    source: str,
    generated: datetime,
    *,
    context: str | None = None,
    open_to: str | None = None,
    closed_to: str | None = None,
    with_guidance: bool = True,
) -> str:
    """Asterisk extensions.conf text: context callrouter-fallback-<line>, and with the guidance
    callrouter-guidance-<line> and, for a line with a queue, callrouter-open-<line>."""
    tz = schedule.timezone
    line = fallback.line
    context = context or f"callrouter-fallback-{line}"
    target = schedule.line(line).open_to
    if open_to is None:
        open_to = f"{target},s,1" if isinstance(target, str) else f"callrouter-open-{line},s,1"
    closed_to = closed_to or f"callrouter-closed-{line},s,1"
    last = fallback.first + timedelta(days=fallback.days - 1)
    out = [
        f"; Generated by `callrouter dialplan` from {source} at {generated:%Y-%m-%d %H:%M %Z}. Do not edit:",
        "; change the schedule and generate this file again.",
        f"; Valid from {fallback.first} to {last}; GotoIfTime has no year, so regenerate before {last}.",
        f"; Line {line}: where a call goes when the router is not connected (STASISSTATUS=FAILED).",
        f"; Open: {open_to}. Closed: {closed_to} (see extensions_callrouter.conf).",
        "",
        f"[{context}]",
        f"exten => s,1,NoOp(line {line}: router unavailable, following the schedule of {fallback.first} to {last})",
        "; Days that differ from the usual week.",
    ]
    blocks: list[str] = []
    for i, (day, windows, why) in enumerate(fallback.exceptions, 1):
        month = MONTHS[day.month - 1]
        out.append(f" same => n,GotoIfTime(*,*,{day.day},{month},{tz}?day{i})  ; {day} {why}")
        blocks.append(f" same => n(day{i}),NoOp({day} {why})")
        blocks.extend(f" same => n,GotoIfTime({_times(w)},*,*,*,{tz}?open)" for w in windows)
        blocks.append(" same => n,Goto(closed)")
    out.append("; The usual week.")
    for weekday, windows in enumerate(fallback.usual):
        out.extend(f" same => n,GotoIfTime({_times(w)},{WEEKDAYS[weekday]},*,*,{tz}?open)" for w in windows)
    out.append(" same => n,Goto(closed)")
    out.extend(blocks)
    out.append(f" same => n(open),Goto({open_to})")
    out.append(f" same => n(closed),Goto({closed_to})")
    if with_guidance:
        out.extend(("", *_guidance_context(fallback, schedule)))
        if isinstance(target, QueueConfig):
            out.extend(("", *_open_context(line, target, closed_to)))
    return "\n".join(out) + "\n"


def _open_context(line: str, queue: QueueConfig, closed_to: str) -> list[str]:
    """In phone hours while the router is down: ring the queue's agents directly, then the answering machine."""
    agents = "&".join(f"PJSIP/{agent}" for agent in queue.agents)
    return [
        f"; Line {line} in phone hours while the router is down: the agents of its queue, all at once.",
        f"[callrouter-open-{line}]",
        f"exten => s,1,NoOp(line {line} open, router unavailable: ringing {', '.join(queue.agents)})",
        f" same => n,Dial({agents},{queue.ring_seconds})",
        f" same => n,Goto({closed_to})  ; nobody answered: the guidance and a message",
    ]


def _guidance_context(fallback: FallbackDialplan, schedule: Schedule) -> list[str]:
    """What a closed caller hears while the router is down: the usual hours, e-mail, self-service.

    The next opening and holiday names need the router; without it, the usual week is what is known.
    """
    line = schedule.line(fallback.line)
    pieces: list[str] = ["closed-now", *hours_sentence(fallback.usual)]
    if line.email:
        pieces.extend(("write-email", f"email-{slug(line.id)}"))
    if line.self_service:
        pieces.append("self-service")
    files = "&".join(f"callrouter/{p}" for p in pieces if p not in (",", "."))
    return [
        f"; What a caller hears on line {line.id} while the router is down and the line is closed.",
        f"[callrouter-guidance-{line.id}]",
        f"exten => s,1,Set(CALLROUTER_GUIDANCE={files})",
        " same => n,Return()",
    ]
