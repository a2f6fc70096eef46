"""Phones rung: a channel Asterisk dials (an originate, or a created channel's `dial`) rings its endpoint's
phone, which answers, rings on, is busy, rejects or is offline as its script says (AgentScript), with the
events and hangup causes Asterisk 22 sends for each. `World` (world.py) has this as its part."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

from asterisk_sim.answers import AriFault
from asterisk_sim.objects import CAUSES, AgentScript, Channel

TECH_CAUSES = {17: 486, 19: 480, 20: 404, 21: 603}  # the SIP answer behind each cause of an unanswered call


class Ringing:
    # The world's, set by World.__init__.
    endpoints: dict[str, AgentScript]
    _picked_up: dict[str, asyncio.Event]
    _spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]
    _emit: Callable[..., None]
    stasis_channel: Callable[[str], Channel]
    _hang_up: Callable[..., None]
    _into_stasis: Callable[[Channel, str, list[str]], None]
    _answered: Callable[[Channel], None]
    _hung_up: Callable[[Channel, int, str], None]

    def dial(self, channel_id: str, timeout: float) -> None:
        """POST /channels/{id}/dial: a created channel rings its endpoint's phone, as an originate's does."""
        channel = self.stasis_channel(channel_id)
        if channel.state != "Down" or channel.endpoint not in self.endpoints:
            raise AriFault(409, "Channel is not in the 'Down' state")
        script = self.endpoints[channel.endpoint]
        self._spawn(self._ring_agent(channel, channel.app or "", [], script, ring_for=timeout or 3600, in_stasis=True))

    async def _ring_agent(
        self,
        channel: Channel,
        app: str,
        args: list[str],
        script: AgentScript,
        *,
        ring_for: float,
        in_stasis: bool = False,
    ) -> None:
        await asyncio.sleep(0)  # the REST answer goes out first
        resource = channel.endpoint.split("/", 1)[1] if channel.endpoint else ""

        local = channel.name.startswith("Local/")

        def dial(status: str) -> None:
            peer = channel.json()
            # A Local channel's answer is its other half's, which says no dial string (seen on Asterisk 22).
            dialstring = "" if local and status == "ANSWER" else resource
            self._emit(app, "Dial", dialstatus=status, forward="", dialstring=dialstring, peer=peer)

        dial("")
        if script.behaviour in ("busy", "reject", "offline"):
            cause = {"busy": 17, "reject": 21, "offline": 20}[script.behaviour]
            if script.behaviour != "offline" and channel.name.startswith("PJSIP/") and not in_stasis:
                # The phone's failure answer (486, 603): chan_pjsip queues the hangup with its causes at once.
                self._emit(
                    app, "ChannelHangupRequest", cause=cause, tech_cause=TECH_CAUSES[cause], channel=channel.json()
                )
            if script.behaviour == "busy":
                dial("BUSY")
            return self._unanswered(channel, app, cause, in_stasis)
        if not local or script.behaviour == "no-answer":  # a Local channel rings if its dialplan says Ringing()
            channel.state = "Ringing"
            self._emit(app, "ChannelStateChange", channel=channel.json())
            dial("RINGING")
        wait = ring_for if script.behaviour == "no-answer" else min(script.answer_after, ring_for)
        picked_up = self._picked_up[channel.id] = asyncio.Event()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(picked_up.wait(), wait)
        finally:
            del self._picked_up[channel.id]
        if channel.gone:
            return
        if not picked_up.is_set() and (script.behaviour == "no-answer" or script.answer_after > ring_for):
            return self._unanswered(channel, app, 19, in_stasis)
        channel.state = "Up"
        self._answered(channel)
        self._emit(app, "ChannelStateChange", channel=channel.json())
        dial("ANSWER")
        if not in_stasis:
            self._into_stasis(channel, app, args)
        if script.hang_up_after is not None:
            await asyncio.sleep(script.hang_up_after)
            if not channel.gone:  # a SIP phone's BYE sets no cause (World.caller_hangs_up)
                self._hang_up(channel, cause=0 if channel.name.startswith("PJSIP/") else 16, soft=False, by="phone")

    def _unanswered(self, channel: Channel, app: str, cause: int, in_stasis: bool) -> None:
        if in_stasis:  # a created channel is its application's: it is hung up, with the phone's cause
            self._hang_up(channel, cause=cause, soft=False, by="phone")
        else:
            self._destroy_unanswered(channel, app, cause)

    def _destroy_unanswered(self, channel: Channel, app: str, cause: int) -> None:
        if channel.gone:
            return
        channel.gone = True
        self._hung_up(channel, cause, "phone")
        tech_cause = TECH_CAUSES.get(cause)
        extra = {"tech_cause": tech_cause} if tech_cause else {}
        self._emit(app, "ChannelDestroyed", cause=cause, cause_txt=CAUSES[cause], **extra, channel=channel.json())

    def cancel_ringing(self, channel: Channel) -> None:
        """The app hung up a channel it originated before it was answered."""
        if channel.app is None and channel.originated and not channel.gone:
            channel.gone = True
            self._hung_up(channel, 16, "application")
            self._emit(channel.owner, "ChannelHangupRequest", cause=32, soft=True, channel=channel.json())
            self._emit(channel.owner, "ChannelDestroyed", cause=16, cause_txt=CAUSES[16], channel=channel.json())
