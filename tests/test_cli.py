"""The operator CLI, run as a user runs it: a separate process, its output and exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import icalendar
import pytest

from tests.conftest import ROOT, local

SHIPPED = str(ROOT / "schedule.yaml")


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "TZ": "UTC", **(env or {})},  # the machine's zone must not matter
        timeout=60,
    )


def at_json(time: str, *extra: str) -> dict[str, Any]:
    result = run("--schedule", SHIPPED, "at", time, "--json", *extra)
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


@pytest.mark.parametrize(
    ("time", "is_open", "reason"),
    [
        ("2024-01-04T15:30", True, "hours"),
        ("2024-01-04T12:30", False, "outside_hours"),
        ("2023-12-14T16:30", True, "hours"),
        ("2024-01-01T10:30", False, "public_holiday"),
        ("2024-04-26T10:30", True, "hours"),
        ("2024-04-04T15:05", True, "hours"),
        ("2024-01-08T12:00", False, "outside_hours"),
    ],
)
def test_at_json_answers_the_office_cases(time: str, is_open: bool, reason: str) -> None:
    out = at_json(time)
    assert (out["open"], out["reason"], out["line"]) == (is_open, reason, "1818")
    for key in ("next_open", "next_change"):
        assert out[key] is not None
        assert out[key][-6] in "+-"


def test_at_json_times_are_local_with_offset() -> None:
    out = at_json("2024-01-04T15:30")
    assert out["instant"] == "2024-01-04T15:30:00+01:00"
    assert out["next_change"] == "2024-01-04T17:00:00+01:00"
    assert out["next_open"] == "2024-01-05T10:00:00+01:00"
    assert out["window"] == {"start": "2024-01-04T15:00:00+01:00", "end": "2024-01-04T17:00:00+01:00"}
    assert at_json("2024-01-01T10:30")["label"] == "Nytårsdag"


def test_at_accepts_an_offset_and_other_lines() -> None:
    assert at_json("2024-01-04T14:30Z")["open"]  # 15:30 in Copenhagen
    assert at_json("2024-01-08T14:00", "--line", "89591001")["open"]


def test_at_text_output() -> None:
    result = run("--schedule", SHIPPED, "at", "2024-12-24T10:30")
    assert result.returncode == 0
    assert "CLOSED (municipal closing day: Juleaftensdag)" in result.stdout
    assert "next opening: Thu 2025-01-02 15:00 (+0100)" in result.stdout


def test_schedule_from_environment_and_working_directory(tmp_path: Path) -> None:
    assert run("at", "2024-01-04T15:30", "--json", env={"CALLROUTER_SCHEDULE": SHIPPED}, cwd=tmp_path).returncode == 0
    (tmp_path / "schedule.yaml").write_text((ROOT / "schedule.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert run("at", "2024-01-04T15:30", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("at", "next tuesday"), "cannot read time 'next tuesday'"),
        (("at", "2024-03-31T02:30"), "does not exist in Europe/Copenhagen"),
        (("at", "2024-01-04T15:30", "--line", "1919"), "no line '1919'"),
        (("calendar", "--from", "2024-13-01"), "cannot read date"),
        (("calendar", "--days", "0"), "--days must be from 1"),
        (("at", "9999-12-31T10:00"), "outside the years 1900 to 2999"),
        (("calendar", "--from", "9999-12-01"), "outside the years"),
    ],
)
def test_bad_arguments_are_clear_errors(args: tuple[str, ...], message: str) -> None:
    result = run("--schedule", SHIPPED, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_check_accepts_the_shipped_file() -> None:
    result = run("check", SHIPPED)
    assert result.returncode == 0
    assert "OK, 4 line(s)" in result.stdout


def test_check_rejects_a_broken_file_with_one_located_error(tmp_path: Path) -> None:
    broken = tmp_path / "schedule.yaml"
    text = (ROOT / "schedule.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace("thu: 15:00-17:00", "thu: 15:00-1700"), encoding="utf-8")
    result = run("check", str(broken))
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    [message] = result.stderr.strip().splitlines()
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "thu: 15:00-17:00" in row)
    assert message.startswith(f"callrouter: {broken}:{line}:16: lines.1818.versions[1].hours.thu[0]: bad time '1700'")


def test_every_command_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "s.yaml"
    broken.write_text("lines:\n  x: [\n", encoding="utf-8")
    for args in (["at", "now"], ["calendar"], ["ics"]):
        result = run("--schedule", str(broken), *args)
        assert result.returncode == 1
        assert f"{broken}:" in result.stderr
        assert "Traceback" not in result.stderr


def test_calendar_names_holidays_and_closures() -> None:
    result = run("--schedule", SHIPPED, "calendar", "--from", "2024-12-23", "--days", "11")
    assert result.returncode == 0
    rows = result.stdout.splitlines()
    assert rows[0].startswith("1818: Opkrævningskontoret")
    assert rows[1].startswith("Mon 2024-12-23  10:00-12:00")
    assert "municipal closing day: Juleaftensdag" in rows[2]
    assert "public holiday: Juledag" in rows[3]
    assert rows[11].startswith("Thu 2025-01-02  15:00-17:00")


def test_calendar_json() -> None:
    result = run("--schedule", SHIPPED, "calendar", "--from", "2025-05-01", "--days", "2", "--json")
    days = json.loads(result.stdout)["days"]
    assert days[0]["date"] == "2025-05-01"
    assert days[0]["windows"] == []
    assert days[0]["notes"][0]["label"] == "1. maj"
    assert days[1]["windows"] == [{"start": "2025-05-02T11:00:00+02:00", "end": "2025-05-02T12:00:00+02:00"}]
    assert days[1]["notes"][0]["cause"] == "staff_meeting"


def test_ics_is_a_valid_calendar_of_the_phone_hours(tmp_path: Path) -> None:
    out = tmp_path / "1818.ics"
    result = run("--schedule", SHIPPED, "ics", "--from", "2024-01-01", "--days", "14", "-o", str(out))
    assert result.returncode == 0, result.stderr
    calendar = icalendar.Calendar.from_ical(out.read_bytes())
    events = [(e.decoded("dtstart"), e.decoded("dtend")) for e in calendar.walk("VEVENT")]
    # 1 Jan is Nytårsdag; then Tue-Wed 10-12, Thu 15-17, Fri 10-12; and the same next week.
    assert events[0] == (local("2024-01-02T10:00"), local("2024-01-02T12:00"))
    assert events[2] == (local("2024-01-04T15:00"), local("2024-01-04T17:00"))
    assert len(events) == 9
    assert len(calendar.walk("VTIMEZONE")) == 1
    assert all(len(line) <= 75 for line in out.read_bytes().split(b"\r\n"))


def test_ics_json_lists_the_same_windows() -> None:
    result = run("--schedule", SHIPPED, "ics", "--from", "2024-01-01", "--days", "14", "--json")
    assert result.returncode == 0, result.stderr
    events = json.loads(result.stdout)["events"]
    assert len(events) == 9
    assert events[0] == {"start": "2024-01-02T10:00:00+01:00", "end": "2024-01-02T12:00:00+01:00"}


def test_dialplan_is_written_for_a_period(tmp_path: Path) -> None:
    out = tmp_path / "callrouter_fallback_1818.conf"
    result = run("--schedule", SHIPPED, "dialplan", "--from", "2024-01-01", "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert "[callrouter-fallback-1818]" in text
    assert "; Valid from 2024-01-01 to 2024-12-30" in text
    assert " same => n,GotoIfTime(*,*,24,dec,Europe/Copenhagen?day8)  ; 2024-12-24 Juleaftensdag" in text
    exceptions = json.loads(run("--schedule", SHIPPED, "dialplan", "--from", "2024-01-01", "--json").stdout)
    assert exceptions["usual"]["thu"] == [[900, 1020]]
    assert exceptions["exceptions"][0] == {"date": "2024-01-01", "windows": [], "why": "Nytårsdag"}


def test_dialplan_refuses_more_than_a_year() -> None:
    result = run("--schedule", SHIPPED, "dialplan", "--days", "400")
    assert result.returncode == 1
    assert "GotoIfTime has no year" in result.stderr


def test_at_says_what_a_closed_caller_hears() -> None:
    out = at_json("2024-12-24T10:30")
    assert out["guidance"]["text"].startswith("Vi har lukket i dag på grund af Juleaftensdag. Vi har telefontid")
    assert out["guidance"]["prompts"][:2] == ["closed-today-because", "name-juleaftensdag"]
    assert "guidance" not in at_json("2024-01-04T15:30")  # open: no guidance
    text = run("--schedule", SHIPPED, "at", "2024-01-04T12:30").stdout
    assert "  caller hears: Vi har lukket for telefonen lige nu." in text


def test_check_reports_missing_prompts(tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.yaml"
    text = (ROOT / "schedule.yaml").read_text(encoding="utf-8")
    schedule.write_text(text.replace("reason: staff_meeting", "reason: fire_drill"), encoding="utf-8")
    result = run("check", str(schedule))
    assert result.returncode == 0
    assert "note: no closure-fire_drill in manifest.yaml; callers hear the general closed-now" in result.stdout


def test_prompts_build(tmp_path: Path) -> None:
    result = run("--schedule", SHIPPED, "prompts", "build", "--out", str(tmp_path), "--years", "1")
    assert result.returncode == 0, result.stderr
    made = sorted(p.name for p in (tmp_path / "da" / "callrouter").glob("*.wav"))
    assert {"closed-now.wav", "name-juleaftensdag.wav", "email-1818.wav", "num-23.wav"} <= set(made)
    assert "made, 0 up to date" in result.stdout


def test_at_still_answers_when_the_prompts_cannot_be_read(tmp_path: Path) -> None:
    result = run(
        "--schedule", SHIPPED, "at", "2024-12-24T10:30", env={"CALLROUTER_PROMPTS": str(tmp_path / "gone.yaml")}
    )
    assert result.returncode == 0
    assert "CLOSED (municipal closing day: Juleaftensdag)" in result.stdout
    assert "caller hears" not in result.stdout
    assert "cannot show what the caller hears" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CALLROUTER_MAX_CALLS_IN_SETUP", "lots", "CALLROUTER_MAX_CALLS_IN_SETUP is a number of calls from 1 to 1000"),
        ("CALLROUTER_MAX_CALLS_IN_SETUP", "0", "CALLROUTER_MAX_CALLS_IN_SETUP is a number of calls from 1 to 1000"),
        ("CALLROUTER_RETENTION_DAYS", "-1", "CALLROUTER_RETENTION_DAYS is a number of days from 1 to 3650"),
        ("CALLROUTER_MAX_SETUP_SECONDS", "soon", "CALLROUTER_MAX_SETUP_SECONDS is a number of seconds from 0.1 to 30"),
        ("CALLROUTER_MAX_SETUP_SECONDS", "0", "CALLROUTER_MAX_SETUP_SECONDS is a number of seconds from 0.1 to 30"),
    ],
)
def test_run_refuses_bad_settings_before_connecting(variable: str, value: str, message: str, tmp_path: Path) -> None:
    env = {"ARI_URL": "http://127.0.0.1:9", "ARI_USER": "router", "ARI_PASSWORD": "x", variable: value}
    result = run("--schedule", SHIPPED, "run", "--data", str(tmp_path), env=env)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
