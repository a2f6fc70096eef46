"""The service unit a site installs beside its own Asterisk (deploy/systemd/): systemd-analyze verifies it
and rates its hardening, and the router started as the unit starts it (its command, its environment, its
working directory) connects to Asterisk and stops cleanly on SIGTERM. No systemd runs here: the unit's
executable is the installed `callrouter` of this run, every other line is verified as shipped."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from router.schedule import Schedule
from tests.ari_helpers import until
from tests.conftest import ROOT
from tests.test_router_sim import simulator

UNIT = ROOT / "deploy" / "systemd" / "callrouter.service"
INSTALLED_AT = "/opt/callrouter/bin/callrouter"  # where docs/deploying-without-containers.md installs it


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package; scripts/setup installs it)")
    return found


def unit_here(tmp_path: Path) -> Path:
    """The unit as shipped, its ExecStart pointing at this run's `callrouter` (the only change)."""
    here = shutil.which("callrouter", path=str(Path(sys.executable).parent))
    assert here is not None
    text = UNIT.read_text(encoding="utf-8")
    assert f"ExecStart={INSTALLED_AT} run\n" in text
    unit = tmp_path / "callrouter.service"
    unit.write_text(text.replace(INSTALLED_AT, here), encoding="utf-8")
    return unit


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    run = subprocess.run(
        [systemd_analyze(), "verify", str(unit_here(tmp_path))], capture_output=True, text=True, check=False
    )
    assert (run.returncode, run.stdout + run.stderr) == (0, "")


def test_the_unit_is_hardened(tmp_path: Path) -> None:
    run = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", "--no-pager", str(unit_here(tmp_path))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    found = re.search(r"Overall exposure level for callrouter.service: ([\d.]+) (\w+)", run.stdout)
    assert found, run.stdout + run.stderr
    assert float(found.group(1)) <= 2.0, run.stdout  # systemd's "OK" band; a unit with no hardening scores 9.6
    for setting in ("NoNewPrivileges=yes", "ProtectSystem=strict", "User=callrouter", "Restart=on-failure"):
        assert f"\n{setting}\n" in UNIT.read_text(encoding="utf-8")


def service_section(text: str) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


async def test_the_router_runs_as_the_unit_starts_it(shipped: Schedule, tmp_path: Path) -> None:
    settings = service_section(UNIT.read_text(encoding="utf-8"))
    etc, state, credentials = tmp_path / "etc", tmp_path / "state", tmp_path / "credentials"
    for directory in (etc, state, credentials):
        directory.mkdir()
    shutil.copy(ROOT / "schedule.yaml", etc / "schedule.yaml")
    shutil.copy(ROOT / "prompts" / "manifest.yaml", etc / "manifest.yaml")
    (credentials / "ari_password").write_text("secret", encoding="utf-8")
    # systemd's specifiers and directories, as they would be on the site's machine, moved under tmp_path
    places = {"%d": str(credentials), "/etc/callrouter": str(etc), "/var/lib/callrouter": str(state)}

    def placed(value: str) -> str:
        for name, path in places.items():
            value = value.replace(name, path)
        return value

    environment = dict(placed(v).split("=", 1) for v in settings["Environment"])
    [command] = settings["ExecStart"]
    assert command == f"{INSTALLED_AT} run"
    [workdir] = settings["WorkingDirectory"]
    async with simulator(shipped) as sim:
        site = {"ARI_URL": sim.url, "ARI_USER": "router", "CALLROUTER_API": "127.0.0.1:0"}  # callrouter.env
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "router", "run",
            env={"PATH": os.environ["PATH"], **site, **environment}, cwd=placed(workdir),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await until(lambda: "router" in sim.world.connected_apps, within=20)
            assert (state / "callrouter.sqlite3").exists()  # CALLROUTER_DATA, the unit's StateDirectory
            process.send_signal(signal.SIGTERM)  # systemctl stop
            assert await asyncio.wait_for(process.wait(), 20) == 0  # a clean stop, not a failure to restart
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.stderr is not None
        log = (await process.stderr.read()).decode()
        assert "Traceback" not in log, log
