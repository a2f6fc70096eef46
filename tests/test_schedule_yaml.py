"""A wrong schedule file gets one clear error: file, line, column, field path, what was expected."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.schedule import (
    DialOut,
    QueueConfig,
    Reason,
    Schedule,
    ScheduleError,
    Strategy,
    load_schedule,
    parse_schedule,
)
from tests.conftest import ROOT

VALID = """\
lines:
  "1818":
    versions:
      - valid_from: 2023-01-01
        hours:
          mon-wed: 10:00-15:00
      - valid_from: 2024-01-01
        hours:
          thu: [15:00-17:00]
"""


def error(text: str) -> ScheduleError:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(textwrap.dedent(text), "s.yaml")
    return caught.value


def test_valid_file_loads() -> None:
    s = parse_schedule(VALID, "s.yaml")
    assert isinstance(s, Schedule)
    assert list(s.lines) == ["1818"]
    assert s.timezone == "Europe/Copenhagen"


@pytest.mark.parametrize(
    ("replace", "by", "line", "column", "path", "expected"),
    [
        ("thu: [15:00-17:00]", "thu: [15:00-25:00]", 9, 17, "lines.1818.versions[1].hours.thu[0]", "bad time '25:00'"),
        ("thu: [15:00-17:00]", "thu: [17:00-15:00]", 9, 17, "lines.1818.versions[1].hours.thu[0]", "overnight: yes"),
        (
            "thu: [15:00-17:00]",
            "thu: [15:00]",
            9,
            17,
            "lines.1818.versions[1].hours.thu[0]",
            "a time range like 10:00-12:00",
        ),
        ("thu: [15:00-17:00]", "thur: [15:00-17:00]", 9, 11, "lines.1818.versions[1].hours.thur", "did you mean 'thu'"),
        ("thu: [15:00-17:00]", "thu-mon: 15:00-17:00", 9, 11, "lines.1818.versions[1].hours.thu-mon", "runs forward"),
        (
            "thu: [15:00-17:00]",
            "thu: [15:00-17:00, 16:00-18:00]",
            9,
            30,
            "lines.1818.versions[1].hours.thu[1]",
            "overlaps 15:00-17:00",
        ),
        (
            "valid_from: 2024-01-01",
            "valid_from: 2023-01-01",
            7,
            21,
            "lines.1818.versions[1].valid_from",
            "already used",
        ),
        ("valid_from: 2024-01-01", "valid_from: 2024-02-30", 7, 21, "lines.1818.versions[1].valid_from", "a date like"),
        ("    versions:", "    version:", 3, 5, "lines.1818.version", "did you mean 'versions'"),
    ],
)
def test_errors_are_located(replace: str, by: str, line: int, column: int, path: str, expected: str) -> None:
    assert replace in VALID
    e = error(VALID.replace(replace, by))
    assert (e.filename, e.line, e.column, e.path) == ("s.yaml", line, column, path)
    assert expected in e.message
    assert str(e).startswith(f"s.yaml:{line}:{column}: {path}: ")


def test_overnight_spill_overlapping_next_day() -> None:
    e = error(
        """\
        lines:
          x:
            versions:
              - valid_from: 2024-01-01
                hours:
                  mon: {time: "22:00-09:00", overnight: yes}
                  tue: "08:00-10:00"
        """
    )
    assert e.path == "lines.x.versions[0].hours.tue[0]"
    assert "overlaps 00:00-09:00" in e.message


def test_overlap_between_a_range_and_a_day() -> None:
    e = error(
        """\
        lines:
          x:
            versions:
              - valid_from: 2024-01-01
                hours:
                  mon-fri: "08:00-10:00"
                  wed: "09:00-11:00"
        """
    )
    assert e.path == "lines.x.versions[0].hours.wed[0]"
    assert "wed: window 09:00-11:00 overlaps" in e.message


@pytest.mark.parametrize(
    ("snippet", "path", "expected"),
    [
        ("public_holidays: XX", "lines.x.public_holidays", "unknown holiday country 'XX'"),
        ("public_holidays: {country: DK, language: fr}", "lines.x.public_holidays.language", "not 'fr'"),
        ("closures: [{date: 2024-02-12}]", "lines.x.closures[0]", "missing `reason:`"),
        ("closures: [{reason: Sick Leave, date: 2024-02-12}]", "lines.x.closures[0].reason", "short token"),
        ("closures: [{reason: sick}]", "lines.x.closures[0]", "exactly one of"),
        ("closures: [{reason: sick, date: 2024-02-12, rule: FREQ=DAILY}]", "lines.x.closures[0]", "exactly one of"),
        ("closures: [{reason: sick, from: 2024-02-12}]", "lines.x.closures[0]", "needs a `to:`"),
        ("closures: [{reason: sick, from: 2024-02-12, to: 2024-02-10}]", "lines.x.closures[0].to", "before"),
        (
            "closures: [{reason: x, from: 2024-02-12 10:00, to: 2024-02-12 09:00}]",
            "lines.x.closures[0].to",
            "not after",
        ),
        ("closures: [{reason: x, rule: FREQ=MONTHLY;BYDAY=1XX}]", "lines.x.closures[0].rule", "not a valid recurrence"),
        (
            "closures: [{reason: x, rule: FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30}]",
            "lines.x.closures[0].rule",
            "gives no day",
        ),
        ("closures: [{reason: x, rule: FREQ=DAILY;BYHOUR=10}]", "lines.x.closures[0].rule", "time of day in `time:`"),
        ("closures: [{reason: x, rule: FREQ=DAILY;COUNT=3}]", "lines.x.closures[0].rule", "`starts:` and `ends:`"),
        ("closures: [{reason: x, date: 2024-01-01, time: 11:00-10:00}]", "lines.x.closures[0].time", "not after start"),
        ("closing_days: maybe", "lines.x.closing_days", "expected yes or no"),
        ("closures: [{reason: x, from: 2024-01-01, to: 9999-12-31}]", "lines.x.closures[0].to", "outside the years"),
        ("closures: [{reason: x, from: 2024-01-01, to: 2099-12-31}]", "lines.x.closures[0].to", "more than 10 years"),
        (
            "closures: [{reason: x, from: 2024-01-01 10:00, to: 2044-01-01 10:00}]",
            "lines.x.closures[0].to",
            "more than",
        ),
        ("closures: {reason: x}", "lines.x.closures", "expected a list"),
        ("queue: {}", "lines.x.queue", "missing `agents:`"),
        ("queue: {agents: []}", "lines.x.queue.agents", "no agents"),
        ("queue: {agents: [a1, a1]}", "lines.x.queue.agents[1]", "listed twice"),
        ("queue: {agents: [PJSIP/a1]}", "lines.x.queue.agents[0]", "not a PJSIP endpoint name"),
        ("queue: {agents: [a1], strategy: round-robin}", "lines.x.queue.strategy", "did you mean 'round_robin'"),
        ("queue: {agents: [a1], ring_seconds: 2}", "lines.x.queue.ring_seconds", "from 5 to 120"),
        ("queue: {agents: [a1], max_wait_seconds: ten}", "lines.x.queue.max_wait_seconds", "whole number"),
        ("queue: {agents: [a1], after_close: hang_up}", "lines.x.queue.after_close", "serve or answering_machine"),
        ("queue: {agents: [a1], ring_second: 20}", "lines.x.queue.ring_second", "did you mean 'ring_seconds'"),
        ("queue: {agents: [a1]}\n            open_context: q", "lines.x.open_context", "not both"),
        ("open_context: my queue", "lines.x.open_context", "not a dialplan context"),
        ("callback: {caller_id: '1818'}", "lines.x.callback", "missing `dial:`"),
        ("callback: {dial: 'PJSIP/trunk', caller_id: '1818'}", "lines.x.callback.dial", "with {number} once"),
        ("callback: {dial: 'PJSIP/{number}&PJSIP/x', caller_id: '1'}", "lines.x.callback.dial", "not a dial target"),
        ("callback: {dial: 'PJSIP/{number}@trunk,30', caller_id: '1'}", "lines.x.callback.dial", "not a dial target"),
        ("callback: {dial: 'PJSIP/{number}{number}', caller_id: '1'}", "lines.x.callback.dial", "{number} once"),
        ("callback: {dial: 'PJSIP/{nummer}@trunk', caller_id: '1'}", "lines.x.callback.dial", "not a dial target"),
        ("callback: {dial: 'Local/{number}', caller_id: '1818'}", "lines.x.callback.dial", "names its context"),
        ("callback: {dial: 'PJSIP/{number}@trunk'}", "lines.x.callback", "give the number citizens see"),
        ("callback: {dial: 'PJSIP/{number}', caller_id: '18 18'}", "lines.x.callback.caller_id", "not a phone"),
        (
            "callback: {dial: 'PJSIP/{number}', caller_id: '1', ring_seconds: 5}",
            "lines.x.callback.ring_seconds",
            "from 10 to 120",
        ),
        (
            "callback: {dial: 'PJSIP/{number}', caller_id: '1', staff_ring_seconds: 121}",
            "lines.x.callback.staff_ring_seconds",
            "from 10 to 120",
        ),
        ("callback: {dail: 'PJSIP/{number}'}", "lines.x.callback.dail", "did you mean 'dial'"),
    ],
)
def test_line_level_errors(snippet: str, path: str, expected: str) -> None:
    text = f"""\
        lines:
          x:
            {snippet}
            versions:
              - valid_from: 2024-01-01
                hours: {{mon: "10:00-12:00"}}
        """
    e = error(text)
    assert e.path == path
    assert expected in e.message
    assert e.line is not None
    assert e.line >= 3


def test_queue_settings_are_read() -> None:
    text = VALID.replace(
        '  "1818":\n',
        '  "1818":\n    queue:\n      agents: [a1, a2]\n      strategy: longest_idle\n'
        "      ring_seconds: 15\n      announce_seconds: 0\n      after_close: answering_machine\n",
    )
    config = parse_schedule(text, "s.yaml").lines["1818"].open_to
    assert config == QueueConfig(
        ("a1", "a2"), Strategy.LONGEST_IDLE, ring_seconds=15, announce_seconds=0, serve_after_close=False
    )
    assert parse_schedule(VALID, "s.yaml").lines["1818"].open_to is None
    other = VALID.replace('  "1818":\n', '  "1818":\n    open_context: my-queue\n')
    assert parse_schedule(other, "s.yaml").lines["1818"].open_to == "my-queue"


def test_a_lines_callback_target_is_read() -> None:
    text = VALID.replace('  "1818":\n', '  "1818":\n    callback:\n      dial: "PJSIP/{number}@trunk"\n')
    assert parse_schedule(text, "s.yaml").lines["1818"].callback == DialOut("PJSIP/{number}@trunk", "1818", 45)
    local = VALID.replace(
        '  "1818":\n',
        '  "1818":\n    callback: {dial: "Local/{number}@outbound", caller_id: "+4570101818",'
        " ring_seconds: 30, staff_ring_seconds: 20}\n",
    )
    callback = parse_schedule(local, "s.yaml").lines["1818"].callback
    assert callback == DialOut("Local/{number}@outbound", "+4570101818", 30, 20)
    assert callback.endpoint("12345678") == "Local/12345678@outbound"
    assert parse_schedule(VALID, "s.yaml").lines["1818"].callback is None


def test_closing_day_needs_a_name() -> None:
    e = error(
        """\
        closing_days:
          - rule: FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24
        lines:
          x: {versions: [{valid_from: 2024-01-01, hours: {}}]}
        """
    )
    assert (e.line, e.path) == (2, "closing_days[0]")
    assert "needs a `name:`" in e.message


@pytest.mark.parametrize(
    ("text", "expected", "line"),
    [
        ("", "the file is empty", None),
        ("lines: {}\n", "no lines", 1),
        ("timezone: Europe/Kobenhavn\nlines: {}\n", "unknown time zone", 1),
        ("lines:\n  x:\n    versions: []\n", "no versions", 3),
        ("lines:\n  x: {versions: [{valid_from: 2024-01-01, hours: {}}]}\n  x: {}\n", "appears twice", 3),
        ("lines:\n  x: {versions: [\n", "not valid YAML", 3),
        ("lines:\n\tx: 1\n", "not valid YAML", 2),
        ("- just\n- a list\n", "expected keys and values", 1),
        ("lines:\n  x:\n    <<: 5\n", "bad merge (<<)", 3),  # found by the fuzz test below
        ("lines:\n  x:\n    versions:\n      - valid_from:\n        hours: {}\n", "a value is missing", 4),
    ],
)
def test_document_level_errors(text: str, expected: str, line: int | None) -> None:
    e = error(text)
    assert expected in e.message
    assert e.line == line


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="no such file"):
        load_schedule(tmp_path / "missing.yaml")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("lines:\n  x: {name: Opkr\xe6vning}\n".encode("latin-1"))
    with pytest.raises(ScheduleError, match="not UTF-8"):
        load_schedule(latin1)


def test_anchors_and_merge_keys_work() -> None:
    s = parse_schedule(
        textwrap.dedent(
            """\
            lines:
              a:
                versions: &v
                  - valid_from: 2024-01-01
                    hours: &h {mon: "10:00-12:00"}
              b:
                versions:
                  - valid_from: 2024-01-01
                    hours:
                      <<: *h
                      tue: "10:00-12:00"
            """
        )
    )
    assert s.lines["b"].versions[0].hours[1] == s.lines["a"].versions[0].hours[0]


def test_times_are_text_not_yaml_sexagesimal_numbers() -> None:
    s = parse_schedule("lines:\n  1818:\n    versions: [{valid_from: 2024-01-01, hours: {mon: 10.00-12.00}}]\n")
    assert str(s.lines["1818"].versions[0].hours[0][0]) == "10:00-12:00"


def test_shipped_schedule_is_valid_and_complete(shipped: Schedule) -> None:
    assert {"1818", "89591001", "89591002", "89591003"} <= set(shipped.lines)
    assert {d.name for d in shipped.closing_days} >= {"Juleaftensdag", "Nytårsaftensdag", "Grundlovsdag", "1. maj"}
    assert shipped.lines["1818"].public_holidays is not None
    assert [v.valid_from.isoformat() for v in shipped.lines["1818"].versions][-1] == "2024-01-01"


# -- fuzzing: any damage to a good file is accepted or rejected with a location --------

SHIPPED_TEXT = (ROOT / "schedule.yaml").read_text(encoding="utf-8")
JUNK = st.sampled_from(
    [":", "-", " ", "\n", "\t", "[", "{", "}", "#", "'", '"', "25:00", "&a", "*a", "<<:", "~", "x", "0"]
)


@settings(max_examples=300, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, len(SHIPPED_TEXT)), st.integers(0, 12), JUNK), min_size=1, max_size=4))
def test_damaged_files_never_crash(edits: list[tuple[int, int, str]]) -> None:
    text = SHIPPED_TEXT
    for at, cut, junk in edits:
        at = min(at, len(text))
        text = text[:at] + junk + text[at + cut :]
    rejected: ScheduleError | None
    try:
        s = parse_schedule(text, "fuzz.yaml")
    except ScheduleError as e:
        rejected = e
    else:
        rejected = None
    if rejected is not None:
        assert str(rejected).startswith("fuzz.yaml")
        assert rejected.message
    else:
        for line_id in s.lines:  # whatever was accepted must also be usable
            assert s.timeline(line_id, s.lines[line_id].versions[0].valid_from)[0].reason in Reason
