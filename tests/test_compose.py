"""docker-compose.yml against the Compose specification's schema (no Docker engine needed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

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


def test_asterisk_entrypoint_says_what_the_site_has_not_mounted(tmp_path: Path) -> None:
    """The image's own pjsip.conf and extensions.conf, then the site's files mounted, then its
    extensions.conf mounted over the image's (which loses callrouter-entry): the log says each."""
    shutil.copy(ROOT / "deploy" / "asterisk" / "pjsip.conf", tmp_path)
    shutil.copy(ROOT / "deploy" / "asterisk" / "extensions.conf", tmp_path)
    secret = tmp_path / "ari_password"
    secret.write_text("a-long-password\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "ASTERISK_ETC": str(tmp_path), "ASTERISK_COMMAND": "true"}

    def said() -> str:
        script = str(ROOT / "deploy" / "asterisk" / "entrypoint.sh")
        run = subprocess.run(["sh", script], env={**env, "ARI_PASSWORD_FILE": str(secret)}, capture_output=True)
        assert run.returncode == 0, run.stderr
        return run.stderr.decode()

    bare = said()
    assert f"no site pjsip.conf is mounted at {tmp_path}/pjsip.conf" in bare
    assert f"no {tmp_path}/extensions_site.conf is mounted" in bare
    (tmp_path / "pjsip.conf").write_text("[transport-udp]\ntype = transport\n", encoding="utf-8")
    (tmp_path / "extensions_site.conf").write_text("[from-citizens]\n", encoding="utf-8")
    assert said() == ""
    (tmp_path / "extensions.conf").write_text("[from-citizens]\nexten => 1818,1,Goto(callrouter-entry,1818,1)\n")
    assert "extensions.conf is not the image's and does not #include extensions_callrouter.conf" in said()


def test_the_simulator_service_is_set_up_as_the_routers_asterisk() -> None:
    """The simulator's own defaults are neutral (asterisk_sim/settings.py); the compose file gives it the
    router's shipped example, mounted where ASTERISK_SIM_CONFIG says."""
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]["asterisk-sim"]
    config = service["environment"]["ASTERISK_SIM_CONFIG"]
    assert f"./asterisk_sim/examples/router.toml:{config}:ro" in service["volumes"]
    assert (ROOT / "asterisk_sim" / "examples" / "router.toml").is_file()
