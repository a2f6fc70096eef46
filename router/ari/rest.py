"""The REST half of ARI: the operations the router needs, typed, with errors mapped once.

Resource ids are chosen by the caller (channel, bridge, playback ids), so that the events
about a resource can be matched even when they arrive before the REST answer does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from router.ari.config import AriConfig
from router.ari.errors import CALL_MOVED_ON, AriConflict, AriError, AriFenced, AriNotFound, AriUnavailable, error_for
from router.ari.models import Application, Bridge, Channel, Endpoint, Json, Playback, Recording, instant
from router.ari.retry import ONCE, PAUSES, PLAIN, Retry, SeenIds, deadline

Params = Mapping[str, str | int | bool | None]
_DEFAULT = object()  # `retry` not given: reads and deletions are retried, other requests are not
_MISSING = object()


class AriRest:
    """REST calls to one Asterisk. Owns no session: the caller opens and closes it.

    `seen` is the event stream's record of the resources events were about; with it, a retried
    request can tell that its first try took effect (see `router.ari.retry`).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: AriConfig,
        *,
        timeout: float = 10.0,
        seen: SeenIds | None = None,
    ) -> None:
        self._session = session
        self._config = config
        self._auth = {"Authorization": config.authorization}
        self._timeout = timeout
        self._seen = seen if seen is not None else SeenIds()
        self.retries = 0  # requests tried again after a failure (a figure for /metrics)
        self.requests = 0  # HTTP requests sent to Asterisk, retries included (a figure for /metrics)
        # Asked before every request: False once this router may no longer act (a fence, set by the
        # owner; router/office/standby.py). None: always allowed.
        self.gate: Callable[[], Awaitable[bool]] | None = None

    async def request(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        body: Json | None = None,
        retry: Retry | object | None = _DEFAULT,
        *,
        raw: bool = False,
    ) -> Any:
        """One REST call; returns the decoded JSON (None for 204), or the body's bytes with `raw`.
        Raises from `router.ari.errors`.

        Failures that Asterisk may not have acted on (no answer, 5xx) are tried again as `retry`
        allows (`router.ari.retry`), until the deadline. None is also what a retry returns when it
        finds that the first try took effect but nothing is left to show for it.
        """
        policy = (PLAIN if method in ("GET", "DELETE") else ONCE) if retry is _DEFAULT else retry
        assert policy is None or isinstance(policy, Retry)
        end = deadline()
        attempt = 0
        while True:
            try:
                return await self._request_once(method, path, params, body, end, raw=raw)
            except AriConflict:
                if attempt and policy is not None and (policy.conflict_ok or policy.moved_on_ok):
                    return await self._after_effect(policy)
                raise
            except CALL_MOVED_ON:
                if attempt and policy is not None and policy.moved_on_ok:
                    return None
                raise
            except AriUnavailable:
                if policy is None or attempt >= len(PAUSES) or time.monotonic() + PAUSES[attempt] >= end:
                    raise
                await asyncio.sleep(PAUSES[attempt])
                attempt += 1
                self.retries += 1
                found = await self._probe(policy, end)
                if found is not _MISSING:
                    return found  # the first try made it
                if policy.seen is not None and policy.seen in self._seen:
                    return None  # the first try made it, and it is over already

    async def _probe(self, policy: Retry, end: float) -> Any:
        """What the probe of a request finds of its first try's resource; _MISSING if nothing."""
        if policy.probe is None:
            return _MISSING
        try:
            return await self._request_once("GET", policy.probe, None, None, end)
        except AriError:
            return _MISSING

    async def _after_effect(self, policy: Retry) -> Any:
        """What a retried request answers when Asterisk refused it as done: the resource, if it is still there."""
        found = await self._probe(policy, deadline())
        return None if found is _MISSING else found

    async def _request_once(
        self, method: str, path: str, params: Params | None, body: Json | None, end: float, *, raw: bool = False
    ) -> Any:
        if self.gate is not None and not await self.gate():
            raise AriFenced("not sent: another router holds this Asterisk's calls now", method=method, path=path)
        query = {k: _text(v) for k, v in (params or {}).items() if v is not None}
        self.requests += 1
        timeout = aiohttp.ClientTimeout(total=max(0.05, min(self._timeout, end - time.monotonic())))
        try:
            async with self._session.request(
                method,
                self._config.rest_url + path,
                params=query,
                json=body,
                headers=self._auth,
                timeout=timeout,
            ) as response:
                data = await response.read()
                if response.status >= 300:
                    message = _message(data.decode(errors="replace"), response.reason)
                    raise error_for(response.status, message, method, path)
                if raw:
                    return data
                return json.loads(data) if data.strip() else None
        except (aiohttp.ClientConnectionError, TimeoutError, aiohttp.ClientPayloadError) as e:
            raise AriUnavailable(f"{type(e).__name__}: {e}".rstrip(": "), method=method, path=path) from e
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise AriUnavailable(f"malformed JSON in answer: {e}", method=method, path=path) from e

    # -- channels -----------------------------------------------------------------

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer", retry=PLAIN)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{channel_id}", {"reason": reason})

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self.request("GET", f"/channels/{channel_id}"))

    async def list_channels(self) -> list[Channel]:
        return [Channel.from_json(c) for c in await self.request("GET", "/channels")]

    async def play(
        self, channel_id: str, playback_id: str, media: Iterable[str], lang: str | None = None
    ) -> Playback | None:
        """Start a playback; None if a retry found the first try's playback already over."""
        params = {"media": ",".join(media), "lang": lang}
        retry = Retry(seen=playback_id, probe=f"/playbacks/{playback_id}")
        data = await self.request("POST", f"/channels/{channel_id}/play/{playback_id}", params, retry=retry)
        return Playback.from_json(data) if data else None

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{playback_id}")

    async def continue_in_dialplan(
        self, channel_id: str, context: str | None = None, extension: str | None = None, priority: int | None = None
    ) -> None:
        params = {"context": context, "extension": extension, "priority": priority}
        await self.request("POST", f"/channels/{channel_id}/continue", params, retry=Retry(moved_on_ok=True))

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/ring")

    async def stop_ringing(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{channel_id}/ring")

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self.request("POST", f"/channels/{channel_id}/moh", {"mohClass": moh_class}, retry=PLAIN)

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
    ) -> Recording | None:
        """Start recording; None if a retry found the first try's recording already over."""
        params: Params = {
            "name": name,
            "format": fmt,
            "maxDurationSeconds": max_duration_seconds,
            "maxSilenceSeconds": max_silence_seconds,
            "beep": beep,
            "terminateOn": terminate_on,
            "ifExists": if_exists,
        }
        retry = Retry(conflict_ok=True, seen=name, probe=f"/recordings/live/{name}")
        data = await self.request("POST", f"/channels/{channel_id}/record", params, retry=retry)
        return Recording.from_json(data) if data else None

    async def originate(
        self,
        endpoint: str,
        *,
        channel_id: str,
        app: str,
        app_args: Iterable[str] = (),
        ring_timeout: int = 30,
        caller_id: str | None = None,
    ) -> Channel | None:
        """A new channel to `endpoint`; it enters `app` (StasisStart) only if answered within ring_timeout.

        None if a retry found that the first try's channel had already ended (its events say how)."""
        params: Params = {
            "endpoint": endpoint,
            "channelId": channel_id,
            "app": app,
            "appArgs": ",".join(app_args),
            "timeout": ring_timeout,
            "callerId": caller_id,
        }
        retry = Retry(conflict_ok=True, seen=channel_id, probe=f"/channels/{channel_id}")
        data = await self.request("POST", "/channels", params, retry=retry)
        return Channel.from_json(data) if data else None

    # -- bridges ------------------------------------------------------------------

    async def create_bridge(self, bridge_id: str, bridge_type: str, name: str | None = None) -> Bridge:
        params = {"bridgeId": bridge_id, "type": bridge_type, "name": name}
        retry = Retry(conflict_ok=True, probe=f"/bridges/{bridge_id}")
        data = await self.request("POST", "/bridges", params, retry=retry)
        if data is None:  # a retry found the bridge the first try made, and it is gone already
            raise AriNotFound("Bridge not found", method="POST", path="/bridges")
        return Bridge.from_json(data)

    async def get_bridge(self, bridge_id: str) -> Bridge:
        return Bridge.from_json(await self.request("GET", f"/bridges/{bridge_id}"))

    async def list_bridges(self) -> list[Bridge]:
        return [Bridge.from_json(b) for b in await self.request("GET", "/bridges")]

    async def add_channel(self, bridge_id: str, *channel_ids: str) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/addChannel", {"channel": ",".join(channel_ids)}, retry=PLAIN)

    async def remove_channel(self, bridge_id: str, *channel_ids: str) -> None:
        await self.request(
            "POST", f"/bridges/{bridge_id}/removeChannel", {"channel": ",".join(channel_ids)}, retry=PLAIN
        )

    async def start_bridge_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/moh", {"mohClass": moh_class}, retry=PLAIN)

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

    async def list_stored_recordings(self) -> list[Recording]:
        return [Recording.from_json(r) for r in await self.request("GET", "/recordings/stored")]

    async def delete_stored_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{name}")

    async def stored_recording_file(self, name: str) -> bytes:
        """The audio of a stored recording."""
        data: bytes = await self.request("GET", f"/recordings/stored/{name}/file", raw=True)
        return data

    async def get_sound(self, sound_id: str) -> Json:
        # Sounds in a folder ("callrouter/closed-now") need their slash encoded: Asterisk answers a
        # raw one with 404 "Resource not found", as for any path it has no route for.
        result: Json = await self.request("GET", f"/sounds/{quote(sound_id, safe='')}")
        return result

    async def ping(self) -> None:
        """A cheap call that proves Asterisk answers and accepts our credentials."""
        await self.request("GET", "/asterisk/ping")

    async def asterisk_id(self) -> str:
        """Asterisk's entity id (asterisk.conf's `entityid`, by default a MAC address of its machine)."""
        answer = await self.request("GET", "/asterisk/ping")
        return str(answer.get("asterisk_id", "")) if isinstance(answer, dict) else ""

    async def asterisk_time(self) -> datetime | None:
        """Asterisk's clock now (from the ping's timestamp): for the age of its channels, whatever ours says."""
        answer = await self.request("GET", "/asterisk/ping")
        return instant(answer.get("timestamp")) if isinstance(answer, dict) else None


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
