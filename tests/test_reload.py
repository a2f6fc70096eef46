"""Live reload of the schedule: valid changes go into service, broken or half-written files never do."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from asterisk_sim import Simulator
from router.app import RouterConfig, running
from router.ari import AriConfig
from router.calls.prompts import DEFAULT_MANIFEST, load_manifest
from router.schedule import ScheduleError, decide, load_schedule
from router.schedule.reload import ScheduleSource
from tests import real_asterisk
from tests.ari_helpers import outcome_of, until
from tests.conftest import ROOT, ROUTER_SIM, local

SHIPPED = (ROOT / "schedule.yaml").read_text(encoding="utf-8")
THURSDAY_NOON = local("2024-01-04T12:30")  # closed under the shipped hours
OPEN_AT_NOON = SHIPPED.replace("thu: 15:00-17:00", "thu: 12:00-17:00")
BROKEN = SHIPPED.replace("thu: 15:00-17:00", "thu: 15:00-1700")


def save(path: Path, text: str) -> None:
    """An operator saves the file."""
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def schedule_file(tmp_path: Path) -> Path:
    path = tmp_path / "schedule.yaml"
    path.write_text(SHIPPED, encoding="utf-8")
    return path


async def test_a_valid_change_goes_into_service(schedule_file: Path) -> None:
    source = ScheduleSource(schedule_file, settle_seconds=0.01)
    assert not decide(source(), "1818", THURSDAY_NOON).open
    assert not await source.check()  # nothing changed
    save(schedule_file, OPEN_AT_NOON)
    assert await source.check()
    assert decide(source(), "1818", THURSDAY_NOON).open
    assert (source.reloads, source.rejections, source.rejected) == (1, 0, None)


async def test_a_broken_file_never_replaces_the_good_one(schedule_file: Path) -> None:
    source = ScheduleSource(schedule_file, settle_seconds=0.01)
    good = source()
    save(schedule_file, BROKEN)
    assert not await source.check()
    assert source() is good
    assert source.rejected is not None
    line = next(i for i, row in enumerate(BROKEN.splitlines(), 1) if "15:00-1700" in row)
    assert f"{schedule_file}:{line}:16: lines.1818.versions[1].hours.thu[0]: bad time '1700'" in source.rejected.error
    assert not await source.check()  # the same broken file is not reported again
    assert source.rejections == 1
    save(schedule_file, OPEN_AT_NOON)  # fixed
    assert await source.check()
    assert source.rejected is None
    assert decide(source(), "1818", THURSDAY_NOON).open


async def test_a_half_written_file_does_not_flap(schedule_file: Path) -> None:
    source = ScheduleSource(schedule_file, settle_seconds=0.2)
    good = source()
    half = OPEN_AT_NOON[: len(OPEN_AT_NOON) // 2]  # an editor part-way through saving
    save(schedule_file, half)
    looking = asyncio.create_task(source.check())
    await asyncio.sleep(0.05)
    save(schedule_file, OPEN_AT_NOON)  # the save completes while we wait
    assert not await looking  # the content moved under us: nothing taken, nothing rejected
    assert source() is good
    assert source.rejections == 0
    assert await source.check()  # the settled file goes into service
    assert decide(source(), "1818", THURSDAY_NOON).open


def test_the_first_schedule_must_be_valid(tmp_path: Path) -> None:
    broken = tmp_path / "schedule.yaml"
    broken.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(ScheduleError, match="bad time '1700'"):
        ScheduleSource(broken)
    with pytest.raises(ScheduleError, match="no such file"):
        ScheduleSource(tmp_path / "missing.yaml")


async def test_the_running_router_uses_the_new_schedule_for_the_next_call(schedule_file: Path) -> None:
    shipped = load_schedule(schedule_file)
    texts = load_manifest().texts_for(shipped, range(2023, 2026))
    sim = Simulator(
        "router", "secret", sound_seconds=0.01, contexts=real_asterisk.dialplan_contexts(), settings=ROUTER_SIM
    )
    sim.world.sounds.update((f"callrouter/{name}" for name in texts), "da", "slin")
    await sim.start()
    source = ScheduleSource(schedule_file, settle_seconds=0.01)
    config = RouterConfig(
        AriConfig(sim.url, "router", "router", "secret"), source, schedule_file.parent, DEFAULT_MANIFEST
    )
    try:
        async with running(config, clock=lambda: THURSDAY_NOON) as router:
            await until(lambda: "router" in sim.world.connected_apps)
            before = sim.world.place_call("12345678", "1818", "router", ["1818"]).id
            await asyncio.sleep(0.2)  # the caller is hearing the guidance
            save(schedule_file, OPEN_AT_NOON)
            assert await source.check()
            after = sim.world.place_call("87654321", "1818", "router", ["1818"]).id
            welcome = {"media": "sound:callrouter/welcome"}.items()
            await until(lambda: any(welcome <= h.items() for h in sim.world.channels[after].heard))  # queue: open
            sim.world.caller_hangs_up(after)
            assert await outcome_of(router.runtime, after) == "caller_gave_up"
            sim.world.caller_hangs_up(before)
            assert await outcome_of(router.runtime, before) == "caller_hung_up"  # kept its closed decision
    finally:
        await sim.stop()


async def test_callrouter_run_reloads_on_sighup(schedule_file: Path, tmp_path: Path) -> None:
    sim = Simulator("router", "secret", contexts=real_asterisk.dialplan_contexts(), settings=ROUTER_SIM)
    await sim.start()
    env = {**os.environ, "ARI_URL": sim.url, "ARI_USER": "router", "ARI_PASSWORD": "secret", "CALLROUTER_API": "off"}
    router = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "router", "--schedule", str(schedule_file), "run", "--data", str(tmp_path / "data"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        await until(lambda: "router" in sim.world.connected_apps, within=20)
        save(schedule_file, BROKEN)
        router.send_signal(signal.SIGHUP)
        await asyncio.sleep(1.5)
        router.terminate()
        assert await asyncio.wait_for(router.wait(), 10) == 0
        assert router.stderr is not None
        log = (await router.stderr.read()).decode()
        assert "the changed file is rejected" in log
        assert "bad time '1700'" in log
    finally:
        if router.returncode is None:
            router.kill()
            await router.wait()
        await sim.stop()
