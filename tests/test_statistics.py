"""The Statistik page's figures (office/statistics.py) against a call log written for the test, number
by number; and its charts (web/charts.py) as what a screen reader and a browser get.

The log is written through the store's interface (CallLog.add_all) and read back the way the page
reads it (CallLog.between over the period's bounds), so the store's key does not matter here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest

from router.office.call_log import CallLog, CallRecord
from router.office.messages import Message, MessageStore
from router.office.statistics import Figures, PeriodError, Tally, figures, period_bounds
from router.office.store import Store
from router.web import charts
from tests.conftest import CPH, local

SVG = "{http://www.w3.org/2000/svg}"


def call(n: int, at: datetime, outcome: str, in_hours: bool = True, waited: float | None = None) -> CallRecord:
    return CallRecord(f"c{n}", "1818", at, in_hours, outcome, 60.0, waited)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def spring() -> list[CallRecord]:
    """Week 13 of 2024 (Monday 25 March to Sunday 31 March, when the clocks go forward) and a day of week 14."""
    records = [
        call(1, utc("2024-03-24T23:30"), "guidance_played", in_hours=False),  # Monday 00.30 in Copenhagen
        call(2, local("2024-03-25T10:15"), "answered", waited=10),
        call(3, local("2024-03-25T10:40"), "answered", waited=20),
        call(4, local("2024-03-25T11:05"), "answered", waited=30),
        call(5, local("2024-03-25T11:10"), "caller_gave_up", waited=50),
        call(6, local("2024-03-25T18:00"), "message_left", in_hours=False),
        call(7, local("2024-03-26T10:00"), "message_left", waited=120),  # the queue sent it to the machine
        call(8, local("2024-03-26T10:30"), "overflow", waited=120),
        call(9, utc("2024-03-31T00:30"), "guidance_played", in_hours=False),  # 01.30 CET
        call(10, utc("2024-03-31T01:30"), "guidance_played", in_hours=False),  # 03.30 CEST: 02-03 never happens
        call(11, local("2024-04-01T09:00"), "answered", waited=5),
        call(12, utc("2024-04-01T22:30"), "answered", waited=5),  # Tuesday 00.30: after the period
        call(13, utc("2024-03-24T22:59"), "answered", waited=5),  # Sunday 23.59: before it
    ]
    # Wednesday 09.00-09.06: seven answered, waits 40..100 s (the week's waits are then 10, 20, ..., 100).
    records += [call(20 + i, local("2024-03-27T09:00") + timedelta(minutes=i), "answered", waited=40 + 10 * i)
                for i in range(7)]  # fmt: skip
    return records


def messages() -> list[Message]:
    return [
        Message("m1", "1818", "11111111", local("2024-03-25T18:01"), "r1", 10, handled=True, handled_by="anna"),
        Message("m2", "1818", "22222222", local("2024-03-26T10:02"), "r2", 10),
        Message("m3", "1818", "33333333", local("2024-04-02T10:00"), "r3", 10, handled=True),  # after the period
    ]


def stored_figures(store: Store, records: list[CallRecord], first: date, last: date) -> Figures:
    """The figures as the page gets them: written to the office's store (embedded, and PostgreSQL as
    every node shares it), read back over the period."""
    CallLog(store).add_all(records)
    for message in messages():
        MessageStore(store).save(message)
    start, end = period_bounds(first, last, CPH)
    calls, received = CallLog(store).between(start, end), MessageStore(store).received_between(start, end)
    return figures(calls, received, first, last, CPH)


def test_the_figures_of_a_period_number_by_number(store: Store) -> None:
    found = stored_figures(store, spring(), date(2024, 3, 25), date(2024, 4, 1))
    days = dict(found.days)
    assert list(days) == [date(2024, 3, 25) + timedelta(days=n) for n in range(8)]  # the quiet days too
    assert days[date(2024, 3, 25)] == Tally(
        calls=6, in_hours=4, outside_hours=2, answered=3, abandoned=1, overflow=0, messages=1, called_back=1,
        median_wait=20, p90_wait=30,
    )  # fmt: skip
    assert days[date(2024, 3, 26)] == Tally(
        calls=2, in_hours=2, outside_hours=0, answered=0, abandoned=0, overflow=2, messages=1, called_back=0,
        median_wait=None, p90_wait=None,
    )  # fmt: skip
    assert days[date(2024, 3, 27)].answered == 7
    assert days[date(2024, 3, 27)].median_wait == 70
    assert days[date(2024, 3, 28)] == Tally()
    assert days[date(2024, 3, 31)].calls == 2
    assert days[date(2024, 4, 1)] == Tally(calls=1, in_hours=1, answered=1, median_wait=5, p90_wait=5)

    [week13, week14] = found.weeks
    assert (week13.year, week13.number, week13.first) == (2024, 13, date(2024, 3, 25))
    # Waits 10, 20, ..., 100: the median halfway between 50 and 60; 90 % waited 90 s at most (nearest rank).
    assert week13.tally == Tally(
        calls=17, in_hours=13, outside_hours=4, answered=10, abandoned=1, overflow=2, messages=2, called_back=1,
        median_wait=55, p90_wait=90,
    )  # fmt: skip
    assert (week14.number, week14.first, week14.tally.calls) == (14, date(2024, 4, 1), 1)
    assert found.total == Tally(
        calls=18, in_hours=14, outside_hours=4, answered=11, abandoned=1, overflow=2, messages=2, called_back=1,
        median_wait=50, p90_wait=90,
    )  # fmt: skip


def test_when_people_call_is_counted_on_copenhagens_wall_clock_across_the_spring_change(store: Store) -> None:
    found = stored_figures(store, spring(), date(2024, 3, 25), date(2024, 4, 1))
    expected_by_hour = [0] * 24
    for hour, count in {0: 1, 1: 1, 3: 1, 9: 8, 10: 4, 11: 2, 18: 1}.items():
        expected_by_hour[hour] = count
    assert found.by_hour == expected_by_hour
    monday, tuesday, wednesday, sunday = (found.by_weekday_hour[d] for d in (0, 1, 2, 6))
    assert (monday[0], monday[9], monday[10], monday[11], monday[18]) == (1, 1, 2, 2, 1)
    assert sum(monday) == 7  # 25 March's six and 1 April's one
    assert (tuesday[10], sum(tuesday)) == (2, 2)
    assert (wednesday[9], sum(wednesday)) == (7, 7)
    assert (sunday[1], sunday[2], sunday[3], sum(sunday)) == (1, 0, 1, 2)  # 01.30 CET, then 03.30 CEST
    assert sum(map(sum, found.by_weekday_hour)) == found.total.calls


def test_the_hour_that_happens_twice_in_october_holds_both_calls(store: Store) -> None:
    records = [
        call(1, utc("2024-10-26T22:30"), "guidance_played", in_hours=False),  # Sunday 00.30 CEST
        call(2, utc("2024-10-27T00:30"), "guidance_played", in_hours=False),  # 02.30 CEST
        call(3, utc("2024-10-27T01:30"), "guidance_played", in_hours=False),  # 02.30 CET, an hour later
        call(4, utc("2024-10-27T22:30"), "guidance_played", in_hours=False),  # Sunday 23.30 CET
        call(5, utc("2024-10-27T23:30"), "guidance_played", in_hours=False),  # Monday 00.30 CET
    ]
    found = stored_figures(store, records, date(2024, 10, 27), date(2024, 10, 28))
    sunday, monday = found.by_weekday_hour[6], found.by_weekday_hour[0]
    assert (sunday[0], sunday[2], sunday[23], sum(sunday)) == (1, 2, 1, 4)
    assert (monday[0], sum(monday)) == (1, 1)
    assert [t.calls for _, t in found.days] == [4, 1]
    assert [(w.number, w.tally.calls) for w in found.weeks] == [(43, 4), (44, 1)]
    # The 25-hour day's bounds are its two midnights, an extra hour apart.
    start, end = period_bounds(date(2024, 10, 27), date(2024, 10, 27), CPH)
    assert end - start == timedelta(hours=25)


def test_a_period_that_ends_before_it_begins_or_is_over_a_year_is_refused() -> None:
    with pytest.raises(PeriodError, match="slutter, før den begynder"):
        figures([], [], date(2024, 2, 1), date(2024, 1, 31), CPH)
    with pytest.raises(PeriodError, match="højst 366 dage"):
        figures([], [], date(2023, 1, 1), date(2024, 1, 2), CPH)
    assert len(figures([], [], date(2024, 1, 1), date(2024, 12, 31), CPH).days) == 366


def test_a_bar_chart_is_an_image_with_a_title_a_description_and_bars_to_scale() -> None:
    svg = charts.bars(
        "x", "Opkald <pr. dag>", "Søjler & tal", ["1/3", "2/3", "3/3"],
        [charts.Series("I telefontiden", [2, 4, None], "#0b4f8a"), charts.Series("Uden for", [1, 0, 0], "#b35806")],
        stacked=True,
    )  # fmt: skip
    root = ET.fromstring(str(svg))  # well-formed: what a caller or an office could put in a label is escaped
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "x-titel x-beskrivelse"
    assert root.find(f"{SVG}title").text == "Opkald <pr. dag>"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "Søjler & tal"  # type: ignore[union-attr]
    bars = {r.find(f"{SVG}title").text: float(r.get("height", "")) for r in root.iter(f"{SVG}rect") if len(r)}  # type: ignore[union-attr]
    assert set(bars) == {"1/3: I telefontiden 2", "1/3: Uden for 1", "2/3: I telefontiden 4", "2/3: Uden for 0",
                         "3/3: Uden for 0"}  # fmt: skip
    assert bars["2/3: I telefontiden 4"] == pytest.approx(2 * bars["1/3: I telefontiden 2"])
    assert bars["1/3: I telefontiden 2"] == pytest.approx(2 * bars["1/3: Uden for 1"])


def test_the_week_map_shades_each_hour_by_its_calls() -> None:
    values = [[0] * 24 for _ in range(7)]
    values[0][9], values[6][2] = 4, 2
    root = ET.fromstring(
        str(charts.heatmap("u", "Ugen", "Felter", [str(d) for d in range(7)], [str(h) for h in range(24)], values))
    )
    cells = {r.find(f"{SVG}title").text: r.get("fill-opacity") for r in root.iter(f"{SVG}rect")}  # type: ignore[union-attr]
    assert len(cells) == 7 * 24
    assert (cells["0 9: 4"], cells["6 2: 2"], cells["3 12: 0"]) == ("1.000", "0.500", "0.000")
