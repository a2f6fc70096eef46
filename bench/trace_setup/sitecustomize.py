"""Loaded by Python at the start of `callrouter run` when bench/trace_setup.py puts this folder on
PYTHONPATH: it times the router's own steps from a StasisStart frame to its answer and play requests,
and the garbage collector's passes, and prints them when the router stops (lines "TRACE ...").

A measuring tool only: it wraps the router's functions from outside; nothing in the router knows of it.
"""

from __future__ import annotations

import atexit
import gc
import json
import statistics
import sys
import time
from typing import Any

import router.ari.events as events
import router.ari.rest as rest
import router.calls.runtime as runtime

marks: dict[str, dict[str, float]] = {}
passes: list[tuple[int, float]] = []
_pass_began = [0.0]


def _mark(call: str, what: str) -> None:
    marks.setdefault(call, {}).setdefault(what, time.perf_counter())


_feed = events.EventStream._feed


def _traced_feed(self: Any, frame: str | bytes) -> None:
    if b'"StasisStart"' in (frame if isinstance(frame, bytes) else frame.encode()):
        _mark(json.loads(frame)["channel"]["id"], "frame")
    _feed(self, frame)


_start_here = runtime.Runtime._start_here


async def _traced_start_here(self: Any, live: Any, began: float) -> None:
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
        passes.append((info["generation"], time.perf_counter() - _pass_began[0]))


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
            print(
                f"TRACE {a} -> {b}: p50 {cut[49]:.2f} ms, p99 {cut[98]:.2f} ms ({len(values)} calls)", file=sys.stderr
            )
    for generation in (0, 1, 2):
        took = [s * 1000 for g, s in passes if g == generation]
        if took:
            print(f"TRACE gc generation {generation}: {len(took)} passes, longest {max(took):.1f} ms", file=sys.stderr)
    sys.stderr.flush()


events.EventStream._feed = _traced_feed  # type: ignore[method-assign]
runtime.Runtime._start_here = _traced_start_here  # type: ignore[method-assign]
rest.AriRest._request_once = _traced_request_once  # type: ignore[method-assign]
gc.callbacks.append(_on_gc)
atexit.register(_report)
