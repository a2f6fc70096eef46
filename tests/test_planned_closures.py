"""Planned closures: decided beside the file's own closures, holidays and overrides (schedule/planned.py),
refused when the schedule does not allow them, kept and audited in the office's store, obeyed by
the router's calls (also when planned on another node), and the same from the command line."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from asterisk_sim import Simulator
from router.app import RouterConfig, running
from router.ari import AriConfig
from router.calls.guidance import closed_guidance
from router.calls.prompts import DEFAULT_MANIFEST, load_manifest
from router.office.accounts import AccountStore
from router.office.closures import ClosureError, ClosureStore
from router.office.store import Store
from router.schedule import WHOLE_DAY, Override, Reason, Schedule, ScheduleError, TimeRange, decide, parse_schedule
from router.schedule.planned import LABEL, PlannedClosure, WithPlanned, refusal, with_planned
from router.web.http_api import ApiConfig
from tests import real_asterisk
from tests.ari_helpers import outcome_of, until
from tests.conftest import ROUTER_SIM, embedded, local
from tests.test_cli import SHIPPED, run

THURSDAY = date(2024, 1, 4)  # the shipped schedule: Thursday 15-17, Friday 10-12
COURSE = PlannedClosure("c1", "1818", THURSDAY, THURSDAY, TimeRange(15 * 60, 16 * 60), "training", "Kursus", "ole")
BEFORE = local("2024-01-03T09:00")

WITH_OPENING_AND_CLOSURE = """
timezone: Europe/Copenhagen
lines:
  "1818":
    public_holidays: DK
    versions:
      - valid_from: 2024-01-01
        hours: {mon-fri: 10:00-12:00}
    openings:
      - {reason: extra, name: Ekstra åbent, date: 2024-03-28, time: 10:00-14:00}
    closures:
      - {reason: staff_meeting, name: Personalemøde, date: 2024-01-08, time: 10:00-11:00}
"""


def planned(closure_id: str, first: date, last: date | None = None, time: TimeRange = WHOLE_DAY) -> PlannedClosure:
    return PlannedClosure(closure_id, "1818", first, last or first, time, "training")


def test_a_planned_closure_closes_the_line_and_says_its_own_message(shipped: Schedule) -> None:
    schedule = with_planned(shipped, [COURSE])
    during = decide(schedule, "1818", local("2024-01-04T15:30"))
    assert (during.open, during.reason, during.cause, during.label) == (False, Reason.CLOSURE, "training", "Kursus")
    assert during.next_change == during.next_open == local("2024-01-04T16:00")  # the rest of the day is open
    assert closed_guidance(schedule, "1818", during, load_manifest().texts).prompts[0] == "closure-training"
    before = decide(schedule, "1818", local("2024-01-04T12:30"))
    assert before.next_open == local("2024-01-04T16:00")  # not 15:00: the caller hears the real opening
    assert decide(shipped, "1818", local("2024-01-04T15:30")).open  # the file alone: open


def test_the_file_stays_the_base_and_the_precedence_holds() -> None:
    base = parse_schedule(WITH_OPENING_AND_CLOSURE)
    schedule = with_planned(
        base,
        [
            planned("a", date(2024, 3, 28), time=TimeRange(11 * 60, 12 * 60)),  # inside the file's extra opening
            planned("b", date(2024, 1, 8), time=TimeRange(10 * 60 + 30, 11 * 60 + 30)),  # across the file's closure
        ],
    )
    # Beats the file's extra opening on a public holiday (Skærtorsdag): closed 11-12, open around it.
    assert decide(schedule, "1818", local("2024-03-28T10:30")).reason is Reason.OPENING
    assert decide(schedule, "1818", local("2024-03-28T11:30")).cause == "training"
    assert decide(schedule, "1818", local("2024-03-28T12:30")).reason is Reason.OPENING
    # Beside the file's own closure: each where it claims, the file's first (same rank, listed first).
    assert decide(schedule, "1818", local("2024-01-08T10:15")).cause == "staff_meeting"
    assert decide(schedule, "1818", local("2024-01-08T11:15")).cause == "training"
    assert decide(schedule, "1818", local("2024-01-08T11:45")).reason is Reason.HOURS
    # A live override beats it: an operator can open the line during a closure planned by mistake.
    opened = Override("1818", True, "manual_opening", local("2024-03-28T11:00"), local("2024-03-28T11:45"))
    assert decide(schedule, "1818", local("2024-03-28T11:30"), [opened]).open
    # A closure of a line the file no longer has is left out; the file's schedule is never changed.
    assert with_planned(base, [PlannedClosure("x", "9999", THURSDAY, THURSDAY, WHOLE_DAY, "training")]) is base
    assert decide(base, "1818", local("2024-03-28T11:30")).reason is Reason.OPENING


def test_a_planned_closure_without_a_note_is_named_for_people(shipped: Schedule) -> None:
    schedule = with_planned(shipped, [planned("a", THURSDAY)])
    assert decide(schedule, "1818", local("2024-01-04T15:30")).label == LABEL


@pytest.mark.parametrize(
    ("closure", "others", "english", "danish"),
    [
        (planned("a", date(2024, 1, 2)), [], "begin in the past", "begynde i fortiden"),
        (planned("a", THURSDAY, date(2024, 1, 2)), [], "before the first", "før den første"),
        (planned("a", THURSDAY, THURSDAY + timedelta(days=14)), [], "15 days in a row", "højst 14"),
        # Two that touch count together: two closures cannot make a longer one.
        (
            planned("a", THURSDAY, THURSDAY + timedelta(days=9)),
            [planned("b", date(2024, 1, 14), date(2024, 1, 20))],
            "17 days in a row",
            "17 dage i træk",
        ),
        (PlannedClosure("a", "9999", THURSDAY, THURSDAY, WHOLE_DAY, "training"), [], "no line '9999'", "linje"),
    ],
)
def test_what_the_schedule_does_not_allow_is_refused_with_a_reason(
    shipped: Schedule, closure: PlannedClosure, others: list[PlannedClosure], english: str, danish: str
) -> None:
    found = refusal(shipped, closure, others, BEFORE)
    assert found is not None
    assert english in found.english
    assert danish in found.danish


def test_what_the_schedule_allows_is_not_refused(shipped: Schedule) -> None:
    fourteen = planned("a", THURSDAY, THURSDAY + timedelta(days=13))
    assert refusal(shipped, fourteen, [], BEFORE) is None
    assert refusal(shipped, fourteen, [fourteen], BEFORE) is None  # changing itself: not counted twice
    assert refusal(shipped, fourteen, [planned("b", date(2024, 1, 19))], BEFORE) is None  # a day between
    assert refusal(shipped, COURSE, [], local("2024-01-04T14:59")) is None  # later today: still ahead
    assert refusal(shipped, COURSE, [], local("2024-01-04T15:00")) is not None


def test_the_limit_is_the_schedules_and_validated_with_its_place() -> None:
    text = WITH_OPENING_AND_CLOSURE.replace(
        "    public_holidays: DK", "    public_holidays: DK\n    planned_closure_max_days: 3"
    )
    schedule = parse_schedule(text)
    assert schedule.line("1818").planned_closure_max_days == 3
    assert refusal(schedule, planned("a", THURSDAY, THURSDAY + timedelta(days=3)), [], BEFORE) is not None
    with pytest.raises(ScheduleError) as bad:
        parse_schedule(text.replace("planned_closure_max_days: 3", "planned_closure_max_days: two weeks"))
    assert str(bad.value) == (
        "<schedule>:6:31: lines.1818.planned_closure_max_days: expected a whole number of days from 1 to 366; "
        "got 'two weeks'"
    )


def test_the_joined_schedule_is_rebuilt_only_when_either_changes(shipped: Schedule) -> None:
    kept: list[tuple[PlannedClosure, ...]] = [()]
    source = WithPlanned(lambda: shipped, lambda: kept[0])
    assert source() is shipped
    kept[0] = (COURSE,)
    joined = source()
    assert decide(joined, "1818", local("2024-01-04T15:30")).cause == "training"
    assert source() is joined  # the same closures: the same schedule, its computed days kept
    kept[0] = ()
    assert source() is shipped


def test_kept_in_the_store_changed_until_they_begin_and_audited(store: Store, shipped: Schedule) -> None:
    closures = ClosureStore(store)
    closures.add(COURSE, shipped, BEFORE)
    assert ClosureStore(store).all() == (replace(COURSE, at=BEFORE),)  # another node, or after a restart
    longer = PlannedClosure(COURSE.id, "1818", THURSDAY, THURSDAY, WHOLE_DAY, "training", "Kursus", "anna")
    closures.change(longer, shipped, BEFORE + timedelta(hours=1))
    longer = replace(longer, at=BEFORE + timedelta(hours=1))
    assert closures.all() == (longer,)
    with pytest.raises(ClosureError, match="has begun"):
        closures.remove(COURSE.id, "ole", shipped, local("2024-01-04T00:00"))
    with pytest.raises(ClosureError, match="in the past"):
        closures.add(planned("p", date(2024, 1, 2)), shipped, BEFORE)
    assert closures.all() == (longer,)  # a refusal changes nothing
    assert closures.remove(COURSE.id, "ole", shipped, BEFORE) == longer
    assert closures.all() == ()
    log = [(e.user, e.action, e.detail) for e in reversed(AccountStore(store).audit_log())]
    assert log == [
        ("ole", "planlagde lukning", "efter: 1818 2024-01-04 15:00-16:00 (training): Kursus"),
        ("anna", "ændrede lukning",
         "før: 1818 2024-01-04 15:00-16:00 (training): Kursus; efter: 1818 2024-01-04 hele dagen (training): Kursus"),
        ("ole", "slettede lukning", "før: 1818 2024-01-04 hele dagen (training): Kursus"),
    ]  # fmt: skip


async def test_the_router_obeys_a_closure_planned_on_another_node(tmp_path: Path, shipped: Schedule) -> None:
    texts = load_manifest().texts_for(shipped, range(2023, 2026))
    sim = Simulator(
        "router", "secret", sound_seconds=0.01, contexts=real_asterisk.dialplan_contexts(), settings=ROUTER_SIM
    )
    sim.world.sounds.update((f"callrouter/{name}" for name in texts), "da", "slin")
    await sim.start()
    api = ApiConfig("127.0.0.1", 0, "t" * 32)
    config = RouterConfig(
        AriConfig(sim.url, "router", "router", "secret"), shipped, tmp_path, DEFAULT_MANIFEST, api=api
    )

    async def status() -> dict[str, Any]:
        assert router.api_url is not None
        async with aiohttp.ClientSession() as http:
            answer = await http.get(router.api_url + "/status", headers={"Authorization": "Bearer " + "t" * 32})
            found: dict[str, Any] = (await answer.json())["lines"]["1818"]
            return found

    async def first_heard() -> str:
        call = sim.world.place_call("12345678", "1818", "router", ["1818"]).id
        await until(lambda: any("media" in h for h in sim.world.channels[call].heard))
        sim.world.caller_hangs_up(call)
        await outcome_of(router.runtime, call)
        return str(next(h["media"] for h in sim.world.channels[call].heard if "media" in h))

    try:
        async with running(config, clock=lambda: local("2024-01-04T15:30")) as router:  # normally open: a queue
            await until(lambda: "router" in sim.world.connected_apps)
            assert await first_heard() != "sound:callrouter/closure-training"
            with embedded(tmp_path) as data:  # `callrouter closures add`, or another node's console
                await asyncio.to_thread(ClosureStore(data).add, COURSE, shipped, BEFORE)
            await asyncio.sleep(3)  # the router's copy is renewed every 2 s
            assert await first_heard() == "sound:callrouter/closure-training"
            shown = await status()
            assert (shown["open"], shown["reason"], shown["label"]) == (False, "closure", "Kursus")
            assert shown["next_open"] == "2024-01-04T15:00:00+00:00"  # 16.00 in Copenhagen
    finally:
        await sim.stop()


def test_cli_add_list_remove_and_every_command_shows_it(tmp_path: Path) -> None:
    data = ["--schedule", SHIPPED, "--data", str(tmp_path)]
    added = run(*data, "closures", "add", "--from", "2030-01-11", "--time", "10:00-11:00", "--reason", "training",
                "--note", "Kursus\x1b[2J")  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "2030-01-11 10:00-11:00 (training): Kursus" in added.stdout
    assert "\x1b" not in added.stdout  # a note is one safe line
    [kept] = json.loads(run(*data, "closures", "list", "--json").stdout)
    assert (kept["first"], kept["start"], kept["end"], kept["reason"]) == ("2030-01-11", "10:00", "11:00", "training")
    at = json.loads(run(*data, "at", "2030-01-11T10:30", "--json").stdout)
    assert (at["open"], at["reason"], at["cause"]) == (False, "closure", "training")
    assert at["guidance"]["prompts"][0] == "closure-training"
    calendar = run(*data, "calendar", "--from", "2030-01-11", "--days", "1").stdout
    assert "11:00-12:00" in calendar
    assert "closure 10:00-11:00: Kursus" in calendar
    assert "\x1b" not in calendar
    ics = json.loads(run(*data, "ics", "--from", "2030-01-11", "--days", "1", "--json").stdout)
    assert [e["start"] for e in ics["events"]] == ["2030-01-11T11:00:00+01:00"]

    too_long = run(*data, "closures", "add", "--from", "2030-02-01", "--to", "2030-02-28", "--reason", "training")
    assert too_long.returncode == 1
    assert "28 days in a row" in too_long.stderr
    assert "allows 14" in too_long.stderr
    past = run(*data, "closures", "add", "--from", "2020-01-03", "--reason", "training")
    assert past.returncode == 1
    assert "in the past" in past.stderr

    removed = run(*data, "closures", "remove", kept["id"])
    assert removed.returncode == 0, removed.stderr
    assert run(*data, "closures", "list").stdout == "no planned closures\n"
    assert json.loads(run(*data, "at", "2030-01-11T10:30", "--json").stdout)["open"]
