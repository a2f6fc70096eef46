"""The console in a real browser (Debian's chromium, driven by Playwright), as the office uses it.

An operator signs in with the keyboard, sees the message a simulated call just left, plays it (the
audio element loads it and knows its length), marks it "ringet op", closes the line until the next
change and previews what callers will hear; the next simulated call hears exactly that. Then the
line is opened again, the "Nu" page shows the next caller waiting without a reload, and the
operator signs out. axe-core checks every page against WCAG 2.1 A and AA; each page is also
checked on a phone's width. Screenshots of every page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from asterisk_sim import AgentScript, Simulator
from router.office.messages import Delivery, MessageStore
from router.office.overrides import OverrideStore
from router.schedule import Schedule
from router.schedule.reload import ScheduleSource
from router.web.http_api import ApiConfig
from tests.conftest import ROOT, embedded, stored_messages
from tests.console_client import PASSWORDS, make_accounts
from tests.test_router_sim import CLOSED, Harness, simulator, start

CHROMIUM = "/usr/bin/chromium"
AXE = next(iter(sorted((ROOT / ".venv").glob("axe-core-*/axe.min.js"))), None)
SHOTS = Path(os.environ.get("CALLROUTER_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE: ViewportSize = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or AXE is None,
    reason="BROWSER TIER SKIPPED: needs Debian's chromium and axe-core (scripts/setup installs both)",
)


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            await launched.close()


async def check_page(page: Page, name: str) -> None:
    """axe-core finds no WCAG 2.1 A/AA violation; the page fits a phone's width; a screenshot of each."""
    assert AXE is not None
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG
    )
    problems = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}" for v in result["violations"]
    ]
    assert problems == [], f"{name}: accessibility violations:\n" + "\n".join(problems)
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    wide = page.viewport_size
    await page.set_viewport_size(PHONE)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    await page.screenshot(path=SHOTS / f"{name}-phone.png", full_page=True)
    assert wide is not None
    await page.set_viewport_size(wide)
    assert overflow <= 0, f"{name}: wider than a phone's screen by {overflow} px"


@pytest_asyncio.fixture
async def sim(shipped: Schedule) -> AsyncIterator[Simulator]:
    async with simulator(shipped) as started:
        yield started


async def test_the_office_runs_its_line_in_the_browser(
    browser: Browser, sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    make_accounts(tmp_path)
    # The agents: one who does not answer, one whose phone is off, one on a call of their own.
    sim.world.set_endpoint("PJSIP/agent1", AgentScript("no-answer"))
    sim.world.set_endpoint("PJSIP/agent2", AgentScript("offline"))
    sim.world.set_endpoint("PJSIP/agent3", AgentScript("no-answer", on_own_call=True))
    schedule_file = tmp_path / "schedule.yaml"
    shutil.copy(ROOT / "schedule.yaml", schedule_file)
    source = ScheduleSource(schedule_file)
    api = ApiConfig("127.0.0.1", 0, "t" * 32)
    async with start(sim, source, tmp_path, CLOSED, api=api) as router:
        harness = Harness(sim, router, tmp_path)
        await harness.leave_message("12345678")
        assert router.api_url is not None
        base = router.api_url
        context = await browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900}, locale="da-DK")
        page = await context.new_page()

        # Signed out, every page leads to the sign-in. Signing in needs no mouse.
        await page.goto(base + "/ui/beskeder")
        await expect(page).to_have_url(base + "/ui/log-ind")
        await check_page(page, "01-log-ind")
        await page.focus("#navn")
        await page.keyboard.type("ole")
        await page.keyboard.press("Tab")
        await page.keyboard.type(PASSWORDS["ole"])
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(base + "/ui/nu")
        await expect(page.locator("#linje-1818 + p")).to_contain_text("Lukket")
        await check_page(page, "02-nu")

        # The message: listed, played, marked.
        await page.get_by_role("link", name="Beskeder").click()
        message = page.locator("li.message").first
        await expect(message).to_contain_text("12345678")
        await check_page(page, "03-beskeder")
        duration = await message.locator("audio").evaluate(
            """audio => new Promise((resolve, reject) => {
                if (audio.readyState >= 1) return resolve(audio.duration);
                audio.addEventListener('loadedmetadata', () => resolve(audio.duration));
                audio.addEventListener('error', () => reject(new Error('audio: ' + (audio.error && audio.error.code))));
                audio.load();
            })"""
        )
        assert duration > 0
        await message.get_by_role("button", name="Ringet op").click()
        await expect(page.locator(".notice")).to_have_text("Beskeden er markeret som ringet op.")
        await expect(page.locator("li.message").first).to_contain_text("ringet op af ole")

        # Close until the next change, with a reason; the preview says what callers will hear.
        await page.get_by_role("link", name="Åbn/luk").click()
        await check_page(page, "04-aabn-luk")
        await page.get_by_label("Luk linjen").check()
        await page.select_option("#aarsag", "staff_shortage")
        await page.get_by_label("næste ændring i skemaet").check()
        await page.get_by_role("button", name="Vis, hvad borgerne hører").click()
        hears = page.locator("blockquote.hears")
        await expect(hears).to_contain_text("Vi har desværre lukket for telefonen på grund af sygdom")
        await check_page(page, "05-bekraeft")
        await page.get_by_role("button", name="Luk linjen nu").click()
        await expect(page.locator(".notice")).to_have_text("Linjen er lukket.")

        # The next caller hears it.
        call = await harness.call("87654321")
        await harness.until(lambda: "sound:callrouter/offer-message" in harness.heard(call))
        assert harness.heard(call)[0] == "sound:callrouter/closure-staff_shortage"
        sim.world.caller_hangs_up(call)

        # Open the line again: the next caller waits in the queue, and "Nu" shows it by itself.
        await page.get_by_label("Åbn linjen (borgerne kommer i kø)").check()
        await page.get_by_role("button", name="Vis, hvad borgerne hører").click()
        await expect(hears).to_contain_text("Borgerne stilles i kø")
        await page.get_by_role("button", name="Åbn linjen nu").click()
        await expect(page.locator(".notice")).to_have_text("Linjen er åbnet.")
        with embedded(tmp_path) as data:
            [override] = [o for o in OverrideStore(data).all() if o.open]
        assert override.note == "ole"
        await page.get_by_role("link", name="Nu").click()
        await expect(page.locator("#linje-1818 + p")).to_contain_text("Åben")
        waiting = await harness.call("11223344")
        await harness.until(lambda: router.runtime.queues.position("1818", waiting) == 1)
        await expect(page.locator("#linje-1818 ~ ul.plain")).to_contain_text("Borger 1 har ventet", timeout=12_000)
        agents = page.locator("#linje-1818 ~ ul.agents")
        await expect(agents).to_contain_text("agent1 ringer")
        await expect(agents).to_contain_text("agent2 ikke logget på")
        await expect(agents).to_contain_text("agent3 i eget opkald")
        await check_page(page, "06-nu-med-koe")
        sim.world.caller_hangs_up(waiting)

        # The other pages.
        await page.get_by_role("link", name="Kommende dage").click()
        await expect(page.locator("table")).to_contain_text("torsdag den 4. januar 2024")
        await check_page(page, "07-kommende-dage")
        await page.get_by_role("link", name="Skemaet").click()
        await expect(page.locator("main")).to_contain_text("Filen på disken er den, der gælder")
        text = schedule_file.read_text(encoding="utf-8")
        schedule_file.write_text(text.replace("thu: 15:00-17:00", "thu: 15:00-1700"), encoding="utf-8")
        assert not await source.check()  # rejected: the old schedule keeps serving
        await page.reload()
        await expect(page.locator("main")).to_contain_text("Den ændrede fil er afvist")
        assert source.rejected is not None
        await expect(page.locator("dl")).to_contain_text(f"Linje{source.rejected.line}")
        await expect(page.locator("dl")).to_contain_text("bad time '1700'")
        await check_page(page, "08-skemaet-afvist")
        await page.get_by_role("link", name="Log").click()
        await expect(page.locator("table")).to_contain_text("lukkede linjen")
        await check_page(page, "09-log")

        # An e-mail the mail server refused for good: the Nu page says so, and it is sent again.
        [kept] = stored_messages(tmp_path)
        with embedded(tmp_path) as data:
            MessageStore(data).record(kept.id, Delivery("failed", None, "refused by the mail server: 550 5.1.1"))
        await page.goto(base + "/ui/nu")
        await page.get_by_role("link", name="Se og send igen").click()
        await expect(page.locator("main")).to_contain_text("550 5.1.1")
        await check_page(page, "11-e-mail")
        await page.get_by_role("button", name="Send igen").click()
        await expect(page.locator("main")).to_contain_text("E-mailen sendes igen om et øjeblik.")
        await page.goto(base + "/ui/beskeder")
        await page.locator("li.message").first.get_by_role("link", name="Slet").click()
        await check_page(page, "10-slet")

        # Sign out: the session is gone.
        await page.get_by_role("button", name="Log ud").click()
        await expect(page).to_have_url(base + "/ui/log-ind")
        await page.goto(base + "/ui/nu")
        await expect(page).to_have_url(base + "/ui/log-ind")
        await context.close()


def test_the_readmes_screenshots_exist() -> None:
    """The README shows screenshots the browser test took (copied from test-artifacts/screenshots/)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r"\(docs/screenshots/([^)]+\.png)\)", readme)
    assert shown, "the README shows no screenshots"
    for name in shown:
        assert (ROOT / "docs" / "screenshots" / name).is_file(), name


async def test_in_the_browser_staff_cannot_change_the_line_and_nothing_is_open_without_a_session(
    browser: Browser, sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    make_accounts(tmp_path)
    api = ApiConfig("127.0.0.1", 0, "t" * 32)
    async with start(sim, shipped, tmp_path, CLOSED, api=api) as router:
        await Harness(sim, router, tmp_path).leave_message("12345678")
        assert router.api_url is not None
        base = router.api_url
        context = await browser.new_context(bypass_csp=True)
        page = await context.new_page()
        [message_id] = [m.id for m in stored_messages(tmp_path)]
        audio = f"{base}/ui/beskeder/{message_id}/lyd"
        assert (await page.request.get(audio)).status == 401
        assert (await page.request.get(base + "/ui/nu/indhold")).status == 401

        await page.goto(base + "/ui/log-ind")
        await page.get_by_label("Brugernavn").fill("anna")
        await page.get_by_label("Adgangskode").fill(PASSWORDS["anna"])
        await page.get_by_role("button", name="Log ind").click()
        await expect(page).to_have_url(base + "/ui/nu")
        assert (await page.request.get(audio)).status == 200  # the session's cookie goes with it
        await page.get_by_role("link", name="Åbn/luk").click()
        await expect(page.locator("main")).to_contain_text("Kun operatører kan åbne og lukke linjen.")
        assert await page.get_by_role("button", name="Vis, hvad borgerne hører").count() == 0
        assert await page.get_by_role("link", name="Log").count() == 0
        await page.goto(base + "/ui/log")
        await expect(page.locator(".error")).to_contain_text("Kun operatører kan se loggen")
        await check_page(page, "11-ikke-tilladt")
        # A form without the CSRF token, from inside the signed-in browser, is refused.
        forged = await page.request.post(base + f"/ui/beskeder/{message_id}/ringet-op", form={"x": "1"})
        assert forged.status == 403
        assert not stored_messages(tmp_path)[0].handled

        await page.get_by_role("button", name="Log ud").click()
        await expect(page).to_have_url(base + "/ui/log-ind")
        assert (await page.request.get(audio)).status == 401
        await context.close()
