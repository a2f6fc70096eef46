from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from router.schedule import Schedule
from router.schedule_yaml import load_schedule

ROOT = Path(__file__).resolve().parent.parent
CPH = ZoneInfo("Europe/Copenhagen")


def local(text: str) -> datetime:
    """A Copenhagen wall time as an aware instant (first occurrence where ambiguous)."""
    return datetime.fromisoformat(text).replace(tzinfo=CPH)


@pytest.fixture(scope="session")
def shipped() -> Schedule:
    return load_schedule(ROOT / "schedule.yaml")
