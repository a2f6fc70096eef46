"""The queue's callback end to end on the simulated Asterisk: the offer, the number, the place kept, the
agent first and then the citizen, busy and no answer, retries, the end of phone hours, a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio
from sqlalchemy import update

from asterisk_sim import AgentScript
from router.app import Running
from router.office.callbacks import Callback, CallbackStore
from router.office.messages import MessageStore
from router.office.tables import callbacks
from router.schedule import DialOut, QueueCallback, QueueConfig, Schedule, WhenClosed
from router.web.http_api import ApiConfig
from tests import test_queue_sim as queued
from tests.ari_helpers import outcome_of, until
from tests.conftest import embedded, local, stored_messages
from tests.console_client import Visitor, make_accounts
from tests.test_queue_sim import answered_recently
from tests.test_router_sim import OPEN, simulator, start

CITIZEN = "PJSIP/42345678@trunk"
OFFER = QueueCallback(offer_after_seconds=0, key="5", attempts=2, retry_minutes=1)
QUICK = QueueConfig(("agent1", "agent2"), ring_seconds=2, retry_seconds=1, max_wait_seconds=300, callback=OFFER)
DIAL = DialOut("PJSIP/{number}@trunk", "1818", ring_seconds=1, staff_ring_seconds=1)


def with_callback(schedule: Schedule, config: QueueConfig = QUICK) -> Schedule:
    line = replace(schedule.lines["1818"], open_to=config, callback=DIAL)
    return replace(schedule, lines={**schedule.lines, "1818": line})


def stored_callbacks(folder: Path) -> list[Callback]:
    """Every callback the embedded store in `folder` holds, open or not."""
    with embedded(folder) as data:
        return CallbackStore(data).all()


def make_due(folder: Path) -> None:
    """Every callback's retry pause has passed, as the store says; a router's next look takes them up."""
    with embedded(folder) as data, data.begin() as db:
        db.execute(update(callbacks).values(next_attempt=datetime(2000, 1, 1).astimezone()))


class Office(queued.Office):
    """The queue's office (tests/test_queue_sim.py), with the citizen's phone, the keys and the store."""

    def phones(self, **behaviours: AgentScript) -> None:
        citizen = behaviours.pop("citizen", None)
        if citizen is not None:
            self.sim.world.set_endpoint(CITIZEN, citizen)
        self.agents(**behaviours)

    def router(
        self, config: QueueConfig = QUICK, at: datetime = OPEN, **changes: Any
    ) -> AbstractAsyncContextManager[Running]:
        schedule = with_callback(self.shipped, config)
        return start(self.sim, schedule, self.data, at, callback_sync_seconds=0.2, **changes)

    def media(self, call: str) -> list[str]:
        return [m.removeprefix("sound:callrouter/") for m in super().media(call)]

    def press(self, call: str, keys: str) -> None:
        for key in keys:
            self.sim.world.send_dtmf(call, key)

    def callbacks(self) -> list[Callback]:
        return stored_callbacks(self.data)

    def due_now(self) -> None:
        """The retry pause passes (the store says so; the routers' next look takes it up)."""
        make_due(self.data)

    def citizen_legs(self) -> list[str]:
        return self.legs(CITIZEN.removeprefix("PJSIP/"))


@pytest_asyncio.fixture
async def office(shipped: Schedule, tmp_path: Path) -> AsyncIterator[Office]:
    async with simulator(shipped) as sim:
        yield Office(sim, shipped, tmp_path)


async def requested(office: Office, router: Running) -> str:
    """A caller who chose a callback on the number they call from, and hung up."""
    call = office.call("42345678")
    await ask_for_callback(office, call)
    assert await outcome_of(router.runtime, call) == "callback_requested"
    return call


async def confirms(office: Office, router: Running, call: str) -> list[str]:
    """The caller presses 1 for the number read back to them, and hangs up: the numbers to call back."""
    office.press(call, "1")
    assert await outcome_of(router.runtime, call) == "callback_requested"
    return [c.number for c in office.callbacks()]


async def ask_for_callback(office: Office, call: str, keys: str = "1") -> None:
    await until(lambda: "callback-offer" in office.media(call))
    office.press(call, "5")
    await until(lambda: "callback-confirm" in office.media(call) or "callback-enter-number" in office.media(call))
    office.press(call, keys)


async def test_a_caller_confirms_their_number_keeps_their_place_and_hangs_up(office: Office) -> None:
    office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
    async with office.router() as router:
        first = office.call("42345678")
        await until(lambda: "callback-offer" in office.media(first))
        second = office.call("87654320")
        await ask_for_callback(office, first)
        assert await outcome_of(router.runtime, first) == "callback_requested"
        media = office.media(first)
        your = media.index("callback-your-number")
        assert media[your + 1 : your + 10] == [*(f"num-{d}" for d in "42345678"), "callback-confirm"]
        assert media[-1] == "callback-confirmed"
        assert office.sim.world.channels[first].gone  # hung up after the confirmation
        [kept] = office.callbacks()
        assert (kept.number, kept.state, kept.attempts) == ("42345678", "open", 0)
        # The second caller, who came later, is still behind the callback.
        assert router.runtime.queues.position("1818", second) == 2
        assert router.runtime.queues.position("1818", kept.id) == 1


async def test_a_caller_keys_in_another_number(office: Office) -> None:
    office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
    async with office.router() as router:
        call = office.call("42345678")
        await ask_for_callback(office, call, "004522334455#")
        await until(lambda: office.media(call).count("callback-your-number") == 2)
        assert await confirms(office, router, call) == ["22334455"]


async def test_a_hidden_caller_must_key_in_a_number_and_bad_ones_are_asked_again(office: Office) -> None:
    office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
    async with office.router() as router:
        call = office.call("")
        await ask_for_callback(office, call, "1234#")  # too short
        await until(lambda: "callback-number-invalid" in office.media(call))
        office.press(call, "1")  # nothing to confirm: one digit of a number
        office.press(call, "9#")  # "19": not a number either
        await until(lambda: office.media(call).count("callback-number-invalid") == 2)
        office.press(call, "0#")  # the third bad answer: no callback, the caller waits on
        await until(lambda: "callback-not-possible" in office.media(call))
        assert office.media(call).count("callback-number-invalid") == 2
        assert router.runtime.queues.position("1818", call) == 1
        assert office.callbacks() == []
        asked = office.media(call).count("callback-enter-number")
        office.press(call, "5")  # the key still works
        await until(lambda: office.media(call).count("callback-enter-number") > asked)
        office.press(call, "22334455#")
        await until(lambda: "callback-confirm" in office.media(call))
        assert await confirms(office, router, call) == ["22334455"]


async def test_an_agent_answering_during_the_dialogue_simply_gets_the_caller(office: Office) -> None:
    office.phones(agent1=AgentScript("no-answer"), agent2=AgentScript("offline"))
    async with office.router() as router:
        call = office.call()
        await until(lambda: "callback-offer" in office.media(call))
        office.press(call, "5")
        office.phones(agent1=AgentScript("answer", 0.05))
        await until(lambda: bool(office.bridged_with(call)), within=10)
        assert office.bridged_with(call) == ["PJSIP/agent1"]
        office.sim.world.caller_hangs_up(call)
        assert await outcome_of(router.runtime, call) == "answered"
        assert office.callbacks() == []


async def test_the_agent_hears_whom_they_call_then_the_citizen_is_called_with_1818_and_bridged(office: Office) -> None:
    office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
    async with office.router() as router:
        await requested(office, router)
        office.phones(agent1=AgentScript("answer", 0.1), citizen=AgentScript("answer", 0.2, hang_up_after=1.0))
        await until(lambda: bool(office.citizen_legs()), within=10)
        [agent] = [leg for leg in office.legs("agent1")]
        [citizen] = office.citizen_legs()
        assert office.sim.world.channels[citizen].caller["number"] == "1818"
        agent_heard = office.media(agent)
        assert agent_heard[:9] == ["callback-agent-intro", *(f"num-{d}" for d in "42345678")]
        await until(lambda: office.bridged_with(citizen) == ["PJSIP/agent1"])
        await until(lambda: "callback-citizen-greeting" in office.media(citizen))
        heard = [str(h.get("media", "bridged")) for h in office.heard(citizen) if "media" in h or "bridged" in h]
        assert heard == ["sound:callrouter/callback-citizen-greeting", "bridged"], "greeted alone, then bridged"
        await until(lambda: office.callbacks()[0].state == "done")
        assert office.callbacks()[0].outcomes == ("talked",)
        await until(lambda: office.sim.world.channels[agent].gone)  # the citizen hung up: so is the agent


async def test_busy_then_no_answer_retries_and_the_last_failure_becomes_a_message(office: Office) -> None:
    office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
    make_accounts(office.data)
    async with office.router(api=ApiConfig("127.0.0.1", 0, "t" * 32)) as router, aiohttp.ClientSession() as http:
        await requested(office, router)
        office.phones(agent1=AgentScript("answer", 0.1), citizen=AgentScript("busy"))
        await until(lambda: office.callbacks()[0].attempts == 1, within=10)
        [agent] = office.legs("agent1")
        assert office.callbacks()[0].outcomes == ("busy",)
        await until(lambda: office.sim.world.channels[agent].gone)
        assert office.media(agent)[-1] == "callback-agent-not-reached"  # told, then released
        await asyncio.sleep(1.0)
        assert len(office.citizen_legs()) == 1  # not again before the retry pause
        office.phones(citizen=AgentScript("no-answer"))
        office.due_now()
        await until(lambda: office.callbacks()[0].state == "message", within=15)
        assert office.callbacks()[0].outcomes == ("busy", "no-answer")
        assert len(office.citizen_legs()) == 2
        [message] = stored_messages(office.data)
        assert (message.caller, message.line) == ("42345678", "1818")
        assert message.callback == "2 forsøg: optaget, intet svar"
        with embedded(office.data) as data:
            assert MessageStore(data).mail_counts().pending == 1  # the e-mail to the line's notify address
        assert router.api_url is not None
        visitor = Visitor(router.api_url, http)
        assert await visitor.sign_in("anna") == 303
        _, page, _ = await visitor.get("/ui/beskeder")
        assert "Vi forsøgte, men fik ikke fat i dem: 2 forsøg: optaget, intet svar." in page
        assert f"/ui/beskeder/{message.id}/lyd" not in page  # no recording to play
        await until(lambda: router.runtime.queues.virtual("1818") == [])


async def test_callbacks_wait_in_the_store_across_a_restart_and_are_made_once(office: Office) -> None:
    office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
    async with office.router() as router:
        await requested(office, router)
    office.phones(agent1=AgentScript("answer", 0.1), citizen=AgentScript("answer", 0.1, hang_up_after=0.5))
    async with office.router(at=OPEN + timedelta(minutes=2)) as router:
        await until(lambda: office.callbacks()[0].state == "done", within=10)
        await asyncio.sleep(1.0)
        assert len(office.citizen_legs()) == 1


async def test_open_callbacks_become_messages_when_the_phone_hours_end(office: Office) -> None:
    office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
    async with office.router() as router:
        await requested(office, router)
    closed = OPEN.replace(hour=23)
    async with office.router(at=closed) as router:
        await until(lambda: office.callbacks()[0].state == "message", within=10)
        [message] = stored_messages(office.data)
        assert message.callback == "telefontiden sluttede, før det blev borgerens tur"
        assert router.runtime.queues.virtual("1818") == []


async def test_a_later_caller_hears_the_callback_counted_and_staff_see_it(office: Office) -> None:
    answered_recently(office.data, minutes_apart=3, count=5)
    office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
    config = replace(QUICK, announce_seconds=1)
    api = ApiConfig("127.0.0.1", 0, "t" * 32)
    make_accounts(office.data)
    started = start(office.sim, with_callback(office.shipped, config), office.data, OPEN, api=api)
    async with started as router, aiohttp.ClientSession() as http:
        await requested(office, router)
        later = office.call("87654320")
        await until(lambda: "queue-estimate-minutes" in office.media(later), within=5)
        heard = office.media(later)
        at = heard.index("queue-position")
        assert heard[at : at + 6] == [
            "queue-position", "num-2", "queue-position-end", "queue-estimate", "num-6", "queue-estimate-minutes",
        ], "second in line behind the callback: about 6 minutes"  # fmt: skip
        assert router.api_url is not None
        await until(lambda: router.runtime.callbacks.open_per_line == {"1818": 1}, within=5)
        async with http.get(f"{router.api_url}/status") as response:
            status = await response.json()
        assert status["lines"]["1818"]["callbacks"] == 1
        assert status["lines"]["1818"]["waiting"] == 2
        visitor = Visitor(router.api_url, http)
        assert await visitor.sign_in("anna") == 303
        _, page, _ = await visitor.get("/ui/nu")
        assert "Tilbagekald, der venter: 1." in page
        assert "Borger 1 har ventet" in page
        assert "og ringes op, når det er deres tur" in page


async def test_with_next_opening_open_callbacks_wait_for_the_next_phone_hours(office: Office) -> None:
    config = replace(QUICK, callback=replace(OFFER, when_closed=WhenClosed.NEXT_OPENING))
    office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
    async with office.router(config) as router:
        await requested(office, router)
    office.phones(agent1=AgentScript("answer", 0.1), citizen=AgentScript("answer", 0.1, hang_up_after=0.5))
    async with office.router(config, at=OPEN.replace(hour=23)) as router:
        await asyncio.sleep(1.0)  # several looks at the store, in closed hours
        assert (office.callbacks()[0].state, office.citizen_legs()) == ("open", [])
        assert router.runtime.queues.virtual("1818") == []
        assert stored_messages(office.data) == []
    async with office.router(config, at=local("2024-01-05T10:00:05")):  # Friday's phone hours
        await until(lambda: office.callbacks()[0].state == "done", within=10)
        assert len(office.citizen_legs()) == 1


async def test_a_caller_waiting_across_a_restart_is_still_offered_a_callback(office: Office) -> None:
    config = replace(QUICK, callback=replace(OFFER, offer_after_seconds=4))
    office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
    async with office.router(config):
        call = office.call("42345678")
        await until(lambda: office.waits_in_holding_bridge(call))
    assert "callback-offer" not in office.media(call)  # the router stopped before the offer was due
    async with office.router(config) as router:
        await until(lambda: "callback-offer" in office.media(call), within=10)
        office.press(call, "5")
        await until(lambda: "callback-confirm" in office.media(call))
        assert await confirms(office, router, call) == ["42345678"]


async def test_an_agent_who_drops_a_callback_at_once_costs_it_no_attempt(office: Office) -> None:
    office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
    async with office.router() as router:
        await requested(office, router)
        office.phones(agent1=AgentScript("answer", 0.05, hang_up_after=0), citizen=AgentScript("answer"))
        await until(lambda: len(office.legs("agent1")) == 1, within=10)
        [first] = office.legs("agent1")
        await until(lambda: office.sim.world.channels[first].gone)
        await asyncio.sleep(0.5)
        assert len(office.legs("agent1")) == 1  # not rung again at once ...
        await until(lambda: len(office.legs("agent1")) >= 2, within=10)  # ... but after the queue's pause
        office.phones(agent1=AgentScript("offline"))
        kept = office.callbacks()[0]
        assert (kept.state, kept.attempts, kept.claimed_by) == ("open", 0, None)
        assert office.citizen_legs() == []
