"""`callrouter closures list|add|remove`: the office's planned closures (schedule/planned.py), as the
console's Lukninger page keeps them, with the same checks and the same audit log."""

from __future__ import annotations

import argparse
import getpass
import json
from datetime import UTC, date, datetime, time

from router.cli.common import Commands, UsageError, schedule_path, site_store
from router.schedule import WHOLE_DAY, TimeRange, load_schedule
from router.schedule.planned import PlannedClosure


def register(commands: Commands) -> None:
    closures = commands.add_parser("closures", help="closures planned ahead: list, add, remove")
    closures.add_argument("action", choices=["list", "add", "remove"])
    closures.add_argument("id", nargs="?", help="for remove: the closure's id (from list)")
    closures.add_argument("--line", help="line (default: the first in the file)")
    closures.add_argument("--from", dest="first", metavar="DATE", help="for add: the first day, YYYY-MM-DD")
    closures.add_argument("--to", dest="last", metavar="DATE", help="for add: the last day (default: the first)")
    closures.add_argument("--time", metavar="HH:MM-HH:MM", help="for add: part of each day (default: the whole day)")
    closures.add_argument("--reason", help="for add: a token that selects the message callers hear (closure-<reason>)")
    closures.add_argument("--note", default="", help="for add: a note for people")
    closures.add_argument("--json", action="store_true", help="machine-readable output (list)")
    closures.set_defaults(command=_closures)


def _closures(args: argparse.Namespace) -> int:
    from router.office.closures import ClosureError, ClosureStore, clean_note, describe, new_id

    schedule = load_schedule(schedule_path(args))
    who = f"{getpass.getuser()} (callrouter)"
    now = datetime.now(UTC)
    site = site_store(args, must_exist=args.action == "list")
    store = ClosureStore(site)
    try:
        if args.action == "list":
            kept = store.all()
            if args.json:
                print(json.dumps([_json(c) for c in kept], ensure_ascii=False))
            else:
                for c in kept:
                    print(f"{c.id}  {describe(c)}  (by {c.by})")
                if not kept:
                    print("no planned closures")
        elif args.action == "add":
            line = args.line or next(iter(schedule.lines))
            if not args.first or not args.reason:
                raise UsageError("add needs --from DATE and --reason (and --to, --time for more than one whole day)")
            first, last = _date(args.first), _date(args.last or args.first)
            closure = PlannedClosure(
                new_id(), line, first, last, _time(args.time), args.reason, clean_note(args.note), who, now
            )
            store.add(closure, schedule, now)
            print(f"planned {closure.id}: {describe(closure)}")
        else:
            if not args.id:
                raise UsageError("which closure? give its id, as `closures list` shows it")
            gone = store.remove(args.id, who, schedule, now)
            print(f"removed {args.id}: {describe(gone)}")
    except ClosureError as e:
        raise UsageError(f"refused: {e}") from None
    finally:
        site.close()
    return 0


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"cannot read date {text!r}; expected YYYY-MM-DD") from None


def _time(text: str | None) -> TimeRange:
    if text is None:
        return WHOLE_DAY
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise UsageError(f"cannot read --time {text!r}; expected e.g. 10:00-12:00") from None
    lo, hi = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    if hi <= lo:
        raise UsageError(f"--time {text}: the end must be later in the day than the start")
    return TimeRange(lo, hi)


def _json(c: PlannedClosure) -> dict[str, object]:
    return {
        "id": c.id, "line": c.line, "first": c.first.isoformat(), "last": c.last.isoformat(),
        "start": None if c.whole_day else f"{c.time.start // 60:02d}:{c.time.start % 60:02d}",
        "end": None if c.whole_day else f"{c.time.end // 60:02d}:{c.time.end % 60:02d}",
        "reason": c.reason, "note": c.note, "by": c.by, "at": c.at.isoformat() if c.at else None,
    }  # fmt: skip
