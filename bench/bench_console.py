"""Beskeder in Chromium as messages pile up: 50 messages (the baseline) against 5,000 (a busy month's
retention), in the same run, on the same router.

For each, an operator opens Beskeder ROUNDS times in Debian's chromium (Playwright); each time the
page's load event (from the navigation's start, the browser's own Navigation Timing), the bytes of the
page, and the audio requests the page has made two seconds after it loaded. Then a play on the page,
to show the audio is fetched when asked for. The figures for 5,000 are printed as ratios to those for
50: a page that does not grow with the list keeps them near 1.

(Until 2026-12-06 the page listed every message with a player that preloaded its metadata. This
benchmark, run then on that code, printed for 5,000 messages: load event 38,560 ms, page 3,729 kB,
1,000 audio requests 2 s after the load; x43.94 the load event and x97 the bytes of 50 messages.)

Run: .venv/bin/python bench/bench_console.py   (about a minute; saving 5,000 messages is most of it)
"""

from __future__ import annotations

import asyncio
import io
import math
import platform
import statistics
import struct
import sys
import tempfile
import time
import wave
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import Browser, async_playwright  # noqa: E402

from asterisk_sim import Simulator  # noqa: E402
from asterisk_sim.settings import ROUTER_EXAMPLE, load_settings  # noqa: E402
from router.app import RouterConfig, running  # noqa: E402
from router.ari import AriConfig  # noqa: E402
from router.calls.prompts import DEFAULT_MANIFEST  # noqa: E402
from router.office.accounts import AccountStore  # noqa: E402
from router.office.data_copy import open_site_store  # noqa: E402
from router.office.messages import Message, MessageStore  # noqa: E402
from router.office.store import StoreConfig  # noqa: E402
from router.schedule import load_schedule  # noqa: E402
from router.web.http_api import ApiConfig  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CPH = ZoneInfo("Europe/Copenhagen")
NOW = datetime(2024, 1, 31, 12, 30, tzinfo=CPH)
SIZES = (50, 5000)
ROUNDS = 5
PASSWORD = "bench-operator-password"


def one_second_wav() -> bytes:
    rate = 8000
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(struct.pack("<h", int(8000 * math.sin(i * 2 * math.pi * 440 / rate))) for i in range(rate))
        )
    return out.getvalue()


def stored(data: Path, count: int) -> None:
    """An operator, and `count` messages over the month before NOW, each with its audio."""
    audio = one_second_wav()
    with open_site_store(StoreConfig(), data) as store:
        AccountStore(store).add_user("ole", "operator", PASSWORD)
        messages = MessageStore(store)
        step = timedelta(days=30) / count
        for i in range(count):
            at = NOW - timedelta(days=30) + i * step
            messages.save(Message(f"m{i:05d}", "1818", f"{20000000 + i}", at, f"rec-{i}", 1), audio=audio)


async def measure(browser: Browser, base: str) -> tuple[float, int, int, bool]:
    """Median load event (ms) and page bytes over ROUNDS, the most audio requests 2 s after a load,
    and whether a play then fetched its audio."""
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    audio: list[str] = []
    page.on("request", lambda r: audio.append(r.url) if r.url.endswith("/lyd") else None)
    await page.goto(base + "/ui/log-ind")
    await page.fill("#navn", "ole")
    await page.fill("#adgangskode", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/ui/nu")
    loads, sizes, requests = [], [], []
    for _ in range(ROUNDS):
        audio.clear()
        await page.goto(base + "/ui/beskeder", wait_until="load", timeout=120_000)
        timing = await page.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return [n.loadEventStart, n.decodedBodySize]; })()"
        )
        await page.wait_for_timeout(2000)
        loads.append(timing[0])
        sizes.append(int(timing[1]))
        requests.append(len(audio))
    audio.clear()
    await page.locator("audio").first.evaluate("a => { a.muted = true; return a.play(); }")
    await page.wait_for_timeout(500)
    played = len(audio) > 0
    await context.close()
    return statistics.median(loads), int(statistics.median(sizes)), max(requests), played


async def main() -> None:
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    schedule = load_schedule(ROOT / "schedule.yaml")
    found: dict[int, tuple[float, int, int, bool]] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--autoplay-policy=no-user-gesture-required"]
        )
        for count in SIZES:
            with tempfile.TemporaryDirectory() as tmp:
                began = time.monotonic()
                await asyncio.to_thread(stored, Path(tmp), count)
                print(f"{count:5d} messages saved in {time.monotonic() - began:.1f} s")
                sim = Simulator("router", "secret", settings=load_settings(ROUTER_EXAMPLE))
                await sim.start()
                ari = AriConfig(url=sim.url, app="router", user="router", password="secret")
                api = ApiConfig("127.0.0.1", 0, "b" * 32)
                config = RouterConfig(ari, schedule, Path(tmp), DEFAULT_MANIFEST, api=api)
                try:
                    async with running(config, clock=lambda: NOW) as router:
                        assert router.api_url is not None
                        found[count] = await measure(browser, router.api_url)
                finally:
                    await sim.stop()
            load, size, requests, played = found[count]
            print(
                f"{count:5d} messages: load event {load:6.0f} ms, page {size / 1000:7.1f} kB, "
                f"{requests} audio requests 2 s after the load; a play fetched its audio: {played}"
            )
        await browser.close()
    (base_load, base_size, _, _), (load, size, requests, _) = found[SIZES[0]], found[SIZES[1]]
    print(
        f"{SIZES[1]} against {SIZES[0]} messages: load event x{load / base_load:.2f}, "
        f"page bytes x{size / base_size:.2f}, audio requests before a play: {requests}"
    )


if __name__ == "__main__":
    asyncio.run(main())
