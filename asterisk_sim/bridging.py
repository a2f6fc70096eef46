"""The simulated Asterisk's bridges: made, joined, left and taken apart, and what that does to the
channels in them.

Asterisk sets BRIDGEPEER whenever a bridge's members change (main/bridge.c, set_bridge_peer_vars): in
a bridge of two, each has the other's channel name and, for a SIP channel, BRIDGEPVTCALLID its Call-ID;
in a bigger one, each has the others' names, comma-separated (the first eleven members'); in a
holding bridge, nobody has one; with fewer than two, nothing changes. A channel that leaves has
neither any more. Each change is a ChannelVarset; clearing a variable that was not set sends none.

Asterisk's own channels are members too, though a bridge never lists them: music on hold's
(Announcer/ARI_MOH-...;2, POST /bridges/{id}/moh, until DELETE), a play's announcer (Announcer/ARI-...;2,
until its queue is empty: playbacks.py) and a recording's (Recorder/ARI-...;2, until it ends). They
count for BRIDGEPEER and for softmix, and a Local half's connected line changes the first time one of
them joins a mixing bridge. Each joins with AST_BRIDGE_CHANNEL_FLAG_LONELY (res/res_stasis.c,
res/ari/resource_bridges.c): once only such channels are left in a bridge, they all leave, so music
stops, a play fails and a recording ends when the last caller leaves. All of this was seen on
Asterisk 22 (tests/test_sim_fidelity.py: music_on_hold_in_bridges and
a_bridge_plays_over_its_music_then_its_caller_leaves).

`World` (world.py) has this as its part; what it uses of the world is declared below.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from asterisk_sim.answers import AriFault
from asterisk_sim.objects import Bridge, Channel, LiveRecording

MAX_BRIDGEPEER_NAMES = 10  # Asterisk's MAX_BRIDGEPEER_CHANS, less the channel itself


def sip_call_id(channel: Channel) -> str:
    """A SIP channel's Call-ID (its protocol_id): what BRIDGEPVTCALLID holds on Asterisk."""
    return channel.protocol_id


class Bridging:
    # The world's, set by World.__init__.
    channels: dict[str, Channel]
    bridges: dict[str, Bridge]
    _ids: itertools.count[int]
    _recorders: itertools.count[int]
    _emit: Callable[..., None]
    _emit_to_all: Callable[..., None]
    bridge: Callable[[str], Bridge]
    live_recordings: dict[str, LiveRecording]
    _set_by_asterisk: Callable[[Channel, str, str], None]
    _clear_by_asterisk: Callable[[Channel, str], None]
    _playing_channel_gone: Callable[[str], None]
    _finish_recording: Callable[..., None]

    def _announce(self, bridge: Bridge) -> list[Channel]:
        """A bridge's play: Asterisk's announcer joins it unless it is there already (then the play waits
        in its queue). Returns the Local halves whose connected line it changes (`_joined_by_asterisk`)."""
        if "announcer" in bridge.own:
            return []
        return self._joined_by_asterisk(bridge, "announcer", "Announcer/ARI")

    def _joined_by_asterisk(self, bridge: Bridge, role: str, kind: str) -> list[Channel]:
        """A channel of Asterisk's own (`kind`-<n>;2) joins `bridge` as its `role`: a member, so BRIDGEPEER
        changes as for any other. Returns the Local halves whose connected line it changes in a mixing
        bridge, the first time something else joined them (it was the other half's caller)."""
        joining = f"{kind}-{next(self._recorders):08x};2"
        bridge.own[role] = joining
        self._members_joined(bridge, [joining])
        changed = []
        for channel in [self.channels[c] for c in bridge.channels]:
            if bridge.bridge_type == "mixing" and channel.name.startswith("Local/") and not channel.connected_changed:
                channel.connected_changed = True
                channel.connected = {"name": "", "number": ""}  # as seen on Asterisk 22: nobody's
                changed.append(channel)
        return changed

    def _left_by_asterisk(self, bridge: Bridge, role: str) -> None:
        """Asterisk's channel of `role` hangs up and leaves `bridge` (if it is there)."""
        leaving = bridge.own.pop(role, None)
        if leaving is not None:
            bridge.members.remove(leaving)
            self._reconfigured(bridge)

    def _alone_with_asterisk(self, bridge: Bridge) -> None:
        """Only Asterisk's own channels are left in `bridge` (or it is being taken apart): each was
        LONELY, so all go. Music stops, the announcer's playbacks fail, recordings end."""
        if bridge.channels:
            return
        for role in list(bridge.own):
            self._left_by_asterisk(bridge, role)
            if role == "announcer":
                self._playing_channel_gone(f"bridge:{bridge.id}")
            for recording in [r for r in self.live_recordings.values() if r.recorder == role]:
                self._finish_recording(recording, "done")

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

    def joining(self, bridge_id: str, channel_ids: list[str]) -> list[Channel]:
        """What addChannel checks before it sends any channel its command: the bridge, then each channel."""
        self.bridge(bridge_id)
        channels = []
        for channel_id in channel_ids:
            channel = self.channels.get(channel_id)
            if channel is None or channel.gone:
                raise AriFault(400, "Channel not found")
            if channel.app is None:
                raise AriFault(422, "Channel not in Stasis application")
            channels.append(channel)
        return channels

    def add_to_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        bridge = self.bridge(bridge_id)
        channels = self.joining(bridge_id, channel_ids)
        members_before, joined = list(bridge.members), []
        for channel in channels:
            if channel.bridge is not None:  # Asterisk departs whatever bridge it is in, this one too (control.c)
                left = self.bridges[channel.bridge]
                self._leave_bridge(channel, left)
                if left is bridge:
                    members_before = list(bridge.members)
            channel.bridge = bridge.id
            bridge.channels.append(channel.id)
            joined.append(channel.id)
            if channel.app is not None:
                bridge.watching[channel.app] += 1
            self._emit(channel.app, "ChannelEnteredBridge", bridge=bridge.json(), channel=channel.json())
            self._note_bridged(bridge)
            if bridge.moh:
                channel.heard.append({"moh": "start", "at": time.monotonic(), "bridge": bridge.id})
        bridge.members = members_before
        if joined:
            self._members_joined(bridge, joined)

    def _members_joined(self, bridge: Bridge, joined: list[str]) -> None:
        before = bridge.members
        if bridge.bridge_type == "mixing" and len(before) <= 2 < len(before) + len(joined):
            # Asterisk moves from a two-party technology to softmix, taking the members it had out and
            # putting them back behind those just joined (main/bridge.c, smart_bridge_operation).
            bridge.members = joined + before
        else:
            bridge.members = before + joined
        self._reconfigured(bridge)

    def _note_bridged(self, bridge: Bridge) -> None:
        if bridge.bridge_type != "mixing":
            return
        for channel_id in bridge.channels:
            others = [c for c in bridge.channels if c != channel_id]
            if others:
                self.channels[channel_id].heard.append({"bridged": bridge.id, "with": others})

    def leaving(self, bridge_id: str, channel_ids: list[str]) -> Bridge:
        """What removeChannel checks before it sends any channel its command; the bridge."""
        bridge = self.bridge(bridge_id)
        for channel_id in channel_ids:
            channel = self.channels.get(channel_id)
            if channel is None or channel.gone:
                raise AriFault(400, "Channel not found")
            if channel.bridge != bridge.id:
                raise AriFault(422, "Channel not in this bridge")
        return bridge

    def remove_from_bridge(self, bridge_id: str, channel_ids: list[str]) -> None:
        bridge = self.leaving(bridge_id, channel_ids)
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
            self._alone_with_asterisk(bridge)

    def _reconfigured(self, bridge: Bridge) -> None:
        """After its members changed (their events are sent): a mixing bridge of more than two mixes
        with softmix, and each member has its BRIDGEPEER."""
        if bridge.bridge_type == "mixing":
            bridge.technology = "softmix" if len(bridge.members) > 2 else "simple_bridge"
        self._peers_changed(bridge)

    def destroy_bridge(self, bridge_id: str) -> None:
        """As seen on Asterisk 22: an application hears BridgeDestroyed while it is subscribed to the
        bridge: by name (or to every bridge), or through a channel of its that entered the bridge and
        left it by leaving Stasis (`_leave_bridge`). Channels still in it when it is deleted are sent
        ChannelLeftBridge, and take their subscriptions back first."""
        bridge = self.bridge(bridge_id)
        for channel_id in list(bridge.channels):
            self._leave_bridge(self.channels[channel_id], bridge, dissolving=True)
        self._alone_with_asterisk(bridge)
        del self.bridges[bridge_id]
        self._emit(bridge.subscribed, "BridgeDestroyed", bridge=bridge.json())

    def start_bridge_moh(self, bridge_id: str) -> None:
        """POST /bridges/{id}/moh: music on hold's channel joins the bridge, once (res/res_stasis.c,
        stasis_app_bridge_moh_channel); asked again, the same channel plays on. The class is not modelled."""
        bridge = self.bridge(bridge_id)
        if bridge.moh:
            return
        for channel in self._joined_by_asterisk(bridge, "moh", "Announcer/ARI_MOH"):
            self._emit(channel.app, "ChannelConnectedLine", channel=channel.json())
        for channel_id in bridge.channels:
            self.channels[channel_id].heard.append({"moh": "start", "at": time.monotonic(), "bridge": bridge.id})

    def stop_bridge_moh(self, bridge_id: str) -> None:
        """DELETE /bridges/{id}/moh: its channel hangs up and leaves; 409 if none is playing (any more)."""
        bridge = self.bridge(bridge_id)
        if not bridge.moh:
            raise AriFault(409, "Bridge isn't playing music")
        for channel_id in bridge.channels:
            self.channels[channel_id].heard.append({"moh": "stop", "at": time.monotonic(), "bridge": bridge.id})
        self._left_by_asterisk(bridge, "moh")

    # -- BRIDGEPEER ------------------------------------------------------------------

    def _peers_changed(self, bridge: Bridge) -> None:
        """Asterisk's set_bridge_peer_vars (main/bridge.c), run when a bridge's members change. Only the
        bridge's listed channels are given variables here: Asterisk's own are not modelled further."""
        members = bridge.members
        channels = {m: self.channels[m] for m in members if m in bridge.channels}
        names = [channels[m].name if m in channels else m for m in members]
        if bridge.bridge_type == "holding":
            for channel in channels.values():
                self._clear_peer(channel)
        elif len(members) == 2:
            for member, other in ((members[0], members[1]), (members[1], members[0])):
                if member in channels:
                    self._set_peer(channels[member], channels.get(other), names[members.index(other)])
        elif len(members) > 2:
            named = names[: MAX_BRIDGEPEER_NAMES + 1]
            others = ""
            for i, member in enumerate(members):
                if i < len(named):  # past the first eleven, each has the last list made
                    others = ",".join(n for j, n in enumerate(named) if j != i)
                if member in channels:
                    self._set_by_asterisk(channels[member], "BRIDGEPEER", others)
                    self._clear_by_asterisk(channels[member], "BRIDGEPVTCALLID")

    def _set_peer(self, channel: Channel, peer: Channel | None, peer_name: str) -> None:
        """Two in a bridge: each has the other's name, and its SIP Call-ID where it has one (`peer` is
        None for a channel of Asterisk's own)."""
        self._set_by_asterisk(channel, "BRIDGEPEER", peer_name)
        if peer is not None and peer.name.startswith("PJSIP/"):
            self._set_by_asterisk(channel, "BRIDGEPVTCALLID", sip_call_id(peer))
        else:
            self._clear_by_asterisk(channel, "BRIDGEPVTCALLID")

    def _clear_peer(self, channel: Channel) -> None:
        self._clear_by_asterisk(channel, "BRIDGEPEER")
        self._clear_by_asterisk(channel, "BRIDGEPVTCALLID")
