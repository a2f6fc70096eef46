"""The operator's commands that read the schedule answer at once: `callrouter at`, `check` and `calendar`
import only what they use, not the router's web, ARI and database libraries (bench/bench_cli.py measures
the time against `python -c "import aiohttp, yaml"`). Each command runs as a new process, as the
operator runs it, in a directory with no data (with a store, `at` opens it for the overrides:
tests/test_overrides.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SCHEDULE = str(ROOT / "schedule.yaml")
# What `callrouter run`, the console and the store need, and these commands do not.
NOT_FOR_THE_SCHEDULE = {
    "aiohttp", "sqlalchemy", "alembic", "psycopg", "jinja2", "argon2", "prometheus_client", "icalendar", "asyncio",
    "router.app", "router.ari", "router.web", "router.office.store",
}  # fmt: skip
COMMANDS = {
    "at": ["--schedule", SCHEDULE, "at", "2024-12-24T10:30"],
    "check": ["check", SCHEDULE],
    "calendar": ["--schedule", SCHEDULE, "calendar", "--from", "2024-12-20", "--days", "14"],
}
PROBE = """\
import json, sys
from router.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def imported_by(args: list[str], where: Path) -> tuple[int, set[str]]:
    """The exit code of `callrouter ARGS` run in `where`, and the modules it imported (top-level and ours)."""
    report = where / "modules.json"
    subprocess.run([sys.executable, "-c", PROBE, str(report), *args], cwd=where, check=True, capture_output=True)
    found = json.loads(report.read_text(encoding="utf-8"))
    names = {name.split(".")[0] for name in found["modules"]}
    ours = {".".join(name.split(".")[:3]) for name in found["modules"] if name.startswith("router.")}
    return found["code"], names | ours | {".".join(n.split(".")[:2]) for n in ours}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_schedules_commands_import_only_what_they_use(command: str, tmp_path: Path) -> None:
    code, modules = imported_by(COMMANDS[command], tmp_path)
    assert code == 0
    assert modules & NOT_FOR_THE_SCHEDULE == set()
    assert {"yaml", "holidays", "router.schedule"} <= modules  # what they do use (the probe sees imports)
