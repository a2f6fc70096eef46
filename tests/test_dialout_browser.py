"""'Ring op' in a real browser (Debian's chromium, Playwright), checked with axe-core (WCAG 2.1 A and AA).

A staff member tied to her phone presses "Ring op" on a message; on the simulated Asterisk her phone
answers, then the citizen's; the message's row follows the call without a reload (ringing, talking,
over) and keeps it, with the note she adds.
"""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from asterisk_sim import AgentScript, Simulator
from router.office.accounts import AccountStore
from router.office.dial_attempts import DialAttemptStore
from router.office.messages import Message, MessageStore
from router.schedule import Schedule
from router.web.http_api import ApiConfig
from tests.conftest import embedded, local
from tests.console_client import PASSWORDS, make_accounts
from tests.test_console_browser import browser, check_page, pytestmark, sim
from tests.test_router_sim import CLOSED, start

__all__ = ["browser", "pytestmark", "sim"]  # the browser tier's fixtures and skip, shared


async def test_ring_op_rings_her_phone_then_the_citizen_and_the_row_follows_the_call(
    browser: Browser, sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    make_accounts(tmp_path)
    with embedded(tmp_path) as data:
        MessageStore(data).save(Message("m1", "1818", "12345678", local("2024-01-04T11:00"), "msg-m1", 12))
        AccountStore(data).set_phone("anna", "PJSIP/agent1")
    sim.world.set_endpoint("PJSIP/agent1", AgentScript("answer", answer_after=0.5))
    # The shipped schedule dials PJSIP/{number}@trunk: the citizen answers after 3 s, talks for 4.
    sim.world.set_endpoint("PJSIP/12345678@trunk", AgentScript("answer", answer_after=3, hang_up_after=4))
    api = ApiConfig("127.0.0.1", 0, "t" * 32)
    async with start(sim, shipped, tmp_path, CLOSED, api=api) as router:
        assert router.api_url is not None
        base = router.api_url
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(base + "/ui/log-ind")
        await page.get_by_label("Brugernavn").fill("anna")
        await page.get_by_label("Adgangskode").fill(PASSWORDS["anna"])
        await page.get_by_role("button", name="Log ind").click()
        await page.goto(base + "/ui/beskeder")
        tel = page.get_by_role("link", name="12345678 (ring op fra denne enhed)")
        assert await tel.get_attribute("href") == "tel:12345678"
        await check_page(page, "20-ring-op")

        await page.get_by_role("button", name="Ring op til 12345678 fra din telefon").click()
        await expect(page.locator(".notice")).to_contain_text("Din telefon ringer nu")
        row = page.locator("#besked-m1")
        await expect(row).to_contain_text("du ringer op")  # the message is hers while she calls
        live = row.locator(".opkald")
        await expect(live).to_have_text("Ringer til borgeren …", timeout=5000)  # refreshed in place
        await check_page(page, "21-ring-op-ringer")
        await expect(live).to_have_text("I samtale", timeout=8000)
        await expect(live).to_have_text("Opkaldet er slut: talte med borgeren.", timeout=10000)

        await page.reload()
        await expect(row).to_contain_text("talte med borgeren")
        await row.get_by_label("Note").fill("Lovede at betale fredag")
        await row.get_by_role("button", name="Gem note").click()
        await expect(page.locator(".notice")).to_contain_text("Noten er gemt.")
        await expect(page.locator("#besked-m1 q")).to_have_text("Lovede at betale fredag")
        await check_page(page, "22-ring-op-note")
        await context.close()
        # An operator's page of phones, which "Ring op" rings.
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(base + "/ui/log-ind")
        await page.get_by_label("Brugernavn").fill("ole")
        await page.get_by_label("Adgangskode").fill(PASSWORDS["ole"])
        await page.get_by_role("button", name="Log ind").click()
        await page.get_by_role("link", name="Telefoner").click()
        await page.get_by_label("ole (operatør)").fill("PJSIP/agent2")
        await page.get_by_role("button", name="Gem telefon for ole").click()
        await expect(page.locator(".notice")).to_have_text("Telefonen er gemt.")
        await check_page(page, "23-telefoner")
        await context.close()
    with embedded(tmp_path) as data:
        [attempt] = DialAttemptStore(data).of_message("m1")
        phones = {u.name: u.phone for u in AccountStore(data).users()}
    assert (attempt.staff, attempt.outcome, attempt.note) == ("anna", "talked", "Lovede at betale fredag")
    assert phones == {"anna": "PJSIP/agent1", "ole": "PJSIP/agent2"}
