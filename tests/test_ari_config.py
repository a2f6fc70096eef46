"""ARI credentials come from the environment or a secret file, and are never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.ari import AriConfig, AriConfigError


def test_from_environment() -> None:
    config = AriConfig.from_env(
        {"ARI_URL": "http://127.0.0.1:8088/", "ARI_USER": "router", "ARI_PASSWORD": "p&ss#w:rd"}
    )
    assert (config.rest_url, config.events_url, config.app) == (
        "http://127.0.0.1:8088/ari",
        "ws://127.0.0.1:8088/ari/events",
        "router",
    )
    assert config.authorization == "Basic cm91dGVyOnAmc3MjdzpyZA=="  # base64 of router:p&ss#w:rd
    assert "p&ss" not in repr(config)


def test_password_from_a_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "ari_password"
    secret.write_text("from-a-file\n", encoding="utf-8")
    config = AriConfig.from_env({"ARI_USER": "router", "ARI_PASSWORD_FILE": str(secret)})
    assert config.password == "from-a-file"
    assert config.url == "http://127.0.0.1:8088"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set ARI_USER and ARI_PASSWORD"),
        ({"ARI_USER": "router"}, "set ARI_USER and ARI_PASSWORD"),
        ({"ARI_USER": "router", "ARI_PASSWORD_FILE": "/nonexistent/secret"}, "cannot read ARI_PASSWORD_FILE"),
        ({"ARI_USER": "router", "ARI_PASSWORD": "x", "ARI_URL": "127.0.0.1:8088"}, "must start with http"),
        ({"ARI_USER": "rou:ter", "ARI_PASSWORD": "x"}, "cannot contain ':'"),
    ],
)
def test_unusable_settings_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(AriConfigError, match=message):
        AriConfig.from_env(env)
