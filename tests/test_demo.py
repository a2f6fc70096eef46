"""The README's first command: the demo routes a call through the shipped schedule on the simulator."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def demo(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_closed_call_leaves_a_message() -> None:
    out = demo("--at", "2024-12-24T10:30")
    assert "A caller dials 1818 at Tue 2024-12-24 10:30 CET." in out
    assert "Vi har lukket i dag på grund af Juleaftensdag" in out
    assert "Outcome: message_left" in out
    assert "Stored message: from 12345678 on line 1818 at 2024-12-24 10:30:00+01:00" in out


def test_open_call_reaches_an_agent_through_the_queue() -> None:
    out = demo("--at", "2024-01-04T15:30")
    assert "Velkommen til Opkrævningskontoret" in out
    assert "(music on hold)" in out
    assert "(talking with PJSIP/agent1)" in out
    assert "Outcome: answered" in out


def test_now_works_whatever_the_time() -> None:
    assert "Outcome: " in demo()
