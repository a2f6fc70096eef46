"""The router on a real Asterisk 22 (the test tier's): what a caller waits for, and how many calls it carries.

1. INVITE to first audio. A real SIP phone (baresip) dials 1818, which goes to the router
   (`callrouter run` with 1818 closed by an override: the guidance), and 1817, a pure-dialplan 1818 on the
   same Asterisk (GotoIfTime over the same hours, Answer, Playback of the same first prompt).
   Measured from writing `/dial` to the phone until the first audible sample it records: the
   phone's recording file appears with the first audio frame (looked for every 2 ms), plus the
   silence at its start. The same phone, prompt and measurement for both: the difference is
   the router.
2. New calls a second. Local channels into 1818 while it is closed, ten seconds at each rate, each
   caller listening for 3 s: how many the router took, shed or lost, its setup time, and the
   cores Asterisk and the router used. The highest rate with nothing shed or lost is what this
   Asterisk sustains with the router. Then, with the router stopped, the smallest hand-written
   aiohttp ARI loop (answer, play the same prompts) at the same rates: the floor any ARI
   application gets from this Asterisk. It sheds nothing: it shows what the calls the router
   shed would have waited.
3. Concurrent calls. Local channels into 1818 while it is closed, placed at 20 a second (below
   the router's limit of calls in setup), each caller listening to the guidance for a minute.
   At each level, the CPU of Asterisk and of the router over ten seconds once every call is in,
   and the router's memory: when Asterisk uses the machine's cores, Asterisk is the limit.

Needs root and the Asterisk root that scripts/asterisk-root builds (scripts/test builds it).
Run: .venv/bin/python bench/bench_real.py   (about eight minutes)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
import wave
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from bench_floor import read_events  # this folder: the script runs as bench/bench_real.py
from bench_router import guidance_media

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the real-Asterisk tier's harness lives with the tests

from router.office.overrides import OverrideStore  # noqa: E402
from router.office.store import StoreConfig, open_store  # noqa: E402
from router.schedule import Override  # noqa: E402
from tests import real_asterisk  # noqa: E402
from tests.router_process import RouterProcess, router_process  # noqa: E402
from tests.sip_phone import Phone, silence  # noqa: E402

ENTRY = "Local/20240104123000@router-down/n"
SAMPLES = 15
LEVELS = (50, 100, 200, 300)
RATE_STEPS = (10, 20, 30, 40, 60)
AUDIBLE = 300  # of 32767: above the line noise of a silent recording


# The router runs on the machine's own clock, 1818 closed by an override as the office's staff close it
# (`closed_now()`), not under faketime as the tests' routers are: faketime makes Python threads taking
# turns for the GIL cost several times their CPU (bench/bench_faketime.py says how and why), which the
# router, with its worker threads, would pay and the smallest loop, with none, would not. The calls' own
# time (ENTRY) only sets the dialplan fallback's clock (TESTTIME).
_routers = itertools.count(1)


@dataclass(frozen=True)
class Closed:
    override: Override  # 1818 closed from the benchmark's start until a day later
    media: str  # what the router plays a caller meanwhile, in one play request: the loop plays the same


@cache
def closed_now() -> Closed:
    """1818 closed for the benchmark, as staff close it (an override), from now: the same for every phase."""
    now = datetime.now(ZoneInfo("Europe/Copenhagen")).replace(microsecond=0)
    override = Override("1818", open=False, reason="staff_shortage", since=now, until=now + timedelta(days=1))
    return Closed(override, guidance_media(now, [override]))


@contextlib.asynccontextmanager
async def closed_router(url: str, folder: Path, env: Mapping[str, str] = {}) -> AsyncIterator[RouterProcess]:
    """`callrouter run` on the machine's clock with 1818 closed (`closed_now()`), connected to Asterisk."""
    data = folder / f"data-{next(_routers)}"
    closed = closed_now()
    with open_store(StoreConfig(), data) as store:
        OverrideStore(store).set(closed.override, closed.override.since)
    async with router_process(url, ROOT / "schedule.yaml", data, None, env) as process:
        await process.wait_for_line(r"ARI events: connected", within=20)
        yield process


def first_audible_seconds(path: Path) -> float:
    with wave.open(str(path)) as recording:
        frames = recording.readframes(recording.getnframes())
        rate = recording.getframerate()
    samples = memoryview(frames).cast("h")
    for i, sample in enumerate(samples):
        if abs(sample) > AUDIBLE:
            return float(i / rate)
    raise ValueError(f"{path}: nothing audible")


async def invite_to_audio(phone: Phone, number: str) -> float:
    before = set(phone.heard())
    began = time.monotonic()
    await phone.send(f"/dial sip:{number}@127.0.0.1:5060\n")
    async with asyncio.timeout(10):
        while not (new := set(phone.heard()) - before):  # noqa: ASYNC110 -- a file baresip writes
            await asyncio.sleep(0.002)
    appeared = time.monotonic() - began
    await asyncio.sleep(2.5)
    await phone.send("/hangup\n")
    await asyncio.sleep(0.7)
    return appeared + first_audible_seconds(new.pop())


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def concurrency(router: RouterProcess, asterisk: real_asterisk.RealAsterisk) -> list[str]:
    url = asterisk.url
    asterisk_pids = asterisk.pids()
    router_pids = group(router.process.pid)
    rows = []
    async with aiohttp.ClientSession(
        headers=real_asterisk.AUTHORIZATION, connector=aiohttp.TCPConnector(limit=10)
    ) as http:

        async def channels() -> list[dict[str, object]]:
            async with http.get(f"{url}/ari/channels") as response:
                return list(await response.json())

        def arrivals() -> int:  # calls the router took, and calls it shed
            taken = sum("from ******78 to 1818" in line for line in router.lines)
            return taken + sum("shed_to_dialplan" in line for line in router.lines)

        for level in LEVELS:
            arrived_before = arrivals()
            shed_before = sum("shed_to_dialplan" in line for line in router.lines)
            callers = []
            began = time.monotonic()
            for n in range(level):
                await asyncio.sleep(max(0.0, began + n / 20 - time.monotonic()))
                params = {"endpoint": ENTRY, "context": "callers", "extension": "hold90", "priority": "1",
                          "callerId": "Last <12345678>"}  # fmt: skip
                async with http.post(f"{url}/ari/channels", params=params) as response:
                    if response.status == 200:
                        callers.append((await response.json())["id"])

            async with asyncio.timeout(60):
                while arrivals() - arrived_before < len(callers):  # noqa: ASYNC110 -- the router's log, as it comes
                    await asyncio.sleep(0.2)
            await asyncio.sleep(2)
            a0, r0, t0 = cpu_seconds(asterisk_pids), cpu_seconds(router_pids), time.monotonic()
            await asyncio.sleep(10)
            seconds = time.monotonic() - t0
            asterisk_cores = (cpu_seconds(asterisk_pids) - a0) / seconds
            router_cores = (cpu_seconds(router_pids) - r0) / seconds
            memory = rss_mib(router_pids)
            live = len(await channels())
            shed = sum("shed_to_dialplan" in line for line in router.lines) - shed_before
            rows.append(f"{level:>5} {live:>9} {shed:>5} {asterisk_cores:>15.2f} {router_cores:>13.2f} {memory:>11.0f}")
            print(rows[-1], flush=True)
            for channel in callers:
                async with http.delete(f"{url}/ari/channels/{channel}"):
                    pass
            async with asyncio.timeout(60):
                while await channels():  # noqa: ASYNC110 -- polls Asterisk
                    await asyncio.sleep(0.5)
    return rows


def setup_histogram(text: str) -> dict[float, float]:
    """The router's setup histogram from /metrics: upper bound in seconds -> calls at or under it."""
    buckets = {}
    for line in text.splitlines():
        if line.startswith("callrouter_call_setup_seconds_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def quantile_bound(before: dict[float, float], after: dict[float, float], q: float) -> str:
    counts = {bound: after[bound] - before.get(bound, 0) for bound in sorted(after)}
    total = counts[float("inf")]
    if total == 0:
        return "-"
    bound = next(b for b, n in counts.items() if n >= q * total)
    return f"<= {bound * 1000:.0f}" if bound != float("inf") else "> 2500"


async def offer(http: aiohttp.ClientSession, url: str, rate: int) -> float:
    """Ten seconds of new calls at `rate` (each caller listens 3 s); wait until Asterisk has none left.
    Returns the rate at which Asterisk took the originates."""

    async def originate() -> bool:
        params = {"endpoint": ENTRY, "context": "callers", "extension": "hold3", "priority": "1",
                  "callerId": "Rate <12345601>"}  # fmt: skip
        async with http.post(f"{url}/ari/channels", params=params) as response:
            return response.status == 200

    began = time.monotonic()
    placed = []
    for n in range(rate * 10):
        await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
        placed.append(asyncio.create_task(originate()))
    accepted = sum(await asyncio.gather(*placed)) / (time.monotonic() - began)
    async with asyncio.timeout(120):
        while True:
            async with http.get(f"{url}/ari/channels") as response:
                if not await response.json():
                    return accepted
            await asyncio.sleep(0.5)


async def rates(router: RouterProcess, asterisk: real_asterisk.RealAsterisk) -> None:
    url = asterisk.url
    """The router at each rate: calls it took, shed and lost; setup from its /metrics; cores used."""
    api = (await router.wait_for_line(r"HTTP API on (\S+)", within=5)).group(1)
    asterisk_pids = asterisk.pids()
    router_pids = group(router.process.pid)
    async with aiohttp.ClientSession(
        headers=real_asterisk.AUTHORIZATION, connector=aiohttp.TCPConnector(limit=20)
    ) as http:

        async def metrics() -> dict[float, float]:
            async with http.get(f"{api}/metrics") as response:
                return setup_histogram(await response.text())

        for rate in RATE_STEPS:
            outcomes_before = [line for line in router.lines if " ended: " in line]
            before, a0, r0, t0 = await metrics(), cpu_seconds(asterisk_pids), cpu_seconds(router_pids), time.monotonic()
            accepted = await offer(http, url, rate)
            seconds = time.monotonic() - t0
            after = await metrics()
            ended = [line for line in router.lines if " ended: " in line][len(outcomes_before) :]
            shed = sum("shed_to_dialplan" in line for line in ended)
            failed = sum("error_fallback" in line for line in ended)
            asterisk_cores = (cpu_seconds(asterisk_pids) - a0) / seconds
            router_cores = (cpu_seconds(router_pids) - r0) / seconds
            print(
                f"{rate:>5} {accepted:>10.1f} {len(ended) - shed:>7} {shed:>5} {failed:>6} "
                f"{quantile_bound(before, after, 0.5):>9} {quantile_bound(before, after, 0.99):>9} "
                f"{asterisk_cores:>9.2f} {router_cores:>7.2f}",
                flush=True,
            )


async def floor_rates(url: str) -> None:
    """The smallest hand-written aiohttp ARI loop in the router's place (on StasisStart: answer, play the
    same guidance), at the same rates: what any ARI application gets from this Asterisk."""
    media = closed_now().media
    setups: list[float] = []
    failures = 0
    tasks: set[asyncio.Task[None]] = set()
    async with (
        aiohttp.ClientSession(headers=real_asterisk.AUTHORIZATION, connector=aiohttp.TCPConnector(limit=16)) as app,
        aiohttp.ClientSession(headers=real_asterisk.AUTHORIZATION, connector=aiohttp.TCPConnector(limit=20)) as load,
    ):

        async def handle(event: dict[str, Any]) -> None:
            nonlocal failures
            if event.get("type") != "StasisStart":
                return
            channel, began = event["channel"]["id"], time.monotonic()
            play = {"media": media, "lang": "da"}
            try:
                for path, params in (("answer", {}), ("play", play)):
                    address = f"{url}/ari/channels/{channel}/{path}"
                    async with app.post(address, params=params, timeout=aiohttp.ClientTimeout(total=10)) as response:
                        if response.status >= 500:
                            failures += 1
                            return
                setups.append(time.monotonic() - began)
            except (aiohttp.ClientError, TimeoutError):
                failures += 1

        async with app.ws_connect(f"{url}/ari/events", params={"app": "router"}) as ws:
            reader = asyncio.create_task(read_events(ws, handle, tasks))
            for rate in RATE_STEPS:
                setups.clear()
                failures = 0
                accepted = await offer(load, url, rate)
                cuts = statistics.quantiles(setups, n=100) if len(setups) > 1 else [float("nan")] * 99
                print(
                    f"{rate:>5} {accepted:>10.1f} {len(setups):>7} {failures:>6} "
                    f"{cuts[49] * 1000:>9.0f} {cuts[98] * 1000:>9.0f}",
                    flush=True,
                )
            reader.cancel()
            await asyncio.gather(reader, *tasks, return_exceptions=True)


async def main() -> None:
    reason = real_asterisk.unavailable_reason()
    if reason is not None:
        sys.exit(f"bench_real: {reason}")
    print(f"{platform.node()}: real Asterisk 22 on loopback; router = `callrouter run`, 1818 closed (an override)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        asterisk = real_asterisk.RealAsterisk(folder / "asterisk")
        asterisk.start()
        try:
            async with (
                closed_router(asterisk.url, folder) as router,
                Phone(folder / "phone", "citizen", 5070, silence(folder / "quiet.wav", 30)) as phone,
            ):
                times: dict[str, list[float]] = {"router (1818)": [], "dialplan (1817)": []}
                for _ in range(SAMPLES):  # alternated, so that both see the same machine
                    times["router (1818)"].append(await invite_to_audio(phone, "1818"))
                    times["dialplan (1817)"].append(await invite_to_audio(phone, "1817"))
                print(f"\nINVITE to first audio, {SAMPLES} SIP calls each (ms):")
                print(f"{'path':<16} {'p50':>7} {'min':>7} {'max':>7}")
                for path, values in times.items():
                    ms = [v * 1000 for v in values]
                    print(f"{path:<16} {statistics.median(ms):>7.1f} {min(ms):>7.1f} {max(ms):>7.1f}")
                ratio = statistics.median(times["router (1818)"]) / statistics.median(times["dialplan (1817)"])
                print(f"router / dialplan (p50): {ratio:.2f}x")
                print("\nNew calls a second for ten seconds, each caller listening 3 s (setup: StasisStart to the")
                print("first prompt requested, from the router's /metrics histogram, ms; cores: CPU s per s):")
                print(" rate  originated  router  shed  failed  setup p50  setup p99  Asterisk  router")
                await rates(router, asterisk)
                print("\nConcurrent calls in the router, each caller hearing the guidance (cores: CPU s per s):")
                print("calls  channels  shed  Asterisk cores  router cores  router MiB")
                await concurrency(router, asterisk)
            print("\nThe same rates, the smallest ARI loop (answer, play the same prompts) in the router's place (ms):")
            print(" rate  originated  served  failed  setup p50  setup p99")
            await floor_rates(asterisk.url)
        finally:
            asterisk.stop()


if __name__ == "__main__":
    asyncio.run(main())
