"""The composition root: the schedule, the message store, the ARI connection and the runtime, wired.

Resources open in order and close in reverse, whatever stops the router (a signal, Asterisk
handing our application to another process, or an error).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from router import flow
from router.ari import AriConfig, AriRest, EventStream
from router.messages import MessageStore
from router.overrides import OverrideStore
from router.prompts import load_manifest
from router.runtime import Runtime
from router.schedule import Schedule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RouterConfig:
    ari: AriConfig
    schedule: Schedule | Callable[[], Schedule]  # a fixed schedule, or a source such as reload.ScheduleSource
    data_dir: Path
    manifest: Path
    settings: flow.Settings = field(default_factory=flow.Settings)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Running:
    runtime: Runtime
    events: asyncio.Task[None]  # ends only if Asterisk gives our application to another process


@contextlib.asynccontextmanager
async def running(config: RouterConfig, clock: Callable[[], datetime] = _now) -> AsyncIterator[Running]:
    """The router, connected and taking calls, until the block ends."""
    manifest = load_manifest(config.manifest)
    fixed = config.schedule
    schedule: Callable[[], Schedule] = (lambda: fixed) if isinstance(fixed, Schedule) else fixed
    messages = MessageStore(config.data_dir / "messages.sqlite3")
    try:
        async with aiohttp.ClientSession() as session:
            rest = AriRest(session, config.ari)
            overrides = OverrideStore(config.data_dir / "overrides.json")
            # The runtime asks the manifest only whether a closure has its own message.
            runtime = Runtime(
                rest,
                schedule,
                clock,
                messages,
                manifest.texts,
                config.settings,
                manifest.language,
                overrides.all,
                config.ari.app,
            )
            stream = EventStream(session, config.ari, runtime.on_event, on_connect=runtime.reconcile)
            task = asyncio.create_task(stream.run(), name="ari-events")
            try:
                yield Running(runtime, task)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await runtime.close()
    finally:
        messages.close()


async def serve(config: RouterConfig, stop: asyncio.Event) -> None:
    """Run until `stop` is set. Raises ApplicationReplacedError if another router takes over."""
    async with running(config) as router:
        log.info("router: taking calls as ARI application %r", config.ari.app)
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({stopping, router.events}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if router.events.done() and not router.events.cancelled():
            router.events.result()  # re-raise what ended the event stream
