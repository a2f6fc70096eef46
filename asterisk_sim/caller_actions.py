"""What a caller's phone does in an answered call that Asterisk 22 tells an ARI application of: hold and
unhold, talking (where the application asked for talk detection), a blind transfer (REFER), and a text
message from a phone behind an endpoint (SIP MESSAGE).

Each sends the events Asterisk 22 sends, with the bodies of its description of ARI (rest_api/events.json)
as its source writes them:
- hold: a phone's re-INVITE with `sendonly` (res/res_pjsip_sdp_rtp.c) queues a hold with the endpoint's
  `moh_suggest` (`default`): ChannelHold `{"musicclass": "default", "channel"}`; unhold: ChannelUnhold. Only a
  change is told: a phone already on hold that holds again sends nothing. A Local channel's half is held by
  its other half, which core_unreal.c passes on as a control frame: no event.
- talking: func_talkdetect.c, on a channel where TALK_DETECT(set) was written (through ARI's variable
  API, as an application does it): ChannelTalkingStarted when the caller starts, ChannelTalkingFinished once
  they have been silent for the silence threshold (2500 ms unless TALK_DETECT(set)'s value gives one), with
  `duration` the milliseconds they talked. TALK_DETECT(remove) ends it, without an event.
- transfer: res/res_pjsip_refer.c turns a REFER without `Replaces` into ast_bridge_transfer_blind
  (main/bridge.c) to the Refer-To's user in the endpoint's context. A bridged transferer is taken off hold
  first, and told so (ChannelUnhold, held or not). A Stasis bridge transfers by bridge only:
  a Local channel to `exten@context` takes the transferer's place in the bridge and enters the transferer's
  application (StasisStart with `replace_channel`); BridgeBlindTransfer (`result` Success, `is_external`
  true, with `transferee` when two were bridged, `replace_channel` and `bridge`) goes to the applications
  of the transferer and of the bridge. Not in a bridge: BridgeBlindTransfer with `result` Invalid. The
  transferring phone then hangs up, as a SIP phone does once told the transfer went through.
- a text message (res/res_pjsip_messaging.c, res/stasis/messaging.c): TextMessageReceived `{"endpoint",
  "message": {"from", "to", "body", "variables"}}` to every application subscribed to the endpoint it came
  from (or to all endpoints); with none, Asterisk's dialplan takes it (written down in /_sim/state).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from asterisk_sim.answers import AriFault, Json
from asterisk_sim.journal import Journal
from asterisk_sim.objects import Bridge, Channel

SILENCE_THRESHOLD_MS = 2500  # func_talkdetect.c's DEFAULT_SILENCE_THRESHOLD
MOH_SUGGEST = "default"  # a PJSIP endpoint's moh_suggest unless configured


class CallerActions:
    # The world's, set by World.__init__ (or its other parts).
    channels: dict[str, Channel]
    bridges: dict[str, Bridge]
    endpoints: dict[str, Any]
    subscriptions: dict[str, Counter[str]]
    messages: list[Json]
    journal: Journal
    inbound_context: str
    _ids: Any
    channel: Callable[[str], Channel]
    _spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]
    _emit: Callable[..., None]
    _emit_any: Callable[..., None]
    _next_unique_id: Callable[[], str]
    _leave_bridge: Callable[..., None]
    _note_bridged: Callable[[Bridge], None]
    _members_joined: Callable[[Bridge, list[str]], None]
    _hang_up: Callable[..., None]
    endpoint_json: Callable[[str, str], Json]

    def _answered_call(self, channel_id: str, doing: str) -> Channel:
        channel = self.channel(channel_id)
        if channel.state != "Up":
            raise AriFault(409, f"the channel is {channel.state}: a phone {doing} only in an answered call")
        return channel

    # -- hold -----------------------------------------------------------------------

    def caller_holds(self, channel_id: str, held: bool) -> None:
        """The caller's phone puts the call on hold (or takes it off)."""
        channel = self._answered_call(channel_id, "holds")
        if channel.held == held:
            return  # no change in the stream's direction: Asterisk queues nothing
        channel.held = held
        self.journal.note(channel.id, "held" if held else "unheld")
        if not channel.name.startswith("PJSIP/"):
            return  # a Local half is held by its other half: a control frame, published as no event (core_unreal.c)
        if held:
            self._emit(channel.app, "ChannelHold", musicclass=MOH_SUGGEST, channel=channel.json())
        else:
            self._emit(channel.app, "ChannelUnhold", channel=channel.json())

    # -- talking --------------------------------------------------------------------

    def talk_detect(self, channel: Channel, name: str, value: str) -> bool:
        """TALK_DETECT(set|remove) written on the channel; False for any other name. A value Asterisk
        cannot read (not numbers, or below 1) sets nothing, as func_talkdetect.c logs and returns."""
        function, _, argument = name.partition("(")
        if function.strip().upper() != "TALK_DETECT" or not name.endswith(")"):
            return False
        argument = argument[:-1].strip().lower()
        if argument == "remove":
            channel.talk_detect = None
        elif argument == "set":
            silence = (value.split(",")[0] if value else "").strip()
            if not silence:
                channel.talk_detect = SILENCE_THRESHOLD_MS
            elif silence.lstrip("-").isdigit() and int(silence) >= 1:
                channel.talk_detect = int(silence)
        return True

    def caller_talks(self, channel_id: str, seconds: float) -> None:
        """The caller talks for `seconds`, then is silent."""
        channel = self._answered_call(channel_id, "talks")
        if channel.talking:
            raise AriFault(409, "the caller is talking already")
        channel.talking = True
        channel.silent, channel.speech, channel.silent_since = False, b"", time.monotonic()
        channel.spoke.set()
        self.journal.note(channel.id, "talked", seconds=seconds)
        threshold = channel.talk_detect
        if threshold is not None:
            self._emit(channel.app, "ChannelTalkingStarted", channel=channel.json())
        self._spawn(self._stop_talking(channel, seconds, threshold))

    async def _stop_talking(self, channel: Channel, seconds: float, threshold: int | None) -> None:
        await asyncio.sleep(seconds)
        channel.talking = False
        if channel.gone:
            return
        channel.silent, channel.silent_since = True, time.monotonic()
        channel.spoke.set()
        if threshold is None:
            return
        await asyncio.sleep(threshold / 1000)  # silent that long: Asterisk's detector calls it the end
        if not channel.gone and channel.talk_detect is not None:
            duration = round(seconds * 1000)
            self._emit(channel.app, "ChannelTalkingFinished", duration=duration, channel=channel.json())

    # -- transfer -------------------------------------------------------------------

    def caller_transfers(self, channel_id: str, to: str) -> str:
        """The caller's phone transfers the call blind to `to` (a REFER): the transfer's result."""
        channel = self._answered_call(channel_id, "transfers")
        event: Json = {"channel": channel.json(), "exten": to, "context": self.inbound_context}
        bridge = self.bridges.get(channel.bridge or "")
        if bridge is not None:
            # ast_bridge_transfer_blind takes a bridged transferer off hold, told whether it was held or not
            # (ast_bridge_channel_write_unhold publishes ChannelUnhold unconditionally).
            channel.held = False
            self._emit(channel.app, "ChannelUnhold", channel=channel.json())
            event["bridge"] = bridge.json()
        if bridge is None or len(bridge.channels) <= 1:
            self._emit(channel.app, "BridgeBlindTransfer", **event, result="Invalid", is_external=True)
            self.journal.note(channel.id, "transferred", to=to, result="Invalid")
            return "Invalid"
        peers = [self.channels[c] for c in bridge.channels if c != channel.id]
        watching = [app for app, times in bridge.watching.items() if times > 0]
        told = [app for app in dict.fromkeys([channel.app, *watching]) if app is not None]
        local = self._local_for_transfer(channel, to)
        if len(peers) == 1:
            event["transferee"] = peers[0].json()
        event["replace_channel"] = local.json()
        for app in told:
            self._emit_any(app, "BridgeBlindTransfer", **event, result="Success", is_external=True)
        # The Local channel runs Stasis() in the transferer's application, then takes its place in the
        # bridge (res/stasis/stasis_bridge.c): the transferer is pulled out before the Local one enters.
        self._emit(local.app, "StasisStart", args=[], channel=local.json(), replace_channel=channel.json())
        self._leave_bridge(channel, bridge)
        local.bridge = bridge.id
        bridge.channels.append(local.id)
        bridge.watching[local.owner] += 1
        self._emit(local.app, "ChannelEnteredBridge", bridge=bridge.json(), channel=local.json())
        self._note_bridged(bridge)
        self._members_joined(bridge, [local.id])
        self.journal.note(channel.id, "transferred", to=to, result="Success", replaced_by=local.id)
        self._hang_up(channel, cause=16, soft=False, by="caller")  # the phone, told it went through, hangs up
        return "Success"

    def _local_for_transfer(self, transferer: Channel, to: str) -> Channel:
        """The Local channel's first half that takes the transferer's place, in its application."""
        uid = self._next_unique_id()
        local = Channel(
            id=uid,
            name=f"Local/{to}@{self.inbound_context}-{next(self._ids):08x};1",
            caller=dict(transferer.caller),
            context=self.inbound_context,
            exten=to,
            originated=True,
            state="Up",
            endpoint=None,
            outside_stasis="",
            outside_data="",
        )
        local.variables["BLINDTRANSFER"] = transferer.name
        self.channels[uid] = local
        local.app = transferer.app
        local.app_data = transferer.app or ""
        return local

    # -- text messages --------------------------------------------------------------

    def endpoint_texts(self, endpoint: str, to: str, body: str, name: str) -> list[str]:
        """The phone behind `endpoint` (TECH/resource) sends a text message to `to`: the applications told."""
        technology, _, resource = endpoint.partition("/")
        if endpoint not in self.endpoints:
            raise AriFault(404, f"no endpoint {endpoint}: PUT /_sim/endpoints/{endpoint} first")
        display = f'"{name}" ' if name else ""
        message: Json = {
            "from": f"{display}<sip:{resource}@127.0.0.1>",
            "to": f"pjsip:{to}@127.0.0.1",
            "body": body,
            "variables": {"PJSIP_RECVADDR": "127.0.0.1:5060", "PJSIP_TRANSPORT": "udp", "Content-Type": "text/plain"},
        }
        told = [
            app for app, counts in self.subscriptions.items() if counts[f"endpoint:{endpoint}"] or counts["endpoint:"]
        ]
        for app in told:
            self._emit_any(
                app, "TextMessageReceived", endpoint=self.endpoint_json(technology, resource), message=message
            )
        if not told:  # no application has the endpoint: Asterisk's dialplan (message context) takes it
            self.messages.append({"from": endpoint, "kind": "message", "to": to, "body": body, "dialplan": True})
        self.journal.note("", "texted", endpoint=endpoint, to=to, body=body, told=told)
        return told
