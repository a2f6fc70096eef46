"""The simulated Asterisk's bridges: made, joined, left and taken apart, and what that does to the
channels in them.

Asterisk sets BRIDGEPEER whenever a bridge's members change (main/bridge.c, set_bridge_peer_vars): in
a bridge of two, each has the other's channel name and, for a SIP channel, BRIDGEPVTCALLID its Call-ID;
in a bigger one, each has the others' names, comma-separated (the first eleven members'); in a
holding bridge, nobody has one. A channel that leaves has neither any more. Each change is a
ChannelVarset; clearing a variable that was not set sends none. Asterisk's own channels in a bridge
(an announcer for a play, a recorder) are not members here: each channel there just has the newest
one as its BRIDGEPEER (`_joined_by_asterisk`).

`World` (world.py) has this as its part; what it uses of the world is declared below.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable

from asterisk_sim.answers import AriFault
from asterisk_sim.objects import Bridge, Channel

MAX_BRIDGEPEER_NAMES = 10  # Asterisk's MAX_BRIDGEPEER_CHANS, less the channel itself


def sip_call_id(channel: Channel) -> str:
    """A SIP channel's Call-ID, made up once from its id: what BRIDGEPVTCALLID holds on Asterisk."""
    return hashlib.sha1(channel.id.encode()).hexdigest()[:16]


class Bridging:
    # The world's, set by World.__init__.
    channels: dict[str, Channel]
    bridges: dict[str, Bridge]
    _ids: itertools.count[int]
    _recorders: itertools.count[int]
    _emit: Callable[..., None]
    _emit_to_all: Callable[..., None]
    bridge: Callable[[str], Bridge]
    _set_by_asterisk: Callable[[Channel, str, str], None]
    _clear_by_asterisk: Callable[[Channel, str], None]

    def _announce(self, bridge: Bridge) -> list[Channel]:
        """A mixing bridge's play, as seen on Asterisk 22: a new announcer channel joins the bridge for
        it, each channel there has it as BRIDGEPEER, and stays in the bridge. Returns the Local halves
        whose connected line it changes (the first time something else joined them)."""
        if bridge.bridge_type != "mixing":
            return []
        bridge.announcer = True
        return self._joined_by_asterisk(bridge, "Announcer")

    def _joined_by_asterisk(self, bridge: Bridge, kind: str) -> list[Channel]:
        """A channel of Asterisk's own (`kind`/ARI-<n>;2: a Recorder, an Announcer) joins `bridge`: each
        channel there has it as BRIDGEPEER. Returns the Local halves whose connected line it changes,
        the first time something else joined them (it was the other half's caller)."""
        joining = f"{kind}/ARI-{next(self._recorders):08x};2"
        changed = []
        for channel in [self.channels[c] for c in bridge.channels]:
            self._set_by_asterisk(channel, "BRIDGEPEER", joining)
            if channel.name.startswith("Local/") and not channel.connected_changed:
                channel.connected_changed = True
                changed.append(channel)
        return changed

    def create_bridge(self, bridge_id: str | None, bridge_type: str, name: str, *, with_id: bool = False) -> Bridge:
        if bridge_id and bridge_id in self.bridges:
            raise AriFault(409, f"Bridge with id '{bridge_id}' already exists")
        types = {t.strip() for t in (bridge_type or "mixing").split(",")}
        if not types & {"mixing", "holding", "video_sfu"}:  # other words are ignored: no capability left
            if with_id:
                raise AriFault(500, "Unable to create bridge")
            raise AriFault(500, f"Unable to create bridge. Possible duplicate bridge id '{bridge_id or '(null)'}'")
        bridge_id = bridge_id or f"sim-bridge-{next(self._ids)}"
        kind = "holding" if "holding" in types else "mixing"
        bridge = Bridge(bridge_id, kind, name)
        self.bridges[bridge_id] = bridge
        self._emit_to_all("bridge", "BridgeCreated", bridge=bridge.json())
        return bridge

    def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        bridge = self.bridge(bridge_id)
        channels = []
        for channel_id in channel_ids:
            channel = self.channels.get(channel_id)
            if channel is None or channel.gone:
                raise AriFault(400, "Channel not found")
            if channel.app is None:
                raise AriFault(422, "Channel not in Stasis application")
            channels.append(channel)
        members_before, joined = list(bridge.members), []
        for channel in channels:
            if channel.bridge == bridge.id:
                continue
            if channel.bridge is not None:
                self._leave_bridge(channel, self.bridges[channel.bridge])
            channel.bridge = bridge.id
            bridge.channels.append(channel.id)
            joined.append(channel.id)
            if channel.app is not None:
                bridge.watching[channel.app] += 1
            self._emit(channel.app, "ChannelEnteredBridge", bridge=bridge.json(), channel=channel.json())
            self._note_bridged(bridge)
            if bridge.moh:
                channel.heard.append({"moh": "start", "at": time.monotonic(), "bridge": bridge.id})
        if not joined:
            return
        if bridge.bridge_type == "mixing" and len(members_before) <= 2 < len(bridge.channels):
            # Asterisk moves from a two-party technology to softmix, taking the members it had out and
            # putting them back behind those just joined (main/bridge.c, smart_bridge_operation).
            bridge.members = joined + members_before
        else:
            bridge.members = members_before + joined
        self._reconfigured(bridge)

    def _note_bridged(self, bridge: Bridge) -> None:
        if bridge.bridge_type != "mixing":
            return
        for channel_id in bridge.channels:
            others = [c for c in bridge.channels if c != channel_id]
            if others:
                self.channels[channel_id].heard.append({"bridged": bridge.id, "with": others})

    def remove_from_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        bridge = self.bridge(bridge_id)
        for channel_id in channel_ids:
            channel = self.channels.get(channel_id)
            if channel is None or channel.gone:
                raise AriFault(400, "Channel not found")
            if channel.bridge != bridge.id:
                raise AriFault(422, "Channel not in this bridge")
        for channel_id in channel_ids:
            self._leave_bridge(self.channels[channel_id], bridge)

    def _leave_bridge(
        self, channel: Channel, bridge: Bridge, *, dissolving: bool = False, leaving_stasis: bool = False
    ) -> None:
        """`channel` out of `bridge`. Its application stays subscribed to the bridge if the channel
        left Stasis with it (hung up, or went on in the dialplan): Asterisk takes that subscription
        back only when a channel still in Stasis finds itself out of the bridge (res_stasis.c)."""
        bridge.channels.remove(channel.id)
        bridge.members.remove(channel.id)
        if not leaving_stasis and channel.app is not None and bridge.watching[channel.app] > 0:
            bridge.watching[channel.app] -= 1
        channel.bridge = None
        if bridge.moh:
            channel.heard.append({"moh": "stop", "at": time.monotonic(), "bridge": bridge.id})
        self._clear_peer(channel)  # it had a peer in the bridge: it has none now
        self._emit(channel.app, "ChannelLeftBridge", bridge=bridge.json(), channel=channel.json())
        if not dissolving:  # Asterisk does not reconfigure a bridge it is taking apart
            self._reconfigured(bridge)

    def _reconfigured(self, bridge: Bridge) -> None:
        """After its members changed (their events are sent): a mixing bridge of more than two mixes
        with softmix, and each member has its BRIDGEPEER."""
        if bridge.bridge_type == "mixing":
            bridge.technology = "softmix" if len(bridge.members) > 2 else "simple_bridge"
        self._peers_changed(bridge)

    def destroy_bridge(self, bridge_id: str) -> None:
        """As seen on Asterisk 22: an application hears BridgeDestroyed only while it is subscribed to
        the bridge, which after its channels entered it means one of them left it by leaving Stasis
        (`_leave_bridge`): channels still in it when it is deleted are sent ChannelLeftBridge, and
        take their subscriptions back first. An application subscribed to it (or to every bridge)
        hears of an empty one. One that holds the announcer of a play (`_announce`) sends none."""
        bridge = self.bridge(bridge_id)
        held = list(bridge.channels)
        for channel_id in held:
            self._leave_bridge(self.channels[channel_id], bridge, dissolving=True)
        del self.bridges[bridge_id]
        if (bridge.subscribed or not held) and not bridge.announcer:  # and to those subscribed to bridges
            self._emit(bridge.subscribed, "BridgeDestroyed", bridge=bridge.json())

    def bridge_moh(self, bridge_id: str, on: bool) -> None:
        bridge = self.bridge(bridge_id)
        if bridge.moh == on:
            return
        bridge.moh = on
        for channel_id in bridge.channels:
            entry = {"moh": "start" if on else "stop", "at": time.monotonic(), "bridge": bridge.id}
            self.channels[channel_id].heard.append(entry)

    # -- BRIDGEPEER ------------------------------------------------------------------

    def _peers_changed(self, bridge: Bridge) -> None:
        """Asterisk's set_bridge_peer_vars (main/bridge.c), run when a bridge's members change."""
        members = [self.channels[c] for c in bridge.members]
        if bridge.bridge_type == "holding":
            for channel in members:
                self._clear_peer(channel)
        elif len(members) == 2:
            first, second = members
            self._set_peer(first, second)
            self._set_peer(second, first)
        elif len(members) > 2:
            names = [c.name for c in members[: MAX_BRIDGEPEER_NAMES + 1]]
            others = ""
            for i, channel in enumerate(members):
                if i < len(names):  # past the first eleven, each has the last list made
                    others = ",".join(n for j, n in enumerate(names) if j != i)
                self._set_by_asterisk(channel, "BRIDGEPEER", others)
                self._clear_by_asterisk(channel, "BRIDGEPVTCALLID")

    def _set_peer(self, channel: Channel, peer: Channel) -> None:
        """Two in a bridge: each has the other's name, and its SIP Call-ID where it has one."""
        self._set_by_asterisk(channel, "BRIDGEPEER", peer.name)
        if peer.name.startswith("PJSIP/"):
            self._set_by_asterisk(channel, "BRIDGEPVTCALLID", sip_call_id(peer))
        else:
            self._clear_by_asterisk(channel, "BRIDGEPVTCALLID")

    def _clear_peer(self, channel: Channel) -> None:
        self._clear_by_asterisk(channel, "BRIDGEPEER")
        self._clear_by_asterisk(channel, "BRIDGEPVTCALLID")
