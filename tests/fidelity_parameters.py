"""The differential tier's generated cases: every operation's parameters, from Asterisk 22.10's description.

For each operation of the description (asterisk_sim/rest_api, the files the simulator serves) that has a
required, a typed (int, long, double, boolean) or an enumerated (allowableValues) query parameter, three
kinds of request are made, each otherwise valid:
- one without each required parameter;
- one with its first typed parameter of the wrong type (`abc` for a number, `yes` for a boolean), in the
  query, and one with it in a JSON body (a string where a number or a boolean is declared);
- one with its first enumerated parameter outside its list (`fid-bogus`, or below a range's minimum).
They run on both Asterisks as every scenario does, grouped by resource (one scenario each), and are
compared as every transcript is. The values are chosen so that a request that gets past its parameters
fails soon after, on something both Asterisks refuse alike (a format or a technology that does not
exist), so that the cases leave nothing behind on the shared real Asterisk.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from asterisk_sim.validation import Operation, Parameter, operations
from tests.fidelity import Transcript

# An otherwise valid value of each required parameter ({caller}, {app}: the scenario's caller, application).
VALUES = {
    "media": "sound:fid-par-no-such-sound",  # a play fails at once, on both
    "name": "fid-par-rec",
    "format": "fid-no-such-format",  # a recording fails on it, after its other parameters are read
    "variable": "FID_PAR",
    "variables": "FID_PAR",
    "channel": "{caller}",
    "app": "fid-par-app",
    "endpoint": "FidNoSuchTech/fid-par",  # an originate fails on it, after its other parameters are read
    "eventSource": "channel:{caller}",
    "configuration": "notice",
    "deviceState": "NOT_INUSE",
    "to": "pjsip:fid-par-nobody",
    "from": "fid-par",
    "refer_to": "sip:fid-par-nobody@127.0.0.1",
    "application": "{app}",
    "channelId": "fid-par-no-such-channel",
    "oldMessages": "1",
    "newMessages": "1",
    "operation": "pause",
    "destinationRecordingName": "fid-par-copy",
    "states": "ringing",
}
# Path parameters: an object of the scenario's, or one that does not exist (then the case compares what
# each Asterisk checks first).
PATH_VALUES = {
    "channelId": "{caller}",
    "bridgeId": "fid-par-bridge",
    "applicationName": "{app}",
    "playbackId": "fid-par-no-such-playback",
    "recordingName": "fid-par-no-such-recording",
    "snoopId": "fid-par-snoop",
    "deviceName": "Stasis:fid-par",
    "mailboxName": "fid-par@fid-par",
    "logChannelName": "fid-par-log",
    "eventName": "fid-par-event",
    "tech": "PJSIP",
    "resource": "fid-par-nobody",
    "configClass": "res_pjsip",
    "objectType": "endpoint",
    "id": "fid-par-nobody",
    "moduleName": "fid-par-no-such-module",
}
# Not generated, and why.
SKIPPED = {
    ("GET", "/events"): "a WebSocket's upgrade: the scenarios of /events compare it",
    ("POST", "/channels/{channelId}/move"): "without its app, Asterisk 22.10.1 dies (asterisk_sim/channel_routes.py)",
}
# Parameters left out of no request, and why.
ALWAYS_SENT = {
    ("POST", "/bridges/{bridgeId}/record", "format"): "without it, Asterisk 22.10.1 dies (asterisk_sim/server.py)",
    (
        "POST",
        "/bridges/{bridgeId}/variable",
        "variable",
    ): "without it, Asterisk 22.10.1 dies (asterisk_sim/variables.py)",
}
# Cases that would take the caller out of Stasis if they got past their parameters: a caller of their own.
LEAVES_STASIS = {("POST", "/channels/{channelId}/continue")}
WRONG = {"int": "abc", "long": "abc", "double": "abc", "boolean": "yes"}


class Calls(Protocol):
    async def call(self, caller: str = ...) -> str: ...


def interesting(operation: Operation) -> bool:
    return (operation.method, operation.path) not in SKIPPED and any(
        p.required or p.data_type in WRONG or p.allowed or p.minimum is not None for p in operation.query
    )


def cases(operation: Operation) -> list[tuple[dict[str, str], str | None]]:
    """The query and JSON body of each generated request of `operation` (values with {caller}, {app})."""
    query = operation.query
    valid = {p.name: VALUES.get(p.name, "fid-par") for p in query if p.required}
    made: list[tuple[dict[str, str], str | None]] = [
        ({k: v for k, v in valid.items() if k != p.name}, None)
        for p in query
        if p.required and (operation.method, operation.path, p.name) not in ALWAYS_SENT
    ]
    typed = next((p for p in query if p.data_type in WRONG), None)
    if typed is not None:
        made.append((valid | {typed.name: WRONG[typed.data_type]}, None))
        # The same in a JSON body, where a number's wrong type is a string and so is a boolean's.
        made.append(
            ({k: v for k, v in valid.items() if k != typed.name}, json.dumps({typed.name: WRONG[typed.data_type]}))
        )
    listed = next((p for p in query if p.allowed or p.minimum is not None), None)
    if listed is not None:
        made.append((valid | {listed.name: _outside(listed)}, None))
    return made


def _outside(parameter: Parameter) -> str:
    return "fid-bogus" if parameter.allowed else str((parameter.minimum or 0) - 1)


def _path(operation: Operation, fill: dict[str, str]) -> str:
    parts = [
        PATH_VALUES.get(part[1:-1], "fid-par").format(**fill) if part.startswith("{") else part
        for part in operation.path.split("/")
    ]
    return "/".join(parts)


def resource_of(operation: Operation) -> str:
    return operation.path.strip("/").split("/")[0]


def scenario_for(resource: str) -> Callable[[Transcript, Calls], Awaitable[None]]:
    """The scenario of one resource's generated cases: a caller and a bridge to work on where its cases
    need them, each operation's cases written with the events after them, then the two cleared away."""
    checked = [op for op in operations() if resource_of(op) == resource and interesting(op)]
    texts = [op.path for op in checked] + [v for op in checked for query, _ in cases(op) for v in query.values()]
    with_caller = any("{channelId}" in text or "{caller}" in text for text in texts)
    with_bridge = any("{bridgeId}" in text for text in texts)

    async def generated(t: Transcript, b: Calls) -> None:
        caller = ""
        if with_caller:
            caller = await b.call()
            await t.settle()
            await t.request("POST", f"/channels/{caller}/answer")
        if with_bridge:
            await t.request("POST", "/bridges/fid-par-bridge", type="mixing")
        for operation in checked:
            for query, body in cases(operation):
                on = caller
                if (operation.method, operation.path) in LEAVES_STASIS:
                    on = await b.call()
                    await t.settle()
                fill = {"caller": on, "app": t.config.app}
                params: dict[str, Any] = {k: v.format(**fill) for k, v in query.items()}
                path = _path(operation, fill)
                # A play's cases each settle: a bridge's announcer hangs up a moment after its play has
                # ended, and a play sent meanwhile finds it or not (then a new one joins): timing.
                await t.request(operation.method, path, settle="/play" in operation.path, body=body, **params)
            await t.settle()  # the other operations' events after their cases: a settling costs the tier 0.3 s
        if with_bridge:
            await t.request("DELETE", "/bridges/fid-par-bridge")
        if with_caller:
            await t.request("DELETE", f"/channels/{caller}")

    return generated


def generated_scenarios() -> dict[str, Callable[[Transcript, Calls], Awaitable[None]]]:
    """scenario name -> scenario, one for each resource with an operation to check."""
    resources = dict.fromkeys(resource_of(op) for op in operations() if interesting(op))
    return {f"parameters_of_{resource.lower()}": scenario_for(resource) for resource in resources}
