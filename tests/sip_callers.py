"""SIP phones for the differential tier's PJSIP scenarios, alike on both Asterisks.

On the real Asterisk 22 a phone is baresip (tests/sip_phone.py) on loopback, registered to nothing: the
caller is the endpoint `citizen` (identified by its From user, as the tier's pjsip.conf has it) and
dials 1818; an agent is `agent1` or `agent2`, whose contacts the tier's pjsip.conf knows. On the
simulator the same phone is what its control API offers a harness: a call placed from the endpoint
`citizen`, keys pressed, a hangup (the phone's BYE); an agent's phone is an endpoint's script.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from asterisk_sim import AgentScript
from router.ari import Event
from tests.sip_phone import Phone, silence
from tests.test_ari_contract import Backend, RealBackend, RemoteSimBackend, SimBackend

CALLER = "citizen"  # the tier's caller endpoint, and the user part baresip sends in From
AGENTS_CONTEXT = "from-agents"  # the agents' endpoints' context in the real tier's pjsip.conf
PORTS = {"citizen": 5070, "agent1": 5080, "agent2": 5090}  # as the real tier's pjsip.conf has them


class SipCaller:
    """A phone on the endpoint `citizen` that calls 1818 into the application `router`."""

    async def dial(self) -> str:
        """Call 1818 and wait until the call is in the application: its channel's id."""
        raise NotImplementedError

    async def hang_up(self) -> None:
        """The phone hangs up (a BYE on an answered call)."""
        raise NotImplementedError

    async def press(self, digits: str) -> None:
        """The phone sends keys (RFC 4733), one after another."""
        raise NotImplementedError


def _is_new_call(before: set[str]) -> Any:
    def match(event: Event) -> bool:
        channel = event.channel
        return channel is not None and channel.id not in before and channel.name.startswith(f"PJSIP/{CALLER}-")

    return match


class _Baresip(SipCaller):
    def __init__(self, backend: Backend, phone: Phone) -> None:
        self.backend, self.phone = backend, phone

    async def dial(self) -> str:
        before = {e.channel.id for e in self.backend.events.events if e.channel is not None}
        await self.phone.send("/dial sip:1818@127.0.0.1:5060\n")
        started = await self.backend.events.wait_for("StasisStart", _is_new_call(before), within=10)
        assert started.channel is not None
        return started.channel.id

    async def hang_up(self) -> None:
        await self.phone.send("/hangup\n")

    async def press(self, digits: str) -> None:
        for digit in digits:
            await self.phone.send(digit)
            await asyncio.sleep(0.3)  # each key's RFC 4733 packets end before the next key's begin


class _Simulated(SipCaller):
    def __init__(self, backend: SimBackend | RemoteSimBackend) -> None:
        self.backend = backend
        self.channel = ""

    async def dial(self) -> str:
        if isinstance(self.backend, SimBackend):
            world = self.backend.sim.world
            self.channel = world.place_call(CALLER, "1818", "router", endpoint=CALLER).id
        else:
            body = {"from": CALLER, "to": "1818", "app": "router", "endpoint": CALLER}
            self.channel = str((await self.backend._control("POST", "/calls", body))["channel_id"])
        await self.backend.started(self.channel)
        return self.channel

    async def hang_up(self) -> None:
        await self.backend.caller_hangs_up(self.channel)

    async def press(self, digits: str) -> None:
        await self.backend.caller_presses(self.channel, digits)


@contextlib.asynccontextmanager
async def sip_caller(backend: Backend) -> AsyncIterator[SipCaller]:
    """A phone on the endpoint `citizen`, for one scenario."""
    if isinstance(backend, RealBackend):
        with tempfile.TemporaryDirectory(prefix="fidelity-sip-") as tmp:
            folder = Path(tmp)
            async with Phone(folder, CALLER, PORTS[CALLER], silence(folder / "quiet.wav", 120)) as phone:
                yield _Baresip(backend, phone)
    else:
        assert isinstance(backend, SimBackend | RemoteSimBackend)
        yield _Simulated(backend)


@contextlib.asynccontextmanager
async def agent_phone(
    backend: Backend, agent: str, behaviour: str, *, one_call: bool = False
) -> AsyncIterator[Phone | None]:
    """The phone of the endpoint `agent` (agent1, agent2), for one scenario: it answers at once (`answer`)
    or rings on until it is picked up or the call is given up (`no-answer`); `one_call`: it takes one call
    at a time, and answers another 486 (Busy Here) at once. On the real Asterisk a baresip phone (yielded,
    to be told what to do), on the simulator its endpoint's script (`busy_now` says when it is busy)."""
    if isinstance(backend, RealBackend):
        with tempfile.TemporaryDirectory(prefix="fidelity-agent-") as tmp:
            folder = Path(tmp)
            quiet = silence(folder / "quiet.wav", 120)
            max_calls = 1 if one_call else 0
            async with Phone(
                folder, agent, PORTS[agent], quiet, auto_answer=behaviour == "answer", max_calls=max_calls
            ) as phone:
                yield phone
        return
    await _script(backend, agent, behaviour)
    yield None


async def busy_now(backend: Backend, agent: str) -> None:
    """An agent's phone that takes one call at a time is on one: on the simulator, its script says so
    (a baresip phone knows by itself)."""
    if not isinstance(backend, RealBackend):
        await _script(backend, agent, "busy")


async def _script(backend: Backend, agent: str, behaviour: str) -> None:
    if isinstance(backend, SimBackend):
        backend.sim.world.set_endpoint(f"PJSIP/{agent}", AgentScript(behaviour, 0.05, context=AGENTS_CONTEXT))
    else:
        assert isinstance(backend, RemoteSimBackend)
        script = {"behaviour": behaviour, "answer_after": 0.05, "context": AGENTS_CONTEXT}
        await backend._control("PUT", f"/endpoints/PJSIP/{agent}", script)
