"""ARI resources as small frozen records, read from Asterisk's JSON (unknown fields are ignored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    state: str  # Down, Rsrvd, OffHook, Dialing, Ring, Ringing, Up, Busy, ...
    caller_number: str
    caller_name: str
    context: str
    exten: str
    app_name: str = ""  # the dialplan application it is in: "Stasis" while in an ARI application
    app_data: str = ""  # its arguments: "router,1818" for Stasis(router,1818)
    created: datetime | None = None  # `creationtime`: when the call reached Asterisk

    @classmethod
    def from_json(cls, data: Json) -> Channel:
        caller = data.get("caller") or {}
        dialplan = data.get("dialplan") or {}
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", "")),
            state=str(data.get("state", "")),
            caller_number=str(caller.get("number", "")),
            caller_name=str(caller.get("name", "")),
            context=str(dialplan.get("context", "")),
            exten=str(dialplan.get("exten", "")),
            app_name=str(dialplan.get("app_name", "")),
            app_data=str(dialplan.get("app_data", "")),
            created=instant(data.get("creationtime")),
        )

    @property
    def stasis_args(self) -> tuple[str, ...]:
        """The arguments of Stasis(app, ...) after the application's name, as StasisStart gave them."""
        if self.app_name != "Stasis":
            return ()
        return tuple(a for a in self.app_data.split(",")[1:] if a)


@dataclass(frozen=True, slots=True)
class Bridge:
    id: str
    bridge_type: str  # mixing, holding
    channels: tuple[str, ...]
    name: str

    @classmethod
    def from_json(cls, data: Json) -> Bridge:
        return cls(
            id=str(data["id"]),
            bridge_type=str(data.get("bridge_type", "")),
            channels=tuple(str(c) for c in data.get("channels", ())),
            name=str(data.get("name", "")),
        )


@dataclass(frozen=True, slots=True)
class Playback:
    id: str
    media_uri: str
    target_uri: str
    state: str  # queued, playing, continuing, done, failed, canceled

    @classmethod
    def from_json(cls, data: Json) -> Playback:
        return cls(
            id=str(data["id"]),
            media_uri=str(data.get("media_uri", "")),
            target_uri=str(data.get("target_uri", "")),
            state=str(data.get("state", "")),
        )


@dataclass(frozen=True, slots=True)
class Recording:
    """A live recording (state queued/recording/done/failed) or a stored one (no state)."""

    name: str
    format: str
    state: str
    target_uri: str
    duration: int | None

    @classmethod
    def from_json(cls, data: Json) -> Recording:
        duration = data.get("duration")
        return cls(
            name=str(data["name"]),
            format=str(data.get("format", "")),
            state=str(data.get("state", "")),
            target_uri=str(data.get("target_uri", "")),
            duration=int(duration) if duration is not None else None,
        )


@dataclass(frozen=True, slots=True)
class Endpoint:
    technology: str
    resource: str
    state: str  # online, offline, unknown
    channel_ids: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Json) -> Endpoint:
        return cls(
            technology=str(data.get("technology", "")),
            resource=str(data.get("resource", "")),
            state=str(data.get("state", "")),
            channel_ids=tuple(str(c) for c in data.get("channel_ids", ())),
        )


@dataclass(frozen=True, slots=True)
class Application:
    name: str
    channel_ids: tuple[str, ...]
    bridge_ids: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Json) -> Application:
        return cls(
            name=str(data.get("name", "")),
            channel_ids=tuple(str(c) for c in data.get("channel_ids", ())),
            bridge_ids=tuple(str(b) for b in data.get("bridge_ids", ())),
        )


def instant(text: object) -> datetime | None:
    """Asterisk's timestamps (2024-01-04T14:30:00.123+0000); None for anything else."""
    if not isinstance(text, str):
        return None
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        return None
    return found if found.tzinfo is not None else None
