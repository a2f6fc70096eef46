"""Loaded by Python at the start of `callrouter run` when bench/trace_setup.py puts this folder on
PYTHONPATH: it times the router's own steps from a StasisStart frame to its answer and play requests,
the garbage collector's passes, how late the event loop runs what is due (a 10 ms tick), and the CPU
of each of the process's threads, and prints them when the router stops (lines "TRACE ...").

A measuring tool only: it wraps the router's functions from outside; nothing in the router knows of it.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import json
import os
import statistics
import sys
import threading
import time
import traceback
from typing import Any

import router.ari.events as events
import router.ari.rest as rest
import router.calls.runtime as runtime

marks: dict[str, dict[str, float]] = {}
passes: list[tuple[int, float, float]] = []  # (generation, seconds, when)
_pass_began = [0.0]


TICK = 0.01  # the event loop's lateness: how much longer than this a sleep of it takes
STALL = 0.1  # a tick this late is a stall: a watchdog thread looks at what the main thread is doing
lags: list[tuple[float, float]] = []  # (when, ms late)
threads: dict[int, tuple[str, float, float]] = {}  # native id: (name, user and system CPU seconds when last seen)
at_first_call: dict[int, tuple[str, float, float]] = {}
stalled_in: dict[str, int] = {}  # the main thread's innermost frames during a stall, as the watchdog saw them
_last_tick = [time.monotonic()]
_watching: list[asyncio.Task[None]] = []


async def _watch_loop() -> None:
    """From the first call: the loop's lateness, the threads' CPU every second, and a watchdog for stalls."""
    loop = asyncio.get_running_loop()
    _note_threads()
    at_first_call.update(threads)
    threading.Thread(target=_watchdog, name="trace-watchdog", daemon=True).start()
    ticks = 0
    while True:
        began = loop.time()
        await asyncio.sleep(TICK)
        _last_tick[0] = time.monotonic()
        lags.append((time.perf_counter(), (loop.time() - began - TICK) * 1000))
        ticks += 1
        if ticks % 100 == 0:
            _note_threads()


def _watchdog() -> None:
    """While the loop is a stall late, what the main thread runs: Python code that holds the loop up, or
    the loop's own select (then the process is waiting for a CPU or the kernel, not for our code)."""
    main = threading.main_thread().ident
    while True:
        time.sleep(STALL / 5)
        if time.monotonic() - _last_tick[0] > STALL and main is not None:
            frame = sys._current_frames().get(main)
            if frame is not None:
                inner = traceback.extract_stack(frame)[-3:]
                where = " < ".join(f"{f.name} ({os.path.basename(f.filename)}:{f.lineno})" for f in reversed(inner))
                stalled_in[where] = stalled_in.get(where, 0) + 1


def _note_threads() -> None:
    names = {t.native_id: t.name for t in threading.enumerate()}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tick = os.sysconf("SC_CLK_TCK")
        name = names.get(int(tid), threads.get(int(tid), ("?", 0.0, 0.0))[0])
        threads[int(tid)] = (name, int(fields[11]) / tick, int(fields[12]) / tick)


def _mark(call: str, what: str) -> None:
    marks.setdefault(call, {}).setdefault(what, time.perf_counter())


_feed = events.EventStream._feed


def _traced_feed(self: Any, frame: str | bytes) -> None:
    if b'"StasisStart"' in (frame if isinstance(frame, bytes) else frame.encode()):
        _mark(json.loads(frame)["channel"]["id"], "frame")
    _feed(self, frame)


_start_here = runtime.Runtime._start_here


async def _traced_start_here(self: Any, live: Any, began: float) -> None:
    if not _watching:
        _watching.append(asyncio.create_task(_watch_loop()))
    _mark(live.call.id, "start")
    await _start_here(self, live, began)


_request_once = rest.AriRest._request_once


async def _traced_request_once(self: Any, method: str, path: str, *args: Any, **kwargs: Any) -> Any:
    parts = path.split("/")
    step = parts[3] if len(parts) >= 4 and parts[1] == "channels" and parts[3] in ("answer", "play") else None
    if step:
        _mark(parts[2], f"{step} sent")
    answer = await _request_once(self, method, path, *args, **kwargs)
    if step:
        _mark(parts[2], f"{step} answered")
    return answer


def _on_gc(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _pass_began[0] = time.perf_counter()
    else:
        passes.append((info["generation"], time.perf_counter() - _pass_began[0], time.perf_counter()))


def _report() -> None:
    steps = [
        ("frame", "start"),
        ("start", "answer sent"),
        ("answer sent", "answer answered"),
        ("answer answered", "play sent"),
        ("play sent", "play answered"),
    ]
    for a, b in steps:
        values = [(m[b] - m[a]) * 1000 for m in marks.values() if a in m and b in m]
        if len(values) > 2:
            cut = statistics.quantiles(values, n=100)
            order = sorted(marks.values(), key=lambda m: min(m.values()))
            slow = sorted(((m[b] - m[a]) * 1000, i) for i, m in enumerate(order) if a in m and b in m)[-4:]
            slowest = ", ".join(f"{v:.1f} ms (call {i})" for v, i in slow)
            print(
                f"TRACE {a} -> {b}: p50 {cut[49]:.2f} ms, p99 {cut[98]:.2f} ms ({len(values)} calls)", file=sys.stderr
            )
            print(f"TRACE   the slowest: {slowest} (calls counted from 0, the warm-up's first)", file=sys.stderr)
    first = min((min(m.values()) for m in marks.values()), default=0.0)
    for generation in (0, 1, 2):
        took = [s * 1000 for g, s, at in passes if g == generation and at >= first]
        before = sum(1 for g, _, at in passes if g == generation and at < first)
        if took or before:
            longest = f", longest {max(took):.1f} ms" if took else ""
            print(
                f"TRACE gc generation {generation}: {len(took)} passes while calls came{longest} "
                f"({before} in the start-up)",
                file=sys.stderr,
            )
    last = max((max(m.values()) for m in marks.values()), default=0.0) + 3.0  # the last prompt's start, and 3 s
    late = [ms for at, ms in lags if at <= last]
    if len(late) > 2:
        cut = statistics.quantiles(late, n=1000)
        stalls = sum(1 for ms in late if ms > STALL * 1000)
        print(
            f"TRACE event loop late (a {TICK * 1000:.0f} ms tick, while calls came): p50 {cut[499]:.2f} ms, "
            f"p99 {cut[989]:.2f} ms, p99.9 {cut[998]:.2f} ms, longest {max(late):.1f} ms ({len(late)} ticks, "
            f"{stalls} over {STALL * 1000:.0f} ms)",
            file=sys.stderr,
        )
        seen = sum(stalled_in.values())
        print(f"TRACE stalls: the watchdog saw the main thread {seen} times", file=sys.stderr)
        for where, n in sorted(stalled_in.items(), key=lambda item: -item[1])[:8]:
            print(f"TRACE   {n} x in {where}", file=sys.stderr)
    _note_threads()
    by_name: dict[str, tuple[float, float]] = {}
    for tid, (name, user, system) in threads.items():
        _, user0, system0 = at_first_call.get(tid, (name, 0.0, 0.0))
        user, system = user - user0, system - system0
        kind = name.split("_")[0] if name.startswith("ThreadPoolExecutor") else name
        u, s = by_name.get(kind, (0.0, 0.0))
        by_name[kind] = (u + user, s + system)
    for name, (user, system) in sorted(by_name.items(), key=lambda item: -sum(item[1])):
        print(f"TRACE thread CPU from the first call {name}: {user:.2f} s user, {system:.2f} s system", file=sys.stderr)
    sys.stderr.flush()


events.EventStream._feed = _traced_feed  # type: ignore[method-assign]
runtime.Runtime._start_here = _traced_start_here  # type: ignore[method-assign]
rest.AriRest._request_once = _traced_request_once  # type: ignore[method-assign]
gc.callbacks.append(_on_gc)
atexit.register(_report)
