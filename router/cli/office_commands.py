"""`callrouter report|override|messages`: the office's data, read and changed in the data directory."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from router.cli.common import (
    Commands,
    UsageError,
    iso,
    override_json,
    parse_instant,
    period_arguments,
    schedule_path,
    site_store,
    when,
)
from router.office import caller_id
from router.schedule import Override, load_schedule
from router.schedule.localtime import wall

if TYPE_CHECKING:
    from router.office.messages import Message


def register(commands: Commands) -> None:
    """report, override, messages: what the office keeps."""
    report = commands.add_parser("report", help="call statistics per day: answered, gave up, overflow, waits")
    period_arguments(report, days=7, default_first="7 days ago")
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


def _report(args: argparse.Namespace) -> int:
    from router.office.call_log import CallLog  # the store's libraries: loaded when a command uses them
    from router.office.report import render as render_report
    from router.office.report import report

    schedule = load_schedule(schedule_path(args))
    first = (
        date.fromisoformat(args.first)
        if args.first
        else wall(datetime.now(UTC), schedule.tz).date() - timedelta(days=args.days)
    )
    start = datetime.combine(first, time(), schedule.tz)
    end = datetime.combine(first + timedelta(days=args.days), time(), schedule.tz)
    store = site_store(args)
    try:
        records = [r for r in CallLog(store).between(start, end) if not args.line or r.line == args.line]
    finally:
        store.close()
    rows = report(records, schedule.tz)
    if args.json:
        print(json.dumps([{**asdict(r), "day": r.day.isoformat()} for r in rows]))
    else:
        print(f"calls from {first} for {args.days} day(s)")
        print(render_report(rows))
    return 0


def _override(args: argparse.Namespace) -> int:
    from router.office.overrides import OverrideError, OverrideStore, resolve_until

    schedule = load_schedule(schedule_path(args))
    line_id = args.line or next(iter(schedule.lines))
    schedule.line(line_id)
    site = site_store(args, must_exist=False)
    store = OverrideStore(site)
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
            print(f"line {line_id}: {done} by override ({args.reason}) until {when(until, schedule)}")
        elif args.action == "clear":
            ended = store.clear(line_id, now)
            print(f"line {line_id}: {'override ended' if ended else 'no override was in force'}; the schedule decides")
        else:
            active = [o for o in store.all() if o.active_at(now)]
            if args.json:
                print(json.dumps([override_json(o, schedule) for o in active], ensure_ascii=False))
            for o in active if not args.json else ():
                state = "open" if o.open else "closed"
                note = f" - {o.note}" if o.note else ""
                print(f"line {o.line}: {state} ({o.reason}) until {when(o.until, schedule)}{note}")
            if not active and not args.json:
                print("no override in force")
    except OverrideError as e:
        raise UsageError(str(e)) from None
    finally:
        site.close()
    return 0


def _messages(args: argparse.Namespace) -> int:
    from router.office.messages import MessageStore

    schedule = load_schedule(schedule_path(args))
    site = site_store(args)
    store = MessageStore(site)
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
        site.close()
    if args.json:
        rows = [
            {"id": m.id, "line": m.line, "caller": m.caller, "caller_name": m.caller_name,
             "received_at": iso(m.received_at, schedule), "seconds": m.seconds, "recording": m.recording,
             "handled": m.handled}
            for m in shown
        ]  # fmt: skip
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    if not shown:
        print("no messages waiting" if not args.all else "no messages")
    for m in shown:
        length = f"{m.seconds} s" if m.seconds is not None else "length unknown"
        done = "  (done)" if m.handled else ""
        print(f"{when(m.received_at, schedule)}  line {m.line}  from {_caller(m)}  {length}  id {m.id}{done}")
    return 0


def _caller(message: Message) -> str:
    """As a terminal shows it safely (office/caller_id.py): no control sequence reaches the terminal."""
    shown = caller_id.display(message.caller)
    if message.caller_name and message.caller_name != message.caller:
        shown += f" ({caller_id.display(message.caller_name)})"
    return shown
