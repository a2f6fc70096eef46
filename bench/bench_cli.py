"""How fast the operator's commands answer: `callrouter at`, `check` and `calendar`, each as a new process,
against the baseline `python -c "import aiohttp, yaml"` measured in the same run, interleaved (baseline,
commands, baseline, ...) so that the machine's load falls on both alike. The target for `at` is at most
1.5 times the baseline (issue 35); the ratio is printed, not asserted: tests/test_cli_imports.py holds the
deterministic part (which libraries the commands import).

The commands run in an empty directory (a site whose operator has no data directory there), with the
shipped schedule.yaml; `at` is the operators' page's example (docs/operators.md).

Run: .venv/bin/python bench/bench_cli.py   (about half a minute)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 21
BIN = Path(sys.executable).parent
SCHEDULE = str(ROOT / "schedule.yaml")
BASELINE = [sys.executable, "-c", "import aiohttp, yaml"]
COMMANDS = {
    "at": [str(BIN / "callrouter"), "--schedule", SCHEDULE, "at", "2024-12-24T10:30"],
    "check": [str(BIN / "callrouter"), "check", SCHEDULE],
    "calendar": [str(BIN / "callrouter"), "--schedule", SCHEDULE, "calendar", "--from", "2024-12-20", "--days", "14"],
}
TARGET = 1.5


def seconds(command: list[str], where: Path) -> float:
    began = time.perf_counter()
    subprocess.run(command, cwd=where, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def main() -> None:
    with tempfile.TemporaryDirectory() as empty:
        where = Path(empty)
        for command in (BASELINE, *COMMANDS.values()):  # warm the file cache and .pyc files first
            seconds(command, where)
        times: dict[str, list[float]] = {"baseline": [], **{name: [] for name in COMMANDS}}
        for _ in range(ROUNDS):
            times["baseline"].append(seconds(BASELINE, where))
            for name, command in COMMANDS.items():
                times[name].append(seconds(command, where))
    baseline = statistics.median(times["baseline"])
    print(f"python -c 'import aiohttp, yaml': median {baseline * 1000:.0f} ms over {ROUNDS} runs")
    for name in COMMANDS:
        median = statistics.median(times[name])
        ratio = median / baseline
        verdict = "within" if ratio <= TARGET else "OVER"
        print(f"callrouter {name:8}: median {median * 1000:4.0f} ms, {ratio:.2f}x the baseline ({verdict} {TARGET}x)")


if __name__ == "__main__":
    main()
