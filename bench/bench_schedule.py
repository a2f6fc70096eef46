"""Benchmark decide() and the calendar over a ten-year schedule with 500 closures.

Run: .venv/bin/python bench/bench_schedule.py
Prints figures; asserts nothing about speed (a busy machine is not a failing product).
"""

from __future__ import annotations

import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from router.schedule import Schedule, day_plan, decide, parse_schedule

YEARS = 10
CLOSURES = 500
FIRST = date(2024, 1, 1)


def ten_year_schedule(seed: int = 1) -> str:
    """The 1818 hours with a new version each year and 500 closures of every shape."""
    rng = random.Random(seed)
    versions = []
    for year in range(FIRST.year, FIRST.year + YEARS):
        end = rng.choice(["12:00", "13:00", "14:00"])
        versions.append(
            f"""      - valid_from: {year}-01-01
        hours:
          mon-wed: 10:00-{end}
          thu: 15:00-17:00
          fri: 10:00-12:00
"""
        )
    closures = []
    for i in range(CLOSURES):
        day = FIRST + timedelta(days=rng.randrange(YEARS * 365))
        shape = i % 4
        if shape == 0:
            closures.append(f"      - {{reason: staff_shortage, date: {day}}}\n")
        elif shape == 1:
            closures.append(
                f"      - {{reason: training, from: {day}, to: {day + timedelta(days=rng.randrange(5))}}}\n"
            )
        elif shape == 2:
            closures.append(f"      - {{reason: meeting, date: {day}, time: 10:00-11:00}}\n")
        else:
            closures.append(f"      - {{reason: upgrade, from: {day} 11:30, to: {day + timedelta(days=1)} 10:15}}\n")
    return (
        "closing_days:\n"
        "  - {name: Juleaftensdag, rule: FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24}\n"
        "  - {name: Fredag efter Kristi himmelfartsdag, rule: FREQ=YEARLY;BYEASTER=40}\n"
        "lines:\n"
        '  "1818":\n'
        "    public_holidays: DK\n"
        "    versions:\n" + "".join(versions) + "    closures:\n"
        "      - {reason: staff_meeting, rule: FREQ=MONTHLY;BYDAY=1FR, time: 10:00-11:00}\n" + "".join(closures)
    )


def per_call(fn: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def figures(values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100)
    return f"mean {statistics.mean(values) * 1e6:.1f} us, p50 {cuts[49] * 1e6:.1f} us, p99 {cuts[98] * 1e6:.1f} us"


def main() -> None:
    text = ten_year_schedule()
    start = time.perf_counter()
    schedule = parse_schedule(text, "ten-years.yaml")
    load_ms = (time.perf_counter() - start) * 1000

    rng = random.Random(2)
    span = timedelta(days=YEARS * 365).total_seconds()
    base = datetime(FIRST.year, 1, 1, tzinfo=UTC)
    instants = [base + timedelta(seconds=rng.uniform(0, span)) for _ in range(20_000)]

    def fresh() -> Schedule:
        """The same schedule with empty caches, as the router has right after a reload."""
        return Schedule(timezone=schedule.timezone, lines=schedule.lines, closing_days=schedule.closing_days)

    def timed(s: Schedule, sample: list[datetime]) -> list[float]:
        times = []
        for instant in sample:
            t0 = time.perf_counter()
            decide(s, "1818", instant)
            times.append(time.perf_counter() - t0)
        return times

    # Cold: a fresh schedule, so nearly every instant lands on days not computed yet.
    cold = timed(fresh(), instants[:2000])
    # Warm: the router's steady state, where the days around "now" are cached.
    warm_schedule = fresh()
    timed(warm_schedule, instants)
    warm = timed(warm_schedule, instants)

    def calendar_year() -> None:
        s = fresh()
        for _ in range(365):
            day_plan(s, "1818", FIRST + timedelta(days=rng.randrange(YEARS * 365)))

    calendar_s = per_call(calendar_year, 10)
    per_day = calendar_s / 365 * 1e6

    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    print(f"schedule: {YEARS} years, {len(schedule.lines['1818'].versions)} versions, {CLOSURES} closures + rules")
    print(f"load and validate YAML: {load_ms:.1f} ms")
    print(f"decide, warm (steady state), {len(warm)} calls: {figures(warm)}")
    print(f"decide, cold (first call touching new days), {len(cold)} calls: {figures(cold)}")
    print(f"calendar, 365 days (uncached) from a fresh schedule: {calendar_s * 1000:.1f} ms ({per_day:.1f} us/day)")
    print("target: decide under 50 us per call on the ten-year schedule")


if __name__ == "__main__":
    main()
