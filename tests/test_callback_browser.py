"""The console's pages that the queue's callback changed, in Chromium with axe-core (WCAG 2.1 A and AA):
Nu with a callback waiting in line before a caller, and Beskeder with a callback that became a message."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from asterisk_sim import AgentScript
from router.office.messages import Message, MessageStore
from router.schedule import Schedule
from router.web.http_api import ApiConfig
from tests.ari_helpers import until
from tests.conftest import embedded
from tests.console_client import make_accounts
from tests.test_callback_sim import Office, requested
from tests.test_console_browser import browser, check_page, pytestmark
from tests.test_console_closures_browser import sign_in
from tests.test_router_sim import OPEN, simulator

__all__ = ["browser", "pytestmark"]  # the browser tier's fixture and skip, shared

NOT_MADE = "2 forsøg: optaget, intet svar"


async def test_nu_and_beskeder_with_callbacks_have_no_accessibility_violations(
    browser: Browser, shipped: Schedule, tmp_path: Path
) -> None:
    make_accounts(tmp_path)
    with embedded(tmp_path) as data:  # a callback of an hour ago that was not made, as callback_runner keeps it
        MessageStore(data).save(
            Message("callback-c1", "1818", "22334455", OPEN.replace(hour=14), "", None, callback=NOT_MADE)
        )
    async with simulator(shipped) as sim:
        office = Office(sim, shipped, tmp_path)
        office.phones(agent1=AgentScript("offline"), agent2=AgentScript("offline"))
        async with office.router(api=ApiConfig("127.0.0.1", 0, "t" * 32)) as router:
            assert router.api_url is not None
            await requested(office, router)
            later = office.call("87654320")
            await until(lambda: router.runtime.queues.position("1818", later) == 2)
            page = await sign_in(browser, router.api_url, "anna")
            await expect(page.locator("main")).to_contain_text("Tilbagekald, der venter: 1.", timeout=10_000)
            await expect(page.locator("main")).to_contain_text("og ringes op, når det er deres tur")
            await check_page(page, "06c-nu-tilbagekald")
            await page.get_by_role("link", name="Beskeder").click()
            await expect(page.locator("main")).to_contain_text(f"Vi forsøgte, men fik ikke fat i dem: {NOT_MADE}.")
            await check_page(page, "07c-beskeder-tilbagekald")
            await page.context.close()
