"""Emergency overrides: always with an expiry, kept across restarts, obeyed by the router for new calls."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete

from asterisk_sim import Simulator
from router.app import RouterConfig, running
from router.ari import AriConfig
from router.calls.prompts import DEFAULT_MANIFEST, load_manifest
from router.office.overrides import OverrideError, OverrideStore
from router.office.store import Store
from router.office.tables import calls
from router.schedule import Override, Reason, Schedule, decide
from tests import real_asterisk
from tests.ari_helpers import outcome_of, until
from tests.conftest import ROUTER_SIM, embedded, local
from tests.test_cli import SHIPPED, run

MONDAY = local("2024-01-08T09:00")
SICK = Override("1818", False, "staff_shortage", MONDAY, local("2024-01-08T12:00"), "Alle er syge")


def test_an_override_survives_a_restart_and_ends_by_itself(store: Store, shipped: Schedule) -> None:
    OverrideStore(store).set(SICK, MONDAY)
    restarted = OverrideStore(store)  # another process, or after a restart
    assert restarted.active("1818", local("2024-01-08T10:30")) == SICK
    during = decide(shipped, "1818", local("2024-01-08T10:30"), restarted.all())
    assert (during.open, during.reason, during.cause) == (False, Reason.OVERRIDE, "staff_shortage")
    after = decide(shipped, "1818", local("2024-01-08T12:00"), restarted.all())
    assert after.reason is Reason.OUTSIDE_HOURS  # expired: the schedule decides again
    assert restarted.active("1818", local("2024-01-08T12:00")) is None


def test_one_override_per_line_and_clearing(store: Store) -> None:
    overrides = OverrideStore(store)
    overrides.set(SICK, MONDAY)
    extra = Override("1818", True, "extra_hours", MONDAY, MONDAY + timedelta(hours=1))
    overrides.set(extra, MONDAY)
    assert overrides.all() == (extra,)
    assert overrides.clear("1818", MONDAY)
    assert overrides.all() == ()
    assert not overrides.clear("1818", MONDAY)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (Override("1818", False, "Sick Leave", MONDAY, MONDAY + timedelta(hours=1)), "short token"),
        (Override("1818", False, "staff_shortage", MONDAY, MONDAY - timedelta(minutes=1)), "has passed"),
        (Override("1818", False, "staff_shortage", MONDAY, MONDAY + timedelta(days=32)), "at most 31 days"),
    ],
)
def test_bad_overrides_are_refused_and_change_nothing(store: Store, override: Override, message: str) -> None:
    overrides = OverrideStore(store)
    overrides.set(SICK, MONDAY)
    with pytest.raises(OverrideError, match=message):
        overrides.set(override, MONDAY)
    assert overrides.all() == (SICK,)


def test_a_copy_for_the_calls_follows_changes_made_elsewhere(store: Store) -> None:
    """The router's copy: its own change at once, another process's at the next refresh."""
    router = OverrideStore(store, cached=True)
    router.refresh()
    assert router.all() == ()
    OverrideStore(store).set(SICK, MONDAY)  # a command, or another node
    assert router.all() == ()  # not read per call
    router.refresh()
    assert router.all() == (SICK,)
    assert not router.clear("1818", MONDAY - timedelta(hours=1))  # not yet in force then, but gone
    assert router.all() == ()


def test_the_router_says_when_an_override_from_elsewhere_comes_into_its_copy(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    router = OverrideStore(store, cached=True)
    router.refresh()
    caplog.set_level("INFO", logger="router.office.overrides")
    OverrideStore(store).set(SICK, MONDAY)
    router.refresh()
    router.refresh()  # nothing new: nothing said
    assert OverrideStore(store).clear("1818", MONDAY)
    router.refresh()
    assert caplog.messages == [
        "overrides: line 1818 closed until 2024-01-08T11:00:00+00:00 (staff_shortage), read from the store",
        "overrides: line 1818 has none any more, read from the store",
    ]


def test_the_copy_is_read_again_only_after_something_was_written(store: Store) -> None:
    """An idle router does not read the same rows twice a second: the embedded store tells whether
    anything was committed since (PostgreSQL has no such thing, and is read each time)."""
    OverrideStore(store).set(SICK, MONDAY)
    router = OverrideStore(store, cached=True)
    router.refresh()
    copy = router.all()
    router.refresh()
    assert (router.all() is copy) == (not store.shared)  # the same copy: not read again
    assert OverrideStore(store).clear("1818", MONDAY)  # another process's write
    router.refresh()
    assert router.all() == ()


def test_a_refresh_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """The event loop reads the overrides: a write transaction held open elsewhere (the call log's, a
    command's) must not hold up the calls. (A read that took the write lock waited for it, and after
    the store's 5 s timeout failed with "database is locked".)"""
    with embedded(tmp_path) as store:
        router = OverrideStore(store, cached=True)
        router.refresh()
        OverrideStore(store).set(SICK, MONDAY)  # committed: the next refresh must read
        holding, release = threading.Event(), threading.Event()

        def writer() -> None:
            with store.begin() as db:
                db.execute(delete(calls))  # the write lock, held until released
                holding.set()
                release.wait(10)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            assert holding.wait(5)
            router.refresh()
            assert router.all() == (SICK,)
            assert thread.is_alive()  # the writer still holds its transaction
        finally:
            release.set()
            thread.join()


async def test_the_running_copy_follows_another_process_within_a_second(store: Store) -> None:
    router = OverrideStore(store, cached=True)
    refreshing = asyncio.create_task(router.keep_refreshing())
    try:
        await asyncio.sleep(0.1)  # the first copy is made
        assert router.all() == ()
        await asyncio.to_thread(OverrideStore(store).set, SICK, MONDAY)  # a command, or another node
        set_at = asyncio.get_running_loop().time()
        await until(lambda: router.all() == (SICK,), within=2)
        assert asyncio.get_running_loop().time() - set_at < 1.0
    finally:
        refreshing.cancel()
        await asyncio.gather(refreshing, return_exceptions=True)


def test_cli_close_until_the_next_change_then_clear(tmp_path: Path) -> None:
    data = ["--schedule", SHIPPED, "--data", str(tmp_path)]
    closed = run(*data, "override", "close", "--reason", "staff_shortage", "--until", "next-change")
    assert closed.returncode == 0, closed.stderr
    assert "line 1818: closed by override (staff_shortage) until" in closed.stdout
    with embedded(tmp_path) as site:
        [stored] = OverrideStore(site).all()
    assert (stored.line, stored.open, stored.reason) == ("1818", False, "staff_shortage")
    shown = run(*data, "at", "now", "--json")
    assert json.loads(shown.stdout)["reason"] == "override"
    assert json.loads(shown.stdout)["override"]["reason"] == "staff_shortage"
    assert "override ended" in run(*data, "override", "clear").stdout
    assert json.loads(run(*data, "at", "now", "--json").stdout)["reason"] != "override"


def test_cli_requires_an_expiry(tmp_path: Path) -> None:
    result = run("--schedule", SHIPPED, "--data", str(tmp_path), "override", "close")
    assert result.returncode == 1
    assert "--until is required" in result.stderr
    with embedded(tmp_path) as data:
        assert OverrideStore(data).all() == ()


async def test_the_router_obeys_an_override_for_new_calls(tmp_path: Path, shipped: Schedule) -> None:
    texts = load_manifest().texts_for(shipped, range(2023, 2026))
    sim = Simulator(
        "router", "secret", sound_seconds=0.01, contexts=real_asterisk.dialplan_contexts(), settings=ROUTER_SIM
    )
    sim.world.sounds.update((f"callrouter/{name}" for name in texts), "da", "slin")
    await sim.start()
    with embedded(tmp_path) as data:
        OverrideStore(data).set(SICK, MONDAY)
    config = RouterConfig(AriConfig(sim.url, "router", "router", "secret"), shipped, tmp_path, DEFAULT_MANIFEST)
    try:
        async with running(config, clock=lambda: local("2024-01-08T10:30")) as router:  # normally open
            await until(lambda: "router" in sim.world.connected_apps)
            call = sim.world.place_call("12345678", "1818", "router", ["1818"]).id
            await asyncio.sleep(0.1)
            sim.world.caller_hangs_up(call)
            assert await outcome_of(router.runtime, call) == "caller_hung_up"
            heard = [h["media"] for h in sim.world.channels[call].heard if "media" in h]
            assert heard[0] == "sound:callrouter/closure-staff_shortage"  # "... lukket ... på grund af sygdom"
    finally:
        await sim.stop()
