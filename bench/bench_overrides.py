"""The overrides' refresh, which the router runs in its event loop twice a second, while the call log
writes in a thread once a second, as in `callrouter run`.

Two ways to renew the copy, in the same run on the same embedded store:
- as the router did until 2026-12-02: read the table in a transaction of the store's usual kind
  (BEGIN IMMEDIATE, which takes the write lock, so it waits for any writer);
- as it does now (`OverrideStore.refresh`): ask the store's data version, and read only after a commit,
  in a deferred transaction, which in WAL mode never waits for a writer.

Each is timed over RUN seconds, one refresh every 5 ms (a hundred times the router's pace, so that the
call log's commits are met often): the median, the p99 and the longest refresh, and how many took over
5 ms. A refresh's time is time the event loop is not serving callers.

Run: .venv/bin/python bench/bench_overrides.py   (about half a minute)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from router.office.call_log import CallLog, CallRecord  # noqa: E402
from router.office.overrides import OverrideStore  # noqa: E402
from router.office.store import Store, StoreConfig, open_store  # noqa: E402
from router.office.tables import overrides  # noqa: E402

RUN = 12.0  # seconds for each way
PACE = 0.005
CALLS_A_SECOND = 16  # the call log's batch: a second's calls at the rate where this machine is full


def timed(refresh: Callable[[], object], store: Store) -> list[float]:
    """Refresh every PACE seconds for RUN seconds while a thread writes the call log once a second."""
    log, stop = CallLog(store), threading.Event()

    def writer() -> None:
        batch = 0
        while not stop.is_set():
            now = datetime.now(UTC)
            log.add_all(
                [CallRecord(f"b{batch}-{i}", "1818", now, False, "guidance_played", 3.0) for i in range(CALLS_A_SECOND)]
            )
            batch += 1
            stop.wait(1.0)

    thread = threading.Thread(target=writer)
    thread.start()
    took: list[float] = []
    try:
        end = time.monotonic() + RUN
        while time.monotonic() < end:
            began = time.perf_counter()
            refresh()
            took.append(time.perf_counter() - began)
            time.sleep(PACE)
    finally:
        stop.set()
        thread.join()
    return sorted(took)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, open_store(StoreConfig(), Path(tmp)) as store:

        def as_before() -> object:
            with store.begin() as db:
                return db.execute(select(overrides).order_by(overrides.c.line)).all()

        results = {"read every time, BEGIN IMMEDIATE (before)": timed(as_before, store)}
        renew = OverrideStore(store, cached=True).refresh
        results["data version, deferred read after a commit (now)"] = timed(renew, store)
    print(f"A refresh every {PACE * 1000:.0f} ms for {RUN:.0f} s each way, the call log writing {CALLS_A_SECOND} calls")
    print("a second in a thread (ms):\n")
    print("| refresh | refreshes | p50 | p99 | longest | over 5 ms |\n| --- | --- | --- | --- | --- | --- |")
    for name, took in results.items():
        p50, p99 = statistics.median(took), statistics.quantiles(took, n=100, method="inclusive")[98]
        over = sum(t > 0.005 for t in took)
        print(f"| {name} | {len(took)} | {p50 * 1000:.3f} | {p99 * 1000:.2f} | {took[-1] * 1000:.1f} | {over} |")
    before, now = results.values()
    print(
        f"\nnow / before: p50 {statistics.median(now) / statistics.median(before):.2f}x, "
        f"longest {now[-1] / before[-1]:.2f}x"
    )


if __name__ == "__main__":
    main()
