"""The REST half of ARI: the operations the router needs, typed, with errors mapped once.

Resource ids are chosen by the caller (channel, bridge, playback ids), so that the events
about a resource can be matched even when they arrive before the REST answer does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from router.ari.config import AriConfig
from router.ari.errors import AriUnavailable, error_for
from router.ari.models import Application, Bridge, Channel, Endpoint, Json, Playback, Recording

Params = Mapping[str, str | int | bool | None]
DELETE_RETRY_PAUSES = (0.05, 0.25)


class AriRest:
    """REST calls to one Asterisk. Owns no session: the caller opens and closes it."""

    def __init__(self, session: aiohttp.ClientSession, config: AriConfig, *, timeout: float = 10.0) -> None:
        self._session = session
        self._config = config
        self._auth = {"Authorization": config.authorization}
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def request(self, method: str, path: str, params: Params | None = None, body: Json | None = None) -> Any:
        """One REST call; returns the decoded JSON (None for 204). Raises from `router.ari.errors`.

        A DELETE (hang up, remove a bridge or a recording) is tried again after a 5xx or a lost
        connection: it is idempotent (a repeat of one that did happen answers 404, which callers
        treat as done), and a hangup that silently failed would leave a phone line open.
        """
        for pause in DELETE_RETRY_PAUSES if method == "DELETE" else ():
            try:
                return await self._request_once(method, path, params, body)
            except AriUnavailable:
                await asyncio.sleep(pause)
        return await self._request_once(method, path, params, body)

    async def _request_once(self, method: str, path: str, params: Params | None, body: Json | None) -> Any:
        query = {k: _text(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self._session.request(
                method,
                self._config.rest_url + path,
                params=query,
                json=body,
                headers=self._auth,
                timeout=self._timeout,
            ) as response:
                text = await response.text()
                if response.status >= 300:
                    raise error_for(response.status, _message(text, response.reason), method, path)
                return json.loads(text) if text.strip() else None
        except (aiohttp.ClientConnectionError, TimeoutError, aiohttp.ClientPayloadError) as e:
            raise AriUnavailable(f"{type(e).__name__}: {e}".rstrip(": "), method=method, path=path) from e
        except json.JSONDecodeError as e:
            raise AriUnavailable(f"malformed JSON in answer: {e}", method=method, path=path) from e

    # -- channels -----------------------------------------------------------------

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{channel_id}", {"reason": reason})

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self.request("GET", f"/channels/{channel_id}"))

    async def list_channels(self) -> list[Channel]:
        return [Channel.from_json(c) for c in await self.request("GET", "/channels")]

    async def play(self, channel_id: str, playback_id: str, media: Iterable[str], lang: str | None = None) -> Playback:
        params = {"media": ",".join(media), "lang": lang}
        return Playback.from_json(await self.request("POST", f"/channels/{channel_id}/play/{playback_id}", params))

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{playback_id}")

    async def continue_in_dialplan(
        self, channel_id: str, context: str | None = None, extension: str | None = None, priority: int | None = None
    ) -> None:
        params = {"context": context, "extension": extension, "priority": priority}
        await self.request("POST", f"/channels/{channel_id}/continue", params)

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/ring")

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self.request("POST", f"/channels/{channel_id}/moh", {"mohClass": moh_class})

    async def stop_moh(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{channel_id}/moh")

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        fmt: str = "wav",
        max_duration_seconds: int = 0,
        max_silence_seconds: int = 0,
        beep: bool = True,
        terminate_on: str = "#",
        if_exists: str = "fail",
    ) -> Recording:
        params: Params = {
            "name": name,
            "format": fmt,
            "maxDurationSeconds": max_duration_seconds,
            "maxSilenceSeconds": max_silence_seconds,
            "beep": beep,
            "terminateOn": terminate_on,
            "ifExists": if_exists,
        }
        return Recording.from_json(await self.request("POST", f"/channels/{channel_id}/record", params))

    async def originate(
        self,
        endpoint: str,
        *,
        channel_id: str,
        app: str,
        app_args: Iterable[str] = (),
        ring_timeout: int = 30,
        caller_id: str | None = None,
    ) -> Channel:
        """A new channel to `endpoint`; it enters `app` (StasisStart) only if answered within ring_timeout."""
        params: Params = {
            "endpoint": endpoint,
            "channelId": channel_id,
            "app": app,
            "appArgs": ",".join(app_args),
            "timeout": ring_timeout,
            "callerId": caller_id,
        }
        return Channel.from_json(await self.request("POST", "/channels", params))

    # -- bridges ------------------------------------------------------------------

    async def create_bridge(self, bridge_id: str, bridge_type: str, name: str | None = None) -> Bridge:
        params = {"bridgeId": bridge_id, "type": bridge_type, "name": name}
        return Bridge.from_json(await self.request("POST", "/bridges", params))

    async def get_bridge(self, bridge_id: str) -> Bridge:
        return Bridge.from_json(await self.request("GET", f"/bridges/{bridge_id}"))

    async def list_bridges(self) -> list[Bridge]:
        return [Bridge.from_json(b) for b in await self.request("GET", "/bridges")]

    async def add_channel(self, bridge_id: str, *channel_ids: str) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/addChannel", {"channel": ",".join(channel_ids)})

    async def remove_channel(self, bridge_id: str, *channel_ids: str) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/removeChannel", {"channel": ",".join(channel_ids)})

    async def start_bridge_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/moh", {"mohClass": moh_class})

    async def stop_bridge_moh(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}/moh")

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}")

    # -- endpoints, applications, recordings, sounds ------------------------------

    async def get_endpoint(self, technology: str, resource: str) -> Endpoint:
        return Endpoint.from_json(await self.request("GET", f"/endpoints/{technology}/{resource}"))

    async def get_application(self, name: str | None = None) -> Application:
        return Application.from_json(await self.request("GET", f"/applications/{name or self._config.app}"))

    async def get_live_recording(self, name: str) -> Recording:
        return Recording.from_json(await self.request("GET", f"/recordings/live/{name}"))

    async def get_stored_recording(self, name: str) -> Recording:
        return Recording.from_json(await self.request("GET", f"/recordings/stored/{name}"))

    async def delete_stored_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{name}")

    async def stored_recording_file(self, name: str) -> bytes:
        """The audio of a stored recording."""
        path = f"/recordings/stored/{name}/file"
        try:
            async with self._session.get(
                self._config.rest_url + path, headers=self._auth, timeout=self._timeout
            ) as response:
                data = await response.read()
                if response.status >= 300:
                    message = _message(data.decode(errors="replace"), response.reason)
                    raise error_for(response.status, message, "GET", path)
                return data
        except (aiohttp.ClientConnectionError, TimeoutError) as e:
            raise AriUnavailable(str(e), method="GET", path=path) from e

    async def get_sound(self, sound_id: str) -> Json:
        # Sounds in a folder ("callrouter/closed-now") need their slash encoded: Asterisk answers a
        # raw one with 404 "Resource not found", as for any path it has no route for.
        result: Json = await self.request("GET", f"/sounds/{quote(sound_id, safe='')}")
        return result

    async def ping(self) -> None:
        """A cheap call that proves Asterisk answers and accepts our credentials."""
        await self.request("GET", "/asterisk/ping")


def _text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _message(text: str, reason: str | None) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip() or (reason or "")
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return text.strip() or (reason or "")
