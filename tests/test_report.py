"""The call statistics: per day and line, inside and outside phone hours, waits; and the call log they come from."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from router.office.call_log import CallLog, CallRecord
from router.office.report import DayLine, render, report
from router.office.store import Store
from tests.conftest import CPH, local


def record(n: int, at: str, outcome: str, *, in_hours: bool = True, waited: float | None = None) -> CallRecord:
    return CallRecord(f"c{n}", "1818", local(at), in_hours, outcome, 60.0, waited)


RECORDS = [
    record(1, "2024-01-04T15:01", "answered", waited=10),
    record(2, "2024-01-04T15:02", "answered", waited=30),
    record(3, "2024-01-04T15:03", "answered", waited=50),
    record(4, "2024-01-04T15:04", "caller_gave_up", waited=90),
    record(5, "2024-01-04T15:05", "overflow", waited=600),
    record(6, "2024-01-04T15:06", "message_left", waited=600),  # overflowed, then left a message
    record(7, "2024-01-04T18:00", "message_left", in_hours=False),
    record(8, "2024-01-05T00:30", "guidance_played", in_hours=False),  # 23:30 UTC the day before
]


def test_a_day_in_numbers() -> None:
    thursday, friday = report(RECORDS, CPH)
    assert thursday == DayLine(
        day=date(2024, 1, 4),
        line="1818",
        calls=7,
        in_hours=6,
        outside_hours=1,
        answered=3,
        abandoned=1,
        overflow=2,
        messages=2,
        median_wait=30,
        p90_wait=50,
    )
    assert (friday.day, friday.calls, friday.outside_hours, friday.median_wait) == (date(2024, 1, 5), 1, 1, None)


def test_rendered_as_a_table() -> None:
    text = render(report(RECORDS, CPH))
    assert "2024-01-04  1818" in text
    assert "30 s" in text
    assert "total: 8 calls, 3 answered, over 2 day(s)" in text
    assert "(no calls in this period)" in render([])


def test_the_log_keeps_calls_and_finds_them_by_local_day(store: Store) -> None:
    log = CallLog(store)
    for r in RECORDS:
        log.add(r)
    start = local("2024-01-05T00:00")
    assert [r.id for r in log.between(start, start + timedelta(days=1))] == ["c8"]
    assert len(log.between(local("2024-01-04T00:00"), start)) == 7
    log.add(record(8, "2024-01-05T00:30", "answered"))  # the same call stored again replaces it
    assert [r.outcome for r in log.between(start, start + timedelta(days=1))] == ["answered"]


async def test_the_router_writes_the_call_log_in_batches_and_keeps_the_last_ones_at_the_end(store: Store) -> None:
    log = CallLog(store)
    first = CallRecord("c1", "1818", local("2024-01-04T12:30"), False, "guidance_played", 30.0)
    log.note(first)
    assert log.between(local("2024-01-04T00:00"), local("2024-01-05T00:00")) == []  # noted, not yet written
    flushing = asyncio.create_task(log.keep_flushing(every=0.05))
    await asyncio.sleep(0.2)
    assert log.between(local("2024-01-04T00:00"), local("2024-01-05T00:00")) == [first]
    last = CallRecord("c2", "1818", local("2024-01-04T12:31"), False, "caller_hung_up", 2.0)
    log.note(last)
    flushing.cancel()  # the router stopping: what was noted is written before it ends
    await asyncio.gather(flushing, return_exceptions=True)
    assert log.between(local("2024-01-04T00:00"), local("2024-01-05T00:00")) == [first, last]
