"""A pytest plugin: the fixture `asterisk_sim`, a simulated Asterisk for testing an ARI application.

Installed with the `asterisk-sim` distribution (entry point `pytest11`), it needs nothing but pytest: the
simulator runs in a thread of its own, on a free loopback port, so that sync and async tests alike (and
an application under test in another process) reach it over HTTP, as they would a real Asterisk. With
`--asterisk-sim-url URL` (or ASTERISK_SIM_URL) the fixture uses a simulator already running there (its
process or its container) instead. The fixture's helpers act as a phone does and wait for what the
application did; a failed wait shows the call's history.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asterisk_sim.answers import Json
from asterisk_sim.server import Simulator
from asterisk_sim.settings import BadSettings, Settings, load_settings


class SimulatedAsterisk:
    """A running simulator, seen as a harness sees it: its URLs, credentials, and a phone's actions."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url, self.user, self.password = url.rstrip("/"), user, password
        self.ari_url = f"{self.url}/ari"
        self.seen = 0  # the journal's last entry taken by `wait_for`

    def control(self, method: str, path: str, body: Json | None = None) -> Any:
        """One control request (/_sim); its JSON answer, or None. A refusal raises AssertionError with its
        message."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_sim{path}", data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=70) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} /_sim{path}: {e.code} {e.read().decode(errors='replace')}") from None
        return json.loads(raw) if raw else None

    def call(self, caller: str = "12345678", to: str | None = None, app: str | None = None, **more: Any) -> str:
        """A phone calls: `to` (else the simulator's settings', `s`) runs Stasis(`app`) (else the settings'
        application, if they name one); the channel's id."""
        given = {"to": to, "app": app}
        placed = self.control("POST", "/calls", {"from": caller, **{k: v for k, v in given.items() if v}, **more})
        return str(placed["channel_id"])

    def press(self, channel_id: str, digits: str) -> None:
        self.control("POST", f"/channels/{channel_id}/dtmf", {"digits": digits})

    def hold(self, channel_id: str) -> None:
        """The caller's phone puts the call on hold (ChannelHold), as a re-INVITE with sendonly does."""
        self.control("POST", f"/channels/{channel_id}/hold")

    def unhold(self, channel_id: str) -> None:
        self.control("POST", f"/channels/{channel_id}/unhold")

    def talk(self, channel_id: str, seconds: float) -> None:
        """The caller talks for `seconds`, then is silent (ChannelTalkingStarted and Finished where the
        application set TALK_DETECT on the channel)."""
        self.control("POST", f"/channels/{channel_id}/talk", {"seconds": seconds})

    def transfer(self, channel_id: str, to: str) -> str:
        """The caller's phone transfers the call blind to `to` (a REFER): Success, or Invalid."""
        return str(self.control("POST", f"/channels/{channel_id}/transfer", {"to": to})["result"])

    def send_text(self, endpoint: str, to: str, body: str, name: str = "") -> list[str]:
        """The phone behind `endpoint` (PJSIP/alice, set up with `control("PUT", "/endpoints/PJSIP/alice")`)
        sends a text message (TextMessageReceived): the applications told."""
        sent = self.control("POST", f"/endpoints/{endpoint}/message", {"to": to, "body": body, "name": name})
        return list(sent["told"])

    def hang_up(self, channel_id: str) -> None:
        self.control("POST", f"/channels/{channel_id}/hangup")

    def say(self, channel_id: str, wav: bytes) -> None:
        request = urllib.request.Request(f"{self.url}/_sim/channels/{channel_id}/say", data=wav, method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def history(self, channel_id: str) -> Json:
        return dict(self.control("GET", f"/channels/{channel_id}"))

    def wait_for(
        self, channel_id: str, what: str, within: float = 10.0, where: Callable[[Json], bool] = lambda _: True
    ) -> Json:
        """Wait until `channel_id` has `what` (an entry of GET /_sim/events: "answered", "heard", "media
        ended", "hung up", ...) for which `where` holds; that entry. Fails with the call's history."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            got = self.control("GET", f"/events?after={self.seen}&wait={min(left, 60):.3f}")
            for entry in got["events"]:
                self.seen = entry["seq"]
                if entry["channel"] == channel_id and entry["what"] == what and where(entry):
                    return dict(entry)
        history = json.dumps(self.history(channel_id), indent=2)
        raise AssertionError(f"channel {channel_id}: no {what!r} within {within} s. What happened to it:\n{history}")

    def heard(self, channel_id: str, media: str, within: float = 10.0) -> Json:
        """Wait until the channel heard `media` (sound:..., recording:...) to its end or until it was cut."""
        return self.wait_for(channel_id, "media ended", within, lambda e: e["media"] == media)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--asterisk-sim-url", default=os.environ.get("ASTERISK_SIM_URL"),
        help="a simulated Asterisk already running there (else one in-process per test); or ASTERISK_SIM_URL. "
        "Its ARI credentials: ARI_USER (default asterisk) and ARI_PASSWORD",
    )  # fmt: skip
    parser.addoption(
        "--asterisk-sim-config", default=os.environ.get("ASTERISK_SIM_CONFIG"), metavar="FILE",
        help="the in-process simulator's settings file (as asterisk-sim --config); or ASTERISK_SIM_CONFIG",
    )  # fmt: skip


@pytest.fixture
def asterisk_sim(request: pytest.FixtureRequest) -> Iterator[SimulatedAsterisk]:
    """A simulated Asterisk: ARI at `.ari_url` (user `.user`, password `.password`: `asterisk` and one made
    up for the test, unless set up otherwise), the control API at `.url`/_sim, and a phone's actions (`call`,
    `press`, `hold`, `unhold`, `talk`, `transfer`, `send_text`, `hang_up`, `say`, `wait_for`, `heard`)."""
    given = request.config.getoption("--asterisk-sim-url")
    if given:
        password = os.environ.get("ARI_PASSWORD")
        if not password:
            pytest.fail(
                f"--asterisk-sim-url {given}: set ARI_PASSWORD to its ARI password (a simulator started without "
                "one made one up and printed it on its first line)",
                pytrace=False,
            )
        yield SimulatedAsterisk(given, os.environ.get("ARI_USER", "asterisk"), password)
        return
    config = request.config.getoption("--asterisk-sim-config")
    try:
        settings = load_settings(Path(config)) if config else Settings()
    except BadSettings as e:
        pytest.fail(f"--asterisk-sim-config: {e}", pytrace=False)
    with _running(Simulator(settings=settings)) as sim:
        yield SimulatedAsterisk(sim.url, sim.user, sim.password)


class _running:
    """A simulator on an event loop of its own, in a thread, for as long as the block lasts."""

    def __init__(self, sim: Simulator) -> None:
        self.sim, self.loop = sim, asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="asterisk-sim", daemon=True)

    def __enter__(self) -> Simulator:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(timeout=30)
        return self.sim

    def __exit__(self, *_: object) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()
