"""The composition root: the schedule, the message store, the ARI connection and the runtime, wired.

Resources open in order and close in reverse, whatever stops the router (a signal, Asterisk
handing our application to another process, or an error).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client.core import Metric

from router.ari import AriConfig, AriError, AriRest, EventStream, SeenIds
from router.calls import flow
from router.calls.estimate import Estimate
from router.calls.prompts import load_manifest
from router.calls.runtime import HANDLED_EVENTS, NOT_NEEDED_EVENTS, Runtime
from router.calls.shedding import DEFAULT_LATENCY_LIMIT, DEFAULT_MAX_CALLS_IN_SETUP
from router.office.accounts import AccountStore
from router.office.calendars import Calendars
from router.office.call_log import CallLog
from router.office.callbacks import CallbackStore
from router.office.closures import ClosureStore
from router.office.data_copy import open_site_store
from router.office.dial_attempts import DialAttemptStore
from router.office.fallback_messages import keep_picking_up
from router.office.mail import SmtpConfig
from router.office.messages import MessageStore
from router.office.outbox import Backoff, MailSender
from router.office.overrides import OverrideStore
from router.office.recording_notes import RecordingNotes
from router.office.retention import DEFAULT_DAYS, keep_purging
from router.office.spool import Spool
from router.office.standby import ActiveLock, active_lock, hold, wait_until_taken
from router.office.store import Store, StoreConfig
from router.schedule import QueueConfig, Schedule
from router.schedule.planned import WithPlanned
from router.schedule.reload import FileState, ScheduleSource
from router.web.console import Console, add_console
from router.web.http_api import ApiConfig, RouterView, make_app
from router.web.metrics import Metrics, counter, gauge, gauge_by, gauge_by_labels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RouterConfig:
    ari: AriConfig
    schedule: Schedule | Callable[[], Schedule]  # a fixed schedule, or a source such as reload.ScheduleSource
    data_dir: Path
    manifest: Path
    settings: flow.Settings = field(default_factory=flow.Settings)
    api: ApiConfig | None = None  # None: no HTTP API
    retention_days: int = DEFAULT_DAYS  # callers' messages (and their audio) are deleted after this
    max_calls_in_setup: int = DEFAULT_MAX_CALLS_IN_SETUP  # a backstop: beyond this, new calls go to the fallback
    setup_latency_limit: float = DEFAULT_LATENCY_LIMIT  # Asterisk slower than this to answer a call: shed new ones
    smtp: SmtpConfig | None = None  # None: no e-mail is sent (pending ones wait until it is configured)
    mail_backoff: Backoff = field(default_factory=Backoff)
    fallback_every: float = 60.0  # seconds between looks for messages the fallback dialplan recorded
    callback_sync_seconds: float = 5.0  # seconds between the queues' agreeing with the store's callbacks
    store: StoreConfig = field(default_factory=StoreConfig)  # the embedded file, or a shared PostgreSQL
    node: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")  # in the logs


# Connections to Asterisk's HTTP server at once (the event WebSocket is one). Asterisk serves each
# on a thread of its own and refuses more than http.conf's `sessionlimit` (100 by default) from
# all its HTTP clients together; a busy Asterisk only gets slower with more in parallel.
ARI_CONNECTIONS = 16
SPOOL_DIR = "spool"  # messages that wait for the store (office/spool.py)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Running:
    runtime: Runtime
    events: asyncio.Task[None]  # ends only if Asterisk gives our application to another process
    stream: EventStream
    metrics: Metrics
    mail: MailSender
    api_url: str | None = None


@contextlib.asynccontextmanager
async def running(config: RouterConfig, clock: Callable[[], datetime] = _now) -> AsyncIterator[Running]:
    """The router, connected and taking calls, until the block ends."""
    manifest = load_manifest(config.manifest)
    fixed = config.schedule
    from_file: Callable[[], Schedule] = (lambda: fixed) if isinstance(fixed, Schedule) else fixed
    store = await asyncio.to_thread(open_site_store, config.store, config.data_dir)
    log.info("router: the office's data is in %s", store.described)
    messages, call_log, accounts = MessageStore(store), CallLog(store), AccountStore(store)
    overrides = OverrideStore(store, cached=True)
    closures = ClosureStore(store, cached=True)
    calendars = Calendars(from_file, clock)
    # Everything that reads the schedule (calls, console, API, e-mail) reads it with the office's
    # planned closures and subscribed calendars joined (schedule/planned.py has the precedence).
    schedule = WithPlanned(from_file, closures.all, calendars.specials)
    spool = Spool(config.data_dir / SPOOL_DIR)
    role = Role()
    try:
        await asyncio.to_thread(overrides.refresh)
        await asyncio.to_thread(closures.refresh)
        connector = aiohttp.TCPConnector(limit=ARI_CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector) as session, contextlib.AsyncExitStack() as stack:
            seen = SeenIds()  # what events were about, so that a retried request can tell it took effect
            rest = AriRest(session, config.ari, seen=seen)
            metrics = Metrics()
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
                call_log,
                metrics,
                config.max_calls_in_setup,
                config.setup_latency_limit,
                spool,
                RecordingNotes(store),
                DialAttemptStore(store),
                accounts,
                CallbackStore(store),
            )
            stream = EventStream(
                session,
                config.ari,
                runtime.on_event,
                on_connect=runtime.reconcile,
                seen=seen,
                wanted=HANDLED_EVENTS,
                not_sent=NOT_NEEDED_EVENTS,
            )
            mail = MailSender(messages, rest, config.smtp, schedule, clock, config.mail_backoff)
            runtime.on_message_saved = runtime.callbacks.on_message_saved = mail.wake.set
            view = _view(runtime, stream, schedule, fixed, clock, role, spool, mail_configured=config.smtp is not None)
            view.wake_mail = mail.wake.set
            view.calendars = calendars.states
            metrics.read(lambda: _read_metrics(view, stream, runtime, rest, config.schedule, messages, mail))
            api_url = None
            if config.api is not None:
                app = make_app(view, messages, overrides, rest, metrics, config.api)

                def prompt_texts() -> dict[str, str]:
                    year = clock().year
                    return manifest.texts_for(schedule(), range(year - 1, year + 2))

                console = Console(view, messages, overrides, accounts, rest, prompt_texts, manifest.texts, call_log)
                console.closures, console.from_file = closures, from_file
                console.dialouts, console.attempts = runtime.dialouts, DialAttemptStore(store)
                add_console(app, console)
                api_url = await stack.enter_async_context(_api(app, config.api))
            # What exists now (the imported libraries, the schedule, the pools) lives as long as the
            # router. Frozen, the collector's full passes no longer walk it: a pass over it took
            # 40-80 ms in this router (at its start), and one while calls come in would hold up
            # whichever caller is being set up. Thawed when the router stops (a test starts many).
            gc.collect()
            gc.freeze()
            background = [
                asyncio.create_task(_take_calls(store, config, runtime, stream, role), name="ari-events"),
                asyncio.create_task(overrides.keep_refreshing(), name="overrides"),
                asyncio.create_task(closures.keep_refreshing(), name="planned-closures"),
                asyncio.create_task(calendars.keep_fetching(), name="calendars"),
                asyncio.create_task(spool.keep_draining(messages, mail.wake.set), name="spool"),
                asyncio.create_task(keep_purging(messages, rest, clock, config.retention_days), name="retention"),
                asyncio.create_task(runtime.reconciler.keep_reconciling(stream.connected.is_set), name="reconcile"),
                asyncio.create_task(mail.run(), name="mail"),
                asyncio.create_task(call_log.keep_flushing(), name="call-log"),
                asyncio.create_task(
                    keep_picking_up(
                        messages, rest, schedule, clock, stream.connected.is_set, mail.wake.set, config.fallback_every
                    ),
                    name="fallback-messages",
                ),
            ]
            try:
                yield Running(runtime, background[0], stream, metrics, mail, api_url)
            finally:
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                await runtime.close()
                gc.unfreeze()
    finally:
        try:
            await asyncio.to_thread(call_log.flush)  # what calls ended while the router stopped
        finally:
            await asyncio.to_thread(store.close)


@dataclass
class Role:
    """This router's part: "starting" (asking Asterisk who it is), "standby" (another router holds
    the active lock), or "active" (connected, taking the calls)."""

    now: str = "starting"
    lock: ActiveLock | None = None  # once asked for: its `problem` is this router's, for /readyz

    def store_problem(self) -> str | None:
        """The database does not answer, as this router's lease last found it (every 0.5 s)."""
        return None if self.lock is None else self.lock.problem

    def describe(self) -> str:
        """The role, "standby-blocked" for a standby that could not take over now."""
        return "standby-blocked" if self.now == "standby" and self.store_problem() else self.now


async def _take_calls(store: Store, config: RouterConfig, runtime: Runtime, stream: EventStream, role: Role) -> None:
    """Take the active lock for this Asterisk and application (office/standby.py), waiting as a
    standby while another router holds it, then take the calls until the lock or the stream ends."""
    said = False
    while True:
        try:
            asterisk_id = await runtime.rest.asterisk_id()
            break
        except AriError as e:
            if not said:  # once, not every second while it is away
                log.warning("router: Asterisk does not answer yet (%s); trying again every second", e)
            said = True
            await asyncio.sleep(1.0)
    if store.shared:
        runtime.message_id_suffix = runtime.callbacks.message_id_suffix = f"@{asterisk_id}"
    lock = active_lock(store, config.data_dir, f"{asterisk_id}/{config.ari.app}")
    role.now = "standby"
    role.lock = lock
    try:
        await wait_until_taken(lock)
        role.now = "active"
        # The fence: nothing reaches Asterisk from this router once it has lost its role.
        runtime.rest.gate = stream.gate = lock.allowed
        log.info(
            "router: taking calls as ARI application %r, active for Asterisk %s (node %s)",
            config.ari.app,
            asterisk_id,
            config.node,
        )
        holding = asyncio.create_task(hold(lock), name="active-lock")
        events = asyncio.create_task(stream.run(), name="ari-stream")
        # Beside taking calls, not before: a restarted or taking-over router estimates waits from the start.
        recall = asyncio.create_task(runtime.recall_answers(), name="recall-answers")
        # The callbacks waiting in the store wait in the queues from now on (calls/callback_runner.py).
        syncing = asyncio.create_task(runtime.callbacks.keep_syncing(config.callback_sync_seconds), name="callbacks")
        try:
            done, _ = await asyncio.wait({holding, events}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # LockLost, ApplicationReplacedError, or the stream's end
        finally:
            for task in (holding, events, recall, syncing):
                task.cancel()
            await asyncio.gather(holding, events, recall, syncing, return_exceptions=True)
    finally:
        role.now = "stopped"
        await lock.release()


def _view(
    runtime: Runtime,
    stream: EventStream,
    schedule: Callable[[], Schedule],
    source: object,  # the file's schedule source (or a fixed schedule), for its state
    clock: Callable[[], datetime],
    role: Role,
    spool: Spool,
    *,
    mail_configured: bool,
) -> RouterView:
    def rejected() -> str | None:
        if isinstance(source, ScheduleSource) and source.rejected is not None:
            return source.rejected.error
        return None

    def waiting(line: str) -> int:
        state = runtime.queues.lines.get(line)
        return len(state.queue.waiting) if state else 0

    def waiting_since(line: str) -> list[datetime]:
        state = runtime.queues.lines.get(line)
        return [w.since for w in state.queue.waiting] if state else []

    def agents(line: str) -> dict[str, str]:
        target = schedule().lines[line].open_to
        if not isinstance(target, QueueConfig):
            return {}
        state = runtime.queues.lines.get(line)
        ringing = {leg.agent for leg in state.queue.legs} if state else set()
        talking = {agent for agent, _ in state.queue.talking} if state else set()
        return {a: "talking" if a in talking else "ringing" if a in ringing else "available" for a in target.agents}

    def estimate(line: str, place: int) -> Estimate | None:
        return runtime.queues.estimate(line, place)

    def schedule_file() -> FileState | None:
        return source.state() if isinstance(source, ScheduleSource) else None

    return RouterView(
        schedule, clock, stream.connected.is_set, rejected, waiting, agents, waiting_since, mail_configured,
        schedule_file, role.describe, role.store_problem, spool.waiting, estimate=estimate,
        callbacks=lambda line: runtime.callbacks.open_per_line.get(line, 0),
        callback_places=lambda line: [w.since for w in runtime.queues.virtual(line)],
    )  # fmt: skip


def _read_metrics(
    view: RouterView,
    stream: EventStream,
    runtime: Runtime,
    rest: AriRest,
    source: object,
    messages: MessageStore,
    mail: MailSender,
) -> Iterator[Metric]:
    yield gauge("callrouter_ari_connected", "1 while the ARI WebSocket is connected", float(view.connected()))
    yield gauge(
        "callrouter_calls_in_setup",
        "Calls whose first step Asterisk has not answered yet",
        float(runtime.shedder.in_setup),
    )
    yield counter(
        "callrouter_ari_connects", "ARI WebSocket connections made (reconnects included)", stream.stats.connects
    )
    yield counter("callrouter_ari_malformed_events", "ARI event frames that could not be read", stream.stats.malformed)
    yield counter(
        "callrouter_ari_retries", "ARI requests tried again after Asterisk did not answer or failed", rest.retries
    )
    yield counter("callrouter_ari_requests", "HTTP requests sent to Asterisk's ARI, retries included", rest.requests)
    yield gauge(
        "callrouter_active", "1 while this router takes the calls (0: a standby)", float(view.role() == "active")
    )
    yield gauge(
        "callrouter_messages_spooled",
        "Callers' messages on this router's disk, waiting for the office's database",
        float(view.spooled()),
    )
    try:
        counts = messages.mail_counts()
    except Exception as e:  # the store does not answer: its gauges are left out, not the others
        log.warning("metrics: the store does not answer (%s); the mail gauges are left out", e)
        yield gauge("callrouter_store_up", "1 while the office's database answers", 0.0)
    else:
        yield gauge("callrouter_store_up", "1 while the office's database answers", 1.0)
        yield gauge(
            "callrouter_mail_pending", "E-mails about messages not yet accepted by the SMTP server", counts.pending
        )
        yield gauge(
            "callrouter_mail_failed",
            "E-mails given up on until sent again: refused for good by the SMTP server, or not to be made",
            counts.failed,
        )
    yield counter("callrouter_mail_sent", "E-mails the SMTP server accepted, since the start", mail.sent)
    yield counter("callrouter_mail_send_failures", "Tries to send an e-mail that did not get through", mail.failures)
    lines = list(view.schedule().lines)
    yield gauge_by(
        "callrouter_callers_waiting", "Callers waiting in the queue", "line", {n: view.waiting(n) for n in lines}
    )
    yield gauge_by(
        "callrouter_callbacks_open",
        "Callbacks not yet made (the store's, every router's): callers who keep their place and are called back",
        "line",
        {n: float(view.callbacks(n)) for n in lines},
    )
    if view.role() == "active":  # a standby rings no one: its agents would all count as free a second time
        yield gauge_by_labels(
            "callrouter_agents",
            "The queue's agents by what the router has them doing: ringing, talking or available",
            ("line", "state"),
            _agents_by_state(view, lines),
        )
    yield gauge_by(
        "callrouter_calendar_ok",
        "1 while the line's subscribed calendar was fetched and read at the last try (0: the last good copy serves)",
        "line",
        {line: float(state.ok) for line, state in view.calendars().items()},
    )
    if isinstance(source, ScheduleSource):
        yield counter("callrouter_schedule_reloads", "Changed schedule files put into service", source.reloads)
        yield counter("callrouter_schedule_rejections", "Changed schedule files rejected", source.rejections)
        yield gauge(
            "callrouter_schedule_rejected", "1 while the file on disk is rejected", float(source.rejected is not None)
        )


def _agents_by_state(view: RouterView, lines: list[str]) -> dict[tuple[str, ...], float]:
    counts: dict[tuple[str, ...], float] = {}
    for line in lines:
        states = list(view.agents(line).values())
        if states:  # a line that sends its callers to a dialplan context has no agents of ours
            counts.update({(line, state): states.count(state) for state in AGENT_STATES})
    return counts


AGENT_STATES = ("ringing", "talking", "available")  # as _view's agents() names them


@contextlib.asynccontextmanager
async def _api(app: web.Application, config: ApiConfig) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        log.info("router: HTTP API on http://%s:%s", host, port)
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def serve(config: RouterConfig, stop: asyncio.Event) -> None:
    """Run until `stop` is set. Raises ApplicationReplacedError if another router takes over."""
    async with running(config) as router:
        log.info("router: started for ARI application %r (node %s)", config.ari.app, config.node)
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({stopping, router.events}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if router.events.done() and not router.events.cancelled():
            router.events.result()  # re-raise what ended the event stream
