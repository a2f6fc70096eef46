"""The simulated Asterisk's Stasis applications: who is told what.

Theory of operation
-------------------
An event about a channel or a bridge goes out on its topic, and reaches the applications subscribed
to it (`_emit`); a few Asterisk sends to the application itself, whatever it subscribed to (StasisStart,
StasisEnd and ApplicationMoveFailed to the channel's application only; user events by `_emit_any`).
An application is subscribed to its own channels by Stasis, and to more by POST
/applications/{name}/subscription; Asterisk counts subscriptions, so as many DELETEs as POSTs take
them back, and one more takes back the one Stasis gave: the application is then told only the
channel's StasisEnd. A device state is subscribed to once.
An application's event filter (allowed, disallowed) applies to every event it is sent.

An application subscribed by name to a channel or a bridge that is not its own hears its events
(and those of what plays to it or records it), up to the end of an inbound call's channel, which its
own application no longer hears after StasisEnd; and a device state's (DeviceStateChanged).

A source without a name (`channel:`, `bridge:`, `endpoint:`) is every one of its kind, as
res/stasis/app.c has it (listed as Asterisk's "all" topics), and `subscribeAll=true` on the
WebSocket subscribes the application to all four kinds: it hears BridgeCreated and the events of
every bridge, DeviceStateChanged of every device, a global variable's ChannelVarset (which has no
channel), and the events the simulator sends of every channel. Not modelled: the events of the
dialplan's own doing that a real Asterisk sends such an application too (ChannelCreated,
ChannelDialplan, Dial, a Local channel's other half, a Local device's state), and those of a
subscribed endpoint (README, "Modelled but partly").

`World` (world.py) has this as its part; what it uses of the world is declared below.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from asterisk_sim.answers import AriFault, Json, now_text
from asterisk_sim.devices import ALL_DEVICES, DeviceStates
from asterisk_sim.objects import AgentScript, Bridge, Channel

OWN = ("StasisStart", "StasisEnd", "ApplicationMoveFailed")  # to the application itself, not on a topic
# How Asterisk lists a subscription to every channel, bridge or endpoint (res/stasis/app.c).
ALL_TOPICS = {
    "channel": "__AST_CHANNEL_ALL_TOPIC",
    "bridge": "__AST_BRIDGE_ALL_TOPIC",
    "endpoint": "__AST_ENDPOINT_ALL_TOPIC",
}


class Applications:
    # The world's, set by World.__init__.
    _emit_to: Callable[[str, Json], None]
    asterisk_id: str
    contexts: set[str]
    inbound_context: str
    channels: dict[str, Channel]
    bridges: dict[str, Bridge]
    endpoints: dict[str, AgentScript]
    connected_apps: set[str]
    # application -> the event sources it subscribed to, each with how many times
    subscriptions: dict[str, Counter[str]]
    event_filters: dict[str, dict[str, list[Any]]]  # application -> {"allowed": [...], "disallowed": [...]}
    devices: DeviceStates
    _in_its_turn: Callable[[str, Callable[[], None]], None]

    def _emit(self, app: str | None, event_type: str, **body: Any) -> None:
        """An event on a channel's or bridge's topic: for `app` (the channel's or bridge's own application)
        unless it took its subscription back, and for every other application subscribed to the channel
        or the bridge. StasisStart and StasisEnd are the application's own: only `app` is told."""
        told: list[str] = []
        if app is not None and (event_type in OWN or "channel" not in body or self._hears_channel(app, body)):
            told.append(app)
        if event_type not in OWN:
            told += [other for other in self._watchers(body) if other not in told]
        for each in told:
            self._emit_any(each, event_type, **body)

    def _watchers(self, body: Json) -> list[str]:
        """The applications subscribed by name to a channel or bridge the event is about."""
        sources = [f"{kind}:{body[kind]['id']}" for kind in ("channel", "bridge") if isinstance(body.get(kind), dict)]
        for kind in ("playback", "recording"):  # on the topic of what it plays to or records
            if isinstance(body.get(kind), dict):
                sources.append(str(body[kind].get("target_uri", "")))
        kinds = {source.partition(":")[0] + ":" for source in sources}  # and every one of its kind
        return [
            app
            for app, counts in self.subscriptions.items()
            if any(counts[source] for source in sources) or any(counts[kind] for kind in kinds)
        ]

    def _emit_to_all(self, kind: str, event_type: str, **body: Any) -> None:
        """An event only applications subscribed to every `kind` hear (BridgeCreated, a global's set)."""
        for app, counts in list(self.subscriptions.items()):
            if counts[f"{kind}:"]:
                self._emit_any(app, event_type, **body)

    def subscribe_all(self, app: str) -> None:
        """`subscribeAll=true` on the application's WebSocket: every channel, bridge, endpoint and device."""
        counts = self.subscriptions.setdefault(app, Counter())
        for kind in ALL_TOPICS:
            counts[f"{kind}:"] = max(counts[f"{kind}:"], 1)
        counts[f"deviceState:{ALL_DEVICES}"] = 1

    def _emit_any(self, app: str, event_type: str, **body: Any) -> None:
        """An event Asterisk sends to the application itself, whatever it subscribed to."""
        if self.event_allowed(app, event_type):
            self._emit_to(
                app,
                {
                    "type": event_type,
                    "timestamp": now_text(),
                    **body,
                    "asterisk_id": self.asterisk_id,
                    "application": app,
                },
            )

    def _hears_channel(self, app: str, body: Json) -> bool:
        channel = self.channels.get(str(body["channel"].get("id", "")))
        if channel is None or not channel.released or channel.app != app:
            return True
        return self.subscriptions.get(app, Counter())[f"channel:{channel.id}"] > 0

    def subscribe(self, app: str, source: str) -> Json:
        """The application hears of `source` (channel:ID, bridge:ID, endpoint:TECH/RESOURCE or
        deviceState:NAME) too: see the module's docstring for which events are sent."""
        if not source:
            raise AriFault(400, "Missing parameter eventSource")
        self.application_json(app)  # 404 if there is no such application
        scheme, _, name = source.partition(":")
        exists: dict[str, Callable[[], bool]] = {
            "channel": lambda: name in self.channels and not self.channels[name].gone,
            "bridge": lambda: name in self.bridges,
            "endpoint": lambda: name in self.endpoints,
            "deviceState": lambda: True,
        }
        if scheme not in exists:
            raise AriFault(400, "Invalid event source URI scheme")
        if name and not exists[scheme]():  # no name: every one of its kind
            raise AriFault(422, "Event source does not exist")
        counts = self.subscriptions.setdefault(app, Counter())
        if scheme == "deviceState":  # once, however often asked; with no name, to every device
            counts[f"deviceState:{name or ALL_DEVICES}"] = 1
        elif name and counts[f"{scheme}:"]:
            pass  # subscribed to all of them: Asterisk does not subscribe to one again
        else:
            counts[source] += 1
        return self.application_json(app)

    def unsubscribe(self, app: str, source: str) -> Json:
        """DELETE /applications/{app}/subscription: one subscription to `source` taken back. With none
        left but the one Stasis gave the application for its own channel or bridge, that one goes: the
        application is no longer told of it (res/stasis/app.c counts them alike)."""
        if not source:
            raise AriFault(400, "Missing parameter eventSource")
        self.application_json(app)  # 404 if there is no such application
        scheme, _, name = source.partition(":")
        if scheme not in ("channel", "bridge", "endpoint", "deviceState"):
            raise AriFault(400, "Invalid event source URI scheme")
        counts = self.subscriptions.setdefault(app, Counter())
        if scheme == "deviceState":
            source = f"deviceState:{name or ALL_DEVICES}"
        elif not name:
            # Every one of a kind is taken back under its topic's name, but Asterisk looks for it under
            # the empty name it was given and fails in a way ARI has no answer for (res/stasis/app.c).
            if counts[source]:
                raise AriFault(501, "Method not implemented")
            raise AriFault(422, "Event source was not subscribed to")
        own_channel = self.channels.get(name) if scheme == "channel" else None
        own_bridge = self.bridges.get(name) if scheme == "bridge" else None
        if counts[source] > 0:
            counts[source] -= 1
            if not counts[source]:
                del counts[source]
        elif own_channel is not None and not own_channel.gone and own_channel.app == app and not own_channel.released:
            own_channel.released = True
        elif own_bridge is not None and own_bridge.watching[app] > 0:
            own_bridge.watching[app] -= 1
        else:
            raise AriFault(422, "Event source was not subscribed to")
        return self.application_json(app)

    def set_event_filter(self, app: str, body: Any) -> Json:
        """PUT /applications/{app}/eventFilter as Asterisk 22 does it (res/stasis/app.c): no body resets
        both lists; an object sets the lists it names ({} resets both); the disallowed list is set
        before the allowed one, so a bad allowed list leaves a new disallowed list in place; each
        entry must be an object with a non-empty string "type", kept as given."""
        self.application_json(app)  # 404 if there is no such application
        filters = self.event_filters.setdefault(app, {"allowed": [], "disallowed": []})
        for kind in ("disallowed", "allowed"):
            chosen = body
            if isinstance(body, dict) and body:
                if kind not in body:
                    continue  # not named: not changed
                chosen = body[kind]
            elif isinstance(body, dict):
                chosen = None
            if chosen is not None and (
                not isinstance(chosen, list)
                or not all(isinstance(e, dict) and isinstance(e.get("type"), str) and e["type"] for e in chosen)
            ):
                raise AriFault(400, "Invalid format definition")
            filters[kind] = list(chosen or ())
        return self.application_json(app)

    def event_allowed(self, app: str, event_type: str) -> bool:
        """Disallowed wins; an empty allowed list allows everything."""
        filters = self.event_filters.get(app)
        if filters is None:
            return True
        disallowed = any(e["type"] == event_type for e in filters["disallowed"])
        allowed = not filters["allowed"] or any(e["type"] == event_type for e in filters["allowed"])
        return allowed and not disallowed

    def application_connecting(self, app: str) -> None:
        """An application's WebSocket opens. If it had none and no channel is left in it, Asterisk
        had already dropped the application (its last channel left Stasis, or none was there when
        its WebSocket closed): this is a new one, without the old one's subscriptions or filter."""
        if app not in self.connected_apps and not any(not c.gone and c.app == app for c in self.channels.values()):
            self.event_filters.pop(app, None)
            self.subscriptions.pop(app, None)

    def global_variable_set(self, name: str, value: str) -> None:
        """A global's ChannelVarset, without a channel, on the topic of all channels."""
        self._emit_to_all("channel", "ChannelVarset", variable=name, value=value)

    def device_state_changed(self, name: str, state: str) -> None:
        """A `Stasis:` device was set to a new state: its subscribers are told (of it, or of all devices)."""
        for app, counts in self.subscriptions.items():
            if counts[f"deviceState:{name}"] or counts[f"deviceState:{ALL_DEVICES}"]:
                self._emit(app, "DeviceStateChanged", device_state={"name": name, "state": state})

    def device_driver_state(self, technology: str, resource: str) -> str:
        """The state a channel driver reports for TECH/resource: a PJSIP endpoint's (in use while it has
        a channel), a Local channel's (NOT_INUSE if its context exists)."""
        if technology == "PJSIP" and resource in {e.partition("/")[2] for e in self.endpoints}:
            endpoint = self.endpoint_json(technology, resource)
            if endpoint["state"] == "offline":
                return "UNAVAILABLE"
            return "INUSE" if endpoint["channel_ids"] else "NOT_INUSE"
        if technology == "Local":
            context = resource.partition("@")[2].partition("/")[0]
            return "NOT_INUSE" if context in self.contexts | {self.inbound_context} else "INVALID"
        return "INVALID"

    def user_event(self, app: str, event_name: str, sources: list[str], variables: Any) -> None:
        """POST /events/user/{eventName} (res/res_stasis.c, stasis_app_user_event): ChannelUserevent to
        `app`, with the snapshots of the sources named (channel:, bridge:, endpoint:)."""
        self.application_json(app)  # 404 if there is no such application
        if variables is not None and not isinstance(variables, dict):
            raise AriFault(500, "Error processing request")
        blob = {**(variables or {}), "eventname": event_name}
        snapshots: Json = {}
        for uri in sources:
            scheme, _, name = uri.partition(":")
            found: Json | None
            if scheme == "channel":
                channel = self.channels.get(name)
                found = channel.json() if channel is not None and not channel.gone else None
            elif scheme == "bridge":
                found = self.bridges[name].json() if name in self.bridges else None
            elif scheme == "endpoint":
                technology, _, resource = name.partition("/")
                found = self.endpoint_json(technology, resource) if name in self.endpoints else None
            else:
                raise AriFault(400, "Invalid event source URI scheme")
            if found is None:
                raise AriFault(422, "Event source was not found")
            snapshots[scheme] = found
        self._emit_any(app, "ChannelUserevent", eventname=event_name, userevent=blob, **snapshots)

    def endpoint_json(self, technology: str, resource: str) -> Json:
        key = f"{technology}/{resource}"
        script = self.endpoints.get(key)
        if script is None:
            raise AriFault(404, "Endpoint not found")
        busy = [c.id for c in self.channels.values() if not c.gone and c.endpoint == key]
        if script.on_own_call:
            busy.append(f"direct-{resource}")
        state = "offline" if script.behaviour == "offline" else "online"
        return {"technology": technology, "resource": resource, "state": state, "channel_ids": busy}

    def application_json(self, name: str) -> Json:
        in_it = [c for c in self.channels.values() if not c.gone and c.app == name]
        # Asterisk keeps an application while channels are in it, even with its WebSocket gone.
        if name not in self.connected_apps and not in_it:
            raise AriFault(404, "Application not found")
        channels = [c.id for c in in_it if not c.released]
        chosen = self.subscriptions.get(name, Counter())

        def subscribed(scheme: str) -> list[str]:
            names = sorted(s.partition(":")[2] for s in chosen if s.startswith(f"{scheme}:") and chosen[s])
            return [name or ALL_TOPICS[scheme] for name in names]

        bridges = [b.id for b in self.bridges.values() if b.subscribed == name]
        return {
            "name": name,
            "channel_ids": channels + [c for c in subscribed("channel") if c not in channels],
            "bridge_ids": bridges + [b for b in subscribed("bridge") if b not in bridges],
            "endpoint_ids": subscribed("endpoint"),
            "device_names": subscribed("deviceState"),
            "events_allowed": self.event_filters.get(name, {}).get("allowed", []),
            "events_disallowed": self.event_filters.get(name, {}).get("disallowed", []),
        }

    def move(self, channel_id: str, app: str, args: list[str]) -> None:
        """POST /channels/{id}/move: the channel leaves its application (StasisEnd) for `app` (StasisStart,
        with `args`); its dialplan still says the first. To an application that is not registered, it
        stays, and its application is told (ApplicationMoveFailed)."""
        channel = self.channels.get(channel_id)
        if channel is None or channel.gone:
            raise AriFault(404, "Channel not found")
        if channel.app is None:
            raise AriFault(409, "Channel not in Stasis application")

        def move() -> None:  # in the channel's turn, after what is queued before it (control.py)
            if channel.gone or channel.app is None:
                return
            if app not in self.connected_apps:
                self._emit(channel.app, "ApplicationMoveFailed", destination=app, args=args, channel=channel.json())
                return
            self._emit(channel.app, "StasisEnd", channel=channel.json())
            channel.app, channel.released = app, False
            self._emit(app, "StasisStart", args=args, channel=channel.json())

        self._in_its_turn(channel.id, move)
