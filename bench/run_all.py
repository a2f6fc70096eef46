"""Run every benchmark and write BENCHMARKS.md: the machine, the commands, and what each printed.

Run: .venv/bin/python bench/run_all.py   (about fifteen minutes on the 2-core development machine;
                                         as root: bench_real.py runs the real Asterisk)

Each benchmark runs as its own process, one after another, so that none disturbs another.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = [
    ("bench/bench_schedule.py", "The schedule engine: `decide()` and the calendar over ten years with 500 closures."),
    (
        "bench/bench_floor.py",
        "Call setup (StasisStart to the caller's first sound) for the router and for the smallest hand-written "
        "aiohttp ARI loop (answer, play) on the same simulated Asterisk, at 10, 100 and 1,000 new calls a second; "
        "the router as a ratio to that floor.",
    ),
    ("bench/bench_router.py", "Bursts of closed-line calls: setup latency, and memory (simulator included)."),
    (
        "bench/bench_queue.py",
        "Callers waiting in the queue: setup to the welcome, the router's own memory per waiting caller, and "
        "event-loop lag while 100, 1,000 and 5,000 wait.",
    ),
    (
        "bench/bench_real.py",
        "On the real Asterisk 22: INVITE to first audio through the router and through a pure-dialplan 1818 "
        "(GotoIfTime, Answer, Playback of the same prompt) with a real SIP phone, as a ratio; new calls a second "
        "until the router sheds load; concurrent calls until Asterisk, not the router, uses the machine's cores.",
    ),
]


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as f:
        memory = int(f.readline().split()[1]) // 1024 // 1024
    return (
        f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores, {memory} GiB, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )


def main() -> None:
    started = datetime.now(UTC)
    parts = [
        "# Benchmarks",
        "",
        f"Written by `.venv/bin/python bench/run_all.py` on {started:%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {machine()}.",
        "",
        "Each benchmark runs as its own process on loopback. In the simulator benchmarks the router and the",
        "simulated Asterisk share the machine's cores, so the router's figures are upper bounds; `bench_real.py`",
        "runs a real Asterisk 22 (the test tier's), real SIP calls (baresip) and `callrouter run` as its own process.",
    ]
    for script, what in BENCHES:
        began = time.monotonic()
        result = subprocess.run([sys.executable, str(ROOT / script)], capture_output=True, text=True, cwd=ROOT)
        if result.returncode != 0:
            sys.exit(f"{script} failed:\n{result.stderr}")
        parts += [
            "",
            f"## `{script}`",
            "",
            what,
            "",
            f"Command: `.venv/bin/python {script}` ({time.monotonic() - began:.0f} s)",
            "",
            "```",
            result.stdout.rstrip(),
            "```",
        ]
        print(f"{script}: done", flush=True)
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
