"""One yardstick for the router and the smallest ARI loop, on the same real Asterisk 22, measured from outside.

Both run as their own process under the same ARI application name, in four blocks at each rate, in the
order router, loop, loop, router (the next rate loop, router, router, loop), so that noise on this shared
machine, and its drift over a rate's minute or two, hits both alike: `callrouter run` with 1818 closed, and
bench/smallest_loop.py, which answers and plays the same prompts. A block is at least BLOCK_SECONDS of new
calls and at least BLOCK_CALLS calls, so that even at 4/s a side's p99 is not just its slowest call.
Neither is asked anything: an observer ARI application, subscribed to every call's channel, sees when the call
arrives, when its first prompt starts and when its channel ends, all by Asterisk's own event
timestamps. So both sides are measured by the same clock, the same way, with real percentiles.

The observer can subscribe to a channel only once it exists, that is once the originate is answered,
and by then a quick application may have started the first prompt: the observer then saw the second
prompt's PlaybackStarted, about two seconds later, as the first. (That race, not Asterisk, made the
"stalls" of about 2 s at the p99 of earlier runs, on both sides alike.) So each call waits 1 s in the
dialplan (`observed-arrival`, tests/real_asterisk.py) and marks its arrival with a variable; the
ChannelVarset the observer gets for it is the call's start, and a call whose mark the observer missed
(subscribed too late) is left out and counted.

Per call: arrival -> first PlaybackStarted (first audio) and -> the channel's end (each caller listens
3 s and hangs up), and first audio in two parts, split where the channel went Up (its ChannelStateChange):
arrival -> answered (Asterisk puts the call into Stasis, the application hears of it and asks for the
answer, Asterisk answers) and answered -> first audio (the answer's reply, the play request, Asterisk
opens the first sound); the REST requests the application sent (the router's /metrics counter; the loop
counts its own); and the CPU seconds per 1,000 calls of Asterisk, of the application, and of the load
generator with the observer (this process). A call without PlaybackStarted was not served by the
application (the router shed it to the dialplan fallback, or nothing answered it).

Both run on the machine's own clock, with 1818 closed by an override as the office's staff close it;
bench_real.py and bench_faketime.py say why the router does not run under faketime here, as the tests'
routers do.

Then INVITE to first audio through a real SIP phone (baresip), as bench_real.py measures it: 1818
served by the router, by the smallest loop, and 1817, a pure-dialplan 1818, alternated.

Needs root and the Asterisk root that scripts/asterisk-root builds.
Run: .venv/bin/python bench/bench_yardstick.py   (about ten minutes)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import platform
import re
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
from bench_real import closed_now, closed_router, cpu_seconds, group, invite_to_audio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import real_asterisk  # noqa: E402
from tests.sip_phone import Phone, silence  # noqa: E402

RATES = (4, 8, 12, 16, 24)  # this Asterisk (2 cores) saturates near 16 calls/s playing the guidance
WARM_UP = 5  # calls placed, and ended, before each block is measured: the first calls after a start are slow
BLOCK_SECONDS = 10
BLOCK_CALLS = 80  # two blocks a side: 160 calls at the lowest rates, so a p99 is not one call
SIP_SAMPLES = 10
_ids = itertools.count(1)
ENTRY = "Local/20240104123000@observed-arrival/n"  # bench_real's call (its time is only the fallback's), arrival marked


@dataclass
class Observer:
    """An ARI application that sees every channel's arrival, first prompt and end, by Asterisk's clock."""

    arrived: dict[str, float] = field(default_factory=dict)
    first_audio: dict[str, float] = field(default_factory=dict)
    answered: dict[str, float] = field(default_factory=dict)
    ended: dict[str, float] = field(default_factory=dict)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, http: aiohttp.ClientSession, url: str) -> None:
        # Subscribed channel by channel (`watch()`), not with subscribeAll: that one makes Asterisk
        # serialise every event of every channel for the observer, which here more than doubled
        # Asterisk's CPU per call and so changed what was measured.
        async with http.ws_connect(f"{url}/ari/events", params={"app": "observer"}) as ws:
            allowed = {"allowed": [
                {"type": t} for t in ("ChannelVarset", "ChannelStateChange", "PlaybackStarted", "ChannelDestroyed")
            ]}  # fmt: skip
            async with http.put(f"{url}/ari/applications/observer/eventFilter", json=allowed) as answer:
                assert answer.status == 200, await answer.text()
            self.connected.set()
            async for message in ws:
                event = json.loads(message.data)
                at = _instant(event["timestamp"])
                if event["type"] == "ChannelVarset" and event.get("variable") == "ARRIVED":
                    self.arrived.setdefault(event["channel"]["id"], at)
                elif event["type"] == "ChannelStateChange" and event["channel"]["state"] == "Up":
                    self.answered.setdefault(event["channel"]["id"], at)
                elif event["type"] == "PlaybackStarted":
                    target = event["playback"]["target_uri"].removeprefix("channel:")
                    self.first_audio.setdefault(target, at)
                elif event["type"] == "ChannelDestroyed":
                    self.ended[event["channel"]["id"]] = at

    async def watch(self, http: aiohttp.ClientSession, url: str, channel: str) -> bool:
        """Subscribe to one channel's events (right after it is made, before its application plays)."""
        params = {"eventSource": f"channel:{channel}"}
        async with http.post(f"{url}/ari/applications/observer/subscription", params=params) as answer:
            return answer.status == 200


def _instant(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


@dataclass
class Phase:
    """One side's calls at one rate: its blocks' calls together."""

    app: str
    rate: int
    placed: int = 0
    warm: int = 0  # warm-up calls (their requests are in `requests`)
    calls: int = 0  # placed, and observed from their arrival
    served: int = 0  # calls whose first prompt the application started
    first_audio: list[float] = field(default_factory=list)  # seconds
    to_answer: list[float] = field(default_factory=list)  # arrival -> Up, for calls served
    answer_to_audio: list[float] = field(default_factory=list)  # Up -> first PlaybackStarted
    ended: list[float] = field(default_factory=list)
    requests: int = 0
    unwatched: int = 0  # placed, but the observer subscribed after the call's arrival (left out)
    # CPU seconds: Asterisk's, the application's, the load generator's, and the hypervisor's (steal: time
    # this virtual machine's cores were ready to run and were not given a physical one; the whole machine's)
    cpu_seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(("asterisk", "app", "generator", "steal"), 0.0)
    )

    def add(self, block: Phase) -> None:
        for name in ("placed", "warm", "calls", "served", "requests", "unwatched"):
            setattr(self, name, getattr(self, name) + getattr(block, name))
        for name in ("first_audio", "to_answer", "answer_to_audio", "ended"):
            getattr(self, name).extend(getattr(block, name))
        for who, seconds in block.cpu_seconds.items():
            self.cpu_seconds[who] += seconds

    def cpu(self, who: str) -> float:
        """CPU seconds per 1,000 calls placed (every placed call costs, observed or not)."""
        return self.cpu_seconds[who] * 1000 / max(self.placed, 1)

    def cut(self, values: list[float], q: int) -> float:
        # Inclusive: a percentile lies between two measured calls. The default (exclusive) extrapolates
        # past the slowest call of a small sample: with 40 calls its p99 is beyond the slowest one.
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")


@dataclass
class App:
    """The application under test, as a process: its kind, its processes, and its requests so far."""

    kind: str
    pids: list[int]
    requests: Callable[[], Awaitable[int]]


@contextlib.asynccontextmanager
async def router_app(url: str, folder: Path) -> AsyncIterator[App]:
    async with closed_router(url, folder) as process:
        api = (await process.wait_for_line(r"HTTP API on (\S+)", within=5)).group(1)

        async def requests() -> int:
            async with aiohttp.ClientSession() as http, http.get(f"{api}/metrics") as answer:
                found = re.search(r"^callrouter_ari_requests_total (\S+)$", await answer.text(), re.M)
                return int(float(found.group(1))) if found else 0

        yield App("router", group(process.process.pid), requests)


@contextlib.asynccontextmanager
async def loop_app(url: str) -> AsyncIterator[App]:
    env = {**os.environ, "ARI_USER": real_asterisk.USER, "ARI_PASSWORD": real_asterisk.PASSWORD}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "smallest_loop.py"), url, closed_now().media,
        env=env, stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    await asyncio.wait_for(process.stdout.readline(), 10)  # connected
    counted: list[int] = []

    async def requests() -> int:
        return counted[0] if counted else 0

    try:
        yield App("loop", [process.pid], requests)
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = await process.communicate()
        counted.append(int(out.decode().rsplit("requests ", 1)[1]))


@dataclass
class Watched:
    """A real Asterisk of its own with the observer connected: where one benchmark places its calls."""

    folder: Path
    asterisk: real_asterisk.RealAsterisk
    http: aiohttp.ClientSession
    observer: Observer


@contextlib.asynccontextmanager
async def observed_asterisk() -> AsyncIterator[Watched]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        asterisk = real_asterisk.RealAsterisk(folder / "asterisk")
        asterisk.start()
        try:
            observer = Observer()
            async with aiohttp.ClientSession(
                headers=real_asterisk.AUTHORIZATION, connector=aiohttp.TCPConnector(limit=20)
            ) as http:
                watching = asyncio.create_task(observer.run(http, asterisk.url))
                await asyncio.wait_for(observer.connected.wait(), 10)
                try:
                    yield Watched(folder, asterisk, http, observer)
                finally:
                    watching.cancel()
        finally:
            asterisk.stop()


async def offer(
    http: aiohttp.ClientSession, url: str, rate: int, observer: Observer, app: App, asterisk_pids: list[int]
) -> Phase:
    phase = Phase(app.kind, rate, warm=WARM_UP)
    placed: list[str] = []  # the application's channels, placed and subscribed to
    await warm_up(http, url, app)
    a0, p0, g0, s0 = cpu_seconds(asterisk_pids), cpu_seconds(app.pids), time.process_time(), stolen()

    async def originate(n: int) -> None:
        caller = f"y{rate}{app.kind[0]}-{n}"
        params = {"endpoint": ENTRY, "context": "callers", "extension": "hold3", "priority": "1",
                  "callerId": "Yardstick <12345601>",
                  "channelId": caller, "otherChannelId": f"{caller}-app"}  # fmt: skip
        with contextlib.suppress(aiohttp.ClientError):
            async with http.post(f"{url}/ari/channels", params=params) as answer:
                if answer.status != 200:
                    return
            if await observer.watch(http, url, f"{caller}-app"):
                placed.append(f"{caller}-app")

    began = time.monotonic()
    tasks = []
    for n in range(max(rate * BLOCK_SECONDS, BLOCK_CALLS)):
        await asyncio.sleep(max(0.0, began + n / rate - time.monotonic()))
        tasks.append(asyncio.create_task(originate(n)))
    await asyncio.gather(*tasks)
    async with asyncio.timeout(120):
        while not all(channel in observer.ended for channel in placed):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    phase.placed = len(placed)
    calls = [c for c in placed if c in observer.arrived]
    phase.calls = len(calls)
    phase.unwatched = phase.placed - phase.calls
    for channel in calls:
        at = observer.arrived[channel]
        if channel in observer.first_audio:
            phase.served += 1
            phase.first_audio.append(observer.first_audio[channel] - at)
            if channel in observer.answered:
                phase.to_answer.append(observer.answered[channel] - at)
                phase.answer_to_audio.append(observer.first_audio[channel] - observer.answered[channel])
        phase.ended.append(observer.ended[channel] - at)
    phase.cpu_seconds = {
        "asterisk": cpu_seconds(asterisk_pids) - a0,
        "app": cpu_seconds(app.pids) - p0,
        "generator": time.process_time() - g0,
        "steal": stolen() - s0,
    }
    return phase


def stolen() -> float:
    """CPU seconds the hypervisor has kept from this machine's cores since boot (/proc/stat's steal)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


async def warm_up(http: aiohttp.ClientSession, url: str, app: App) -> None:
    """A few calls before the measured ones, for the application's connections and Asterisk's caches."""
    for n in range(WARM_UP):
        params = {"endpoint": ENTRY, "context": "callers", "extension": "hold1", "priority": "1",
                  "channelId": f"warm-{app.kind}-{next(_ids)}-{n}"}  # fmt: skip
        async with http.post(f"{url}/ari/channels", params=params) as answer:
            await answer.read()
        await asyncio.sleep(0.2)
    async with asyncio.timeout(30):
        while True:
            async with http.get(f"{url}/ari/channels") as answer:
                if not await answer.json():
                    return
            await asyncio.sleep(0.2)


async def rates(w: Watched) -> list[tuple[Phase, Phase]]:
    url, results = w.asterisk.url, []
    for i, rate in enumerate(RATES):
        pair = {"router": Phase("router", rate), "loop": Phase("loop", rate)}
        for kind in ("router", "loop", "loop", "router") if i % 2 == 0 else ("loop", "router", "router", "loop"):
            starter = router_app(url, w.folder) if kind == "router" else loop_app(url)
            async with starter as app:
                before = await app.requests()  # the router's own at its start (the loop counts from 0)
                block = await offer(w.http, url, rate, w.observer, app, w.asterisk.pids())
                if kind == "router":
                    block.requests = await app.requests() - before
            if kind == "loop":
                block.requests = await app.requests()  # the loop tells its count when it stops
            pair[kind].add(block)
        results.append((pair["router"], pair["loop"]))
        print_pair(pair["router"], pair["loop"])
    return results


def print_split(results: list[tuple[Phase, Phase]]) -> None:
    """Where each side's first audio went: before the answer, and between the answer and the first sound."""
    print("\nFirst audio in two parts (ms), p50 / p99: arrival -> answered (ChannelStateChange Up), and answered ->")
    print("first PlaybackStarted; and the slowest call's two parts.\n")
    print("| calls/s | router: to answer | answer to audio | slowest | loop: to answer | answer to audio | slowest |")
    print("| --- " * 7 + "|")

    def p50_p99(phase: Phase, values: list[float]) -> str:
        return f"{phase.cut(values, 50) * 1000:.1f} / {phase.cut(values, 99) * 1000:.1f}"

    for router, loop in results:
        cells = [str(router.rate)]
        for phase in (router, loop):
            cells += [p50_p99(phase, phase.to_answer), p50_p99(phase, phase.answer_to_audio)]
            if phase.to_answer:
                worst = max(range(len(phase.to_answer)), key=lambda k: phase.to_answer[k] + phase.answer_to_audio[k])
                cells.append(f"{phase.to_answer[worst] * 1000:.0f} + {phase.answer_to_audio[worst] * 1000:.0f}")
            else:
                cells.append("-")
        print("| " + " | ".join(cells) + " |")


def print_pair(router: Phase, loop: Phase) -> None:
    def ms(phase: Phase, values: list[float], q: int) -> str:
        return f"{phase.cut(values, q) * 1000:.0f}"

    r50, l50 = router.cut(router.first_audio, 50), loop.cut(loop.first_audio, 50)
    r99, l99 = router.cut(router.first_audio, 99), loop.cut(loop.first_audio, 99)
    print(
        f"| {router.rate} | {router.calls} / {loop.calls} | {router.calls - router.served} | "
        f"{ms(router, router.first_audio, 50)} | "
        f"{ms(router, router.first_audio, 99)} | {loop.calls - loop.served} | {ms(loop, loop.first_audio, 50)} | "
        f"{ms(loop, loop.first_audio, 99)} | {r50 / l50:.2f}x | {r99 / l99:.2f}x | "
        f"{router.requests / (router.placed + router.warm):.2f} / {loop.requests / (loop.placed + loop.warm):.2f} | "
        f"{router.cpu('asterisk'):.1f} / {loop.cpu('asterisk'):.1f} "
        f"({router.cpu('asterisk') / loop.cpu('asterisk'):.2f}x) | "
        f"{router.cpu('app'):.1f} / {loop.cpu('app'):.1f} | "
        f"{router.cpu('generator'):.1f} / {loop.cpu('generator'):.1f} | "
        f"{router.cpu('steal'):.1f} / {loop.cpu('steal'):.1f} |",
        flush=True,
    )
    for phase in (router, loop):
        if phase.unwatched:
            print(
                f"  ({phase.app} at {phase.rate}/s: {phase.unwatched} calls not observed from their arrival, left out)"
            )


async def sip(url: str, folder: Path) -> None:
    """INVITE to first audio through baresip: the router, the smallest loop, and the pure dialplan."""
    times: dict[str, list[float]] = {"router (1818)": [], "loop (1818)": [], "dialplan (1817)": []}
    async with Phone(folder / "phone", "citizen", 5070, silence(folder / "quiet.wav", 30)) as phone:
        for kind in ("router", "loop", "router", "loop"):  # in blocks, alternated
            starter = router_app(url, folder) if kind == "router" else loop_app(url)
            async with starter:
                for _ in range(SIP_SAMPLES // 2):
                    times[f"{kind} (1818)"].append(await invite_to_audio(phone, "1818"))
                    times["dialplan (1817)"].append(await invite_to_audio(phone, "1817"))
    print(f"\nINVITE to first audio through a real SIP phone, {SIP_SAMPLES} calls each (ms):\n")
    print("| path | p50 | min | max |\n| --- | --- | --- | --- |")
    for path, values in times.items():
        got = [v * 1000 for v in values]
        print(f"| {path} | {statistics.median(got):.1f} | {min(got):.1f} | {max(got):.1f} |")
    router, loop, dialplan = (statistics.median(times[k]) for k in times)
    print(
        f"\nrouter - loop (p50): {(router - loop) * 1000:+.1f} ms; router / dialplan: {router / dialplan:.2f}x; "
        f"loop / dialplan: {loop / dialplan:.2f}x"
    )


async def main() -> None:
    reason = real_asterisk.unavailable_reason()
    if reason is not None:
        sys.exit(f"bench_yardstick: {reason}")
    print(f"{platform.node()}: real Asterisk 22 on loopback, {os.cpu_count()} cores. At each rate four blocks of new")
    print(
        f"calls (router, loop, loop, router, or the reverse), each at least {BLOCK_SECONDS} s and {BLOCK_CALLS} calls;"
    )
    print("each caller listens 3 s. First audio: the call's arrival (its ARRIVED variable) -> its first")
    print("PlaybackStarted, by Asterisk's event timestamps (ms). Not served: no PlaybackStarted (shed to the dialplan,")
    print("or not answered). CPU: seconds per 1,000 calls placed, router / loop; stolen: the hypervisor's steal")
    print("time over the blocks, on both cores (this machine is a virtual one, on a shared host).\n")
    print(
        "| calls/s | calls observed | router: not served | p50 | p99 | loop: not served | p50 | p99 "
        "| router/loop p50 | p99 | requests per call | Asterisk CPU | app CPU | load generator CPU | stolen |"
    )
    print("| --- " * 16 + "|")
    async with observed_asterisk() as w:
        print_split(await rates(w))
        await sip(w.asterisk.url, w.folder)


if __name__ == "__main__":
    asyncio.run(main())
