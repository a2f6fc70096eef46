"""Run every benchmark and write BENCHMARKS.md: the machine, the commands, and what each printed.

Run: .venv/bin/python bench/run_all.py   (thirty to forty-five minutes on the 2-core development machine;
                                         as root: bench_real.py runs the real Asterisk)
     .venv/bin/python bench/run_all.py bench/bench_faults.py ...   (only these, in place in BENCHMARKS.md)

Each benchmark runs as its own process, one after another, so that none disturbs another. Each
section says when it was measured.
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
        "bench/bench_cli.py",
        "The operator's commands `callrouter at`, `check` and `calendar` as new processes, against "
        '`python -c "import aiohttp, yaml"` in the same run (the target for `at`: at most 1.5 times that).',
    ),
    (
        "bench/bench_floor.py",
        "Call setup (StasisStart to the caller's first sound) for the router and for the smallest hand-written "
        "aiohttp ARI loop (answer, play) on the same simulated Asterisk, at 10, 100 and 1,000 new calls a second; "
        "the router as a ratio to that floor.",
    ),
    ("bench/bench_router.py", "Bursts of closed-line calls: setup latency, and memory (simulator included)."),
    (
        "bench/bench_faults.py",
        "10,000 calls while 5 % of ARI requests fail (half of them after Asterisk carried them out) and 2 % answer "
        "late: how many calls still reach the dialplan fallback, and whether any message is lost.",
    ),
    (
        "bench/bench_queue.py",
        "Callers waiting in the queue: setup to the welcome, the router's own memory per waiting caller, and "
        "event-loop lag while 100, 1,000 and 5,000 wait.",
    ),
    (
        "bench/bench_overrides.py",
        "The overrides' refresh, which the router runs in its event loop twice a second, while the call log writes "
        "in a thread: read every time in a write-lock transaction (as before) against the data version and a "
        "deferred read after a commit (now).",
    ),
    (
        "bench/bench_console.py",
        "The console's Beskeder in Chromium with 50 messages (the baseline) and with 5,000: the load event, the "
        "page's bytes and the audio requests before anyone plays, as ratios to the baseline.",
    ),
    (
        "bench/bench_faketime.py",
        "Why the real-Asterisk benchmarks run the router on its own clock, not under faketime as the tests do: "
        "two Python threads taking turns for the GIL, with and without faketime (FAKETIME_DONT_FAKE_MONOTONIC=1).",
    ),
    (
        "bench/bench_real.py",
        "On the real Asterisk 22: INVITE to first audio through the router and through a pure-dialplan 1818 "
        "(GotoIfTime, Answer, Playback of the same prompt) with a real SIP phone, as a ratio; new calls a second "
        "until the router sheds load; concurrent calls until Asterisk, not the router, uses the machine's cores.",
    ),
    (
        "bench/bench_yardstick.py",
        "One yardstick, from outside, for the router and the smallest ARI loop (bench/smallest_loop.py: answer, "
        "play the same prompts), each its own process on the same real Asterisk 22, interleaved at each rate: "
        "originate to first audio (an observer application's PlaybackStarted, by Asterisk's timestamps, real "
        "percentiles), calls not served, REST requests per call, and CPU seconds per 1,000 calls of Asterisk, "
        "the application and the load generator; then INVITE to first audio through a real SIP phone for the "
        "router, the loop and a pure-dialplan 1818.",
    ),
    (
        "bench/profile_router.py",
        "Where the router's time goes: py-spy samples `callrouter run` while 16 new calls a second arrive on the "
        "real Asterisk (the yardstick's calls); the busiest frames, own and on the stack.",
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


class BenchmarkFailed(Exception):
    pass


def run(script: str, what: str) -> list[str]:
    began, at = time.monotonic(), datetime.now(UTC)
    result = subprocess.run([sys.executable, str(ROOT / script)], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        raise BenchmarkFailed(f"{script} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    print(f"{script}: done", flush=True)
    return [
        "",
        f"## `{script}`",
        "",
        what,
        "",
        f"Command: `.venv/bin/python {script}` ({time.monotonic() - began:.0f} s, on {at:%Y-%m-%d %H:%M} UTC)",
        "",
        "```",
        result.stdout.rstrip(),
        "```",
    ]


def sections(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """BENCHMARKS.md's head, and its sections by script."""
    head: list[str] = []
    found: dict[str, list[str]] = {}
    current: list[str] = head
    for line in text.splitlines():
        if line.startswith("## `"):
            current = found.setdefault(line.split("`")[1], [""])
        current.append(line)
    return head, {script: lines[:-1] if lines[-1] == "" else lines for script, lines in found.items()}


FINDINGS = ROOT / "bench" / "findings.md"  # written by people, from the figures below; kept at the top


def with_findings(head: list[str]) -> list[str]:
    """The head with bench/findings.md in place of the findings it had."""
    marker = "## What the measurements found"
    kept = head[: head.index(marker)] if marker in head else head
    while kept and kept[-1] == "":
        kept.pop()
    return [*kept, "", *FINDINGS.read_text(encoding="utf-8").rstrip().splitlines(), ""]


def main() -> None:
    only = sys.argv[1:]
    unknown = [s for s in only if s not in dict(BENCHES)]
    if unknown:
        sys.exit(f"no such benchmark: {', '.join(unknown)}; they are: {', '.join(dict(BENCHES))}")
    if only:
        head, old = sections((ROOT / "BENCHMARKS.md").read_text(encoding="utf-8"))
        parts = with_findings(head)
        failed = None
        for script, what in BENCHES:
            try:
                parts += run(script, what) if script in only and failed is None else old.get(script, [])
            except BenchmarkFailed as e:  # what ran before it is kept; the rest keep their older sections
                failed = e
                parts += old.get(script, [])
        (ROOT / "BENCHMARKS.md").write_text("\n".join(parts).rstrip() + "\n", encoding="utf-8")
        if failed is not None:
            sys.exit(f"{failed}\n(BENCHMARKS.md updated with the benchmarks that ran before it)")
        print("updated BENCHMARKS.md")
        return
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
    parts = with_findings(parts)
    try:
        for script, what in BENCHES:
            parts += run(script, what)
    except BenchmarkFailed as e:  # what ran before it is not lost: rerun the rest by name
        (ROOT / "BENCHMARKS.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
        sys.exit(f"{e}\n(BENCHMARKS.md has the benchmarks that ran before it; the rest are missing)")
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts) + "\n", encoding="utf-8")
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
