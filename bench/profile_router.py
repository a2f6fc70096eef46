"""Where the router's time goes under load: py-spy samples `callrouter run` on the real Asterisk while new
calls arrive (the yardstick's closed-hour calls), and the busiest functions are printed.

Needs root (py-spy reads the process's memory) and the Asterisk root. Run:
    .venv/bin/python bench/profile_router.py [RATE] [SECONDS]     (default 16 calls/s for 15 s)
"""

from __future__ import annotations

import asyncio
import collections
import sys
from pathlib import Path

from bench_yardstick import ROOT, observed_asterisk, offer, router_app


def summary(collapsed: Path, top: int = 25) -> None:
    """Own time (the innermost frame) and total time (anywhere on the stack) per function, in samples."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    print(f"{samples} samples\n\nown time (innermost frame):")
    for frame, n in own.most_common(top):
        print(f"  {n / samples:6.1%}  {frame}")
    print("\ntotal time (on the stack), router code only:")
    ours = [(f, n) for f, n in total.most_common() if "(router/" in f]
    for frame, n in ours[:top]:
        print(f"  {n / samples:6.1%}  {frame}")


async def main(rate: int, seconds: int) -> None:
    import bench_yardstick

    bench_yardstick.BLOCK_SECONDS, bench_yardstick.BLOCK_CALLS = seconds, 0  # one block, this long
    async with observed_asterisk() as w, router_app(w.asterisk.url, w.folder) as app:
        python = max(app.pids)  # the router's process (the newest in its group)
        out = w.folder / "profile.txt"
        spy = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv/bin/py-spy"), "record", "--pid", str(python), "--format", "raw",
            "--output", str(out), "--rate", "200", "--duration", str(seconds + 5), "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.sleep(1)
        phase = await offer(w.http, w.asterisk.url, rate, w.observer, app, w.asterisk.pids())
        await spy.wait()
        print(f"{phase.calls} calls at {rate}/s, {phase.served} served")
        summary(out)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 16, int(sys.argv[2]) if len(sys.argv) > 2 else 15))
