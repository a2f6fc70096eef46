"""'Ring op' from the console in a real browser, on the real Asterisk 22, with real SIP phones.

Everything the office meets is real but the citizen: Debian's chromium (Playwright) on the console of a
router connected to Asterisk, the staff member's desk phone (baresip as the endpoint `agent1`), and
the outbound route of the test Asterisk (tests/real_asterisk.py: the endpoint `trunk`, whose static
contact is a baresip "citizen" whose account is the message's number, 12345678, as a provider's
trunk would reach their phone). Nobody answers automatically: each phone is answered, or refused, by
the test, as a person would.

An operator ties anna's account to her phone on the Telefoner page. anna presses "Ring op" on a
message; checked: her phone rings, showing the citizen's number, and the citizen's does not (for a
while); she answers, and only then the citizen's phone rings, showing 1818; the citizen answers and
hears her (a tone her phone sends, measured in what the citizen's phone recorded), and she hears the
citizen; the message's row follows it (ringing her, ringing the citizen, talking, over) and keeps the
attempt with its outcome and length, in the store and the audit log too. Then a citizen who refuses
the call (486 Busy Here: "optaget") and one who does not answer ("intet svar").
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import pytest_asyncio
from playwright.async_api import Browser, Locator, Page, expect

from router.app import RouterConfig, Running, running
from router.ari import AriConfig
from router.calls.prompts import DEFAULT_MANIFEST
from router.office.accounts import AccountStore
from router.office.dial_attempts import DialAttempt, DialAttemptStore
from router.office.messages import Message, MessageStore
from router.schedule import Schedule
from router.web.http_api import ApiConfig
from tests import real_asterisk
from tests.ari_helpers import until
from tests.conftest import embedded, local
from tests.console_client import make_accounts
from tests.sip_phone import Phone, loudness, tone, tone_seconds
from tests.test_console_browser import browser, pytestmark
from tests.test_console_closures_browser import sign_in

__all__ = ["browser", "pytestmark"]  # the browser tier's fixture and skip, shared

CLOSED = local("2024-01-04T12:30")  # "Ring op" needs no phone hours
NUMBER = "12345678"  # the message's caller: the trunk's contact is a phone whose account is this number
VOICES = {"agent1": 1000, "citizen": 1500}  # the tone each phone sends (Hz)
INCOMING = "Incoming call from: "  # baresip's line for a phone that starts ringing
CITIZEN_RINGS = 8  # seconds, in the no-answer test


@dataclass
class Office:
    router: Running
    data: Path
    agent: Phone
    citizen: Phone
    page: Page  # anna's, signed in, on Beskeder

    @property
    def row(self) -> Locator:
        return self.page.locator("#besked-m1")

    @property
    def live(self) -> Locator:
        return self.row.locator(".opkald")

    async def ring_op(self) -> None:
        await self.page.get_by_role("button", name=f"Ring op til {NUMBER} fra din telefon").click()
        await expect(self.page.locator(".notice")).to_contain_text("Din telefon ringer nu")

    def attempts(self) -> list[DialAttempt]:
        with embedded(self.data) as data:
            return DialAttemptStore(data).of_message("m1")

    async def recorded(self) -> DialAttempt:
        await until(lambda: bool(self.attempts()), within=15)
        [attempt] = self.attempts()
        return attempt

    def audit(self) -> list[tuple[str, str, str]]:
        with embedded(self.data) as data:
            entries = AccountStore(data).audit_log()
        return [(e.user, e.action, e.detail) for e in reversed(entries) if e.action in {"ringer op", "ringede op"}]


def rings(phone: Phone) -> list[str]:
    """Who each incoming call on `phone` came from, as its display showed them."""
    return [line.split(INCOMING, 1)[1] for line in phone.shown().splitlines() if INCOMING in line]


async def ringing(phone: Phone, within: float = 15) -> str:
    """Wait until `phone` rings; who is calling, as it shows them."""
    await until(lambda: bool(rings(phone)), within=within)
    return rings(phone)[-1]


@pytest_asyncio.fixture
async def office(real_asterisk_url: str, shipped: Schedule, browser: Browser, tmp_path: Path) -> AsyncIterator[Office]:
    """The router (its console on a free port) on the real Asterisk, with the shipped schedule's own
    `callback:` (PJSIP/{number}@trunk, caller id 1818) but the citizen's phone ringing CITIZEN_RINGS
    seconds; both phones switched on, a message from NUMBER, and anna signed in on Beskeder, her
    account tied to agent1 by an operator in the browser."""
    callback = shipped.lines["1818"].callback
    assert callback is not None
    assert (callback.dial, callback.caller_id) == ("PJSIP/{number}@trunk", "1818")
    line = replace(shipped.lines["1818"], callback=replace(callback, ring_seconds=CITIZEN_RINGS))
    schedule = replace(shipped, lines={**shipped.lines, "1818": line})
    make_accounts(tmp_path)
    with embedded(tmp_path) as data:
        MessageStore(data).save(Message("m1", "1818", NUMBER, local("2024-01-04T11:00"), "msg-m1", 12))
    ari = AriConfig(url=real_asterisk_url, app="router", user=real_asterisk.USER, password=real_asterisk.PASSWORD)
    config = RouterConfig(ari, schedule, tmp_path, DEFAULT_MANIFEST, api=ApiConfig("127.0.0.1", 0, "t" * 32))
    began = time.monotonic()
    for name in ("agent1", "citizen"):
        (tmp_path / name).mkdir()
    async with (
        running(config, clock=lambda: CLOSED + timedelta(seconds=time.monotonic() - began)) as router,
        Phone(tmp_path / "agent1", "agent1", 5080, tone(tmp_path / "agent1/voice.wav", VOICES["agent1"], 120)) as agent,
        Phone(
            tmp_path / "citizen", NUMBER, 5100, tone(tmp_path / "citizen/voice.wav", VOICES["citizen"], 120)
        ) as citizen,
    ):
        assert router.api_url is not None
        await asyncio.sleep(0.5)  # the router's events connection
        operator = await sign_in(browser, router.api_url, "ole")
        await operator.get_by_role("link", name="Telefoner").click()
        await operator.get_by_label("anna (medarbejder)").fill("PJSIP/agent1")
        await operator.get_by_role("button", name="Gem telefon for anna").click()
        await expect(operator.locator(".notice")).to_have_text("Telefonen er gemt.")
        await operator.context.close()
        page = await sign_in(browser, router.api_url, "anna")
        await page.goto(router.api_url + "/ui/beskeder")
        try:
            yield Office(router, tmp_path, agent, citizen, page)
        finally:
            await page.context.close()


async def test_ring_op_rings_her_phone_then_the_citizens_and_they_hear_each_other(office: Office) -> None:
    agent, citizen = office.agent, office.citizen
    await office.ring_op()
    assert re.search(rf"\b{NUMBER}\b", await ringing(agent)), "her phone shows whom she is about to call"
    await expect(office.live).to_have_text("Ringer til din telefon …")
    await asyncio.sleep(3)  # time enough for a citizen's phone rung at once to show it
    assert rings(citizen) == [], "the citizen's phone does not ring before she answers"
    await agent.send("/accept\n")
    answered = time.monotonic()
    caller = await ringing(citizen)
    assert re.match(r"1818 sip:1818@", caller), f"the citizen's phone shows 1818, not {caller!r}"
    await expect(office.live).to_have_text("Ringer til borgeren …", timeout=5000)  # refreshed in place
    await asyncio.sleep(2)  # she hears it ring meanwhile
    await citizen.send("/accept\n")
    bridged = time.monotonic()
    await expect(office.live).to_have_text("I samtale", timeout=5000)
    await asyncio.sleep(6)
    await citizen.send("/hangup\n")
    await expect(office.live).to_have_text("Opkaldet er slut: talte med borgeren.", timeout=10000)

    attempt = await office.recorded()
    assert (attempt.staff, attempt.outcome) == ("anna", "talked")
    assert attempt.seconds is not None
    assert 5 <= attempt.seconds < 9, attempt.seconds
    await until(lambda: len(office.audit()) == 2)
    assert [entry[:2] for entry in office.audit()] == [("anna", "ringer op"), ("anna", "ringede op")]
    assert office.audit()[-1][2].startswith("m1: talte med borgeren (")
    await office.page.reload()
    await expect(office.row).to_contain_text(re.compile(r"anna, torsdag den 4\. januar 2024 kl\. 12\.3\d: talte med"))
    await expect(office.row).to_contain_text(re.compile(r"talte med borgeren \(\d sekunder\)"))

    await asyncio.sleep(1.5)  # the phones write what they heard
    await until(lambda: bool(agent.heard()) and bool(citizen.heard()))
    at_citizen, at_agent = citizen.heard()[-1], agent.heard()[-1]
    voice = tone_seconds(at_citizen, VOICES["agent1"])
    assert len(voice) >= 4, f"the citizen heard her: her tone in seconds {voice} of their call"
    level = loudness(at_citizen, 1.0, 5.0)
    assert level > 0.05, f"her voice reaches the citizen at a talking level (RMS {level})"
    assert len(tone_seconds(at_agent, VOICES["citizen"])) >= 4, "and she heard the citizen"
    ring_tone = loudness(at_agent, 0.5, bridged - answered - 0.5)
    assert ring_tone > 0.005, f"before the citizen answered, she heard ringing, not silence (RMS {ring_tone})"
    assert tone_seconds(at_agent, VOICES["citizen"])[0] >= bridged - answered - 1.5, "the citizen only once answered"


async def test_a_citizen_who_refuses_the_call_is_busy_and_her_phone_is_hung_up(office: Office) -> None:
    await office.ring_op()
    await ringing(office.agent)
    await office.agent.send("/accept\n")
    assert (await ringing(office.citizen)).startswith("1818 ")
    await office.citizen.send("/hangup\n")  # 486 Busy Here, as a phone that is busy answers
    await expect(office.live).to_have_text("Opkaldet er slut: optaget.", timeout=10000)
    attempt = await office.recorded()
    assert (attempt.staff, attempt.outcome, attempt.seconds) == ("anna", "busy", None)
    await until(lambda: "session closed" in office.agent.shown().rsplit(INCOMING, 1)[-1], within=10)  # hung up
    await office.page.reload()
    await expect(office.row).to_contain_text(re.compile(r"anna, torsdag den 4\. januar 2024 kl\. 12\.3\d: optaget"))


async def test_a_citizen_who_does_not_answer_is_no_answer(office: Office) -> None:
    await office.ring_op()
    await ringing(office.agent)
    await office.agent.send("/accept\n")
    await ringing(office.citizen)
    rang = time.monotonic()
    await expect(office.live).to_have_text("Opkaldet er slut: intet svar.", timeout=(CITIZEN_RINGS + 8) * 1000)
    assert time.monotonic() - rang >= CITIZEN_RINGS - 1.5, "the citizen's phone rang as long as the schedule says"
    attempt = await office.recorded()
    assert (attempt.staff, attempt.outcome, attempt.seconds) == ("anna", "no-answer", None)
    await office.page.reload()
    await expect(office.row).to_contain_text(re.compile(r"kl\. 12\.3\d: intet svar"))
