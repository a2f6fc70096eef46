"""Past one machine: routers that share one real PostgreSQL, a standby that takes over, and the
database's faults (restarted during a recording, down when a call arrives).

Two simulated Asterisks (each with its own entity id, as two servers have), a router on each, a
second router on the first as its standby, one PostgreSQL (tests/postgres.py), a real SMTP server.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from asterisk_sim import AgentScript, Simulator
from router.office.messages import Delivery, Message, MessageStore, PendingMail
from router.office.overrides import OverrideStore
from router.office.store import Store, StoreConfig
from router.schedule import Override, Schedule
from tests import real_asterisk
from tests.ari_helpers import until
from tests.conftest import ROOT, local
from tests.mail_server import MailServer
from tests.postgres import PostgresServer
from tests.router_process import RouterProcess, router_process
from tests.test_cli import SHIPPED, run
from tests.test_mail import FAST_RETRY, STAFF, smtp
from tests.test_router_sim import CLOSED, OPEN, Harness, simulator, start

SICK = "sound:callrouter/closure-staff_shortage"  # "... lukket ... på grund af sygdom"


def heard(sim: Simulator, call: str) -> list[str]:
    return [h["media"] for h in sim.world.channels[call].heard if "media" in h]


async def test_two_nodes_share_overrides_and_messages_and_each_email_goes_once(
    shipped: Schedule, tmp_path: Path, database: dict[str, str], shared: Store, mail_server: MailServer
) -> None:
    config = dict(store=StoreConfig.from_env(database), smtp=smtp(mail_server), mail_backoff=FAST_RETRY)
    async with (
        simulator(shipped) as sim_a,
        simulator(shipped) as sim_b,
        start(sim_a, shipped, tmp_path / "a", OPEN, node="a", **config) as node_a,
        start(sim_b, shipped, tmp_path / "b", OPEN, node="b", **config) as node_b,
    ):
        assert sim_a.world.asterisk_id != sim_b.world.asterisk_id
        # The line is closed in phone hours (staff are ill), from a third process of the site (the
        # routers' clocks are in 2024, so not by `callrouter override`, whose clock is today's).
        sick = Override("1818", False, "staff_shortage", OPEN, local("2024-01-04T17:00"))
        await asyncio.to_thread(OverrideStore(shared).set, sick, OPEN)
        set_at = time.monotonic()
        await asyncio.sleep(1.0)  # "applies to the next call on both within a second"
        harness_a, harness_b = Harness(sim_a, node_a, tmp_path / "a"), Harness(sim_b, node_b, tmp_path / "b")
        on_a, on_b = await harness_a.call(), await harness_b.call("87654321")
        await until(lambda: bool(heard(sim_a, on_a)) and bool(heard(sim_b, on_b)))
        assert time.monotonic() - set_at < 1.5
        assert (heard(sim_a, on_a)[0], heard(sim_b, on_b)[0]) == (SICK, SICK)
        sim_a.world.caller_hangs_up(on_a)
        sim_b.world.caller_hangs_up(on_b)
        # A message on each node: both are in the one store, each e-mailed once.
        left_a, left_b = await harness_a.leave_message("11112222"), await harness_b.leave_message("33334444")
        await until(lambda: len(mail_server.received) >= 2, within=10)
        await asyncio.sleep(1.0)  # no second e-mail of either comes after them
        listed_a = await asyncio.to_thread(MessageStore(shared).all)
    # The two Asterisks may number their channels alike: a shared store's message ids name the Asterisk.
    assert sorted(m.id for m in listed_a) == sorted(
        [f"{left_a}@{sim_a.world.asterisk_id}", f"{left_b}@{sim_b.world.asterisk_id}"]
    )
    assert sorted(m["Subject"] for m in mail_server.received) == [
        "Ny besked på 1818 fra 11112222",
        "Ny besked på 1818 fra 33334444",
    ]
    assert all(MessageStore(shared).audio(m.id) for m in listed_a)  # the audio left both Asterisks
    assert not any(n.startswith("msg-") for n in [*sim_a.world.stored_recordings, *sim_b.world.stored_recordings])


def test_of_two_senders_each_due_email_is_sent_by_one_and_a_dead_senders_at_once_by_the_other(store: Store) -> None:
    """Two nodes' senders going through the same due e-mails at the same moment: each e-mail is sent
    once. A sender that dies while it holds one (here: its transaction fails) leaves it to the next."""
    messages = MessageStore(store)
    at = local("2024-01-04T12:00")
    for n in range(12):
        messages.save(Message(f"m{n}", "1818", "12345678", at + timedelta(seconds=n), "r", 1), (STAFF,))
    now = local("2024-01-04T13:00")
    sent: list[tuple[str, str]] = []

    def sender(node: str) -> None:
        def attempt(held: PendingMail) -> Delivery:
            time.sleep(0.05)  # the SMTP exchange
            sent.append((node, held.message.id))
            return Delivery("sent", now)

        for pending in messages.due_mail(now):
            messages.deliver(pending.message.id, attempt)

    if store.shared:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(sender, "ab"))
        assert {node for node, _ in sent} == {"a", "b"}  # both took part
    else:  # one router per embedded store (the standby's file lock): one sender, and no row locks
        sender("a")
        sender("a")
    assert sorted(m for _, m in sent) == sorted(f"m{n}" for n in range(12))  # every one, each once

    messages.save(Message("late", "1818", "12345678", at, "r", 1), (STAFF,))

    def dies(_: PendingMail) -> Delivery:
        raise SystemExit  # the process ends in the middle of the exchange

    with pytest.raises(SystemExit):
        messages.deliver("late", dies)
    assert messages.mail_state("late") == ("pending", 0, None)
    assert messages.deliver("late", lambda _: Delivery("sent", now)) == Delivery("sent", now)
    assert messages.mail_state("late") == ("sent", 1, None)
    assert messages.deliver("late", lambda _: Delivery("sent", now)) is None  # sent: nothing to hold


# -- a standby for one Asterisk ------------------------------------------------------------


def readiness(api: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(api + "/readyz", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def api_of(router: RouterProcess) -> str:
    found = await router.wait_for_line(r"HTTP API on (http://\S+)", within=20)
    return found.group(1)


async def test_a_standby_takes_over_within_two_seconds_when_the_active_router_is_killed(
    shipped: Schedule, tmp_path: Path, database: dict[str, str]
) -> None:
    async with simulator(shipped, user=real_asterisk.USER, password=real_asterisk.PASSWORD) as sim:
        for agent in ("agent1", "agent2", "agent3"):
            sim.world.set_endpoint(f"PJSIP/{agent}", AgentScript("no-answer"))
        at = "2024-01-04 14:30:00"  # 15:30 in Copenhagen: phone hours
        schedule = ROOT / "schedule.yaml"
        async with (
            router_process(sim.url, schedule, tmp_path / "one", at, database) as one,
            router_process(sim.url, schedule, tmp_path / "two", at, database) as two,
        ):
            routers, apis = [one, two], [await api_of(one), await api_of(two)]
            # Each has asked Asterisk who it is, and one of them has the lock.
            await until(
                lambda: sorted((s, b["role"]) for s, b in map(readiness, apis)) == [(200, "active"), (503, "standby")],
                20,
            )
            states = [readiness(api) for api in apis]
            active = next(n for n, (_, body) in enumerate(states) if body["role"] == "active")
            standby = 1 - active
            assert (states[active][0], states[standby][0]) == (200, 503)
            await until(lambda: "router" in sim.world.connected_apps, within=10)
            waiting = [sim.world.place_call(f"1000000{n}", "1818", "router", ["1818"]).id for n in range(3)]
            await until(lambda: all(str(sim.world.channels[c].bridge or "").startswith("callrouter-queue-")
                                    for c in waiting), within=10)  # fmt: skip
            routers[active].kill()
            killed = time.monotonic()
            await until(lambda: "router" not in sim.world.connected_apps, within=5)
            await until(lambda: "router" in sim.world.connected_apps, within=5)
            took_over = time.monotonic() - killed
            await routers[standby].wait_for_line(r"waits on in the queue", within=10)  # taken up, as after a restart
            status, body = await asyncio.to_thread(readiness, apis[standby])
            assert (status, body["role"]) == (200, "active")
            for call in waiting:  # as after a restart: the callers wait on, in the queue, with the music
                channel = sim.world.channels[call]
                assert (channel.gone, channel.dialplan_after) == (False, None)
                assert str(channel.bridge).startswith("callrouter-queue-")
    print(f"\nstandby took over {took_over:.2f} s after the active router was killed")
    assert took_over <= 2.0


# -- the database's faults --------------------------------------------------------------------


async def test_postgresql_restarted_during_a_recording_keeps_the_message_and_stores_it_once(
    shipped: Schedule, tmp_path: Path, postgres: PostgresServer, database: dict[str, str], shared: Store
) -> None:
    async with (
        simulator(shipped) as sim,
        start(sim, shipped, tmp_path, CLOSED, store=StoreConfig.from_env(database)) as router,
    ):
        harness = Harness(sim, router, tmp_path)
        call = await harness.call()
        await harness.until(lambda: "sound:callrouter/offer-message" in harness.heard(call))
        sim.world.send_dtmf(call, "1")
        await harness.until(lambda: any(r.channel_id == call for r in sim.world.live_recordings.values()))
        restarting = asyncio.create_task(asyncio.to_thread(postgres.restart, 4.0))  # down while the caller speaks
        await asyncio.sleep(1.0)
        sim.world.send_dtmf(call, "#")
        assert await harness.outcome(call) == "message_left"
        assert "sound:callrouter/message-saved" in harness.heard(call)  # true: it is on the local disk
        assert router.runtime is not None
        await restarting
        await until(lambda: len(MessageStore(shared).all()) == 1, within=15)
        await asyncio.sleep(2.5)  # another round of the spool finds nothing to move
    [message] = MessageStore(shared).all()
    assert (message.id, message.caller) == (f"{call}@{sim.world.asterisk_id}", "12345678")
    assert MessageStore(shared).audio(message.id)
    assert not list((tmp_path / "spool").glob("*"))


async def test_postgresql_down_when_calls_arrive_routing_goes_on_and_messages_wait_on_disk(
    shipped: Schedule,
    tmp_path: Path,
    postgres: PostgresServer,
    database: dict[str, str],
    shared: Store,
    mail_server: MailServer,
) -> None:
    config = dict(store=StoreConfig.from_env(database), smtp=smtp(mail_server), mail_backoff=FAST_RETRY)
    async with simulator(shipped) as sim, start(sim, shipped, tmp_path, CLOSED, **config) as router:
        harness = Harness(sim, router, tmp_path)
        await asyncio.to_thread(postgres.stop)
        try:
            first = await harness.leave_message("11112222")  # the schedule is local: the call is routed
            second = await harness.leave_message("33334444")
            assert all("sound:callrouter/message-saved" in harness.heard(c) for c in (first, second))
            assert len(list((tmp_path / "spool").glob("*.json"))) == 2
        finally:
            await asyncio.to_thread(postgres.start_again)
        await until(lambda: len(MessageStore(shared).all()) == 2, within=15)
        await until(lambda: len(mail_server.received) == 2, within=15)  # the sender outlived the outage
    assert sorted(m.caller for m in MessageStore(shared).all()) == ["11112222", "33334444"]
    assert not list((tmp_path / "spool").glob("*"))


# -- moving a site's data ------------------------------------------------------------------


def test_db_copy_moves_a_sites_sqlite_data_into_postgresql_and_can_run_again(
    tmp_path: Path, database: dict[str, str], shared: Store
) -> None:
    from router.office.accounts import AccountStore
    from router.office.call_log import CallLog, CallRecord
    from router.office.messages import Message
    from router.office.overrides import OverrideStore
    from router.schedule import Override
    from tests.conftest import embedded

    at = local("2024-01-04T12:30")
    with embedded(tmp_path) as site:
        MessageStore(site).save(Message("m1", "1818", "12345678", at, "msg-m1", 4), (STAFF,), b"RIFF-audio")
        OverrideStore(site).set(Override("1818", False, "staff_shortage", at, at + timedelta(hours=2)), at)
        CallLog(site).add(CallRecord("c1", "1818", at, False, "message_left", 30.0))
        accounts = AccountStore(site)
        accounts.add_user("anna", "staff", "en-lang-adgangskode")
        accounts.audit(at, "anna", "log-ind")
    copied = run("--data", str(tmp_path), "db", "copy", env=database)
    assert copied.returncode == 0, copied.stderr
    assert re.search(r"messages: 1 new row", copied.stdout)
    assert re.search(r"audit: 1 new row", copied.stdout)
    again = run("--data", str(tmp_path), "db", "copy", env=database)
    assert again.returncode == 0, again.stderr
    assert "  messages: 0 new row(s)" in again.stdout
    [message] = MessageStore(shared).all()
    assert (message.id, message.received_at) == ("m1", at)
    assert MessageStore(shared).audio("m1") == b"RIFF-audio"
    assert MessageStore(shared).mail_state("m1") == ("pending", 0, None)
    assert [o.reason for o in OverrideStore(shared).all()] == ["staff_shortage"]
    assert [r.id for r in CallLog(shared).between(at, at + timedelta(hours=1))] == ["c1"]
    accounts = AccountStore(shared)
    assert accounts.check_password("anna", "en-lang-adgangskode") is not None
    accounts.audit(at, "anna", "log-ud")  # the copied ids did not leave the sequence behind
    assert [e.action for e in accounts.audit_log()] == ["log-ud", "log-ind"]
    listed = run("--schedule", SHIPPED, "messages", "list", env=database)  # no --data: the site's database
    assert "id m1" in listed.stdout, listed.stderr


def test_an_unreadable_spool_entry_is_set_aside_and_the_others_go_in(tmp_path: Path, store: Store) -> None:
    from router.office.spool import UNREADABLE, Spool

    spool = Spool(tmp_path / "spool")
    spool.put(Message("m1", "1818", "12345678", local("2024-01-04T12:30"), "msg-m1", 3), (STAFF,), b"RIFF-1")
    (tmp_path / "spool" / "0-damaged.json").write_text('{"id": ', encoding="utf-8")  # sorts first
    assert spool.drain(MessageStore(store)) == 1
    assert [m.id for m in MessageStore(store).all()] == ["m1"]
    assert MessageStore(store).audio("m1") == b"RIFF-1"
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == [f"0-damaged.json{UNREADABLE}"]
