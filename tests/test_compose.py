"""docker-compose.yml against the Compose specification's schema (no Docker engine needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import ROOT


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("check-jsonschema", path=str(Path(__import__("sys").executable).parent))
    assert tool is not None, "check-jsonschema is a dev dependency"
    return subprocess.run(
        [tool, "--builtin-schema", "vendor.compose-spec", str(path)], capture_output=True, text=True, timeout=120
    )


def test_compose_file_is_valid() -> None:
    result = validate(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_compose_file_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    broken.write_text(text.replace("profiles:", "profile:"), encoding="utf-8")
    assert validate(broken).returncode != 0


def test_ari_is_published_on_loopback_only() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    published = [line.split('"')[1] for line in text.splitlines() if line.strip().startswith('- "') and ":" in line]
    assert published
    assert all(p.startswith("127.0.0.1:") for p in published)
