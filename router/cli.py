"""`callrouter`: the operator's commands. Reads the clock and files; all decisions come from the core."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from router.app import RouterConfig, serve
from router.ari import AriConfig, AriConfigError
from router.ari.events import ApplicationReplacedError
from router.call_log import CallLog
from router.dialplan import MAX_DAYS, fallback_for
from router.dialplan import render as render_dialplan
from router.guidance import closed_guidance, render
from router.http_api import ApiConfigError, api_config_from_env
from router.ics import open_windows, phone_hours_calendar
from router.localtime import wall
from router.messages import MessageStore
from router.overrides import OverrideError, OverrideStore, resolve_until
from router.prompts import (
    DEFAULT_MANIFEST,
    PromptError,
    build,
    load_manifest,
    missing_closure_prompts,
    missing_prompts,
)
from router.reload import ScheduleSource
from router.report import render as render_report
from router.report import report
from router.runtime import DEFAULT_MAX_CALLS_IN_SETUP
from router.schedule import (
    WEEKDAYS,
    Decision,
    Override,
    Reason,
    Schedule,
    Segment,
    UnknownLineError,
    day_plan,
    decide,
)
from router.schedule_yaml import FIRST_YEAR, LAST_YEAR, ScheduleError, load_schedule

SCHEDULE_ENV = "CALLROUTER_SCHEDULE"
PROMPTS_ENV = "CALLROUTER_PROMPTS"

_REASON_TEXT = {
    Reason.HOURS: "weekly phone hours",
    Reason.OUTSIDE_HOURS: "outside phone hours",
    Reason.PUBLIC_HOLIDAY: "public holiday",
    Reason.CLOSING_DAY: "municipal closing day",
    Reason.CLOSURE: "closure",
    Reason.OPENING: "extra opening",
    Reason.OVERRIDE: "emergency override",
    Reason.OUTSIDE_VALIDITY: "line not in service yet",
}


class UsageError(Exception):
    """A command-line value that cannot be used."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.command(args))
    except (ScheduleError, UsageError, PromptError) as e:
        print(f"callrouter: {e}", file=sys.stderr)
        return 1
    except UnknownLineError as e:
        print(f"callrouter: the schedule has no line {e.args[0]!r}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `callrouter calendar | head`
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callrouter", description="Call router for Asterisk: schedule tools.")
    parser.add_argument(
        "-s",
        "--schedule",
        metavar="FILE",
        help=f"schedule file (default: ${SCHEDULE_ENV}, else ./schedule.yaml)",
    )
    parser.add_argument(
        "--data", metavar="DIR", help="the router's data: messages, overrides (default: $CALLROUTER_DATA, else ./data)"
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

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
    _period_arguments(calendar, days=14)
    calendar.add_argument("--json", action="store_true", help="machine-readable output")
    calendar.set_defaults(command=_calendar)

    ics = commands.add_parser("ics", help="the phone hours as an iCalendar file")
    _period_arguments(ics, days=365)
    ics.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    ics.add_argument("--json", action="store_true", help="the same windows as JSON instead of iCalendar")
    ics.set_defaults(command=_ics)

    dialplan = commands.add_parser("dialplan", help="the fallback dialplan (GotoIfTime) for when the router is down")
    _period_arguments(dialplan, days=365)
    dialplan.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    dialplan.add_argument("--json", action="store_true", help="the usual week and its exceptions as JSON")
    dialplan.set_defaults(command=_dialplan)

    run = commands.add_parser(
        "run", help="run the router: take calls from Asterisk (ARI_* settings from the environment)"
    )
    run.add_argument("--data", dest="run_data", metavar="DIR", help="the same as callrouter --data DIR run")
    run.set_defaults(command=_run)

    status = commands.add_parser("status", help="ask the running router: lines, callers waiting, agents")
    status.add_argument("--api", help="the router's HTTP API (default: $CALLROUTER_API or 127.0.0.1:8089)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(command=_status)

    report = commands.add_parser("report", help="call statistics per day: answered, gave up, overflow, waits")
    _period_arguments(report, days=7, default_first="7 days ago")
    report.add_argument("--json", action="store_true", help="machine-readable output")
    report.set_defaults(command=_report)

    override = commands.add_parser("override", help="close or open a line now, until a set time")
    override.add_argument("action", choices=["close", "open", "clear", "list"])
    override.add_argument("--line", help="line (default: the first in the file)")
    override.add_argument("--reason", default="emergency", help="a token that selects the message (closure-<reason>)")
    override.add_argument(
        "--until", help="required for close/open: ISO 8601 time, or 'next-change' (the schedule's next change)"
    )
    override.add_argument("--note", help="a note for people (shown by at and status)")
    override.add_argument("--json", action="store_true", help="machine-readable output")
    override.set_defaults(command=_override)

    messages = commands.add_parser("messages", help="the messages callers left: list them, mark one done")
    messages.add_argument("action", choices=["list", "done"])
    messages.add_argument("id", nargs="?", help="for done: the message's id (from list)")
    messages.add_argument("--all", action="store_true", help="list handled messages too")
    messages.add_argument("--json", action="store_true", help="machine-readable output")
    messages.set_defaults(command=_messages)

    prompts = commands.add_parser("prompts", help="build the Danish prompts as audio for Asterisk")
    prompts.add_argument("action", choices=["build"], help="build: speak every prompt into an 8 kHz WAV file")
    prompts.add_argument("--manifest", metavar="FILE", help="prompt texts (default: prompts/manifest.yaml)")
    prompts.add_argument(
        "--out", metavar="DIR", default="prompts/sounds", help="sounds directory (default: prompts/sounds)"
    )
    prompts.add_argument("--years", type=int, default=3, help="holiday names for this many years from now (default 3)")
    prompts.set_defaults(command=_prompts)
    return parser


def _period_arguments(command: argparse.ArgumentParser, days: int, default_first: str = "today") -> None:
    command.add_argument(
        "--from", dest="first", metavar="DATE", help=f"first day, YYYY-MM-DD (default: {default_first})"
    )
    command.add_argument("--days", type=int, default=days, help=f"number of days (default: {days})")
    command.add_argument("--line", help="line (default: the first in the file)")


# -- commands -----------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    path = args.file or _schedule_path(args)
    schedule = load_schedule(path)
    summary = {
        "file": str(path),
        "ok": True,
        "timezone": schedule.timezone,
        "lines": {line.id: line.name for line in schedule.lines.values()},
    }
    manifest = load_manifest(_manifest_path())
    missing = missing_prompts(manifest)
    general = missing_closure_prompts(schedule, manifest)
    summary["missing_prompts"] = missing
    summary["closures_without_own_message"] = general
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
    else:
        print(f"{path}: OK, {len(schedule.lines)} line(s) in {schedule.timezone}: {', '.join(schedule.lines)}")
        for name in missing:
            print(f"  missing prompt: {name} (not in {_manifest_path().name}); callers would hear a gap")
        for name in general:
            print(f"  note: no {name} in {_manifest_path().name}; callers hear the general closed-now")
    return 1 if missing else 0


def _at(args: argparse.Namespace) -> int:
    schedule = load_schedule(_schedule_path(args))
    line_id = args.line or next(iter(schedule.lines))
    instant = parse_instant(args.time, schedule)
    try:
        overrides = OverrideStore(_data_dir(args) / "overrides.json").all()
    except OverrideError as e:
        print(f"callrouter: overrides ignored: {e}", file=sys.stderr)
        overrides = ()
    decision = decide(schedule, line_id, instant, overrides)
    guidance, texts = None, {}
    if not decision.open:
        try:
            manifest = load_manifest(_manifest_path())
        except PromptError as e:  # the decision stands without it; say why the guidance is missing
            print(f"callrouter: cannot show what the caller hears: {e}", file=sys.stderr)
        else:
            texts = manifest.texts_for(schedule, range(instant.year - 1, instant.year + 2))
            guidance = closed_guidance(schedule, line_id, decision, manifest.texts)
    if args.json:
        out = decision_json(decision, schedule)
        if guidance is not None:
            out["guidance"] = {"prompts": list(guidance.prompts), "text": render(guidance, texts)}
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(_decision_text(decision, schedule))
        if guidance is not None:
            print(f"  caller hears: {render(guidance, texts)}")
    return 0


def _calendar(args: argparse.Namespace) -> int:
    schedule = load_schedule(_schedule_path(args))
    line_id = args.line or next(iter(schedule.lines))
    first = _first_day(args.first, schedule)
    days = _days(args.days)
    plans = [day_plan(schedule, line_id, first + timedelta(days=i)) for i in range(days)]
    if args.json:
        out = {
            "line": line_id,
            "timezone": schedule.timezone,
            "days": [
                {
                    "date": plan.day.isoformat(),
                    "windows": [{"start": _iso(s, schedule), "end": _iso(e, schedule)} for s, e in plan.windows],
                    "notes": [_segment_json(n, schedule) for n in plan.notes],
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
    schedule = load_schedule(_schedule_path(args))
    line_id = args.line or next(iter(schedule.lines))
    first = _first_day(args.first, schedule)
    if args.json:
        windows = open_windows(schedule, line_id, first, _days(args.days))
        events = [{"start": _iso(s, schedule), "end": _iso(e, schedule)} for s, e in windows]
        data = (json.dumps({"line": line_id, "events": events}) + "\n").encode()
    else:
        data = phone_hours_calendar(schedule, line_id, first, _days(args.days), datetime.now(UTC))
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


def _run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        ari = AriConfig.from_env()
    except AriConfigError as e:
        raise UsageError(str(e)) from None
    try:
        api = api_config_from_env(os.environ)
    except ApiConfigError as e:
        raise UsageError(str(e)) from None
    retention = os.environ.get("CALLROUTER_RETENTION_DAYS", "30")
    if not retention.isdigit() or not 1 <= int(retention) <= 3650:
        raise UsageError(f"CALLROUTER_RETENTION_DAYS is a number of days from 1 to 3650, not {retention!r}")
    in_setup = os.environ.get("CALLROUTER_MAX_CALLS_IN_SETUP", str(DEFAULT_MAX_CALLS_IN_SETUP))
    if not in_setup.isdigit() or not 1 <= int(in_setup) <= 1000:
        raise UsageError(f"CALLROUTER_MAX_CALLS_IN_SETUP is a number of calls from 1 to 1000, not {in_setup!r}")
    source = ScheduleSource(Path(_schedule_path(args)))
    config = RouterConfig(
        ari=ari,
        schedule=source,
        data_dir=_data_dir(args),
        manifest=_manifest_path(),
        api=api,
        retention_days=int(retention),
        max_calls_in_setup=int(in_setup),
    )
    load_manifest(config.manifest)  # a missing manifest is an error before the first call, not during it

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        checks: set[asyncio.Task[bool]] = set()

        def reload_now() -> None:  # SIGHUP: look at the schedule file at once
            task = asyncio.create_task(source.check())
            checks.add(task)
            task.add_done_callback(checks.discard)

        loop.add_signal_handler(signal.SIGHUP, reload_now)
        watcher = asyncio.create_task(source.watch())
        try:
            await serve(config, stop)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, *checks, return_exceptions=True)

    try:
        asyncio.run(main())
    except ApplicationReplacedError:
        print("callrouter: another router took over the ARI application; stopping", file=sys.stderr)
        return 1
    return 0


def _override(args: argparse.Namespace) -> int:
    schedule = load_schedule(_schedule_path(args))
    line_id = args.line or next(iter(schedule.lines))
    schedule.line(line_id)
    store = OverrideStore(_data_dir(args) / "overrides.json")
    now = datetime.now(UTC)
    try:
        if args.action in ("close", "open"):
            if not args.until:
                raise UsageError("--until is required: an override always ends (a time, or next-change)")
            if args.until == "next-change":
                until = resolve_until(args.until, schedule, line_id, now)
            else:
                until = parse_instant(args.until, schedule)
            store.set(Override(line_id, args.action == "open", args.reason, now, until, args.note), now)
            done = "opened" if args.action == "open" else "closed"
            print(f"line {line_id}: {done} by override ({args.reason}) until {_when(until, schedule)}")
        elif args.action == "clear":
            ended = store.clear(line_id, now)
            print(f"line {line_id}: {'override ended' if ended else 'no override was in force'}; the schedule decides")
        else:
            active = [o for o in store.all() if o.active_at(now)]
            if args.json:
                print(json.dumps([_override_json(o, schedule) for o in active], ensure_ascii=False))
            for o in active if not args.json else ():
                state = "open" if o.open else "closed"
                note = f" - {o.note}" if o.note else ""
                print(f"line {o.line}: {state} ({o.reason}) until {_when(o.until, schedule)}{note}")
            if not active and not args.json:
                print("no override in force")
    except OverrideError as e:
        raise UsageError(str(e)) from None
    return 0


def _messages(args: argparse.Namespace) -> int:
    schedule = load_schedule(_schedule_path(args))
    path = _data_dir(args) / "messages.sqlite3"
    if not path.exists():
        raise UsageError(f"no messages at {path} (is --data the router's data directory?)")
    store = MessageStore(path)
    try:
        if args.action == "done":
            if not args.id:
                raise UsageError("which message? give its id, as `messages list` shows it")
            if not store.mark_handled(args.id):
                raise UsageError(f"no message with id {args.id!r}")
            print(f"message {args.id}: done")
            return 0
        shown = [m for m in store.all() if args.all or not m.handled]
    finally:
        store.close()
    if args.json:
        rows = [
            {"id": m.id, "line": m.line, "caller": m.caller, "received_at": _iso(m.received_at, schedule),
             "seconds": m.seconds, "recording": m.recording, "handled": m.handled}
            for m in shown
        ]  # fmt: skip
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if not shown:
        print("no messages waiting" if not args.all else "no messages")
    for m in shown:
        length = f"{m.seconds} s" if m.seconds is not None else "length unknown"
        done = "  (done)" if m.handled else ""
        print(f"{_when(m.received_at, schedule)}  line {m.line}  from {m.caller}  {length}  id {m.id}{done}")
    return 0


def _status(args: argparse.Namespace) -> int:
    address = args.api or os.environ.get("CALLROUTER_API", "127.0.0.1:8089")
    url = address if address.startswith("http") else f"http://{address}"
    try:
        with urllib.request.urlopen(f"{url}/status", timeout=5) as response:
            status = json.loads(response.read())
    except (OSError, ValueError) as e:
        raise UsageError(f"no router answers at {url} ({e}); is `callrouter run` running?") from None
    if args.json:
        print(json.dumps(status, ensure_ascii=False))
        return 0
    print(f"router at {url}: ARI {'connected' if status['ari_connected'] else 'NOT CONNECTED'}")
    if status.get("schedule_rejected"):
        print(f"  THE SCHEDULE FILE ON DISK IS REJECTED (the last good one is serving): {status['schedule_rejected']}")
    for line, s in status["lines"].items():
        state = "OPEN" if s["open"] else "CLOSED"
        why = f" ({s['label'] or s['reason']})"
        print(f"line {line}: {state}{why}, next change {s['next_change'] or '-'}")
        if s["override"]:
            o = s["override"]
            print(
                f"  override: {o['state']} ({o['reason']}) until {o['until']}"
                + (f" - {o['note']}" if o["note"] else "")
            )
        if s["agents"] or s["waiting"]:
            agents = ", ".join(f"{a} {state}" for a, state in s["agents"].items())
            print(f"  {s['waiting']} waiting; agents: {agents or '-'}")
    return 0


def _report(args: argparse.Namespace) -> int:
    schedule = load_schedule(_schedule_path(args))
    path = _data_dir(args) / "calls.sqlite3"
    if not path.exists():
        raise UsageError(f"no call log at {path} (is --data the router's data directory?)")
    first = (
        date.fromisoformat(args.first)
        if args.first
        else wall(datetime.now(UTC), schedule.tz).date() - timedelta(days=args.days)
    )
    start = datetime.combine(first, time(), schedule.tz)
    end = datetime.combine(first + timedelta(days=args.days), time(), schedule.tz)
    log = CallLog(path)
    try:
        records = [r for r in log.between(start, end) if not args.line or r.line == args.line]
    finally:
        log.close()
    rows = report(records, schedule.tz)
    if args.json:
        print(json.dumps([{**asdict(r), "day": r.day.isoformat()} for r in rows]))
    else:
        print(f"calls from {first} for {args.days} day(s)")
        print(render_report(rows))
    return 0


def _override_json(o: Override, schedule: Schedule) -> dict[str, Any]:
    return {"line": o.line, "open": o.open, "reason": o.reason, "since": _iso(o.since, schedule),
            "until": _iso(o.until, schedule), "note": o.note}  # fmt: skip


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "run_data", None) or args.data or os.environ.get("CALLROUTER_DATA") or "data")


def _prompts(args: argparse.Namespace) -> int:
    schedule = load_schedule(_schedule_path(args))
    manifest = load_manifest(Path(args.manifest) if args.manifest else _manifest_path())
    this_year = wall(datetime.now(UTC), schedule.tz).year
    texts = manifest.texts_for(schedule, range(this_year, this_year + max(1, args.years)))
    made, current, recorded = build(texts, Path(args.out), manifest.language, manifest.voice)
    print(f"{args.out}: {made} made, {current} up to date, {recorded} studio recordings kept")
    return 0


def _dialplan(args: argparse.Namespace) -> int:
    path = _schedule_path(args)
    schedule = load_schedule(path)
    line_id = args.line or next(iter(schedule.lines))
    first = _first_day(args.first, schedule)
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


# -- parsing and formatting ----------------------------------------------------


def _manifest_path() -> Path:
    return Path(os.environ.get(PROMPTS_ENV) or DEFAULT_MANIFEST)


def _schedule_path(args: argparse.Namespace) -> str:
    return str(args.schedule or os.environ.get(SCHEDULE_ENV) or "schedule.yaml")


def parse_instant(text: str, schedule: Schedule) -> datetime:
    """ISO 8601 with or without offset (without: wall time in the schedule's zone), or 'now'."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"cannot read time {text!r}; expected ISO 8601 like 2024-01-04T15:30 or 2024-01-04T15:30+01:00"
        ) from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise UsageError(f"{text} is outside the years {FIRST_YEAR} to {LAST_YEAR}")
    if parsed.tzinfo is not None:
        return parsed
    local = parsed.replace(tzinfo=schedule.tz)
    if wall(local, schedule.tz) != parsed:
        raise UsageError(f"{text} does not exist in {schedule.timezone}: the clocks jump past it; give an offset")
    return local  # an ambiguous wall time (clocks turned back) means its first occurrence


def _first_day(text: str | None, schedule: Schedule) -> date:
    if text is None:
        return wall(datetime.now(UTC), schedule.tz).date()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"cannot read date {text!r}; expected YYYY-MM-DD") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR - 11:  # room for --days and the search for a next opening
        raise UsageError(f"{text} is outside the years {FIRST_YEAR} to {LAST_YEAR - 11}")
    return day


def _days(days: int) -> int:
    if not 1 <= days <= 3660:
        raise UsageError(f"--days must be from 1 to 3660, not {days}")
    return days


def _iso(instant: datetime | None, schedule: Schedule) -> str | None:
    return None if instant is None else instant.astimezone(UTC).astimezone(schedule.tz).isoformat()


def decision_json(decision: Decision, schedule: Schedule) -> dict[str, Any]:
    return {
        "line": decision.line,
        "instant": _iso(decision.instant, schedule),
        "open": decision.open,
        "reason": str(decision.reason),
        "cause": decision.cause,
        "label": decision.label,
        "window": None
        if decision.window is None
        else {"start": _iso(decision.window[0], schedule), "end": _iso(decision.window[1], schedule)},
        "next_open": _iso(decision.next_open, schedule),
        "next_change": _iso(decision.next_change, schedule),
        "override": None
        if decision.override is None
        else {"reason": decision.override.reason, "until": _iso(decision.override.until, schedule)},
    }


def _segment_json(segment: Segment, schedule: Schedule) -> dict[str, Any]:
    return {
        "open": segment.open,
        "reason": str(segment.reason),
        "cause": segment.cause,
        "label": segment.label,
        "start": _iso(segment.start, schedule),
        "end": _iso(segment.end, schedule),
    }


def _when(instant: datetime, schedule: Schedule) -> str:
    return f"{instant.astimezone(UTC).astimezone(schedule.tz):%a %Y-%m-%d %H:%M (%z)}"


def _decision_text(decision: Decision, schedule: Schedule) -> str:
    state = "OPEN" if decision.open else "CLOSED"
    why = _REASON_TEXT[decision.reason]
    if decision.label or decision.cause:
        why += f": {decision.label or decision.cause}"
        if decision.label and decision.cause and decision.reason in (Reason.CLOSURE, Reason.OPENING, Reason.OVERRIDE):
            why += f" [{decision.cause}]"
    lines = [f"line {decision.line} at {_when(decision.instant, schedule)}: {state} ({why})"]
    if decision.window is not None:
        start, end = decision.window
        lines.append(f"  open window:  {_when(start, schedule)} to {_when(end, schedule)}")
    if decision.override is not None:
        lines.append(f"  override expires: {_when(decision.override.until, schedule)}")
    lines.append(
        f"  next change:  {_when(decision.next_change, schedule) if decision.next_change else 'none within two years'}"
    )
    lines.append(
        f"  next opening: {_when(decision.next_open, schedule) if decision.next_open else 'none within two years'}"
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
    return f"{_REASON_TEXT[segment.reason]}{'' if whole_day else ' ' + span}: {what}".rstrip(": ")
