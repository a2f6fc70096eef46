"""`callrouter prompts build`: every prompt text spoken into a WAV file for Asterisk."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from router.calls.prompts import build, load_manifest
from router.cli.common import Commands, manifest_path, schedule_path
from router.schedule import load_schedule
from router.schedule.localtime import wall


def register(commands: Commands) -> None:
    """prompts build: the Danish prompts as audio."""
    prompts = commands.add_parser("prompts", help="build the Danish prompts as audio for Asterisk")
    prompts.add_argument("action", choices=["build"], help="build: speak every prompt into an 8 kHz WAV file")
    prompts.add_argument("--manifest", metavar="FILE", help="prompt texts (default: prompts/manifest.yaml)")
    prompts.add_argument(
        "--out", metavar="DIR", default="prompts/sounds", help="sounds directory (default: prompts/sounds)"
    )
    prompts.add_argument("--years", type=int, default=3, help="holiday names for this many years from now (default 3)")
    prompts.set_defaults(command=_prompts)


def _prompts(args: argparse.Namespace) -> int:
    schedule = load_schedule(schedule_path(args))
    manifest = load_manifest(Path(args.manifest) if args.manifest else manifest_path())
    this_year = wall(datetime.now(UTC), schedule.tz).year
    texts = manifest.texts_for(schedule, range(this_year, this_year + max(1, args.years)))
    made, current, recorded = build(texts, Path(args.out), manifest.language, manifest.voice)
    print(f"{args.out}: {made} made, {current} up to date, {recorded} studio recordings kept")
    return 0
