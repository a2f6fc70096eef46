"""`callrouter run` (the router itself) and `callrouter status` (asking the running one)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from router.cli.common import Commands, UsageError, data_dir, manifest_path, schedule_path
from router.cli.log_format import configure as configure_logging


def register(commands: Commands) -> None:
    """run, status: the router process and asking it how it is."""
    run = commands.add_parser(
        "run", help="run the router: take calls from Asterisk (ARI_* settings from the environment)"
    )
    run.add_argument("--data", dest="run_data", metavar="DIR", help="the same as callrouter --data DIR run")
    run.set_defaults(command=_run)

    status = commands.add_parser("status", help="ask the running router: lines, callers waiting, agents, the wait")
    status.add_argument("--api", help="the router's HTTP API (default: $CALLROUTER_API or 127.0.0.1:8089)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(command=_status)


def _run(args: argparse.Namespace) -> int:
    # The router's libraries (aiohttp, SQLAlchemy, Jinja2, ...) are imported here, when it runs, so that the
    # operator's other commands do not wait for them (router/cli/common.py).
    import asyncio
    import signal

    from sqlalchemy.exc import SQLAlchemyError

    from router.app import RouterConfig, serve
    from router.ari import AriConfig, AriConfigError
    from router.ari.events import ApplicationReplacedError
    from router.calls.prompts import load_manifest
    from router.calls.shedding import DEFAULT_LATENCY_LIMIT, DEFAULT_MAX_CALLS_IN_SETUP
    from router.office.mail import MailConfigError, smtp_config_from_env
    from router.office.outbox import Backoff
    from router.office.standby import LockLost
    from router.office.store import StoreConfig, StoreError
    from router.schedule.reload import ScheduleSource
    from router.web.http_api import ApiConfigError, api_config_from_env

    configure_logging(os.environ)
    try:
        ari = AriConfig.from_env()
    except AriConfigError as e:
        raise UsageError(str(e)) from None
    try:
        api = api_config_from_env(os.environ)
    except ApiConfigError as e:
        raise UsageError(str(e)) from None
    retention = os.environ.get("CALLROUTER_RETENTION_DAYS", "30")
    if not retention.isdigit() or not 1 <= int(retention) <= 3650:
        raise UsageError(f"CALLROUTER_RETENTION_DAYS is a number of days from 1 to 3650, not {retention!r}")
    in_setup = os.environ.get("CALLROUTER_MAX_CALLS_IN_SETUP", str(DEFAULT_MAX_CALLS_IN_SETUP))
    if not in_setup.isdigit() or not 1 <= int(in_setup) <= 1000:
        raise UsageError(f"CALLROUTER_MAX_CALLS_IN_SETUP is a number of calls from 1 to 1000, not {in_setup!r}")
    latency = os.environ.get("CALLROUTER_MAX_SETUP_SECONDS", str(DEFAULT_LATENCY_LIMIT))
    try:
        setup_seconds = float(latency)
    except ValueError:
        setup_seconds = -1.0
    if not 0.1 <= setup_seconds <= 30:
        raise UsageError(f"CALLROUTER_MAX_SETUP_SECONDS is a number of seconds from 0.1 to 30, not {latency!r}")
    try:
        smtp = smtp_config_from_env(os.environ)
    except MailConfigError as e:
        raise UsageError(str(e)) from None
    backoff = Backoff()
    if os.environ.get("CALLROUTER_MAIL_RETRY_SECONDS"):  # "first,longest": how soon a failed send is tried again
        try:
            first, longest = (float(v) for v in os.environ["CALLROUTER_MAIL_RETRY_SECONDS"].split(","))
        except ValueError:
            raise UsageError("CALLROUTER_MAIL_RETRY_SECONDS is FIRST,LONGEST in seconds, e.g. 5,600") from None
        if not 0 < first <= longest:
            raise UsageError("CALLROUTER_MAIL_RETRY_SECONDS: FIRST must be above 0 and at most LONGEST")
        backoff = Backoff(first, longest)
    try:
        store = StoreConfig.from_env()
    except StoreError as e:
        raise UsageError(str(e)) from None
    source = ScheduleSource(Path(schedule_path(args)))
    config = RouterConfig(
        ari=ari,
        schedule=source,
        data_dir=data_dir(args),
        manifest=manifest_path(),
        api=api,
        retention_days=int(retention),
        max_calls_in_setup=int(in_setup),
        setup_latency_limit=setup_seconds,
        smtp=smtp,
        mail_backoff=backoff,
        store=store,
    )
    load_manifest(config.manifest)  # a missing manifest is an error before the first call, not during it

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        checks: set[asyncio.Task[bool]] = set()

        def reload_now() -> None:  # SIGHUP: look at the schedule file at once
            task = asyncio.create_task(source.check())
            checks.add(task)
            task.add_done_callback(checks.discard)

        loop.add_signal_handler(signal.SIGHUP, reload_now)
        watcher = asyncio.create_task(source.watch())
        try:
            await serve(config, stop)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, *checks, return_exceptions=True)

    try:
        asyncio.run(main())
    except ApplicationReplacedError:
        print("callrouter: another router took over the ARI application; stopping", file=sys.stderr)
        return 1
    except LockLost:
        print("callrouter: another router holds this Asterisk's active lock now; stopping", file=sys.stderr)
        return 1
    except (StoreError, SQLAlchemyError) as e:
        print(f"callrouter: the office's database cannot be used ({store.describe()}): {e}", file=sys.stderr)
        return 1
    return 0


def _status(args: argparse.Namespace) -> int:
    import urllib.request  # http.client and the e-mail package under it: for this command alone

    address = args.api or os.environ.get("CALLROUTER_API", "127.0.0.1:8089")
    url = address if address.startswith("http") else f"http://{address}"
    try:
        with urllib.request.urlopen(f"{url}/status", timeout=5) as response:
            status = json.loads(response.read())
    except (OSError, ValueError) as e:
        raise UsageError(f"no router answers at {url} ({e}); is `callrouter run` running?") from None
    if args.json:
        print(json.dumps(status, ensure_ascii=False))
        return 0
    print(f"router at {url}: ARI {'connected' if status['ari_connected'] else 'NOT CONNECTED'}")
    if status.get("schedule_rejected"):
        print(f"  THE SCHEDULE FILE ON DISK IS REJECTED (the last good one is serving): {status['schedule_rejected']}")
    mail = status.get("mail")
    if mail and (mail["pending"] or mail["failed"]):
        print(
            f"  e-mail: {mail['pending']} waiting to be sent, {mail['failed']} failed"
            + (f" (oldest waiting from {mail['oldest_pending']})" if mail["oldest_pending"] else "")
            + ("; the failed: the console's E-mail page, or GET /mail/failed" if mail["failed"] else "")
            + ("" if mail["configured"] else "; NO SMTP SERVER IS CONFIGURED (CALLROUTER_SMTP)")
        )
    for line, s in status["lines"].items():
        state = "OPEN" if s["open"] else "CLOSED"
        why = f" ({s['label'] or s['reason']})"
        print(f"line {line}: {state}{why}, next change {s['next_change'] or '-'}")
        if s["override"]:
            o = s["override"]
            print(
                f"  override: {o['state']} ({o['reason']}) until {o['until']}"
                + (f" - {o['note']}" if o["note"] else "")
            )
        if s["agents"] or s["waiting"]:
            agents = ", ".join(f"{a} {state}" for a, state in s["agents"].items())
            print(f"  {s['waiting']} waiting; agents: {agents or '-'}")
        if s.get("estimate"):  # a line with a queue
            print(f"  the wait of a caller calling now: {s['estimate']['text']}")
        if s.get("callbacks"):  # callers who keep their place and are called back
            print(f"  {s['callbacks']} open callback(s): called back in their turn")
    return 0
