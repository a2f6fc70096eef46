"""What a simulated Asterisk is set up with: neutral defaults, as a stock Asterisk's, or a file of its own.

A stock Asterisk has no ARI user until one is configured, puts a PJSIP caller in the context `default` and
dials `s` when no number is given; it names no Stasis application. So does the simulator: its ARI user is
`asterisk`, its password is the one given (`ARI_PASSWORD`) or one made up at start and printed (never a
well-known one), its calls come in to `default`, and a call names its application unless the settings name
one. A file (TOML, `--config FILE` or ASTERISK_SIM_CONFIG) sets any of these; `examples/router.toml` is the
call router's (this repository's), as its tests and its compose file use it.
"""

from __future__ import annotations

import secrets
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).parent / "examples"
ROUTER_EXAMPLE = EXAMPLES / "router.toml"  # the call router's (this repository's): its tests and compose file


class BadSettings(Exception):
    """A settings file the simulator refuses: which file, which key, and why."""


@dataclass(frozen=True)
class Settings:
    user: str = "asterisk"  # the ARI user (ari.conf's [user] section)
    context: str = "default"  # where a call comes in: the PJSIP endpoint's `context` (Asterisk's default)
    app: str | None = None  # the Stasis application a call goes to when it names none (none: it must name one)
    to: str = "s"  # the number a call dials when it names none: `s`, as Asterisk's for a call without one
    contexts: tuple[str, ...] = ()  # other contexts the dialplan has (for `continue`)


_HELP = {
    "user": "the ARI user",
    "context": "the context calls come in to",
    "app": "the Stasis application of a call that names none",
    "to": "the number a call dials when it names none",
    "contexts": "other contexts the dialplan has",
}


def load_settings(path: Path) -> Settings:
    """A settings file, read strictly: an unknown key or a wrong type is refused, naming the file and key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise BadSettings(f"{path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise BadSettings(f"{path}: not TOML: {e}") from None
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        takes = ", ".join(f"{name} ({_HELP[name]})" for name in _HELP)
        raise BadSettings(f"{path}: unknown key {', '.join(map(repr, unknown))}: it takes {takes}")
    read: dict[str, Any] = {}
    for name, value in data.items():
        if name == "contexts":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise BadSettings(f"{path}: contexts: a list of context names, not {value!r}")
            read[name] = tuple(value)
        elif not isinstance(value, str) or not value:
            raise BadSettings(f"{path}: {name}: a text that is not empty, not {value!r}")
        else:
            read[name] = value
    return Settings(**read)


def new_password() -> str:
    """A password made up for one run, for a simulator started without one."""
    return secrets.token_urlsafe(12)
