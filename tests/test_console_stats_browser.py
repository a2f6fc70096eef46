"""Statistik and Tavle in a real browser (Debian's chromium), as an office manager and a wall screen
meet them: a call log of three days written for the test, read as charts and tables, chosen by
period, downloaded as CSV and read back; the wallboard large and live. axe-core checks both pages
against WCAG 2.1 A and AA (tests/test_console_browser.py's check_page, which also takes the
screenshots; those in docs/screenshots/ are copies).
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections.abc import AsyncIterator
from pathlib import Path

from playwright.async_api import Browser, Locator, expect

from asterisk_sim import AgentScript, Simulator
from router.app import Running
from router.office.call_log import CallLog, CallRecord
from router.office.messages import Message, MessageStore
from router.schedule import Schedule
from router.web.http_api import ApiConfig
from tests.conftest import embedded, local
from tests.console_client import PASSWORDS, make_accounts
from tests.test_console_browser import browser, check_page, pytestmark, sim  # noqa: F401 (fixtures, the skip)
from tests.test_router_sim import OPEN, Harness, start

HEADER = [
    "dato", "opkald", "i telefontiden", "uden for telefontiden", "besvaret", "lagt på i køen", "overløb",
    "beskeder", "ringet op", "ventetid median (s)", "ventetid 90 % (s)",
]  # fmt: skip


def write_call_log(data: Path) -> None:
    """Tuesday 2 January: 2 answered (waits 30 and 90 s), 1 message after hours (called back).
    Wednesday: nothing. Thursday 4 January (the router's today): 3 answered (10, 20, 60 s), 2 gave up."""
    records = [
        CallRecord("a1", "1818", local("2024-01-02T10:05"), True, "answered", 200, 30),
        CallRecord("a2", "1818", local("2024-01-02T10:20"), True, "answered", 300, 90),
        CallRecord("a3", "1818", local("2024-01-02T19:00"), False, "message_left", 40),
        CallRecord("b1", "1818", local("2024-01-04T09:00"), True, "answered", 100, 10),
        CallRecord("b2", "1818", local("2024-01-04T09:10"), True, "answered", 100, 20),
        CallRecord("b3", "1818", local("2024-01-04T15:01"), True, "answered", 100, 60),
        CallRecord("b4", "1818", local("2024-01-04T15:05"), True, "caller_gave_up", 100, 45),
        CallRecord("b5", "1818", local("2024-01-04T15:06"), True, "caller_gave_up", 100, 15),
    ]
    with embedded(data) as store:
        CallLog(store).add_all(records)
        message = Message("m1", "1818", "12345678", local("2024-01-02T19:00:30"), "r1", 20, handled=True)
        MessageStore(store).save(message)


@contextlib.asynccontextmanager
async def console_at(simulated: Simulator, shipped: Schedule, data: Path) -> AsyncIterator[tuple[Running, str]]:
    """The router with its console in phone hours (Thursday 4 January 2024, 15.30), the accounts and
    the call log written; and the console's address."""
    make_accounts(data)
    write_call_log(data)
    async with start(simulated, shipped, data, OPEN, api=ApiConfig("127.0.0.1", 0, "t" * 32)) as router:
        assert router.api_url is not None
        yield router, router.api_url


async def test_an_office_manager_reads_a_period_as_charts_and_tables_and_downloads_it(
    browser: Browser,  # noqa: F811
    sim: Simulator,  # noqa: F811
    shipped: Schedule,
    tmp_path: Path,
) -> None:
    async with console_at(sim, shipped, tmp_path) as (_, base):
        context = await browser.new_context(
            bypass_csp=True, viewport={"width": 1200, "height": 900}, locale="da-DK", accept_downloads=True
        )
        page = await context.new_page()
        assert (await page.request.get(base + "/ui/statistik.csv")).url.endswith("/ui/log-ind")
        await page.goto(base + "/ui/statistik")
        await expect(page).to_have_url(base + "/ui/log-ind")  # no figures without a session
        await page.get_by_label("Brugernavn").fill("anna")  # staff, not only operators: no personal data
        await page.get_by_label("Adgangskode").fill(PASSWORDS["anna"])
        await page.get_by_role("button", name="Log ind").click()
        await page.get_by_role("link", name="Statistik").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Statistik")

        await page.get_by_label("Fra og med").fill("2024-01-02")
        await page.get_by_label("Til og med").fill("2024-01-04")
        await page.get_by_role("button", name="Vis").click()
        await expect(page).to_have_url(base + "/ui/statistik?fra=2024-01-02&til=2024-01-04")
        assert await rows_of(page.get_by_role("table", name="I alt for perioden")) == [
            ["I alt", "8", "7", "1", "5", "2", "0", "1", "1", "30 s", "90 s"]
        ]
        days = page.get_by_role("table", name="Tallene pr. dag")
        assert await rows_of(days) == [
            ["tirsdag 2.1.2024", "3", "2", "1", "2", "0", "0", "1", "1", "60 s", "90 s"],
            ["onsdag 3.1.2024", "0", "0", "0", "0", "0", "0", "0", "0", "–", "–"],
            ["torsdag 4.1.2024", "5", "5", "0", "3", "2", "0", "0", "0", "20 s", "60 s"],
        ]
        assert await rows_of(page.get_by_role("table", name="Tallene pr. uge")) == [
            ["Uge 1 2024", "8", "7", "1", "5", "2", "0", "1", "1", "30 s", "90 s"]
        ]
        hours = await rows_of(page.get_by_role("table", name="Opkald pr. time på døgnet"))
        assert [int(n) for n in hours[0]] == [0] * 9 + [2, 2, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0]
        week = {
            row[0]: [int(n) for n in row[1:]]
            for row in await rows_of(page.get_by_role("table", name="Opkald pr. ugedag og time"))
        }
        assert (week["Tirsdag"][10], week["Tirsdag"][19], week["Torsdag"][9], week["Torsdag"][15]) == (2, 1, 2, 3)
        assert sum(map(sum, week.values())) == 8
        for name in ("Opkald pr. dag", "Sådan endte opkaldene, pr. uge", "Ventetid før svar, pr. uge (sekunder)",
                     "Hvornår på dagen der ringes", "Hvornår på ugen der ringes"):  # fmt: skip
            await expect(page.get_by_role("img", name=name)).to_be_visible()
        await check_page(page, "20-statistik")

        async with page.expect_download() as download_info:
            await page.get_by_role("link", name="Hent dagenes tal som CSV").click()
        download = await download_info.value
        assert download.suggested_filename == "statistik-2024-01-02-2024-01-04.csv"
        assert read_csv(await download.path()) == [
            HEADER,
            ["2024-01-02", "3", "2", "1", "2", "0", "0", "1", "1", "60", "90"],
            ["2024-01-03", "0", "0", "0", "0", "0", "0", "0", "0", "", ""],
            ["2024-01-04", "5", "5", "0", "3", "2", "0", "0", "0", "20", "60"],
        ]

        # A period that ends before it begins: said, in Danish, and the form kept as typed.
        await page.get_by_label("Fra og med").fill("2024-01-05")
        await page.get_by_role("button", name="Vis").click()
        await expect(page.get_by_role("alert")).to_have_text("Perioden slutter, før den begynder.")
        await expect(page.get_by_label("Fra og med")).to_have_value("2024-01-05")
        bad = await page.request.get(base + "/ui/statistik?fra=2024-13-01&til=2024-01-04")
        assert bad.status == 400
        assert "Skriv datoerne som år-måned-dag" in await bad.text()
        await context.close()


def read_csv(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")  # Excel then reads it as UTF-8 (æ, ø, å in the header)
    return list(csv.reader(text[1:].splitlines(), delimiter=";"))


async def rows_of(table: Locator) -> list[list[str]]:
    return [
        [(await cell.inner_text()).strip() for cell in await row.locator("th, td").all()]
        for row in await table.locator("tbody tr").all()
    ]


async def test_the_wallboard_shows_today_large_and_live(
    browser: Browser,  # noqa: F811
    sim: Simulator,  # noqa: F811
    shipped: Schedule,
    tmp_path: Path,
) -> None:
    sim.world.set_endpoint("PJSIP/agent1", AgentScript("no-answer"))
    sim.world.set_endpoint("PJSIP/agent2", AgentScript("offline"))
    sim.world.set_endpoint("PJSIP/agent3", AgentScript("no-answer"))
    async with console_at(sim, shipped, tmp_path) as (router, base):
        context = await browser.new_context(bypass_csp=True, viewport={"width": 1920, "height": 1080}, locale="da-DK")
        page = await context.new_page()
        assert (await page.request.get(base + "/ui/tavle/indhold")).status == 401
        await page.goto(base + "/ui/tavle")
        await expect(page).to_have_url(base + "/ui/log-ind")
        await page.get_by_label("Brugernavn").fill("anna")
        await page.get_by_label("Adgangskode").fill(PASSWORDS["anna"])
        await page.get_by_role("button", name="Log ind").click()
        await page.get_by_role("link", name="Vis som tavle").click()
        await expect(page).to_have_url(base + "/ui/tavle")

        board = page.locator("section.board", has=page.get_by_role("heading", name="1818"))
        await expect(board.get_by_role("heading")).to_contain_text("Åben")
        assert await tiles(board) == {
            "Venter": "0", "Længst ventet (min:sek)": "–", "Ledige medarbejdere": "2", "Besvaret i dag": "3",
            "Lagt på i dag": "2",
        }  # fmt: skip
        # Readable from across a room: the figures are over an inch high on a 1080p screen.
        size = await board.locator("dd").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
        assert size >= 96

        harness = Harness(sim, router, tmp_path)
        waiting = await harness.call("11223344")
        await harness.until(lambda: router.runtime.queues.position("1818", waiting) == 1)
        venter = board.locator(".tile", has=page.get_by_text("Venter", exact=True)).locator("dd")
        await expect(venter).to_have_text("1", timeout=12_000)  # without a reload
        await page.reload()
        assert re.fullmatch(r"0:0[0-9]", (await tiles(board))["Længst ventet (min:sek)"])
        # Only the line with a queue: the direct numbers (handed to the dialplan) would crowd the wall.
        assert await page.locator("section.board").count() == 1
        await check_page(page, "21-tavle")
        sim.world.caller_hangs_up(waiting)
        await context.close()


async def tiles(board: Locator) -> dict[str, str]:
    return {
        (await t.locator("dt").inner_text()).strip(): (await t.locator("dd").inner_text()).strip()
        for t in await board.locator(".tile").all()
    }
