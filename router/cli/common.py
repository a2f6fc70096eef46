"""What the commands share: where the files are, reading times and dates, and printing them.

The operator's commands that read the schedule (`at`, `check`, `calendar`) answer at once: nothing here
imports the database, web or ARI libraries at module level; `site_store` loads them when a command
actually opens the store (tests/test_cli_imports.py holds that).
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from router.calls.prompts import DEFAULT_MANIFEST
from router.office.site_files import has_store
from router.schedule import FIRST_YEAR, LAST_YEAR, Decision, Override, Reason, Schedule, Segment
from router.schedule.localtime import wall

if TYPE_CHECKING:  # argparse's subparsers type is generic only to type checkers
    from router.office.store import Store

    Commands = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Commands = argparse._SubParsersAction

SCHEDULE_ENV = "CALLROUTER_SCHEDULE"
PROMPTS_ENV = "CALLROUTER_PROMPTS"


REASON_TEXT = {
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


def period_arguments(command: argparse.ArgumentParser, days: int, default_first: str = "today") -> None:
    command.add_argument(
        "--from", dest="first", metavar="DATE", help=f"first day, YYYY-MM-DD (default: {default_first})"
    )
    command.add_argument("--days", type=int, default=days, help=f"number of days (default: {days})")
    command.add_argument("--line", help="line (default: the first in the file)")


def manifest_path() -> Path:
    return Path(os.environ.get(PROMPTS_ENV) or DEFAULT_MANIFEST)


def schedule_path(args: argparse.Namespace) -> str:
    return str(args.schedule or os.environ.get(SCHEDULE_ENV) or "schedule.yaml")


def data_dir(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "run_data", None) or args.data or os.environ.get("CALLROUTER_DATA") or "data")


class NoData(UsageError):
    """The data directory has no store (no router has used it)."""


def site_store(args: argparse.Namespace, *, must_exist: bool = True) -> Store:
    """The store the router of this data directory uses (CALLROUTER_DATABASE, or the embedded file).
    With `must_exist`, an embedded store that was never made is an error, not a new empty file."""
    directory = data_dir(args)
    if must_exist and not has_store(directory, os.environ):
        raise NoData(f"no data in {directory} (is --data the router's data directory?)")
    from sqlalchemy.exc import SQLAlchemyError  # here, not above: see the module's docstring

    from router.office.data_copy import open_site_store
    from router.office.store import StoreConfig, StoreError

    try:
        config = StoreConfig.from_env()
        return open_site_store(config, directory)
    except StoreError as e:
        raise UsageError(str(e)) from None
    except SQLAlchemyError as e:
        raise UsageError(f"cannot use the database {config.describe()}: {e.__cause__ or e}") from None


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


def first_day(text: str | None, schedule: Schedule) -> date:
    if text is None:
        return wall(datetime.now(UTC), schedule.tz).date()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"cannot read date {text!r}; expected YYYY-MM-DD") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR - 11:  # room for --days and the search for a next opening
        raise UsageError(f"{text} is outside the years {FIRST_YEAR} to {LAST_YEAR - 11}")
    return day


def days_count(days: int) -> int:
    if not 1 <= days <= 3660:
        raise UsageError(f"--days must be from 1 to 3660, not {days}")
    return days


def iso(instant: datetime | None, schedule: Schedule) -> str | None:
    return None if instant is None else instant.astimezone(UTC).astimezone(schedule.tz).isoformat()


def decision_json(decision: Decision, schedule: Schedule) -> dict[str, Any]:
    return {
        "line": decision.line,
        "instant": iso(decision.instant, schedule),
        "open": decision.open,
        "reason": str(decision.reason),
        "cause": decision.cause,
        "label": decision.label,
        "window": None
        if decision.window is None
        else {"start": iso(decision.window[0], schedule), "end": iso(decision.window[1], schedule)},
        "next_open": iso(decision.next_open, schedule),
        "next_change": iso(decision.next_change, schedule),
        "override": None
        if decision.override is None
        else {"reason": decision.override.reason, "until": iso(decision.override.until, schedule)},
    }


def segment_json(segment: Segment, schedule: Schedule) -> dict[str, Any]:
    return {
        "open": segment.open,
        "reason": str(segment.reason),
        "cause": segment.cause,
        "label": segment.label,
        "start": iso(segment.start, schedule),
        "end": iso(segment.end, schedule),
    }


def override_json(o: Override, schedule: Schedule) -> dict[str, Any]:
    return {"line": o.line, "open": o.open, "reason": o.reason, "since": iso(o.since, schedule),
            "until": iso(o.until, schedule), "note": o.note}  # fmt: skip


def when(instant: datetime, schedule: Schedule) -> str:
    return f"{instant.astimezone(UTC).astimezone(schedule.tz):%a %Y-%m-%d %H:%M (%z)}"
