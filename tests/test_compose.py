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


def test_asterisk_entrypoint_writes_the_ari_user_from_the_secret(tmp_path: Path) -> None:
    secret = tmp_path / "ari_password"
    secret.write_text("p&ss #w:rd;x\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "ASTERISK_ETC": str(tmp_path), "ASTERISK_COMMAND": "true"}
    script = str(ROOT / "deploy" / "asterisk" / "entrypoint.sh")
    result = subprocess.run(
        ["sh", script], env={**env, "ARI_PASSWORD_FILE": str(secret)}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "ari.conf").read_text(encoding="utf-8")
    assert "[router]\ntype = user\nread_only = no\npassword = p&ss #w:rd\\;x\n" in written  # ; escaped
    assert (tmp_path / "ari.conf").stat().st_mode & 0o077 == 0  # readable by its owner only
    missing = subprocess.run(
        ["sh", script], env={**env, "ARI_PASSWORD_FILE": str(tmp_path / "none")}, capture_output=True
    )
    assert missing.returncode == 1


def test_ari_listens_on_loopback_in_the_shipped_http_conf() -> None:
    text = (ROOT / "dialplan" / "http.conf").read_text(encoding="utf-8")
    assert "\nbindaddr = 127.0.0.1\n" in text
