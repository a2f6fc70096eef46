from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import URL

from asterisk_sim.settings import ROUTER_EXAMPLE, load_settings
from router.office.data_copy import open_site_store
from router.office.messages import Message, MessageStore
from router.office.store import Store, StoreConfig, open_store
from router.schedule import Schedule, load_schedule
from tests import postgres as pg
from tests import real_asterisk
from tests.mail_server import MailServer

ROOT = Path(__file__).resolve().parent.parent
CPH = ZoneInfo("Europe/Copenhagen")
# The simulator's pytest plugin (the `asterisk_sim` fixture), which the asterisk-sim distribution registers
# by its entry point; this checkout's environment has the router's distribution, which does not.
pytest_plugins = ["asterisk_sim.pytest_plugin"]
# The simulator set up as the router's Asterisk: its shipped example (user router, calls to 1818 coming in
# from from-citizens into the application router), as docker-compose.yml's asterisk-sim uses it.
ROUTER_SIM = load_settings(ROUTER_EXAMPLE)


def local(text: str) -> datetime:
    """A Copenhagen wall time as an aware instant (first occurrence where ambiguous)."""
    return datetime.fromisoformat(text).replace(tzinfo=CPH)


@pytest.fixture(scope="session")
def shipped() -> Schedule:
    return load_schedule(ROOT / "schedule.yaml")


@pytest.fixture(scope="session")
def asterisk() -> Iterator[real_asterisk.RealAsterisk]:
    """The real Asterisk 22 of this run (its own overlay of the cached root; see tests/real_asterisk.py)."""
    reason = real_asterisk.unavailable_reason()
    if reason is not None:
        pytest.skip(f"REAL ASTERISK TIER SKIPPED: {reason}")
    with tempfile.TemporaryDirectory(prefix="callrouter-asterisk-") as tmp:
        running = real_asterisk.RealAsterisk(Path(tmp))
        running.start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="session")
def real_asterisk_url(asterisk: real_asterisk.RealAsterisk) -> str:
    return asterisk.url


@pytest.fixture(scope="session")
def postgres() -> Iterator[pg.PostgresServer]:
    """A real PostgreSQL server for this run (tests/postgres.py); each test takes a database of its own."""
    reason = pg.unavailable_reason()
    if reason is not None and os.environ.get("CI"):
        pytest.fail(f"the PostgreSQL tier must run in CI: {reason}")  # scripts/setup installs it
    if reason is not None:
        pytest.skip(f"POSTGRESQL TIER SKIPPED: {reason}")
    directory = Path(tempfile.mkdtemp(prefix="callrouter-pg-"))
    server = pg.PostgresServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=["embedded", "postgresql"])
def store_config(request: pytest.FixtureRequest) -> StoreConfig:
    """The office's store, once embedded (the default) and once in PostgreSQL: the same tests for both."""
    if request.param == "embedded":
        return StoreConfig()
    server: pg.PostgresServer = request.getfixturevalue("postgres")
    return StoreConfig.from_env(server.environment(server.fresh_database()))


@pytest.fixture
def store_env(store_config: StoreConfig, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment that gives a `callrouter` command the same store as `store_config`."""
    if store_config.url is None:
        return {"CALLROUTER_DATABASE": ""}
    server: pg.PostgresServer = request.getfixturevalue("postgres")
    url = store_config.url
    bare = URL.create("postgresql", username=url.username, host=url.host, port=url.port, database=url.database)
    return server.environment(bare.render_as_string())


@pytest.fixture
def database(postgres: pg.PostgresServer) -> dict[str, str]:
    """A fresh database of the one server: the environment every node and command of the site gets."""
    return postgres.environment(postgres.fresh_database())


@pytest.fixture
def shared(database: dict[str, str]) -> Iterator[Store]:
    """The test's own look into the shared database."""
    store = open_store(StoreConfig.from_env(database), Path("/nonexistent"))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def store(store_config: StoreConfig, tmp_path: Path) -> Iterator[Store]:
    opened = open_site_store(store_config, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def mail_server(tmp_path: Path) -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd, STARTTLS with a test CA, a user and password): tests/mail_server.py."""
    server = MailServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def embedded(data: Path) -> Store:
    """The embedded store of a data directory, as a router there uses it (close it when done)."""
    return open_site_store(StoreConfig(), data)


def stored_messages(data: Path) -> list[Message]:
    """The messages in a data directory's embedded store, as `callrouter messages` would list them."""
    with embedded(data) as site:
        return MessageStore(site).all()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The differential tier's figure, at the end of any run that ran it (tests/test_sim_fidelity.py)."""
    fidelity = sys.modules.get("tests.test_sim_fidelity")
    results = getattr(fidelity, "RESULTS", None)
    if results:
        terminalreporter.write_line(f"simulator fidelity: {sum(results.values())}/{len(results)}")
