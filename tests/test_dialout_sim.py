"""The console's "Ring op" end to end on the simulated Asterisk: the staff member's phone, then the citizen's.

A staff member presses "Ring op" on a message (over real HTTP, signed in); the phones behind the
endpoints answer, are busy or ring on as the simulator's control API is told (PUT /_sim/endpoints).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest_asyncio

from asterisk_sim import Simulator
from router.app import Running
from router.office.accounts import AccountStore
from router.office.dial_attempts import DialAttempt, DialAttemptStore
from router.office.messages import Message, MessageStore
from router.schedule import DialOut, Schedule
from router.web.http_api import ApiConfig
from tests.ari_helpers import until
from tests.conftest import embedded, local, stored_messages
from tests.console_client import Visitor, make_accounts
from tests.test_router_sim import CLOSED, simulator, start

CITIZEN = "PJSIP/12345678@trunk"  # the shipped schedule's callback target for the message's caller
QUICK = DialOut("PJSIP/{number}@trunk", "1818", ring_seconds=1, staff_ring_seconds=1)


@dataclass
class Office:
    sim: Simulator
    router: Running
    data: Path
    http: aiohttp.ClientSession

    async def visitor(self, name: str) -> Visitor:
        assert self.router.api_url is not None
        visitor = Visitor(self.router.api_url, self.http)
        assert await visitor.sign_in(name) == 303
        return visitor

    async def phone(self, endpoint: str, behaviour: str, **script: Any) -> None:
        """Tell the simulator how the phone behind `endpoint` answers (its control API)."""
        url = f"{self.sim.url}/_sim/endpoints/{endpoint}"
        async with self.http.put(url, json={"behaviour": behaviour, **script}) as response:
            assert response.status < 300, await response.text()

    async def ring_op(self, visitor: Visitor, message: str = "m1") -> str:
        status, _, response = await visitor.post(f"/ui/beskeder/{message}/ring-op", {"csrf": await visitor.csrf()})
        assert status == 303
        return response.headers["Location"]

    def attempts(self) -> list[DialAttempt]:
        with embedded(self.data) as data:
            return DialAttemptStore(data).of_message("m1")

    def audit(self) -> list[tuple[str, str, str]]:
        with embedded(self.data) as data:
            entries = AccountStore(data).audit_log()
        return [(e.user, e.action, e.detail) for e in reversed(entries) if e.action != "log-ind"]

    def channel(self, channel_id: str) -> Any:
        return self.sim.world.channels[channel_id]

    def legs(self) -> list[Any]:
        """The channels the router originated, in order."""
        return [c for c in self.sim.world.channels.values() if c.originated]

    async def recorded(self) -> DialAttempt:
        await until(lambda: bool(self.attempts()))
        [attempt] = self.attempts()
        return attempt


@pytest_asyncio.fixture
async def office(shipped: Schedule, tmp_path: Path) -> AsyncIterator[Office]:
    make_accounts(tmp_path)
    with embedded(tmp_path) as data:
        MessageStore(data).save(Message("m1", "1818", "12345678", local("2024-01-04T11:00"), "msg-m1", 12))
        AccountStore(data).set_phone("anna", "PJSIP/agent1")
        AccountStore(data).set_phone("ole", "PJSIP/agent2")
    line = replace(shipped.lines["1818"], callback=QUICK)
    schedule = replace(shipped, lines={**shipped.lines, "1818": line})
    async with simulator(schedule) as sim:
        api = ApiConfig("127.0.0.1", 0, "t" * 32)
        async with start(sim, schedule, tmp_path, CLOSED, api=api) as router, aiohttp.ClientSession() as http:
            yield Office(sim, router, tmp_path, http)


async def test_the_staff_phone_rings_first_then_the_citizen_and_they_are_bridged(office: Office) -> None:
    await office.phone("PJSIP/agent1", "answer", answer_after=0.2)
    await office.phone(CITIZEN, "answer", answer_after=0.3, hang_up_after=1.0)
    anna = await office.visitor("anna")
    assert (await office.ring_op(anna)).startswith("/ui/beskeder?besked=ringer#besked-m1")
    await until(lambda: len(office.legs()) == 2)
    staff, citizen = office.legs()
    assert (staff.endpoint, citizen.endpoint) == ("PJSIP/agent1", CITIZEN)  # hers first, then the citizen's
    assert staff.caller["number"] == "12345678"  # her phone shows whom she is about to call
    assert citizen.caller["number"] == "1818"  # the citizen sees the office's number, not her desk's
    _, page, _ = await anna.get("/ui/beskeder")
    assert "Ringer til borgeren" in page or "I samtale" in page  # the row says how it goes
    await until(lambda: any("bridged" in h for h in office.channel(citizen.id).heard))
    assert [h["with"] for h in office.channel(citizen.id).heard if "bridged" in h] == [[staff.id]]
    assert any(h.get("ringing") for h in office.channel(staff.id).heard)  # she heard it ring meanwhile
    attempt = await office.recorded()  # the citizen hung up after a second
    assert (attempt.staff, attempt.outcome) == ("anna", "talked")
    assert attempt.seconds is not None
    assert 0.8 <= attempt.seconds < 3
    await until(lambda: office.channel(staff.id).gone)  # her phone is hung up with the citizen's
    await until(lambda: office.audit()[-1][1] == "ringede op")  # written just after the attempt's record
    assert [entry[:2] for entry in office.audit()] == [("anna", "ringer op"), ("anna", "ringede op")]
    assert office.audit()[-1][2].startswith("m1: talte med borgeren (")  # in Danish, as the Log shows it
    _, page, _ = await anna.get("/ui/beskeder")
    assert "anna, torsdag den 4. januar 2024 kl. 12.30: talte med borgeren" in page
    assert "Opkaldet er slut: talte med borgeren." in page
    # She adds a note to it; it is kept on one line, without the characters that would reorder it.
    form = {"csrf": await anna.csrf(), "note": "Lovede at betale\nfredag\u202e"}
    status, _, _ = await anna.post(f"/ui/beskeder/m1/note/{attempt.id}", form)
    assert status == 303
    assert (await office.recorded()).note == "Lovede at betale fredag"
    ole = await office.visitor("ole")
    status, _, _ = await ole.post(f"/ui/beskeder/m1/note/{attempt.id}", {"csrf": await ole.csrf(), "note": "x"})
    assert status == 404  # not his attempt


async def test_a_busy_citizen_ends_the_attempt_and_hangs_up_the_staff_phone(office: Office) -> None:
    await office.phone("PJSIP/agent1", "answer")
    await office.phone(CITIZEN, "busy")
    await office.ring_op(await office.visitor("anna"))
    attempt = await office.recorded()
    assert (attempt.outcome, attempt.seconds) == ("busy", None)
    staff = office.legs()[0]
    await until(lambda: office.channel(staff.id).gone)
    assert office.channel(staff.id).hangup["by"] == "application"
    assert not any("bridged" in h for h in office.channel(staff.id).heard)


async def test_a_citizen_who_does_not_answer_is_no_answer(office: Office) -> None:
    await office.phone("PJSIP/agent1", "answer")
    await office.phone(CITIZEN, "no-answer")
    anna = await office.visitor("anna")
    await office.ring_op(anna)
    attempt = await office.recorded()
    assert attempt.outcome == "no-answer"
    _, page, _ = await anna.get("/ui/beskeder")
    assert "kl. 12.30: intet svar" in page


async def test_when_the_staff_phone_is_not_answered_the_citizen_is_never_called(office: Office) -> None:
    await office.phone("PJSIP/agent1", "no-answer")
    await office.phone(CITIZEN, "answer")
    await office.ring_op(await office.visitor("anna"))
    attempt = await office.recorded()
    assert attempt.outcome == "staff-unanswered"
    assert [c.endpoint for c in office.legs()] == ["PJSIP/agent1"]


async def test_two_colleagues_cannot_dial_the_same_message(office: Office) -> None:
    await office.phone("PJSIP/agent1", "answer", answer_after=0.2)
    await office.phone("PJSIP/agent2", "answer")
    await office.phone(CITIZEN, "answer", hang_up_after=0.5)
    anna, ole = await office.visitor("anna"), await office.visitor("ole")
    await office.ring_op(anna)
    assert await office.ring_op(ole) == "/ui/beskeder?besked=optaget"
    _, page, _ = await ole.get("/ui/beskeder")
    assert "anna ringer op (til kl. 13.00)" in page
    assert 'action="/ui/beskeder/m1/ring-op"' not in page  # no "Ring op" for him while she has it
    await office.recorded()
    assert [c.endpoint for c in office.legs()] == ["PJSIP/agent1", CITIZEN]  # his phone never rang
    assert stored_messages(office.data)[0].claimed_by == "anna"


async def test_ring_op_needs_the_staff_members_phone(office: Office) -> None:
    with embedded(office.data) as data:
        AccountStore(data).set_phone("anna", None)
    anna = await office.visitor("anna")
    _, page, _ = await anna.get("/ui/beskeder")
    assert 'action="/ui/beskeder/m1/ring-op"' not in page
    assert await office.ring_op(anna) == "/ui/beskeder?besked=ingen-telefon"
    assert office.legs() == []
