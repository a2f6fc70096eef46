"""Where the router's own time goes between a caller's StasisStart and its first prompt, on the real
Asterisk 22: `callrouter run` (1818 closed, as in bench_yardstick.py) with
bench/trace_setup/sitecustomize.py loaded, which times each step (the frame read, the router's work
before its answer request, the answer's and the play's round trips, with the slowest calls), the
garbage collector's passes, the event loop's lateness with a watchdog that says what the main thread
ran during a stall, and each thread's CPU; the yardstick's calls at RATE for SECONDS, and then what
it timed.

Needs root and the Asterisk root that scripts/asterisk-root builds.
Run: .venv/bin/python bench/trace_setup.py [RATE] [SECONDS]     (default 4 calls/s for 20 s)
"""

from __future__ import annotations

import asyncio
import sys

from bench_real import closed_router, group
from bench_yardstick import ROOT, App, observed_asterisk, offer


async def main(rate: int, seconds: int) -> None:
    import bench_yardstick

    bench_yardstick.BLOCK_SECONDS, bench_yardstick.BLOCK_CALLS = seconds, 0  # one block, this long
    traced = {"PYTHONPATH": str(ROOT / "bench" / "trace_setup")}
    async with observed_asterisk() as w:
        url = w.asterisk.url
        async with closed_router(url, w.folder, traced) as router:

            async def no_count() -> int:
                return 0

            app = App("router", group(router.process.pid), no_count)
            phase = await offer(w.http, url, rate, w.observer, app, w.asterisk.pids())
        await asyncio.sleep(0.5)  # the router's last lines
        p50, p99 = (phase.cut(phase.first_audio, q) * 1000 for q in (50, 99))
        print(f"{phase.calls} calls at {rate}/s: first audio p50 {p50:.0f} ms, p99 {p99:.0f} ms (the yardstick's)")
        for line in router.lines:
            if "TRACE " in line:
                print(line[line.index("TRACE ") + 6 :])


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 4, int(sys.argv[2]) if len(sys.argv) > 2 else 20))
