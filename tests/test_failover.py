"""Failover without loss: two router processes on one simulated Asterisk with a real PostgreSQL,
the active one killed (SIGKILL) or frozen (SIGSTOP), the database stopped and started.

Each test asks what a caller meets: what they heard, and what the store holds afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from asterisk_sim import Fault, Simulator
from router.office.accounts import AccountStore
from router.office.messages import MessageStore
from router.office.store import Store, StoreConfig
from router.office.tables import recording_messages
from router.schedule import Schedule
from router.web.http_api import ApiConfig
from tests import real_asterisk
from tests.ari_helpers import outcome_of, until
from tests.conftest import ROOT
from tests.console_client import PASSWORDS, Visitor
from tests.postgres import PostgresServer
from tests.router_process import RouterProcess, router_process
from tests.test_cli import SHIPPED, run
from tests.test_router_sim import CLOSED, simulator, start
from tests.test_two_nodes import api_of, heard, readiness

CLOSED_AT = "2024-01-04 11:30:00"  # 12:30 in Copenhagen on a Thursday: 1818 is closed and takes messages
SAVED = "sound:callrouter/message-saved"
PROMPT_SECONDS = 0.5  # each prompt: "Indtal din besked efter tonen" takes about 3 s on a phone


@dataclass
class Pair:
    """An active router and its standby, as processes, on one Asterisk."""

    routers: list[RouterProcess]
    apis: list[str]
    active: int

    @property
    def standby(self) -> int:
        return 1 - self.active


@contextlib.asynccontextmanager
async def two_routers(
    sim: Simulator, tmp_path: Path, at: str, database: dict[str, str], env: dict[str, str] | None = None
) -> AsyncIterator[Pair]:
    environment = {**database, **(env or {})}
    schedule = ROOT / "schedule.yaml"
    async with (
        router_process(sim.url, schedule, tmp_path / "one", at, environment) as one,
        router_process(sim.url, schedule, tmp_path / "two", at, environment) as two,
    ):
        apis = [await api_of(one), await api_of(two)]
        await until(
            lambda: sorted((s, b["role"]) for s, b in map(readiness, apis)) == [(200, "active"), (503, "standby")], 20
        )
        active = next(n for n, api in enumerate(apis) if readiness(api)[1]["role"] == "active")
        await until(lambda: "router" in sim.world.connected_apps, within=10)
        yield Pair([one, two], apis, active)


async def recording_callers(sim: Simulator, callers: list[str]) -> list[str]:
    """Callers of the closed line who pressed 1 (during the guidance) and are speaking their message now."""
    calls = [sim.world.place_call(number, "1818", "router", ["1818"]).id for number in callers]
    await until(lambda: all(heard(sim, c) for c in calls), within=20)
    for call in calls:
        sim.world.send_dtmf(call, "1")
    await until(lambda: {r.channel_id for r in sim.world.live_recordings.values()} >= set(calls), 10)
    return calls


def noted(shared: Store) -> int:
    """Messages being recorded, as the store knows them (office/recording_notes.py)."""
    with shared.read() as db:
        return len(db.execute(select(recording_messages)).all())


def stored(shared: Store) -> dict[str, tuple[str, bool]]:
    """Message id -> (caller, has audio)."""
    messages = MessageStore(shared)
    return {m.id: (m.caller, messages.audio(m.id) is not None) for m in messages.all()}


async def test_messages_finished_in_the_takeover_gap_are_stored_once_and_the_caller_is_told(
    shipped: Schedule, tmp_path: Path, database: dict[str, str], shared: Store
) -> None:
    """Three callers speak when the active router is killed: one presses # and stays on the line, one
    presses # and hangs up, one hangs up. All three finish before the standby has taken over."""
    async with (
        simulator(shipped, PROMPT_SECONDS, user=real_asterisk.USER, password=real_asterisk.PASSWORD) as sim,
        two_routers(sim, tmp_path, CLOSED_AT, database) as pair,
    ):
        stays, presses_and_goes, hangs_up = await recording_callers(sim, ["11111111", "22222222", "33333333"])
        await until(lambda: noted(shared) == 3, within=10)  # during the intro (~3 s on a phone; slower here)
        pair.routers[pair.active].kill()
        sim.world.send_dtmf(stays, "#")
        sim.world.send_dtmf(presses_and_goes, "#")
        sim.world.caller_hangs_up(presses_and_goes)
        sim.world.caller_hangs_up(hangs_up)
        assert not any(n.startswith("msg-") for n in sim.world.live_recordings)  # all three are finished
        await until(lambda: "router" not in sim.world.connected_apps, within=5)
        await until(lambda: "router" in sim.world.connected_apps, within=5)  # the standby took over
        await until(lambda: len(stored(shared)) == 3, within=15)
        await until(lambda: SAVED in heard(sim, stays), within=10)
        await asyncio.sleep(2.0)  # nothing comes twice
        messages = stored(shared)
        left = sorted(n for n in sim.world.stored_recordings if n.startswith("msg-"))
    asterisk = sim.world.asterisk_id
    assert messages == {
        f"{stays}@{asterisk}": ("11111111", True),
        f"{presses_and_goes}@{asterisk}": ("22222222", True),
        f"{hangs_up}@{asterisk}": ("33333333", True),
    }
    assert left == []  # taken out of Asterisk once stored


async def test_a_message_between_recording_finished_and_the_commit_is_stored_when_the_router_dies(
    shipped: Schedule, tmp_path: Path, database: dict[str, str], shared: Store
) -> None:
    """The active router has the RecordingFinished and is fetching the audio when it is killed."""
    async with (
        simulator(shipped, PROMPT_SECONDS, user=real_asterisk.USER, password=real_asterisk.PASSWORD) as sim,
        two_routers(sim, tmp_path, CLOSED_AT, database) as pair,
    ):
        stays, goes, _ = await recording_callers(sim, ["11111111", "22222222", "33333333"])
        slow = Fault("GET /recordings/stored/*/file", status=0, delay=30)
        sim.faults.append(slow)
        sim.world.send_dtmf(stays, "#")
        sim.world.send_dtmf(goes, "#")
        await until(lambda: sum("/recordings/stored/" in r["path"] for r in sim.requests) >= 2, within=10)
        sim.world.caller_hangs_up(goes)
        pair.routers[pair.active].kill()
        killed = time.monotonic()
        sim.faults.remove(slow)
        await until(lambda: f"{stays}@{sim.world.asterisk_id}" in stored(shared), within=15)
        await until(lambda: f"{goes}@{sim.world.asterisk_id}" in stored(shared), within=15)
        await until(lambda: SAVED in heard(sim, stays), within=10)
        print(f"\nstored {time.monotonic() - killed:.2f} s after the kill")
        assert stored(shared)[f"{goes}@{sim.world.asterisk_id}"] == ("22222222", True)


async def test_report_counts_every_call_of_two_asterisks_that_number_their_channels_alike(
    shipped: Schedule, tmp_path: Path, database: dict[str, str]
) -> None:
    """Two Asterisks started in the same second give their calls the same channel ids."""
    config = dict(store=StoreConfig.from_env(database))
    async with simulator(shipped) as sim_a, simulator(shipped) as sim_b:
        sim_b.world._epoch = sim_a.world._epoch  # started in the same second (made sure of here)
        async with (
            start(sim_a, shipped, tmp_path / "a", CLOSED, node="a", **config) as node_a,
            start(sim_b, shipped, tmp_path / "b", CLOSED, node="b", **config) as node_b,
        ):
            placed = {
                (sim, router): [sim.world.place_call(f"1000000{n}", "1818", "router", ["1818"]).id for n in range(3)]
                for sim, router in ((sim_a, node_a), (sim_b, node_b))
            }
            assert placed[sim_a, node_a] == placed[sim_b, node_b]  # the same ids on both
            await until(lambda: all(heard(s, c) for (s, _), calls in placed.items() for c in calls), within=10)
            for (sim, router), calls in placed.items():
                for call in calls:
                    sim.world.caller_hangs_up(call)
                    await outcome_of(router.runtime, call)
    # Both routers have stopped: their call logs are written.
    printed = run("--schedule", SHIPPED, "report", "--from", "2024-01-04", "--days", "1", "--json", env=database)
    assert printed.returncode == 0, printed.stderr
    [day] = json.loads(printed.stdout)
    assert (day["line"], day["calls"]) == ("1818", 6)


async def test_a_database_restart_leaves_the_roles_and_the_callers_where_they_are(
    shipped: Schedule, tmp_path: Path, postgres: PostgresServer, database: dict[str, str]
) -> None:
    """`pg_ctl stop -m fast`, two seconds, start, while callers hear the guidance."""
    async with (
        simulator(shipped, PROMPT_SECONDS, user=real_asterisk.USER, password=real_asterisk.PASSWORD) as sim,
        two_routers(sim, tmp_path, CLOSED_AT, database) as pair,
    ):
        listening = [sim.world.place_call(f"4000000{n}", "1818", "router", ["1818"]).id for n in range(2)]
        await until(lambda: all(heard(sim, c) for c in listening), within=10)
        for _ in range(2):
            await asyncio.to_thread(postgres.restart, 2.0)
            await asyncio.sleep(5.0)  # long enough for a standby to have taken over (it may after 3 s)
            roles = [(await asyncio.to_thread(readiness, api))[1]["role"] for api in pair.apis]
            assert (roles[pair.active], roles[pair.standby]) == ("active", "standby")
        assert all(r.process.returncode is None for r in pair.routers)
        for call in listening:  # still hearing the guidance from the router, not handed to the fallback
            channel = sim.world.channels[call]
            assert (channel.gone, channel.dialplan_after, channel.app) == (False, None, "router")


async def test_a_frozen_active_router_is_replaced_within_five_seconds_and_never_acts_again(
    shipped: Schedule, tmp_path: Path, database: dict[str, str]
) -> None:
    """SIGSTOP the active router while a caller waits for their choice (the offer's 8 s timer runs in
    it), SIGCONT it after the standby took over: it sends nothing more, and stops."""
    async with (
        simulator(shipped, user=real_asterisk.USER, password=real_asterisk.PASSWORD) as sim,
        two_routers(sim, tmp_path, CLOSED_AT, database) as pair,
    ):
        offered = sim.world.place_call("50000000", "1818", "router", ["1818"]).id
        await until(lambda: "sound:callrouter/offer-message" in heard(sim, offered), within=10)
        await asyncio.sleep(0.5)  # the guidance has ended: the offer's timer runs
        frozen, standby = pair.routers[pair.active], pair.routers[pair.standby]
        os.killpg(frozen.process.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            await standby.wait_for_line(r"active for Asterisk", within=10)
            took_over = time.monotonic() - stopped
            # The new active router serves: the caller it found is handed to the fallback, a new one is routed.
            await until(lambda: sim.world.channels[offered].dialplan_after is not None, within=10)
            fresh = sim.world.place_call("50000001", "1818", "router", ["1818"]).id
            await until(lambda: "sound:callrouter/offer-message" in heard(sim, fresh), within=10)
            handed_on = len(sim.requests)
        finally:
            os.killpg(frozen.process.pid, signal.SIGCONT)
        try:
            await asyncio.wait_for(frozen.process.wait(), 15)  # it found the lease another's, and stopped
        except TimeoutError:  # seen once in a whole run, never alone: what the router did is the clue
            pytest.fail("the thawed router did not stop within 15 s; its last lines:\n" + "\n".join(frozen.lines[-80:]))
        await asyncio.sleep(1.0)
        # Its offer timer fired when it woke: had it acted, it would have played the goodbye to the caller.
        late = [r for r in sim.requests[handed_on:] if offered in r["path"]]
    print(f"\nthe standby took over {took_over:.2f} s after the active router froze")
    assert late == []
    assert took_over <= 5.0
    said = "\n".join(frozen.lines)
    assert "another router holds" in said or "another connection took over" in said, said[-3000:]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def test_health_shows_a_database_outage_and_the_messages_waiting_on_disk(
    shipped: Schedule, tmp_path: Path, postgres: PostgresServer, database: dict[str, str]
) -> None:
    async with (
        simulator(shipped, user=real_asterisk.USER, password=real_asterisk.PASSWORD) as sim,
        two_routers(sim, tmp_path, CLOSED_AT, database) as pair,
    ):
        active, standby = pair.apis[pair.active], pair.apis[pair.standby]
        await asyncio.to_thread(postgres.stop)
        try:
            [call] = await recording_callers(sim, ["60000000"])
            sim.world.send_dtmf(call, "#")
            await until(lambda: SAVED in heard(sim, call), within=15)  # kept on the router's disk
            await asyncio.sleep(1.0)
            ready, ready_body = await asyncio.to_thread(get, active + "/readyz")
            status = json.loads((await asyncio.to_thread(get, active + "/status"))[1])
            metrics = (await asyncio.to_thread(get, active + "/metrics"))[1]
            other = json.loads((await asyncio.to_thread(get, standby + "/readyz"))[1])
        finally:
            await asyncio.to_thread(postgres.start_again)
        await until(lambda: readiness(active)[0] == 200, within=15)  # moved in, healthy again
        after = (await asyncio.to_thread(get, active + "/metrics"))[1]
    problems = json.loads(ready_body)["problems"]
    assert ready == 503
    assert json.loads(ready_body)["role"] == "active"  # it still takes the calls
    assert any("database" in p for p in problems), problems
    assert any("1 message(s) wait" in p for p in problems), problems
    assert (status["messages_spooled"], status["role"]) == (1, "active")
    assert status["store_problem"]
    assert "callrouter_messages_spooled 1.0" in metrics
    assert "callrouter_store_up 0.0" in metrics
    assert other["role"] != "standby"
    assert any("database" in p or "take over" in p for p in other["problems"])
    assert "callrouter_messages_spooled 0.0" in after
    assert "callrouter_store_up 1.0" in after


async def test_the_sign_in_limit_holds_across_nodes_and_a_restart(
    shipped: Schedule, tmp_path: Path, database: dict[str, str], shared: Store
) -> None:
    """Five wrong passwords for one name, spread over two nodes: the name is locked on both, and
    stays locked when a node restarts."""
    AccountStore(shared).add_user("ole", "operator", PASSWORDS["ole"])
    config = dict(store=StoreConfig.from_env(database), api=ApiConfig("127.0.0.1", 0, "t" * 32))
    async with (
        simulator(shipped) as sim_a,
        simulator(shipped) as sim_b,
        aiohttp.ClientSession() as http,
        start(sim_a, shipped, tmp_path / "a", CLOSED, node="a", **config) as node_a,  # throughout
    ):
        assert node_a.api_url is not None
        async with start(sim_b, shipped, tmp_path / "b", CLOSED, node="b", **config) as node_b:
            assert node_b.api_url is not None
            on_a, on_b = Visitor(node_a.api_url, http), Visitor(node_b.api_url, http)
            for visitor in (on_a, on_b, on_a, on_b, on_a):
                assert await visitor.sign_in("ole", "wrong-password-here") == 401
            assert await on_b.sign_in("ole") == 429  # even the right password, for now
            assert await on_a.sign_in("ole") == 429
        async with start(sim_b, shipped, tmp_path / "b", CLOSED, node="b", **config) as restarted:
            assert restarted.api_url is not None
            assert await Visitor(restarted.api_url, http).sign_in("ole") == 429
