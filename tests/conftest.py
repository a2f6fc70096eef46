from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from router.schedule import Schedule, load_schedule
from tests import real_asterisk

ROOT = Path(__file__).resolve().parent.parent
CPH = ZoneInfo("Europe/Copenhagen")


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
