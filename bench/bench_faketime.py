"""Why the real-Asterisk benchmarks run the router on the machine's own clock, not under faketime.

The tests choose the router's hour with faketime, and with FAKETIME_DONT_FAKE_MONOTONIC=1, without
which a Python thread's timed wait hangs (libfaketime issue #390). With it, Debian 12's libfaketime
(0.9.10) still gets CPython's waits on the monotonic clock wrong: `time.sleep()` fails with EINVAL,
and two threads taking turns for the GIL turn into a storm of futex calls (strace -c of this child
with 5 rounds each: 28,330 futex calls under faketime, 185 without) that costs more CPU than the
work itself. This runs the same two Python threads with and without faketime and prints their wall
and CPU time: the router has worker threads, the smallest ARI loop has none, so only the router
would pay for it.

Run: .venv/bin/python bench/bench_faketime.py   (a few seconds; needs faketime)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CHILD = """
import threading, time
def work():
    for _ in range(20):
        x = 0
        for i in range(300_000):
            x += i
wall, cpu = time.perf_counter(), time.process_time()
threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
try:
    time.sleep(0.001)
    slept = "works"
except OSError as e:
    slept = f"fails: {e}"
print(f"{wall:.2f} {cpu:.2f} {slept}")
"""


def run(prefix: list[str]) -> tuple[float, float, str]:
    env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1", "TZ": "UTC"}
    out = subprocess.run([*prefix, sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    wall, cpu, slept = out.stdout.strip().split(" ", 2)
    return float(wall), float(cpu), slept


def main() -> None:
    if shutil.which("faketime") is None:
        sys.exit("bench_faketime: faketime is not installed")
    rows = {
        "own clock": run([]),
        "faketime": run(["faketime", "-f", "@2024-01-04 11:30:00"]),
    }
    print("two Python threads taking turns for the GIL (the same work):")
    print(f"{'clock':<10} {'wall s':>7} {'CPU s':>7} {'CPU/wall':>9}  time.sleep()")
    for name, (wall, cpu, slept) in rows.items():
        print(f"{name:<10} {wall:>7.2f} {cpu:>7.2f} {cpu / wall:>9.2f}  {slept}")
    (w0, c0, _), (w1, c1, _) = rows.values()
    print(f"faketime / own clock: wall {w1 / w0:.1f}x, CPU {c1 / c0:.1f}x")


if __name__ == "__main__":
    main()
