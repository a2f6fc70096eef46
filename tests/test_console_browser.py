"""The console in a real browser (Debian's chromium, driven by Playwright), as the office uses it.

An operator signs in with the keyboard, sees the message a simulated call just left, plays it (the
audio element loads it and knows its length), marks it "ringet op", closes the line until the next
change and previews what callers will hear; the next simulated call hears exactly that. Then the
line is opened again, the "Nu" page shows the next caller waiting without a reload, and the
operator signs out. axe-core checks every page against WCAG 2.1 A and AA; each page is also
checked on a phone's width. Screenshots of every page go to test-artifacts/screenshots/.

Beskeder also meets what callers really send and as many messages as a busy month leaves: caller ids
10 kB long, with a right-to-left override or a NUL; pages that stay small and fetch no audio until
someone plays; a play logged once, however the player seeks.
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import struct
import wave
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from asterisk_sim import AgentScript, Simulator
from router.office.accounts import AccountStore
from router.office.messages import Delivery, Message, MessageStore
from router.office.overrides import OverrideStore
from router.schedule import Schedule
from router.schedule.reload import ScheduleSource
from router.web.http_api import ApiConfig
from tests.ari_helpers import until
from tests.conftest import ROOT, embedded, local, stored_messages
from tests.console_client import PASSWORDS, make_accounts
from tests.test_queue_sim import answered_recently
from tests.test_router_sim import CLOSED, OPEN, Harness, simulator, start

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
        # A test's audio.play() counts as pressing play (Chromium's autoplay policy wants a gesture).
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"]
        )
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
        await expect(page.locator("#linje-1818 ~ p.estimate")).to_contain_text("for lidt at gå efter")
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
        # An address that is no page: a Danish page of the console, with the way back.
        await page.goto(base + "/ui/findes-ikke")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Siden findes ikke")
        await check_page(page, "14-ikke-fundet")
        await page.get_by_role("link", name="Til forsiden").click()
        await expect(page).to_have_url(base + "/ui/nu")
        # A form without the CSRF token, from inside the signed-in browser, is refused.
        forged = await page.request.post(base + f"/ui/beskeder/{message_id}/ringet-op", form={"x": "1"})
        assert forged.status == 403
        assert not stored_messages(tmp_path)[0].handled

        await page.get_by_role("button", name="Log ud").click()
        await expect(page).to_have_url(base + "/ui/log-ind")
        assert (await page.request.get(audio)).status == 401
        await context.close()


RLO = "\u202e"
FIRST = local("2024-01-01T08:00")
PLAYING = "audio => { audio.play(); return new Promise(ok => audio.addEventListener('timeupdate', ok, {once: true})); }"


def tone(seconds: float, rate: int = 8000) -> bytes:
    """A WAV of a 440 Hz tone, as Asterisk records (8 kHz, 16 bit, mono)."""
    samples = b"".join(struct.pack("<h", int(8000 * math.sin(i * 2 * math.pi * 440 / rate))) for i in range(rate))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples * int(seconds))
    return out.getvalue()


def leave(data: Path, callers: list[str], audio: bytes) -> list[Message]:
    """Messages from `callers`, a minute apart, the first the oldest; each with its audio in the store."""
    found = []
    with embedded(data) as site:
        store = MessageStore(site)
        for i, caller in enumerate(callers):
            message = Message(
                f"m{i:05d}", "1818", caller, FIRST + timedelta(minutes=i), f"rec-{i}", int(len(audio) / 16000)
            )
            store.save(message, audio=audio)
            found.append(message)
    return found


def plays(data: Path) -> list[str]:
    with embedded(data) as site:
        return [e.detail for e in AccountStore(site).audit_log() if e.action == "afspillede besked"]


async def signed_in(browser: Browser, base: str, audio_requests: list[str]) -> Page:
    context = await browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900}, locale="da-DK")
    page = await context.new_page()
    page.on("request", lambda r: audio_requests.append(r.url) if r.url.endswith("/lyd") else None)
    await page.goto(base + "/ui/log-ind")
    await page.get_by_label("Brugernavn").fill("ole")
    await page.get_by_label("Adgangskode").fill(PASSWORDS["ole"])
    await page.get_by_role("button", name="Log ind").click()
    await expect(page).to_have_url(base + "/ui/nu")
    return page


async def test_caller_ids_show_what_they_are_and_cannot_widen_or_reorder_the_page(
    browser: Browser, sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    make_accounts(tmp_path)
    long_id = "4" * 10_240
    leave(tmp_path, [long_id, RLO + "87654321 ring tilbage", "1234\x005678", "12345678"], tone(1))
    api = ApiConfig("127.0.0.1", 0, "t" * 32)
    async with start(sim, shipped, tmp_path, CLOSED, api=api) as router:
        assert router.api_url is not None
        page = await signed_in(browser, router.api_url, [])
        await page.goto(router.api_url + "/ui/beskeder")
        headings = page.locator("li.message h2")
        await expect(headings).to_have_count(4)

        # Newest first: the lookalike, the NUL, the override, the 10 kB id.
        plain, nul, override, long = [await headings.nth(i).inner_text() for i in range(4)]
        assert nul != plain
        assert "1234U+FFFD5678" in nul  # a mark where the NUL was (the store keeps U+FFFD for it)
        assert await headings.nth(1).locator(".ctl").count() == 1

        # The override is a mark, and the digits are laid out in the order they were sent.
        assert "U+202E" in override
        lefts = (
            await headings.nth(2)
            .locator("bdi")
            .evaluate(
                """bdi => {
                const text = [...bdi.childNodes].find(n => n.nodeType === 3 && n.textContent.includes('8765'));
                const range = document.createRange();
                return [...text.textContent].map((c, i) => {
                    range.setStart(text, i); range.setEnd(text, i + 1);
                    return [c, range.getBoundingClientRect().left];
                }).filter(([c]) => /[0-9]/.test(c));
            }"""
            )
        )
        assert "".join(c for c, _ in lefts) == "87654321"
        assert [x for _, x in lefts] == sorted(x for _, x in lefts), lefts

        # The 10 kB id takes a line; the whole is there on request, and nothing is wider than the window.
        assert len(long) < 100
        assert "10.240 tegn" in long
        whole = page.locator("li.message").nth(3).locator("details.whole")
        await whole.locator("summary").click()
        assert (await whole.locator("p").inner_text()).count("4") == 10_240
        width = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert width <= 0, f"the page is {width} px wider than the window"
        await check_page(page, "12-beskeder-opkalds-id")  # and on a phone's width


async def test_page_views_log_no_play_and_a_play_is_logged_once_however_it_seeks(
    browser: Browser, sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    make_accounts(tmp_path)
    [message, _] = leave(tmp_path, ["12345678", "87654321"], tone(60))  # a minute: more than a player buffers at once
    api = ApiConfig("127.0.0.1", 0, "t" * 32)
    async with start(sim, shipped, tmp_path, CLOSED, api=api) as router:
        assert router.api_url is not None
        audio_requests: list[str] = []
        page = await signed_in(browser, router.api_url, audio_requests)
        for _ in range(3):
            await page.goto(router.api_url + "/ui/beskeder")
            await expect(page.locator("li.message")).to_have_count(2)
        await page.wait_for_timeout(1000)
        assert (audio_requests, plays(tmp_path)) == ([], [])

        player = page.locator("li.message").nth(1).locator("audio")  # the oldest: the first message
        await player.evaluate(PLAYING)
        # Seek far ahead, past what the player has: it asks for that part, and the audio goes on from there.
        seeked = await player.evaluate(
            """audio => new Promise(ok => {
                audio.addEventListener('seeked', () => ok(audio.currentTime), {once: true});
                audio.currentTime = 50;
            })"""
        )
        assert seeked == pytest.approx(50, abs=0.5)
        assert await player.evaluate("audio => audio.seekable.end(0)") == pytest.approx(60, abs=0.5)
        await player.evaluate("audio => audio.pause()")
        assert plays(tmp_path) == [message.id]
        assert len(audio_requests) >= 1


async def test_beskeder_with_many_messages_pages_to_the_oldest_and_fetches_no_audio_until_a_play(
    browser: Browser, sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    make_accounts(tmp_path)
    callers = [f"2000{i:04d}" for i in range(130)]
    leave(tmp_path, callers, tone(1))
    api = ApiConfig("127.0.0.1", 0, "t" * 32)
    async with start(sim, shipped, tmp_path, CLOSED, api=api) as router:
        assert router.api_url is not None
        audio_requests: list[str] = []
        page = await signed_in(browser, router.api_url, audio_requests)
        await page.goto(router.api_url + "/ui/beskeder")
        messages = page.locator("li.message")
        await expect(messages).to_have_count(50)
        await expect(messages.first.locator("h2")).to_contain_text(callers[-1])  # the newest
        await expect(page.locator(".pages")).to_contain_text("Side 1 af 3")
        await check_page(page, "13-beskeder-sider")
        seen = 0
        while await page.get_by_role("link", name="Ældre").count():
            async with page.expect_navigation():
                await page.get_by_role("link", name="Ældre").click()
            seen += 1
        await expect(page.locator(".pages")).to_contain_text("Side 3 af 3")
        await expect(messages).to_have_count(30)
        await expect(messages.last.locator("h2")).to_contain_text(callers[0])  # the oldest
        assert seen == 2
        await page.wait_for_timeout(500)
        assert audio_requests == []
        await messages.last.locator("audio").evaluate(PLAYING)
        assert all(url.endswith("/ui/beskeder/m00000/lyd") for url in audio_requests)

        # Marking one "ringet op" keeps the office on the page it was on; the filter leaves the handled out.
        await messages.last.get_by_role("button", name="Ringet op").click()
        await expect(page.locator(".notice")).to_have_text("Beskeden er markeret som ringet op.")
        await expect(page.locator(".pages")).to_contain_text("Side 3 af 3")
        await page.select_option("#vis", "ikke-ringet-op")
        await page.get_by_role("button", name="Vis", exact=True).click()
        await expect(page.locator("main")).to_contain_text("Besked 1–50 af 129")


async def test_nu_shows_the_wait_a_caller_calling_now_would_hear(
    browser: Browser, sim: Simulator, shipped: Schedule, tmp_path: Path
) -> None:
    make_accounts(tmp_path)
    answered_recently(tmp_path, minutes_apart=3, count=5)  # the call log of the last while: one every 3 minutes
    for agent in ("agent1", "agent2", "agent3"):
        sim.world.set_endpoint(f"PJSIP/{agent}", AgentScript("offline"))
    async with start(sim, shipped, tmp_path, OPEN, api=ApiConfig("127.0.0.1", 0, "t" * 32)) as router:
        assert router.api_url is not None
        context = await browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900}, locale="da-DK")
        page = await context.new_page()
        await page.goto(router.api_url + "/ui/log-ind")
        await page.get_by_label("Brugernavn").fill("anna")
        await page.get_by_label("Adgangskode").fill(PASSWORDS["anna"])
        await page.get_by_role("button", name="Log ind").click()
        estimate = page.locator("#linje-1818 ~ p.estimate")
        await expect(estimate).to_have_text("Forventet ventetid for den næste, der ringer: omkring 3 minutter.")
        waiting = sim.world.place_call("11223344", "1818", "router", ["1818"]).id
        await until(lambda: router.runtime.queues.position("1818", waiting) == 1)
        await expect(estimate).to_contain_text("omkring 6 minutter", timeout=12_000)  # by itself: behind one
        await check_page(page, "06b-nu-ventetid")
        sim.world.caller_hangs_up(waiting)
