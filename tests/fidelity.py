"""The differential tier's machinery: a scenario's transcript, taken alike on any Asterisk.

A scenario is a script of ARI requests and harness actions (a caller calls, presses a key, hangs
up). `Transcript` sends the requests as any HTTP client would (no retries, no client library in
between), and writes down each request, each answer (status and body) and the events the
application receives after it, until they settle. Ids and times differ by nature between two
Asterisks: `normalised()` replaces every id by the order of its first appearance (`<id1>`, ...) and
every time by `<time>`, so that two transcripts compare as text. What is left is what a user of the
simulator relies on: statuses, error messages word for word, fields and their values, events and
their order.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from typing import Any
from urllib.parse import unquote, urlencode

import aiohttp

from router.ari import AriConfig, Event

QUIET = 0.3  # events have settled after this long without one
LONGEST = 4.0  # at most this long after a step
# A channel's name where a value carries one (BRIDGEPEER's "Recorder/ARI-0000001b;2"): Asterisk numbers its
# own channels from one sequence for the whole process, so the number depends on what ran before.
_CHANNEL_NAME = re.compile(r"^[A-Za-z]+/\S+-[0-9a-f]{8}(;[12])?$")
# A SIP channel's name is compared but for its number: chan_pjsip names a channel after its endpoint, with
# the driver's own sequence number in eight hex digits.
_SIP_NAME = re.compile(r"^PJSIP/(\S+)-([0-9a-f]{8})$")
_NUMBER = re.compile(r"\d+(\.\d+)?")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d{4}|Z)?$")
# Fields whose values name things that differ between two Asterisks by nature (who calls, how).
_IDS = {"id", "channel_id", "bridge_id", "playback_id", "target_uri", "channels", "asterisk_id", "entity_id",
        "protocol_id", "uniqueid", "linkedid", "name", "caller", "connected", "accountcode", "peer", "replace_channel",
        "channel_ids", "bridge_ids", "endpoint_ids", "device_names"}  # fmt: skip
# Dropped: times, and what the harness's calls differ in by their technology. The real tier's callers
# are Local channels, whose connected line is the other half's caller; the simulator's are inbound
# calls, whose connected line is empty until someone answers. A channel's language is the real tier's
# config (a playback's and a sound's are compared).
_DROP = {"timestamp", "creationtime", "last_activity", "startup_time", "last_reload_time", "language", "connected"}


class EventSocket:
    """A WebSocket of the scenario's own on /ari/events (beside the backend's application): its frames,
    as they come, and whether Asterisk closed it."""

    def __init__(self, label: str, ws: aiohttp.ClientWebSocketResponse, session: aiohttp.ClientSession) -> None:
        self.label, self.ws, self.session = label, ws, session
        self.frames: list[str] = []
        self.written = 0
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.frames.append(message.data)
        self.frames.append("closed")  # the server ended it (or we did: then nobody reads this)


class Transcript:
    def __init__(self, session: aiohttp.ClientSession, config: AriConfig, events: list[Event]) -> None:
        self.session, self.config, self.events = session, config, events
        self.lines: list[str] = []
        self._seen = len(events)
        # Its callers are SIP phones on both Asterisks (`sip_calls()`): their connected lines are compared.
        self.sip = False

    async def request(
        self,
        method: str,
        path: str,
        *,
        settle: bool = True,
        body: str | None = None,
        fields: tuple[str, ...] = (),
        listed: tuple[str, ...] = (),
        **params: str | int | bool,
    ) -> Any:
        """Send one ARI request; write it, its answer and (unless not `settle`) the events after it.
        Returns the answer's body. `body`: sent as application/json, as written (so that a malformed
        one can be sent too). `fields`: of an object answer, only these are written (where the rest
        depends on what earlier tests left on the shared real Asterisk). `listed`: of a list answer,
        only the items with these ids (or names), in this order (and of each, only `fields`): the rest
        of the list is what earlier tests left, and Asterisk lists in the order of its hash tables."""
        lines, answered = await self._exchange(method, path, body, fields, listed, params)
        self.lines += lines
        if settle:
            await self.settle()
        return answered

    def start(self, method: str, path: str, **params: str | int | bool) -> asyncio.Task[tuple[list[str], Any]]:
        """Send a request that Asterisk answers only in its turn (a synchronous command queued behind a
        playback on the channel), while the scenario goes on; `finish` writes it when it is answered."""
        return asyncio.create_task(self._exchange(method, path, None, (), (), params))

    async def finish(self, started: asyncio.Task[tuple[list[str], Any]]) -> Any:
        """Wait for a request `start`ed; write it and its answer (the events after it are not waited for)."""
        lines, answered = await started
        self.lines += lines
        return answered

    async def _exchange(
        self,
        method: str,
        path: str,
        body: str | None,
        fields: tuple[str, ...],
        listed: tuple[str, ...],
        params: dict[str, str | int | bool],
    ) -> tuple[list[str], Any]:
        """One request and its answer, as the transcript's two lines, and the answer's body."""
        query = urlencode({k: _text(v) for k, v in params.items()})
        url = f"{self.config.url.rstrip('/')}/ari{path}" + (f"?{query}" if query else "")
        headers = self._authorization()
        if body is not None:
            headers["Content-Type"] = "application/json"
        async with self.session.request(method, url, headers=headers, data=body) as answer:
            raw = await answer.read()
            status = answer.status
        try:
            answered: Any = json.loads(raw) if raw else None
        except ValueError:
            answered = raw.decode(errors="replace")
        written = answered
        if isinstance(answered, dict) and status < 300:
            written = _only(answered, fields)
        if listed and isinstance(answered, list) and status < 300:
            by_key = {_key(item): item for item in answered if isinstance(item, dict)}
            written = [_only(by_key[key], fields) for key in listed if key in by_key]
        asked = f"> {method} {path}" + (f"?{query}" if query else "") + (f" {body}" if body else "")
        return [asked, f"< {status} {json.dumps(written, sort_keys=True)}"], answered

    def _authorization(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.config.user}:{self.config.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def open_events(self, label: str, query: str) -> EventSocket | None:
        """Open a WebSocket on /ari/events?`query`, as a client library would; write the upgrade's
        status (101, or the refusal's) and return the socket, or None when it was refused."""
        url = f"{self.config.url.rstrip('/')}/ari/events" + (f"?{query}" if query else "")
        self.lines.append(f"> WS {label} /events" + (f"?{query}" if query else ""))
        # A connection of its own: a refused upgrade can leave a second error page on it (Asterisk 22
        # answers a failed registration twice), which must not become the answer to the next request.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        try:
            ws = await session.ws_connect(url, headers=self._authorization(), heartbeat=None)
        except aiohttp.WSServerHandshakeError as e:
            await session.close()
            self.lines.append(f"< {e.status} null")
            await self.settle()
            return None
        self.lines.append("< 101 null")
        await self.settle()
        return EventSocket(label, ws, session)

    async def frames(self, socket: EventSocket) -> None:
        """Write what came on `socket` so far, once it has been quiet for a while."""
        loop = asyncio.get_running_loop()
        start = last = loop.time()
        seen = len(socket.frames)
        while loop.time() - last < QUIET and loop.time() - start < LONGEST:
            await asyncio.sleep(0.02)
            if len(socket.frames) > seen:
                seen, last = len(socket.frames), loop.time()
        for frame in socket.frames[socket.written :]:
            self.lines.append(
                f"# {socket.label} closed by Asterisk" if frame == "closed" else f"!{socket.label} {_body_read(frame)}"
            )
        socket.written = len(socket.frames)

    async def over_websocket(self, socket: EventSocket, message: Any) -> None:
        """Send a REST request on `socket` (Asterisk 22's RESTRequest; `message` a JSON value, or a text
        sent as it is); write it, then what came on the socket."""
        frame = message if isinstance(message, str) else json.dumps(message)
        self.lines.append(f"> WS {socket.label} {frame}")
        await socket.ws.send_str(frame)
        await self.frames(socket)

    async def close_events(self, socket: EventSocket) -> None:
        """Write what came on `socket`, then close it from our side."""
        await self.frames(socket)
        socket.reader.cancel()
        await socket.ws.close()
        await asyncio.gather(socket.reader, return_exceptions=True)
        await socket.session.close()
        self.lines.append(f"# {socket.label} closed")
        await self.settle()

    async def until_event(self, event_type: str, within: float = 5.0, count: int = 1) -> None:
        """Write events until `count` of `event_type` have come (and those after them settled): for a
        step whose events take a while on a real Asterisk, so that timing does not decide the order."""
        loop = asyncio.get_running_loop()
        end = loop.time() + within

        def arrived() -> int:
            return sum(e.type == event_type for e in self.events[self._seen :])

        while arrived() < count and loop.time() < end:  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # the events are a plain list the event stream appends to
        await self.settle()

    def sip_calls(self) -> None:
        """The scenario's callers are SIP phones on both Asterisks: their channels' connected lines are the
        same by nature, and compared."""
        self.sip = True

    def note(self, what: str) -> None:
        """A harness action, written as such."""
        self.lines.append(f"# {what}")

    async def settle(self) -> None:
        """Write the events that arrive until they stop coming."""
        loop = asyncio.get_running_loop()
        start = last = loop.time()
        while loop.time() - last < QUIET and loop.time() - start < LONGEST:
            await asyncio.sleep(0.02)
            if len(self.events) > self._seen:
                for event in self.events[self._seen :]:
                    self.lines.append(f"! {json.dumps(event.raw, sort_keys=True)}")
                self._seen = len(self.events)
                last = loop.time()

    def normalised(self) -> list[str]:
        names: dict[str, str] = {}
        seen = _channels_seen(self.lines)
        # How long a SIP phone sends each key is the phone's (baresip's depends on when the next is typed).
        dropped = (_DROP - {"connected"}) | {"duration_ms"} if self.sip else _DROP
        lines = [_normalise_line(_without_unseen_channels(line, seen), names, dropped) for line in self.lines]
        # A Local half's ChannelConnectedLine and a playback's PlaybackStarted come from two threads of
        # Asterisk's (the connected line through the other half): in either order, from run to run.
        for i in range(len(lines) - 1):
            if '"type": "ChannelConnectedLine"' in lines[i] and '"type": "PlaybackStarted"' in lines[i + 1]:
                lines[i], lines[i + 1] = lines[i + 1], lines[i]
            # A move queued behind a play: Asterisk sends ApplicationMoveFailed straight to the application
            # (res_stasis.c, app_send) and the play's PlaybackFinished through its topic: in either order.
            if '"type": "ApplicationMoveFailed"' in lines[i] and '"type": "PlaybackFinished"' in lines[i + 1]:
                lines[i], lines[i + 1] = lines[i + 1], lines[i]
            # A REST request on a WebSocket: Asterisk writes its RESTResponse from the WebSocket's thread and
            # the events the request caused from its stasis threads, so an event may come before the answer.
            label = lines[i].partition(" ")[0]
            if (
                label.startswith("!")
                and label != "!"
                and lines[i + 1].startswith(label + " ")
                and ('"type": "RESTResponse"' in lines[i + 1] and '"type": "RESTResponse"' not in lines[i])
            ):
                lines[i], lines[i + 1] = lines[i + 1], lines[i]
            if _SNOOP.match(lines[i]) and lines[i + 1].startswith("< 200 "):
                lines[i + 1] = _before_or_in_stasis(lines[i + 1])
            if _PLAY_OF_A_LIST.match(lines[i]) and lines[i + 1].startswith("< 201 "):
                lines[i + 1] = _somewhere_in_its_list(lines[i + 1])
        return _dialling_in_order(lines)


_STATES = ("Down", "Ringing", "Up")
_NEEDS = {"": "Down", "RINGING": "Ringing", "ANSWER": "Up"}  # the channel state a Dial's status follows


def _dialled(line: str) -> tuple[str, dict[str, Any]] | None:
    """A Dial or ChannelStateChange event of the backend application's: the channel's id, and the event."""
    if not line.startswith("! "):
        return None
    event = json.loads(line[2:])
    channel = event.get("peer") if event.get("type") == "Dial" else event.get("channel")
    if event.get("type") not in ("Dial", "ChannelStateChange") or not isinstance(channel, dict):
        return None
    return channel["id"], event


def _dialling_in_order(lines: list[str]) -> list[str]:
    """A dialled channel's Dial events and its ChannelStateChanges come from two threads of Asterisk's (the
    dialling one, and the channel's own), each in order but the two interleaved as it happens, a Dial
    showing the channel's state when it was sent. Written in one order: each Dial after the state change its
    status follows (none for the first Dial, Ringing for RINGING, Up for ANSWER), showing that state."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        found = [_dialled(lines[i])]
        j = i + 1
        while found[0] is not None and j < len(lines):
            following = _dialled(lines[j])
            if following is None or following[0] != found[0][0]:
                break
            found.append(following)
            j += 1
        run = [found_one[1] for found_one in found if found_one is not None]
        if len({e["type"] for e in run}) < 2:
            out.append(lines[i])
            i += 1
            continue
        keyed, reached = [], 0
        for n, event in enumerate(run):
            if event["type"] == "ChannelStateChange":
                reached = max(reached, _STATES.index(event["channel"]["state"]))
                keyed.append(((reached, 0, n), event))
            else:
                need = _NEEDS.get(event["dialstatus"])
                keyed.append(((_STATES.index(need) if need else reached, 1, n), event))
        state = "Down"
        for _, event in sorted(keyed, key=lambda k: k[0]):
            if event["type"] == "ChannelStateChange":
                state = event["channel"]["state"]
            else:
                event["peer"]["state"] = state
            out.append(f"! {json.dumps(event, sort_keys=True)}")
        i = j
    return out


def _body_read(frame: str) -> str:
    """A RESTResponse's body is a JSON text (`message_body`): written as the JSON it holds, so that its ids
    and times are normalised as an HTTP answer's are, when it is exactly that JSON written compactly (as
    Asterisk writes it); else as it came, to be compared as text."""
    try:
        event = json.loads(frame)
        body = event.get("message_body") if isinstance(event, dict) else None
        parsed = json.loads(body) if isinstance(body, str) else None
    except ValueError:
        return frame
    if parsed is None or json.dumps(parsed, separators=(",", ":"), ensure_ascii=False) != body:
        return frame
    return json.dumps({**event, "message_body": parsed})


def _channels_seen(lines: list[str]) -> set[str]:
    """The ids of every channel the transcript shows as a channel (in an event or an answer)."""
    seen: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            if "dialplan" in value and isinstance(value.get("id"), str):
                seen.add(value["id"])
            for inner in value.values():
                collect(inner)
        elif isinstance(value, list):
            for inner in value:
                collect(inner)

    for line in lines:
        kind, _, rest = line.partition(" ")
        if kind == "<":
            rest = rest.partition(" ")[2]
        if kind == "<" or kind.startswith("!"):
            with contextlib.suppress(ValueError):
                collect(json.loads(rest))
    return seen


def _without_unseen_channels(line: str, seen: set[str]) -> str:
    """An event's bridge lists only channels seen as such. Asterisk's own channels in a bridge (music on
    hold's, a play's announcer, a recorder) are internal, and ARI leaves them out of a bridge's
    `channels` when it writes the event; but it asks by id for the channel's latest snapshot
    (res/res_stasis.c, channel_id_sanitizer), so one destroyed by then (put out of the bridge when
    the last caller left: LONELY) is not found to be internal, and is listed. Timing only."""
    kind, _, rest = line.partition(" ")
    if not kind.startswith("!"):
        return line
    event = json.loads(rest)
    bridge = event.get("bridge")
    if not isinstance(bridge, dict) or not isinstance(bridge.get("channels"), list):
        return line
    bridge["channels"] = [c for c in bridge["channels"] if c in seen]
    return f"{kind} {json.dumps(event, sort_keys=True)}"


_PLAY_OF_A_LIST = re.compile(r"> POST /(channels|bridges)/[^?]+/play\b.*[?&]media=[^&]*,")


def _somewhere_in_its_list(line: str) -> str:
    """A play of a list of media answers with the playback as it is then (as its state): an idle
    channel may have skipped a missing first sound already, and be at the next."""
    answer = json.loads(line.removeprefix("< 201 "))
    answer.pop("next_media_uri", None)
    answer["media_uri"] = "<one of the list>"
    return f"< 201 {json.dumps(answer, sort_keys=True)}"


_SNOOP = re.compile(r"> POST /channels/[^/?]+/snoop\b")


def _before_or_in_stasis(line: str) -> str:
    """A snoop's 200 answer shows its channel's dialplan before or after it entered Stasis: Asterisk
    starts the snoop channel's Stasis thread, then takes the snapshot it answers with
    (res_stasis_snoop.c, resource_channels.c), so which comes first is timing."""
    answer = json.loads(line.removeprefix("< 200 "))
    dialplan = answer.get("dialplan", {})
    if dialplan.get("app_name") in ("", "Stasis"):
        dialplan["app_name"] = dialplan["app_data"] = "<before or in Stasis>"
    return f"< 200 {json.dumps(answer, sort_keys=True)}"


def _only(answer: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k in fields} if fields else answer


def _key(item: dict[str, Any]) -> Any:
    """What a listed resource is known by: its id, or, for those without one, its name."""
    return item.get("id", item.get("name"))


def _text(value: str | int | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _normalise_line(line: str, names: dict[str, str], dropped: set[str]) -> str:
    kind, _, rest = line.partition(" ")
    if line.startswith("> WS ") and rest.count(" ") >= 2 and rest.split(" ", 2)[2][:1] in '{["':
        # A frame sent on a WebSocket (a RESTRequest): the ids named so far, wherever they are in it.
        for raw in sorted(names, key=len, reverse=True):
            rest = rest.replace(raw, names[raw])
        return f"> {rest}"
    if kind == ">":
        # A JSON body after the path: the ids named so far, wherever they are in it.
        path, space, body = rest.partition(" ")
        for raw in sorted(names, key=len, reverse=True) if body else ():
            body = body.replace(raw, names[raw])
        return f"> {_name_ids_in_path(path, names)}{space}{body}"
    if kind == "<":
        status, _, body = rest.partition(" ")
        answer = _normalise(json.loads(body), names, dropped)
        if status == "201" and isinstance(answer, dict) and "media_uri" in answer:
            if answer.get("state") in ("queued", "playing", "failed"):
                # Timing only: Asterisk answers a play with the playback's state at that moment, and an idle
                # channel may have started it already, or (a sound it has not got) already failed it.
                answer["state"] = "queued|playing|failed"
        elif status == "201" and isinstance(answer, dict) and answer.get("state") in ("queued", "recording"):
            # Timing only (a recording's answer): Asterisk makes it `queued`, hands its start to the
            # channel's thread, and answers with its state then (res_stasis_recording.c).
            answer["state"] = "queued|recording"
        elif status == "200" and isinstance(answer, dict) and _clears_stasisstatus(answer.get("channelvars", {})):
            # Timing only (an external media channel's answer): Asterisk reads the channel's variables
            # after it has handed the channel to its originate thread, whose Stasis() clears STASISSTATUS
            # as it starts (resource_channels.c external_media_rtp_udp, app_stasis.c): there or not yet.
            del answer["channelvars"]["STASISSTATUS"]
        return f"< {status} {json.dumps(answer, sort_keys=True)}"
    if kind.startswith("!"):  # "!": the backend application's events; "!label": an EventSocket's
        event = _normalise(json.loads(rest), names, dropped)
        if event.get("type") == "ChannelTalkingFinished" and isinstance(event.get("duration"), int):
            # Asterisk measures the talking from the audio's frames (a 20 ms frame, its detector's own
            # timing); the simulator's is the time the caller was told to talk: to the nearest 250 ms.
            event["duration"] = round(event["duration"] / 250) * 250
        return f"{kind} {json.dumps(event, sort_keys=True)}"
    return line


def _clears_stasisstatus(variables: dict[str, str]) -> bool:
    return "UNICASTRTP_LOCAL_ADDRESS" in variables and variables.get("STASISSTATUS") == ""


def _name(value: str, names: dict[str, str]) -> str:
    if value not in names:
        names[value] = f"<id{len(names) + 1}>"
    return names[value]


def _name_ids_in_path(path: str, names: dict[str, str]) -> str:
    head, _, query = path.partition("?")
    parts = [_name(p, names) if p in names else p for p in head.split("/")]
    pairs = [pair.partition("=") for pair in query.split("&")] if query else []
    named = "&".join(k + eq + _name_in_value(unquote(v), v, names) for k, eq, v in pairs)
    return "/".join(parts) + (f"?{named}" if named else "")


def _name_in_value(value: str, raw: str, names: dict[str, str]) -> str:
    """A query's value: an id named before, an event source naming one (`channel:<id>`), or a list
    of either (`channel=<id>,<id>`)."""
    if "," in value:
        parts = value.split(",")
        return ",".join(_name_in_value(part, part, names) for part in parts)
    if value in names:
        return _name(value, names)
    scheme, colon, rest = value.partition(":")
    if colon and rest in names:
        return f"{scheme}:{_name(rest, names)}"
    return raw


def _normalise(value: Any, names: dict[str, str], dropped: set[str], key: str = "") -> Any:
    if isinstance(value, dict):
        # A playback's language and a sound's are what the application asked for, or the sound files'.
        kept = {"language"} if key in ("formats", "playback") or "media_uri" in value else set()
        if str(value.get("variable", "")).startswith("RTPAUDIOQOS") and isinstance(value.get("value"), str):
            # A SIP channel's RTP statistics, set as it ends: measured, so only their form is compared.
            value = {**value, "value": _NUMBER.sub("<n>", value["value"])}
        return {k: _normalise(v, names, dropped, k) for k, v in value.items() if k not in dropped - kept}
    if isinstance(value, list):
        items = [_normalise(v, names, dropped, key) for v in value]
        if key == "formats":  # a sound's: Asterisk lists its languages in the order of a hash table
            items.sort(key=lambda f: json.dumps(f, sort_keys=True))
        if key == "channels" and all(isinstance(c, str) for c in items):
            items.sort()  # a bridge's: sorted by id (main/stasis_bridges.c), and the two name them apart
        return items
    if isinstance(value, str):
        if _TIME.match(value):
            return "<time>"
        if key == "UNICASTRTP_LOCAL_PORT":  # Asterisk picks a free port of rtp.conf's range at random
            return "<port>"
        if key == "uri":  # a RESTResponse's: the path it answered, with the ids in it
            return _name_ids_in_path(value, names)
        sip = _SIP_NAME.match(value)
        if sip:
            return f"PJSIP/{sip.group(1)}-{_name(sip.group(2), names)}"
        if (key in _IDS or _CHANNEL_NAME.match(value)) and value:
            return _name(value, names)
        if key == "value" and value in names:  # a variable's value that is an id seen before (UNIQUEID)
            return _name(value, names)
    return value
