"""The router's log as a site's collector reads it: `callrouter run` as its own process on the simulator,
with CALLROUTER_LOG_FORMAT=json one JSON object a line, the call's id and outcome as fields; plain lines
by default; a format it does not know refused before it starts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from router.schedule import Schedule
from tests import real_asterisk
from tests.ari_helpers import until
from tests.conftest import ROOT
from tests.router_process import router_process
from tests.test_router_sim import simulator

CLOSED_UTC = "2024-01-04 11:30:00"  # Thursday 12:30 in Copenhagen: 1818 is closed (phone hours from 15)
PLAIN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) [\w.]+: ")


async def a_call_that_ends(
    shipped: Schedule, tmp_path: Path, caller: str, env: dict[str, str]
) -> tuple[str, list[str]]:
    """A caller reaches the closed line, hears the guidance begin and hangs up; the call's id and the log."""
    async with (
        simulator(shipped, password=real_asterisk.PASSWORD) as sim,
        router_process(sim.url, ROOT / "schedule.yaml", tmp_path, CLOSED_UTC, env) as router,
    ):
        await until(lambda: "router" in sim.world.connected_apps, within=20)
        call = sim.world.place_call(caller, "1818", "router", ["1818"]).id
        await until(lambda: any("media" in h for h in sim.world.channels[call].heard), within=10)
        sim.world.hangup(call)
        await router.wait_for_line(rf"{re.escape(call)}.*ended", within=10)
        lines = list(router.lines)
    return call, lines


async def test_json_lines_carry_the_calls_id_and_outcome(shipped: Schedule, tmp_path: Path) -> None:
    # A number with a line break in it, as a trunk or a Local channel can set: it must not split a line.
    call, lines = await a_call_that_ends(shipped, tmp_path, "1234567\n8", {"CALLROUTER_LOG_FORMAT": "json"})
    entries = [json.loads(line) for line in lines]  # every line is one object
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    ended = [e for e in entries if e.get("outcome")]
    assert len(ended) == 1
    assert ended[0]["call_id"] == call
    assert (ended[0]["line"], ended[0]["outcome"], ended[0]["level"]) == ("1818", "caller_hung_up", "info")
    started = next(e for e in entries if e["message"].startswith(f"call {call} from"))
    assert started["call_id"] == call
    # Masked, and the break shown as its symbol (office/caller_id.py): nothing of it can split a line.
    assert started["message"] == f"call {call} from *******\u240a8 to 1818"
    assert not any("1234567" in line for line in lines)


async def test_plain_lines_stay_the_default(shipped: Schedule, tmp_path: Path) -> None:
    call, lines = await a_call_that_ends(shipped, tmp_path, "12345678", {})
    [ended] = [line for line in lines if f"call {call} to 1818 ended: caller_hung_up" in line]
    assert PLAIN_LINE.match(ended), ended
    assert not any(line.startswith("{") for line in lines)


def test_an_unknown_format_is_refused_before_the_router_starts(tmp_path: Path) -> None:
    env = {**os.environ, "CALLROUTER_LOG_FORMAT": "xml", "ARI_URL": "http://127.0.0.1:9", "ARI_PASSWORD": "x"}
    run = subprocess.run(
        [sys.executable, "-m", "router", "--schedule", str(ROOT / "schedule.yaml"), "run", "--data", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert (run.returncode, run.stderr) == (1, "callrouter: CALLROUTER_LOG_FORMAT is plain or json, not 'xml'\n")
