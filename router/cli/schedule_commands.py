"""`callrouter check|at|calendar|ics|dialplan`: the schedule, as the operator reads and publishes it."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from router.calls.dialplan import MAX_DAYS, fallback_for
from router.calls.dialplan import render as render_dialplan
from router.calls.guidance import closed_guidance, render
from router.calls.prompts import PromptError, load_manifest, missing_closure_prompts, missing_prompts
from router.cli.common import (
    REASON_TEXT,
    Commands,
    NoData,
    UsageError,
    days_count,
    decision_json,
    first_day,
    iso,
    manifest_path,
    parse_instant,
    period_arguments,
    schedule_path,
    segment_json,
    site_store,
    when,
)
from router.schedule import (
    WEEKDAYS,
    Decision,
    Override,
    QueueConfig,
    Reason,
    Schedule,
    Segment,
    WhenClosed,
    day_plan,
    decide,
    load_schedule,
)
from router.schedule.localtime import wall
from router.schedule.planned import PlannedClosure, with_planned


def register(commands: Commands) -> None:
    """check, at, calendar, ics, dialplan: the schedule itself."""
    check = commands.add_parser("check", help="validate a schedule file")
    check.add_argument("file", nargs="?", help="the file to check (default: the schedule)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(command=_check)

    at = commands.add_parser("at", help="what a caller gets at an instant")
    at.add_argument("time", help="ISO 8601, with or without offset (without: the schedule's zone), or 'now'")
    at.add_argument("--line", help="line (default: the first in the file)")
    at.add_argument("--json", action="store_true", help="machine-readable output")
    at.set_defaults(command=_at)

    calendar = commands.add_parser("calendar", help="the open windows day by day")
    period_arguments(calendar, days=14)
    calendar.add_argument("--json", action="store_true", help="machine-readable output")
    calendar.set_defaults(command=_calendar)

    ics = commands.add_parser("ics", help="the phone hours as an iCalendar file")
    period_arguments(ics, days=365)
    ics.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    ics.add_argument("--json", action="store_true", help="the same windows as JSON instead of iCalendar")
    ics.set_defaults(command=_ics)

    dialplan = commands.add_parser("dialplan", help="the fallback dialplan (GotoIfTime) for when the router is down")
    period_arguments(dialplan, days=365)
    dialplan.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    dialplan.add_argument("--json", action="store_true", help="the usual week and its exceptions as JSON")
    dialplan.set_defaults(command=_dialplan)


def _check(args: argparse.Namespace) -> int:
    path = args.file or schedule_path(args)
    schedule = load_schedule(path)
    summary = {
        "file": str(path),
        "ok": True,
        "timezone": schedule.timezone,
        "lines": {line.id: line.name for line in schedule.lines.values()},
    }
    manifest = load_manifest(manifest_path())
    missing = missing_prompts(manifest)
    general = missing_closure_prompts(schedule, manifest)
    summary["missing_prompts"] = missing
    summary["closures_without_own_message"] = general
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print(f"{path}: OK, {len(schedule.lines)} line(s) in {schedule.timezone}: {', '.join(schedule.lines)}")
        for name in missing:
            print(f"  missing prompt: {name} (not in {manifest_path().name}); callers would hear a gap")
        for name in general:
            print(f"  note: no {name} in {manifest_path().name}; callers hear the general closed-now")
    return 1 if missing else 0


def _from_store(args: argparse.Namespace) -> tuple[tuple[Override, ...], tuple[PlannedClosure, ...]]:
    """The site's overrides and planned closures, if it has a store; none (said on stderr) if it
    cannot be read: the schedule file alone still answers."""
    try:
        site = site_store(args)
    except NoData:
        return (), ()
    except UsageError as e:
        print(f"callrouter: overrides and planned closures ignored: {e}", file=sys.stderr)
        return (), ()
    from sqlalchemy.exc import SQLAlchemyError  # the store's libraries, only for a site that has one

    from router.office.closures import ClosureStore
    from router.office.overrides import OverrideStore

    try:
        return OverrideStore(site).all(), ClosureStore(site).all()
    except SQLAlchemyError as e:
        print(f"callrouter: overrides and planned closures ignored: {e}", file=sys.stderr)
        return (), ()
    finally:
        site.close()


def _schedule(args: argparse.Namespace) -> tuple[Schedule, tuple[Override, ...]]:
    """The schedule file with the site's planned closures joined, and the site's overrides."""
    overrides, closures = _from_store(args)
    return with_planned(load_schedule(schedule_path(args)), closures), overrides


def _at(args: argparse.Namespace) -> int:
    schedule, overrides = _schedule(args)
    line_id = args.line or next(iter(schedule.lines))
    instant = parse_instant(args.time, schedule)
    decision = decide(schedule, line_id, instant, overrides)
    guidance, texts = None, {}
    if not decision.open:
        try:
            manifest = load_manifest(manifest_path())
        except PromptError as e:  # the decision stands without it; say why the guidance is missing
            print(f"callrouter: cannot show what the caller hears: {e}", file=sys.stderr)
        else:
            texts = manifest.texts_for(schedule, range(instant.year - 1, instant.year + 2))
            guidance = closed_guidance(schedule, line_id, decision, manifest.texts)
    callback = _callback_text(schedule, line_id) if decision.open else None
    if args.json:
        out = decision_json(decision, schedule)
        if guidance is not None:
            out["guidance"] = {"prompts": list(guidance.prompts), "text": render(guidance, texts)}
        if callback is not None:
            out["callback"] = callback
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(_decision_text(decision, schedule))
        if guidance is not None:
            print(f"  caller hears: {render(guidance, texts)}")
        if callback is not None:
            print(f"  callback: {callback}")
    return 0


def _callback_text(schedule: Schedule, line_id: str) -> str | None:
    """How the line's queue offers callbacks, in a sentence; None if it does not."""
    line = schedule.line(line_id)
    if not isinstance(line.open_to, QueueConfig) or line.open_to.callback is None or line.callback is None:
        return None
    offer = line.open_to.callback
    ends = {
        WhenClosed.MESSAGE: "callbacks still open when the phone hours end become messages",
        WhenClosed.NEXT_OPENING: "callbacks still open when the phone hours end are made in the next phone hours",
    }[offer.when_closed]
    return (
        f"after {offer.offer_after_seconds} s in the queue a caller may press {offer.key} to be called back and keep "
        f"their place; called through {line.callback.dial} as {line.callback.caller_id}, {offer.attempts} attempt(s) "
        f"{offer.retry_minutes} min apart, then a message; {ends}"
    )


def _calendar(args: argparse.Namespace) -> int:
    schedule, _ = _schedule(args)
    line_id = args.line or next(iter(schedule.lines))
    first = first_day(args.first, schedule)
    days = days_count(args.days)
    plans = [day_plan(schedule, line_id, first + timedelta(days=i)) for i in range(days)]
    if args.json:
        out = {
            "line": line_id,
            "timezone": schedule.timezone,
            "days": [
                {
                    "date": plan.day.isoformat(),
                    "windows": [{"start": iso(s, schedule), "end": iso(e, schedule)} for s, e in plan.windows],
                    "notes": [segment_json(n, schedule) for n in plan.notes],
                }
                for plan in plans
            ],
        }
        print(json.dumps(out, ensure_ascii=False))
        return 0
    line = schedule.line(line_id)
    print(f"{line_id}: {line.name} (times in {schedule.timezone})")
    for plan in plans:
        windows = ", ".join(_span_text(s, e, plan.day, schedule) for s, e in plan.windows) or "closed"
        notes = "; ".join(_note_text(n, plan.day, schedule) for n in plan.notes)
        print(f"{plan.day:%a %Y-%m-%d}  {windows:<24}{'  ' + notes if notes else ''}".rstrip())
    return 0


def _ics(args: argparse.Namespace) -> int:
    from router.schedule.ics import open_windows, phone_hours_calendar  # icalendar: for this command alone

    schedule, _ = _schedule(args)
    line_id = args.line or next(iter(schedule.lines))
    first = first_day(args.first, schedule)
    if args.json:
        windows = open_windows(schedule, line_id, first, days_count(args.days))
        events = [{"start": iso(s, schedule), "end": iso(e, schedule)} for s, e in windows]
        data = (json.dumps({"line": line_id, "events": events}) + "\n").encode()
    else:
        data = phone_hours_calendar(schedule, line_id, first, days_count(args.days), datetime.now(UTC))
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


def _dialplan(args: argparse.Namespace) -> int:
    path = schedule_path(args)
    schedule = load_schedule(path)
    line_id = args.line or next(iter(schedule.lines))
    first = first_day(args.first, schedule)
    if not 1 <= args.days <= MAX_DAYS:
        raise UsageError(f"--days must be from 1 to {MAX_DAYS} (GotoIfTime has no year), not {args.days}")
    fallback = fallback_for(schedule, line_id, first, args.days)
    if args.json:
        text = json.dumps(
            {
                "line": line_id,
                "first": first.isoformat(),
                "days": args.days,
                "usual": {WEEKDAYS[i]: [list(w) for w in windows] for i, windows in enumerate(fallback.usual)},
                "exceptions": [
                    {"date": d.isoformat(), "windows": [list(w) for w in windows], "why": why}
                    for d, windows, why in fallback.exceptions
                ],
            },
            ensure_ascii=False,
        )
        text += "\n"
    else:
        text = render_dialplan(fallback, schedule, Path(path).name, datetime.now(UTC))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _decision_text(decision: Decision, schedule: Schedule) -> str:
    state = "OPEN" if decision.open else "CLOSED"
    why = REASON_TEXT[decision.reason]
    if decision.label or decision.cause:
        why += f": {decision.label or decision.cause}"
        if decision.label and decision.cause and decision.reason in (Reason.CLOSURE, Reason.OPENING, Reason.OVERRIDE):
            why += f" [{decision.cause}]"
    lines = [f"line {decision.line} at {when(decision.instant, schedule)}: {state} ({why})"]
    if decision.window is not None:
        start, end = decision.window
        lines.append(f"  open window:  {when(start, schedule)} to {when(end, schedule)}")
    if decision.override is not None:
        lines.append(f"  override expires: {when(decision.override.until, schedule)}")
    lines.append(
        f"  next change:  {when(decision.next_change, schedule) if decision.next_change else 'none within two years'}"
    )
    lines.append(
        f"  next opening: {when(decision.next_open, schedule) if decision.next_open else 'none within two years'}"
    )
    return "\n".join(lines)


def _span_text(start: datetime, end: datetime, day: date, schedule: Schedule) -> str:
    def hhmm(instant: datetime) -> str:
        local = wall(instant, schedule.tz)
        return "24:00" if local.date() > day else f"{local:%H:%M}"

    return f"{hhmm(start)}-{hhmm(end)}"


def _note_text(segment: Segment, day: date, schedule: Schedule) -> str:
    what = segment.label or segment.cause or ""
    if segment.reason in (Reason.CLOSURE, Reason.OPENING) and segment.cause and segment.label:
        what += f" [{segment.cause}]"
    span = _span_text(segment.start, segment.end, day, schedule)
    whole_day = span == "00:00-24:00"
    return f"{REASON_TEXT[segment.reason]}{'' if whole_day else ' ' + span}: {what}".rstrip(": ")
