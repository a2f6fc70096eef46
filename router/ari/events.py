"""The events half of ARI: one WebSocket, read without ever stalling, delivered in order per channel.

Theory of operation
-------------------
Asterisk pushes every event for our Stasis application down one WebSocket, and drops a
connection whose reader stalls (about 100 ms of back-pressure). So the reader task does
only three cheap things per frame: decode it, find the channel it concerns, and append it
to that channel's queue. Each queue has its own worker task that awaits the handler one
event at a time, so events of one channel stay in order while different calls proceed in
parallel, and a slow handler delays only its own channel. A worker ends when its queue is
empty; no task outlives the work it was made for.

When the socket closes (Asterisk restarting, a network blip), the stream reconnects with a
capped exponential backoff with jitter, and after every connect it runs the `on_connect`
hook: Asterisk does not re-send StasisStart for channels already in the application, so the
owner must reconcile from REST (GET /applications/{app}, /channels, /bridges). Frames that
are not JSON objects with a `type` are counted and skipped; unknown event types are logged
once each and skipped. Nothing a peer sends can crash the reader.

Two filters keep the frames cheap. At every connect the stream sets the application's event
filter in Asterisk (PUT /applications/{app}/eventFilter) to leave out `not_sent`, the types
nobody here needs, which Asterisk then does not even serialise (a filter outlives a
connection while the application lives on in Asterisk, so it is set, or cleared, each time).
And an event of a type the handler does not act on (`wanted`) is only noted for retries: it
is not turned into models nor queued.

One exception ends the stream instead of retrying: `ApplicationReplaced`, which means
another process registered the same application name. Fighting it with reconnects would
make the two flap; the owner is told (EventStream.run raises ApplicationReplacedError).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

from router.ari.config import AriConfig
from router.ari.models import Bridge, Channel, Json, Playback, Recording
from router.ari.retry import SeenIds

log = logging.getLogger(__name__)

# Every event type of Asterisk 22's ARI (events.json); others are logged and skipped.
KNOWN_EVENTS = frozenset(
    [
        "DeviceStateChanged",
        "PlaybackStarted",
        "PlaybackContinuing",
        "PlaybackFinished",
        "RecordingStarted",
        "RecordingFinished",
        "RecordingFailed",
        "ApplicationMoveFailed",
        "ApplicationRegistered",
        "ApplicationUnregistered",
        "ApplicationReplaced",
        "BridgeCreated",
        "BridgeDestroyed",
        "BridgeMerged",
        "BridgeBlindTransfer",
        "BridgeAttendedTransfer",
        "BridgeVideoSourceChanged",
        "ChannelCreated",
        "ChannelDestroyed",
        "ChannelEnteredBridge",
        "ChannelLeftBridge",
        "ChannelStateChange",
        "ChannelDtmfReceived",
        "ChannelDialplan",
        "ChannelCallerId",
        "ChannelUserevent",
        "ChannelHangupRequest",
        "ChannelVarset",
        "ChannelToneDetected",
        "ChannelTalkingStarted",
        "ChannelTalkingFinished",
        "ChannelHold",
        "ChannelUnhold",
        "ContactStatusChange",
        "EndpointStateChange",
        "Dial",
        "StasisEnd",
        "StasisStart",
        "TextMessageReceived",
        "ChannelConnectedLine",
        "PeerStatusChange",
        "ChannelTransfer",
        "RESTResponse",
        "CallBroadcast",
        "CallClaimed",
    ]
)


class MalformedEvent(ValueError):
    """A frame that is not an ARI event."""


class ApplicationReplacedError(Exception):
    """Another connection took over our Stasis application name."""


@dataclass(frozen=True, slots=True)
class Event:
    """One ARI event, with the parts the router reads picked out; `raw` keeps the rest."""

    type: str
    channel: Channel | None = None
    bridge: Bridge | None = None
    playback: Playback | None = None
    recording: Recording | None = None
    peer: Channel | None = None  # Dial: the channel being dialled
    args: tuple[str, ...] = ()  # StasisStart: the Stasis() application arguments
    digit: str | None = None  # ChannelDtmfReceived
    cause: int | None = None  # ChannelHangupRequest, ChannelDestroyed
    dialstatus: str | None = None  # Dial
    raw: Json = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        """What the event is about, for ordering: a channel id, else 'bridge:ID', else 'app'."""
        if self.channel is not None:
            return self.channel.id
        if self.peer is not None:
            return self.peer.id
        target = (self.playback.target_uri if self.playback else None) or (
            self.recording.target_uri if self.recording else None
        )
        if target:
            kind, _, ident = target.partition(":")
            return ident if kind == "channel" else target
        if self.bridge is not None:
            return f"bridge:{self.bridge.id}"
        return "app"


def parse_event(text: str | bytes) -> Event:
    """Decode one WebSocket frame. Raises MalformedEvent for anything that is not an ARI event."""
    return _event_from(_decode(text))


def _decode(text: str | bytes) -> Json:
    """A frame's JSON object, with its `type` (MalformedEvent if it is not that)."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise MalformedEvent(f"not JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise MalformedEvent("not an object with a 'type'")
    return data


def _ids_in(data: Json) -> list[str]:
    """The ids of the channels, playback and recording a decoded event is about (for SeenIds)."""
    ids = [r["id"] for r in (data.get(k) for k in ("channel", "peer", "playback")) if isinstance(r, dict) and "id" in r]
    recording = data.get("recording")
    if isinstance(recording, dict) and "name" in recording:
        ids.append(recording["name"])
    return [str(i) for i in ids]


def _event_from(data: Json) -> Event:
    try:
        return Event(
            type=data["type"],
            channel=Channel.from_json(data["channel"]) if isinstance(data.get("channel"), dict) else None,
            bridge=Bridge.from_json(data["bridge"]) if isinstance(data.get("bridge"), dict) else None,
            playback=Playback.from_json(data["playback"]) if isinstance(data.get("playback"), dict) else None,
            recording=Recording.from_json(data["recording"]) if isinstance(data.get("recording"), dict) else None,
            peer=Channel.from_json(data["peer"]) if isinstance(data.get("peer"), dict) else None,
            args=tuple(str(a) for a in data.get("args") or ()),
            digit=str(data["digit"]) if "digit" in data else None,
            cause=int(data["cause"]) if isinstance(data.get("cause"), int) else None,
            dialstatus=str(data["dialstatus"]) if "dialstatus" in data else None,
            raw=data,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise MalformedEvent(f"{data['type']}: {type(e).__name__}: {e}") from None


Handler = Callable[[Event], Awaitable[None]]


class Dispatcher:
    """Per-key queues, each drained in order by its own short-lived worker task."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._queues: dict[str, asyncio.Queue[Event]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self.handler_errors = 0

    def put(self, event: Event) -> None:
        """Never blocks: the reader calls this for every frame."""
        key = event.key
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = asyncio.Queue()
            task = asyncio.create_task(self._drain(key, queue), name=f"ari-events-{key}")
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)
        queue.put_nowait(event)

    async def _drain(self, key: str, queue: asyncio.Queue[Event]) -> None:
        while True:
            try:
                event = queue.get_nowait()
            except asyncio.QueueEmpty:
                # No await between this check and the removal, so put() cannot slip in between.
                del self._queues[key]
                return
            try:
                await self._handler(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                # One call's bug must not stop the events of others (nor of this channel).
                self.handler_errors += 1
                log.exception("event handler failed on %s for %s", event.type, key)

    @property
    def busy(self) -> int:
        return len(self._workers)

    async def idle(self) -> None:
        """Wait until every queued event has been handled."""
        while self._workers:
            await asyncio.gather(*list(self._workers), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._workers):
            task.cancel()
        await asyncio.gather(*list(self._workers), return_exceptions=True)
        self._queues.clear()


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: waits d/2 + random(0, d/2), d doubling up to `cap`."""

    base: float = 0.1
    cap: float = 1.5
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * 2**self.attempt)
        self.attempt += 1
        return float(ceiling / 2 + self.rng.uniform(0, ceiling / 2))

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class StreamStats:
    connects: int = 0
    disconnects: int = 0
    malformed: int = 0
    unknown: int = 0
    events: int = 0


class EventStream:
    """The application's WebSocket to Asterisk, kept open until closed, replaced or cancelled."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: AriConfig,
        handler: Handler,
        *,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        backoff: Backoff | None = None,
        heartbeat: float = 5.0,
        seen: SeenIds | None = None,
        wanted: frozenset[str] | None = None,
        not_sent: tuple[str, ...] = (),
    ) -> None:
        """`wanted`: the event types `handler` acts on (None: all); `not_sent`: those Asterisk is
        asked not to send at all (see the module)."""
        self._session = session
        self._config = config
        self._wanted = wanted
        self._not_sent = not_sent
        self._filter_failing = False
        self._on_connect = on_connect
        self._backoff = backoff or Backoff()
        self._heartbeat = heartbeat
        self._auth = {"Authorization": config.authorization}
        self.dispatcher = Dispatcher(handler)
        self.seen = seen if seen is not None else SeenIds()  # for retries: which resources events were about
        self.stats = StreamStats()
        self.connected = asyncio.Event()
        self._unknown_seen: set[str] = set()
        self._hook_task: asyncio.Task[None] | None = None
        self.gate: Callable[[], Awaitable[bool]] | None = None  # as AriRest.gate: asked before each connect

    async def run(self) -> None:
        """Connect, read, reconnect, forever. Raises ApplicationReplacedError; cancel to stop."""
        try:
            while True:
                if self.gate is not None and not await self.gate():
                    log.error("ARI events: another router holds application %r now; stopping", self._config.app)
                    raise ApplicationReplacedError(self._config.app)
                try:
                    await self._session_once()
                except ApplicationReplacedError:
                    raise
                except (aiohttp.ClientError, OSError, TimeoutError) as e:
                    log.warning("ARI events: %s: %s", type(e).__name__, e)
                delay = self._backoff.next_delay()
                log.info("ARI events: reconnecting in %.2f s", delay)
                await asyncio.sleep(delay)
        finally:
            self.connected.clear()
            if self._hook_task is not None:
                self._hook_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._hook_task
            await self.dispatcher.close()

    async def _session_once(self) -> None:
        async with self._session.ws_connect(
            self._config.events_url,
            params={"app": self._config.app, "subscribeAll": "false"},
            headers=self._auth,
            heartbeat=self._heartbeat,
            max_msg_size=0,
        ) as ws:
            self.stats.connects += 1
            self._backoff.reset()
            self.connected.set()
            log.info("ARI events: connected as application %r", self._config.app)
            # In a task of its own: the reader must keep reading while the filter is set and the
            # owner reconciles. A hook still running from the last connection is stale: this one replaces it.
            if self._hook_task is not None:
                self._hook_task.cancel()
            self._hook_task = asyncio.create_task(self._run_hook(), name="ari-on-connect")
            try:
                async for message in ws:
                    if message.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        self._feed(message.data)
                    elif message.type == aiohttp.WSMsgType.ERROR:
                        log.warning("ARI events: socket error: %s", ws.exception())
                        break
            finally:
                self.connected.clear()
                self.stats.disconnects += 1
            log.warning("ARI events: connection closed (code %s)", ws.close_code)

    async def _set_filter(self) -> None:
        """The application's event filter: everything but `not_sent` (a failure is logged once; the
        events then come, and `wanted` still keeps them from the handler)."""
        url = f"{self._config.rest_url}/applications/{self._config.app}/eventFilter"
        body = {"allowed": [], "disallowed": [{"type": t} for t in self._not_sent]}
        try:
            async with self._session.put(url, json=body, headers=self._auth) as answer:
                if answer.status != 200:
                    raise aiohttp.ClientResponseError(answer.request_info, (), status=answer.status)
            self._filter_failing = False
        except (aiohttp.ClientError, TimeoutError) as e:
            if not self._filter_failing:
                log.warning("ARI events: could not set the application's event filter (%s); events come unfiltered", e)
            self._filter_failing = True

    async def _run_hook(self) -> None:
        await self._set_filter()
        if self._on_connect is None:
            return
        try:
            await self._on_connect()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ARI events: reconcile after connect failed")

    def _note(self, data: Json) -> None:
        for resource_id in _ids_in(data):
            self.seen.note(resource_id)

    def _feed(self, frame: str | bytes) -> None:
        try:
            data = _decode(frame)
            kind = data["type"]
            unwanted = self._wanted is not None and kind not in self._wanted and kind != "ApplicationReplaced"
            if unwanted and kind in KNOWN_EVENTS:  # no handler acts on it: only what it was about is kept
                self.stats.events += 1
                self._note(data)
                return
            event = _event_from(data)
        except MalformedEvent as e:
            self.stats.malformed += 1
            log.warning("ARI events: skipped a malformed frame: %s", e)
            return
        if event.type not in KNOWN_EVENTS:
            self.stats.unknown += 1
            if event.type not in self._unknown_seen:
                self._unknown_seen.add(event.type)
                log.info("ARI events: skipping unknown event type %r", event.type)
            return
        self.stats.events += 1
        self._note(data)
        if event.type == "ApplicationReplaced":
            log.error("ARI events: another connection took over application %r; stopping", self._config.app)
            raise ApplicationReplacedError(self._config.app)
        self.dispatcher.put(event)
