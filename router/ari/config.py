"""Where the ARI connection details come from: the environment, and a secret file for the password."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


class AriConfigError(Exception):
    """The ARI settings are missing or unusable."""


@dataclass(frozen=True)
class AriConfig:
    url: str  # e.g. http://127.0.0.1:8088 (the /ari prefix is added)
    app: str
    user: str
    password: str = field(repr=False)  # never printed, never logged

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AriConfig:
        """ARI_URL, ARI_APP, ARI_USER, and ARI_PASSWORD or ARI_PASSWORD_FILE (e.g. a Docker secret)."""
        env = os.environ if env is None else env
        password = env.get("ARI_PASSWORD")
        secret = env.get("ARI_PASSWORD_FILE")
        if password is None and secret:
            try:
                password = Path(secret).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as e:
                raise AriConfigError(f"cannot read ARI_PASSWORD_FILE {secret}: {e.strerror}") from None
        user = env.get("ARI_USER")
        if not user or password is None:
            raise AriConfigError("set ARI_USER and ARI_PASSWORD (or ARI_PASSWORD_FILE)")
        url = env.get("ARI_URL", "http://127.0.0.1:8088").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise AriConfigError(f"ARI_URL must start with http:// or https://, not {url!r}")
        return cls(url=url, app=env.get("ARI_APP", "router"), user=user, password=password)

    def __post_init__(self) -> None:
        if ":" in self.user:
            raise AriConfigError("an ARI user name cannot contain ':' (HTTP Basic authentication)")

    @property
    def authorization(self) -> str:
        """The Authorization header value. A header, not ?api_key=, so the password never sits in a URL."""
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"

    @property
    def rest_url(self) -> str:
        return f"{self.url}/ari"

    @property
    def events_url(self) -> str:
        scheme = "wss" if self.url.startswith("https://") else "ws"
        return f"{scheme}://{self.url.split('://', 1)[1]}/ari/events"
