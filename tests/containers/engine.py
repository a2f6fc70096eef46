"""CI's Docker engine and Compose v2 for the container tier (see scripts/container-env).

The images are built beforehand by scripts/container-images, on the host's network. This tier starts the
engine again, on the same data, inside the test run's own network namespace: the containers' "host network"
is then this run's loopback, where the tests' SIP phones are, and nothing is exposed beyond it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tests.conftest import ROOT

TIER = "CALLROUTER_CONTAINER_TIER"  # set by scripts/test for this tier's own pytest run
STATE = Path(os.environ.get("CALLROUTER_CONTAINER_STATE", "/var/cache/callrouter/containers"))


def unavailable_reason() -> str | None:
    if not os.environ.get(TIER):
        return f"run by scripts/test in a network namespace of its own ({TIER}=1)"
    if (STATE / "unavailable").exists():
        return (STATE / "unavailable").read_text(encoding="utf-8").strip()
    if not (STATE / "built").exists():
        return "the images are not built (scripts/container-images)"
    return None


def _shell(
    script: str, *args: str, env: Mapping[str, str] = {}, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    command = ["bash", "-c", f". scripts/container-env && {script}", "container-tier", *args]
    return subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class Engine:
    env: dict[str, str] = field(default_factory=dict)  # the stack's secrets, as a site sets them
    site: list[Path] = field(default_factory=list)  # the site's own compose files (its override)
    _lock: TextIO | None = None

    def start(self) -> None:
        # One engine on this data at a time: another run's tier (or image build) waits for this one.
        self._lock = (STATE / "lock").open("a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        result = _shell("start_engine")
        assert result.returncode == 0, f"dockerd did not start: {(STATE / 'dockerd.log').read_text()[-2000:]}"

    def stop(self) -> None:
        _shell("stop_engine")
        if self._lock is not None:
            self._lock.close()  # and with it the lock
            self._lock = None

    def docker(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = _shell('docker "$@"', *args, timeout=timeout)
        if check:
            assert result.returncode == 0, f"docker {' '.join(args)}: {result.stdout}{result.stderr}"
        return result

    def compose(
        self, *args: str, check: bool = True, timeout: float = 300, site: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Compose v2 on docker-compose.yml and CI's override, then (with `site`) the site's own files."""
        files = [arg for path in self.site for arg in ("-f", str(path))] if site else []
        result = _shell('compose "$@"', *files, *args, env=self.env, timeout=timeout)
        if check:
            assert result.returncode == 0, f"compose {' '.join(args)}: {result.stdout}{result.stderr}"
        return result

    def container(self, service: str) -> str:
        """The id of a service's running container."""
        found = self.compose("ps", "-q", service).stdout.split()
        assert found, f"no running container for {service}"
        return found[0]
