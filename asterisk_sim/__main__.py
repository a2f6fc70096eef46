"""python -m asterisk_sim: run the simulated Asterisk until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

from asterisk_sim.objects import AgentScript
from asterisk_sim.server import Simulator
from asterisk_sim.settings import BadSettings, Settings, load_settings
from asterisk_sim.world import contexts_of


async def serve(args: argparse.Namespace, settings: Settings, password: str | None) -> None:
    sim = Simulator(
        args.user or os.environ.get("ARI_USER") or None,
        password,
        settings=settings,
        sound_seconds=args.sound_seconds,
        asterisk_id=args.asterisk_id,
        contexts=args.contexts,
        api_docs=Path(args.api_docs) if args.api_docs else None,
        sounds=Path(args.sounds) if args.sounds else None,
    )
    await sim.start(args.host, args.port)
    for agent in args.agent:
        sim.world.set_endpoint(agent, AgentScript("answer", args.answer_after))
    made_up = (
        f", password {sim.password!r}, made up for this run: set ARI_PASSWORD to choose one"
        if sim.password_made_up
        else ""
    )
    print(
        f"simulated Asterisk: ARI on {sim.url}/ari (user {sim.user!r}{made_up}), control API on {sim.url}/_sim",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m asterisk_sim", description="A simulated Asterisk 22 (ARI).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8088, help="port (default 8088, as Asterisk's http.conf)")
    parser.add_argument(
        "--config", metavar="FILE", default=os.environ.get("ASTERISK_SIM_CONFIG"),
        help="a settings file (TOML: user, context, app, to, contexts), or $ASTERISK_SIM_CONFIG; "
        "asterisk_sim/examples/router.toml is the call router's",
    )  # fmt: skip
    parser.add_argument(
        "--user", help="ARI user (or $ARI_USER; default: the settings', asterisk); password from "
        "$ARI_PASSWORD(_FILE), else one made up and printed",
    )  # fmt: skip
    parser.add_argument("--sound-seconds", type=float, default=1.0, help="how long each played sound lasts")
    parser.add_argument("--agent", action="append", default=[], help="an endpoint that answers, e.g. PJSIP/agent1")
    parser.add_argument("--answer-after", type=float, default=2.0, help="seconds agents ring before answering")
    parser.add_argument("--asterisk-id", help="the entity id it reports (default: a random MAC address, as Asterisk's)")
    parser.add_argument(
        "--dialplan", action="append", default=[], metavar="FILE",
        help="an extensions.conf whose [contexts] exist for `continue` (see the README)",
    )  # fmt: skip
    parser.add_argument("--context", action="append", default=[], help="a context that exists, by name")
    parser.add_argument(
        "--api-docs",
        metavar="DIR",
        help="another Asterisk's rest-api directory to serve under /ari/api-docs/ (default: Asterisk 22.10's, shipped)",
    )
    parser.add_argument(
        "--sounds", metavar="DIR",
        help="a sounds directory as Asterisk's (<language>/<name>.<extension>): its files are sounds too",
    )  # fmt: skip
    args = parser.parse_args()
    if args.sounds and not Path(args.sounds).is_dir():
        parser.error(f"--sounds: {args.sounds} is not a directory")
    args.contexts = set(args.context)
    for path in args.dialplan:
        args.contexts |= contexts_of(Path(path).read_text(encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(Path(args.config)) if args.config else Settings()
    except BadSettings as e:
        parser.error(f"--config: {e}")
    password = os.environ.get("ARI_PASSWORD") or None
    if os.environ.get("ARI_PASSWORD_FILE"):
        with open(os.environ["ARI_PASSWORD_FILE"], encoding="utf-8") as f:
            password = f.read().rstrip("\r\n") or None
    asyncio.run(serve(args, settings, password))


if __name__ == "__main__":
    main()
