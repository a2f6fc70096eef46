"""`callrouter`: the operator's commands. Reads the clock and files; all decisions come from the core.

One module per group of commands, each adding its own subcommands to the parser:
`schedule_commands` (check, at, calendar, ics, dialplan), `router_commands` (run, status),
`office_commands` (report, override, messages), `prompt_commands` (prompts build) and
`user_commands` (the web console's accounts), `closure_commands` (planned closures). `common`
holds what they share: file locations, reading instants and dates, printing them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from router.calls.prompts import PromptError
from router.cli import (
    closure_commands,
    db_commands,
    office_commands,
    prompt_commands,
    router_commands,
    schedule_commands,
    user_commands,
)
from router.cli.common import SCHEDULE_ENV, UsageError, parse_instant
from router.schedule import ScheduleError, UnknownLineError

__all__ = ["main", "parse_instant"]


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
    # In this order, so that `callrouter --help` lists them as it always has.
    schedule_commands.register(commands)
    router_commands.register(commands)
    office_commands.register(commands)
    prompt_commands.register(commands)
    user_commands.register(commands)
    db_commands.register(commands)
    closure_commands.register(commands)
    return parser
