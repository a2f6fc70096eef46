"""Lukninger in a real browser (Debian's chromium, Playwright), as an operator plans next week: a half
day for a course, previewed day by day with what callers will hear, saved, shown under Kommende dage,
changed to the whole day, refused when too long or in the past, deleted; the Log has each change with
before and after. Staff read the list and cannot plan. axe-core checks each page (WCAG 2.1 A and AA)
and a phone's width, as tests/test_console_browser.py does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from asterisk_sim import Simulator
from router.app import RouterConfig, running
from router.ari import AriConfig
from router.calls.prompts import DEFAULT_MANIFEST
from router.office import calendars as calendars_module
from router.office.closures import ClosureStore
from router.schedule import Schedule
from router.web.http_api import ApiConfig
from tests.ari_helpers import until
from tests.conftest import embedded
from tests.console_client import PASSWORDS, make_accounts
from tests.test_calendar_subscription import CalendarServer, calendar_server, subscribed, the_office
from tests.test_console_browser import CHROMIUM, check_page, pytestmark  # noqa: F401 (the browser tier's skip)
from tests.test_router_sim import CLOSED, simulator, start


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            await launched.close()


async def sign_in(browser: Browser, base: str, name: str) -> Page:
    context = await browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900}, locale="da-DK")
    page = await context.new_page()
    await page.goto(base + "/ui/log-ind")
    await page.get_by_label("Brugernavn").fill(name)
    await page.get_by_label("Adgangskode").fill(PASSWORDS[name])
    await page.get_by_role("button", name="Log ind").click()
    await expect(page).to_have_url(base + "/ui/nu")
    return page


async def plan(page: Page, first: str, last: str = "", hours: tuple[str, str] | None = None) -> None:
    await page.fill("#fra", first)
    await page.fill("#til", last)
    if hours is None:
        await page.get_by_label("Hele dagen").check()
    else:
        await page.get_by_label("Fra et klokkeslæt til et andet:").check()
        await page.fill("#fra_kl", hours[0])
        await page.fill("#til_kl", hours[1])
    await page.select_option("#aarsag", "training")
    await page.get_by_role("button", name="Vis dagene, og hvad borgerne hører").click()


async def test_an_operator_plans_next_weeks_closures_in_the_browser(
    browser: Browser, shipped: Schedule, tmp_path: Path
) -> None:
    make_accounts(tmp_path)
    api = ApiConfig("127.0.0.1", 0, "t" * 32)
    sim: Simulator
    async with simulator(shipped) as sim, start(sim, shipped, tmp_path, CLOSED, api=api) as router:  # Thu 4 Jan 12.30
        assert router.api_url is not None
        base = router.api_url
        page = await sign_in(browser, base, "ole")
        await page.get_by_role("link", name="Lukninger").click()
        await expect(page.locator("table")).to_contain_text("Ingen planlagte lukninger.")
        await check_page(page, "15-lukninger")

        # Friday 10-11, a course: Friday's hours 10-12 become 11-12; callers hear the course message.
        await page.fill("#note", "Kursus i det nye system")
        await plan(page, "2024-01-05", hours=("10:00", "11:00"))
        row = page.locator("table tbody tr")
        await expect(row).to_have_count(1)
        await expect(row.locator("th")).to_have_text("fredag den 5. januar 2024")
        await expect(row.locator("td").nth(0)).to_have_text("10.00–12.00")
        await expect(row.locator("td").nth(1)).to_have_text("11.00–12.00")
        await expect(row.locator("td").nth(2)).to_contain_text("Vi har lukket for telefonen, mens vi er på kursus")
        await expect(row.locator("td").nth(2)).to_contain_text("Vi har telefontid igen i dag klokken 11")
        await check_page(page, "16-lukning-bekraeft")
        await page.get_by_role("button", name="Gem lukningen").click()
        await expect(page.locator(".notice")).to_have_text("Lukningen er gemt.")
        await expect(page.locator("table")).to_contain_text("Kursus i det nye system")

        # Every place the schedule shows itself has it: Kommende dage (and the running router's calls).
        await page.get_by_role("link", name="Kommende dage").click()
        friday = page.locator("tr", has_text="fredag den 5. januar 2024")
        await expect(friday).to_contain_text("11.00–12.00")
        await expect(friday).to_contain_text("Kursus i det nye system")
        ics = await (await page.request.get(base + "/ui/dage.ics?linje=1818")).text()  # the calendar export
        assert "DTSTART;TZID=Europe/Copenhagen:20240105T110000" in ics
        assert "DTSTART;TZID=Europe/Copenhagen:20240105T100000" not in ics

        # Changed to the whole day, until it begins.
        await page.get_by_role("link", name="Lukninger").click()
        await page.get_by_role("link", name="Ændr lukningen fredag den 5. januar 2024").click()
        await expect(page.locator("#note")).to_have_value("Kursus i det nye system")
        await plan(page, "2024-01-05")
        await expect(page.locator("table tbody tr td").nth(1)).to_have_text("lukket")
        await page.get_by_role("button", name="Gem ændringen").click()
        await expect(page.locator(".notice")).to_have_text("Lukningen er gemt.")
        with embedded(tmp_path) as data:
            [kept] = ClosureStore(data).all()
        assert (kept.whole_day, kept.by, kept.note) == (True, "ole", "Kursus i det nye system")

        # What the schedule does not allow is refused, with the reason, and nothing is kept.
        await plan(page, "2024-01-08", "2024-01-31")
        await expect(page.locator(".error")).to_contain_text("skemaet tillader højst 14")
        await check_page(page, "17-lukning-afvist")
        await page.evaluate("document.querySelector('#fra').removeAttribute('min')")
        await plan(page, "2024-01-03")
        await expect(page.locator(".error")).to_contain_text("fortiden")

        # Deleted; the Log has each change, before and after.
        await page.get_by_role("button", name="Slet lukningen fredag den 5. januar 2024").click()
        await expect(page.locator(".notice")).to_have_text("Lukningen er slettet.")
        await page.get_by_role("link", name="Log").click()
        log = page.locator("table")
        await expect(log).to_contain_text("planlagde lukning")
        await expect(log).to_contain_text("efter: 1818 2024-01-05 10:00-11:00 (training): Kursus i det nye system")
        await expect(log).to_contain_text("ændrede lukning")
        await expect(log).to_contain_text("slettede lukning")

        # Staff see the list, and no form.
        staff = await sign_in(browser, base, "anna")
        await staff.get_by_role("link", name="Lukninger").click()
        await expect(staff.locator("main")).to_contain_text("Kun operatører kan planlægge lukninger.")
        assert await staff.locator("#fra").count() == 0


async def test_skemaet_says_when_the_offices_calendar_fails(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calendars_module, "LOOK_SECONDS", 0.05)
    make_accounts(tmp_path)
    now = [CLOSED]
    async with calendar_server() as server:
        schedule = subscribed(server.url)
        server.body = the_office()
        await served(browser, server, schedule, tmp_path, now)


async def served(
    browser: Browser, server: CalendarServer, schedule: Schedule, tmp_path: Path, now: list[datetime]
) -> None:
    async with simulator(schedule) as sim:
        config = RouterConfig(AriConfig(sim.url, "router", "router", "secret"), schedule, tmp_path, DEFAULT_MANIFEST,
                              api=ApiConfig("127.0.0.1", 0, "t" * 32))  # fmt: skip
        async with running(config, clock=lambda: now[0]) as router:
            assert router.api_url is not None
            page = await sign_in(browser, router.api_url, "anna")
            await page.get_by_role("link", name="Skemaet").click()
            await expect(page.locator("main")).to_contain_text("Kalenderen er hentet torsdag den 4. januar 2024")
            server.status = 500
            now[0] += timedelta(minutes=1)
            await until(lambda: server.answers[-1] == 500)
            await page.reload()
            error = page.locator(".error")
            await expect(error).to_contain_text("Kalenderen kunne ikke hentes eller læses")
            await expect(error).to_contain_text("HTTP 500")
            await expect(error).to_contain_text("Den sidste gode kopi (hentet torsdag den 4. januar 2024 kl. 12.30")
            await check_page(page, "18-skemaet-kalender")
