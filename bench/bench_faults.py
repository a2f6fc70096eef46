"""Calls under injected ARI faults, at full size: what faults still cost callers.

Runs tests/test_faults.py with CALLROUTER_FULL_RESILIENCE=1: 5,000 calls to the closed line and 5,000
to the open one, at 100 new calls a second, while 5 % of ARI requests answer 500 (half of them after
the simulated Asterisk carried the request out) and 2 % answer late. It prints the test's own
figures and whether its assertions held: at most 1 % of calls to the dialplan fallback, no message
lost, no caller told "not saved", no request carried out twice.

Run: .venv/bin/python bench/bench_faults.py   (about three minutes)
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    env = {**os.environ, "CALLROUTER_FULL_RESILIENCE": "1"}
    began = time.monotonic()
    command = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "tests/test_faults.py"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    figures = [line for line in result.stdout.splitlines() if line.startswith(("closed:", "open:"))]
    total = fallback = 0
    for line in figures:
        print(line)
        calls = int(line.split(": ", 1)[1].split(" calls", 1)[0])
        total += calls
        fallback += int(line.split(" calls to the fallback", 1)[0].rsplit(", ", 1)[1])
    verdict = "held" if result.returncode == 0 else "FAILED"
    share = fallback / max(1, total)
    print(f"{total} calls in {time.monotonic() - began:.0f} s; to the dialplan fallback: {fallback} ({share:.2%})")
    print(f"fallback share / target (1 %): {share / 0.01:.2f}")
    print(f"the test's assertions (fallback <= 1 %, no message lost or 'not saved', nothing done twice): {verdict}")
    if result.returncode != 0:
        sys.exit(result.stdout[-4000:])


if __name__ == "__main__":
    main()
