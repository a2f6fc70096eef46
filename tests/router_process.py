"""`callrouter run` as its own process against the real Asterisk, at a chosen instant (faketime), or on
the machine's own clock (the benchmarks: bench/bench_faketime.py says why).

TZ=UTC on purpose: a router that read the machine's zone instead of Europe/Copenhagen would
decide wrongly. The process runs in a session of its own (faketime, if used, is its parent), so
that a signal reaches the whole group: SIGKILL in the tests that kill it, SIGTERM at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import real_asterisk


@dataclass
class RouterProcess:
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)  # its log, as it comes

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)

    async def wait_for_line(self, pattern: str, within: float) -> re.Match[str]:
        return await wait_for_line(self.lines, pattern, within)


FAKETIME_ENV = {"TZ": "UTC", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


def callrouter_at(at_utc: str | None, *args: str) -> list[str]:
    """The command line of `callrouter ARGS` with the clock at `at_utc` (run it with FAKETIME_ENV), or
    on the machine's own clock if None."""
    if at_utc is None:
        return [sys.executable, "-m", "router", *args]
    return ["faketime", "-f", f"@{at_utc}", sys.executable, "-m", "router", *args]


@contextlib.asynccontextmanager
async def router_process(
    url: str, schedule: Path, data: Path, at_utc: str | None, env: Mapping[str, str] = {}
) -> AsyncIterator[RouterProcess]:
    """`callrouter run` with the clock at `at_utc` ("YYYY-MM-DD HH:MM:SS", UTC), or on the machine's
    own clock if None (no faketime: see FAKETIME_ENV), until the block ends."""
    environment = {
        **os.environ,
        **FAKETIME_ENV,
        "ARI_URL": url,
        "ARI_USER": real_asterisk.USER,
        "ARI_PASSWORD": real_asterisk.PASSWORD,
        "PYTHONUNBUFFERED": "1",
        "CALLROUTER_API": "127.0.0.1:0",
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        *callrouter_at(at_utc, "--schedule", str(schedule), "run", "--data", str(data)),
        env=environment, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    running = RouterProcess(process)

    async def read() -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            running.lines.append(line.decode(errors="replace").rstrip())

    reader = asyncio.create_task(read())
    try:
        yield running
    finally:
        try:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.gather(process.wait(), reader), 10)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
                reader.cancel()
        finally:
            forget_faketime(process.pid)


def forget_faketime(pid: int) -> None:
    """Remove what the faketime wrapper of `pid` keeps in /dev/shm. It removes them itself when it
    ends, but not when SIGKILLed, as the tests kill routers; a later faketime that gets the same PID
    then fails at once ("sem_open: File exists")."""
    for leftover in (f"/dev/shm/faketime_shm_{pid}", f"/dev/shm/sem.faketime_sem_{pid}"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(leftover)


async def wait_for_line(lines: list[str], pattern: str, within: float) -> re.Match[str]:
    try:
        async with asyncio.timeout(within):
            while True:
                for line in lines:
                    if found := re.search(pattern, line):
                        return found
                await asyncio.sleep(0.1)
    except TimeoutError:
        log = "\n".join(lines[-40:])
        pytest.fail(f"no log line like {pattern!r} within {within} s; the router's log:\n{log}")
