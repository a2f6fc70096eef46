"""The two-router soak at length: callers wait, leave messages and listen for five minutes while the
active router is killed, frozen and the database restarted at random moments.

Runs tests/test_failover_soak.py with CALLROUTER_SOAK_SECONDS=300 (CI runs 30 s) and a real
PostgreSQL (scripts/setup installs it), and prints its counts: callers, chaos, router starts, what
callers were told against what the store holds, lost and doubled (both must be 0).

Run: .venv/bin/python bench/bench_failover_soak.py   (about seven minutes, as root for the namespace)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECONDS = 300


def main() -> None:
    env = {**os.environ, "CALLROUTER_SOAK_SECONDS": str(SECONDS)}
    began = time.monotonic()
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests/test_failover_soak.py"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    for line in result.stdout.splitlines():
        if line.startswith("soak "):
            print(line)
    verdict = "held" if result.returncode == 0 else "FAILED"
    print(
        f"in {time.monotonic() - began:.0f} s; nothing told 'received' lost, nothing doubled, nothing left: {verdict}"
    )
    if result.returncode != 0:
        sys.exit(result.stdout[-4000:])


if __name__ == "__main__":
    main()
