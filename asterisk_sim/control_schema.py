"""The control API's requests as data: each route's fields, read strictly, and its reference (OpenAPI).

One table (ROUTES) says what every /_sim route takes; `read_fields` checks a request body against it
(a clear 400 for an unknown field, a wrong type or a value out of range, naming the field) and
`openapi` describes the same table, so the reference cannot drift from what is checked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from asterisk_sim.answers import Json

DTMF_DIGITS = "0123456789*#ABCD"  # the sixteen keys of RFC 4733's telephone-event
BEHAVIOURS = ("answer", "no-answer", "busy", "reject", "offline")
TECHNOLOGIES = ("PJSIP", "Local")


class BadRequest(Exception):
    """A control request the simulator refuses: 400 and why."""


@dataclass(frozen=True)
class Field:
    """One field of a JSON body. `kind`: string, strings (a list of strings), number, integer, boolean."""

    name: str
    kind: str
    help: str
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    required: bool = False
    alphabet: str = ""  # a string's characters, each one of these
    non_empty: bool = False


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    fields: tuple[Field, ...] = ()
    body: str = "json"  # json, or wav (a WAV file), or none
    answer: str = "204 No Content"
    errors: tuple[str, ...] = field(default=())
    query: tuple[Field, ...] = ()  # its query's parameters (numbers and strings only)


_TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "number": (int, float), "integer": int, "boolean": bool}


def _is(value: Any, kind: str) -> bool:
    """JSON's kinds as Python reads them: true is not a number, 1.5 is not an integer."""
    return not (isinstance(value, bool) and kind != "boolean") and isinstance(value, _TYPES[kind])


def _check(spec: Field, value: Any) -> Any:
    if value is None and spec.nullable:
        return None
    if spec.kind == "strings":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequest(f"{spec.name}: a list of strings, not {json.dumps(value)}")
        return list(value)
    if not _is(value, spec.kind):
        article = "an" if spec.kind[0] in "ai" else "a"
        raise BadRequest(f"{spec.name}: {article} {spec.kind}, not {json.dumps(value)}")
    if spec.choices and value not in spec.choices:
        raise BadRequest(f"{spec.name}: one of {', '.join(spec.choices)}, not {json.dumps(value)}")
    if spec.non_empty and value == "":
        raise BadRequest(f"{spec.name}: must not be empty")
    if spec.alphabet and any(c not in spec.alphabet for c in value):
        wrong = next(c for c in value if c not in spec.alphabet)
        raise BadRequest(f"{spec.name}: only the keys {spec.alphabet}, not {json.dumps(wrong)}")
    if spec.minimum is not None and value < spec.minimum:
        raise BadRequest(f"{spec.name}: at least {spec.minimum:g}, not {json.dumps(value)}")
    if spec.maximum is not None and value > spec.maximum:
        raise BadRequest(f"{spec.name}: at most {spec.maximum:g}, not {json.dumps(value)}")
    return value


def read_query(route: Route, query: Mapping[str, str]) -> Json:
    """A request's query, checked against its route as a body is (numbers written as text)."""
    unknown = sorted(set(query) - {f.name for f in route.query})
    if unknown:
        raise BadRequest(
            f"unknown parameter {', '.join(map(repr, unknown))}: it takes {', '.join(f.name for f in route.query)}"
        )
    read: Json = {}
    for spec in route.query:
        text = query.get(spec.name)
        if text is None:
            read[spec.name] = spec.default
            continue
        try:
            value: Any = int(text) if spec.kind == "integer" else float(text) if spec.kind == "number" else text
        except ValueError:
            raise BadRequest(
                f"{spec.name}: {'an' if spec.kind[0] == 'i' else 'a'} {spec.kind}, not {json.dumps(text)}"
            ) from None
        read[spec.name] = _check(spec, value)
    return read


def read_fields(route: Route, raw: bytes) -> Json:
    """A request body, checked against its route: every field present or its default. An empty body is
    an empty object."""
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except ValueError:
            raise BadRequest("the body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object, not {json.dumps(data)[:80]}")
    known = {f.name: f for f in route.fields}
    unknown = sorted(set(data) - set(known))
    if unknown:
        takes = f"it takes {', '.join(known)}" if known else "it takes no fields"
        raise BadRequest(f"unknown field {', '.join(map(repr, unknown))}: {takes}")
    read: Json = {}
    for name, spec in known.items():
        if name in data:
            read[name] = _check(spec, data[name])
        elif spec.required:
            raise BadRequest(f"{name}: required")
        else:
            read[name] = spec.default
    return read


_CALL_ANSWER = '201 {"channel_id", "stasis"}: the channel, and whether an application took it'
ROUTES = {
    "call": Route("POST", "/_sim/calls", "A caller dials: the dialplan runs Stasis(app, args).", (
        Field("from", "string", "the caller's number", "citizen"),
        Field("name", "string", "the caller's name", ""),
        Field("to", "string", "the number dialled (none: the settings' `to`, `s` unless set)", None, non_empty=True,
              nullable=True),
        Field("app", "string", "the Stasis application the dialplan sends the call to (none: the settings' `app`; "
              "required when they name none)", None, non_empty=True, nullable=True),
        Field("args", "strings", "the application's arguments", []),
        Field("technology", "string", "how the call comes in: by SIP, or as a Local channel's second half",
              "PJSIP", choices=TECHNOLOGIES),
        Field("endpoint", "string", "the PJSIP endpoint the call comes from, which names its channel (default: "
              "the caller's number, as Asterisk identifies a phone by its From user)", ""),
    ), answer=_CALL_ANSWER),
    "hangup": Route("POST", "/_sim/channels/{id}/hangup", "The caller hangs up."),
    "dtmf": Route("POST", "/_sim/channels/{id}/dtmf", "The caller presses keys, once the call is answered.", (
        Field("digits", "string", "the keys, in order", required=True, alphabet=DTMF_DIGITS, non_empty=True),
    ), errors=("409 the channel is not answered (no media flows yet)",)),
    "silent": Route("POST", "/_sim/channels/{id}/silent", "The caller says nothing (or talks on and on again).", (
        Field("silent", "boolean", "silent from now", True),
    )),
    "hold": Route("POST", "/_sim/channels/{id}/hold", "The caller's phone puts the call on hold: ChannelHold.",
                  errors=("409 the channel is not answered",)),
    "unhold": Route("POST", "/_sim/channels/{id}/unhold", "The caller's phone takes the call off hold: "
                    "ChannelUnhold.", errors=("409 the channel is not answered",)),
    "talk": Route("POST", "/_sim/channels/{id}/talk", "The caller talks, then is silent: ChannelTalkingStarted and "
                  "Finished where the application set TALK_DETECT.", (
        Field("seconds", "number", "how long the caller talks", required=True, minimum=0.001, maximum=3600),
    ), errors=("409 the channel is not answered, or the caller talks already",)),
    "transfer": Route("POST", "/_sim/channels/{id}/transfer", "The caller's phone transfers the call blind (a REFER) "
                      "to a number of the inbound context: BridgeBlindTransfer.", (
        Field("to", "string", "the number transferred to (the Refer-To's user)", required=True, non_empty=True),
    ), answer='200 {"result"}: Success, or Invalid (not in a bridge with another channel)',
        errors=("409 the channel is not answered",)),
    "text": Route("POST", "/_sim/endpoints/{tech}/{resource}/message", "The phone behind an endpoint sends a text "
                  "message (SIP MESSAGE): TextMessageReceived to the applications subscribed to the endpoint.", (
        Field("to", "string", "the number or user it is sent to", required=True, non_empty=True),
        Field("body", "string", "the text", required=True),
        Field("name", "string", "the sender's display name", ""),
    ), answer='200 {"told"}: the applications told (none: the dialplan took it)',
        errors=("404 the simulator has no such endpoint",)),
    "pick-up": Route("POST", "/_sim/channels/{id}/pick-up", "The phone a channel is ringing answers now.",
                     errors=("409 it is not ringing",)),
    "say": Route("POST", "/_sim/channels/{id}/say", "The caller says a WAV file (8 kHz, mono, 16-bit), then is "
                 "silent.", body="wav"),
    "channel": Route("GET", "/_sim/channels/{id}", "What a channel heard, its state, bridge and dialplan after.",
                     body="none", answer="200 the channel's history"),
    "endpoint": Route("PUT", "/_sim/endpoints/{tech}/{resource}", "How the phone behind an endpoint answers.", (
        Field("behaviour", "string", "what it does when rung", "answer", choices=BEHAVIOURS),
        Field("answer_after", "number", "seconds it rings before answering", 0.05, minimum=0),
        Field("on_own_call", "boolean", "it is on a call of its own (a direct line): its endpoint lists it", False),
        Field("hang_up_after", "number", "seconds after answering it hangs up (none: never)", None, minimum=0,
              nullable=True),
        Field("context", "string", "the endpoint's dialplan context (pjsip.conf's `context`), where the channels "
              "Asterisk makes to it start", "default", non_empty=True),
    )),
    "dialplan": Route("PUT", "/_sim/dialplan/{context}", "A context of the dialplan exists (for `continue`)."),
    "sounds": Route("POST", "/_sim/sounds", "Sounds Asterisk has from now on.", (
        Field("names", "strings", "the sounds, as media names (hello-world, digits/1)", []),
        Field("language", "string", "their language", "en", non_empty=True),
        Field("format", "string", "their format", "gsm", non_empty=True),
        Field("seconds", "number", "how long each plays (none: the simulator's sound_seconds)", None, minimum=0,
              nullable=True),
    )),
    "state": Route("GET", "/_sim/state", "Live channels, bridges, applications, fallbacks, messages, crashes.",
                   body="none", answer="200 the state"),
    "requests": Route("GET", "/_sim/requests", "Every ARI request received, with its status.", body="none",
                      answer="200 the requests"),
    "events": Route("GET", "/_sim/events", "What happened to calls, in order (a long poll): called, answered, heard, "
                    "media ended (played, stopped or cut), pressed, held, unheld, talked, transferred, texted, hung "
                    "up (its cause, and by the caller, the application, the phone rung or Asterisk).", body="none",
                    query=(
        Field("after", "integer", "the last number the harness has (0: from the start)", 0, minimum=0),
        Field("wait", "number", "seconds to wait for the first new one", 0.0, minimum=0, maximum=60),
    ), answer='200 {"events": [{"seq", "at", "channel", "what", ...}], "next", "missed"}'),
    "fault": Route("POST", "/_sim/faults", "ARI requests matching `match` fail or answer late.", (
        Field("match", "string", "fnmatch pattern over 'METHOD /path' (without /ari)", "*"),
        Field("status", "integer", "the answer's status (0: the normal answer, late)", 500, minimum=0, maximum=599),
        Field("probability", "number", "the chance each matching request fails", 1.0, minimum=0, maximum=1),
        Field("count", "integer", "how many times at most (none: until cleared)", None, minimum=0, nullable=True),
        Field("delay", "number", "seconds before answering", 0.0, minimum=0),
        Field("after", "boolean", "carry the request out, then answer `status`", False),
    )),
    "faults-cleared": Route("DELETE", "/_sim/faults", "Every fault and the event delay cleared."),
    "event-delay": Route("POST", "/_sim/events/delay", "Events are sent this late from now.", (
        Field("seconds", "number", "the delay", 0.0, minimum=0),
    )),
    "drop": Route("POST", "/_sim/websockets/drop", "Every application's WebSocket closes."),
    "restart": Route("POST", "/_sim/restart", "Asterisk restarts: WebSockets drop, channels and bridges are gone."),
    "available": Route("PUT", "/_sim/available", "ARI answers (or 503 and no WebSocket).", (
        Field("available", "boolean", "whether ARI answers", True),
    )),
}  # fmt: skip


def _schema(spec: Field) -> Json:
    kinds = {"strings": {"type": "array", "items": {"type": "string"}}}
    schema: Json = dict(kinds.get(spec.kind, {"type": spec.kind}))
    if spec.nullable:
        schema["type"] = [schema["type"], "null"]
    schema["description"] = spec.help
    if not spec.required:
        schema["default"] = spec.default
    if spec.choices:
        schema["enum"] = list(spec.choices)
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    if spec.alphabet:
        schema["pattern"] = "^[" + spec.alphabet.replace("*", "\\*") + "]+$"
    elif spec.non_empty:
        schema["minLength"] = 1
    return schema


def openapi(version: str) -> Json:
    """The control API's reference, as OpenAPI 3.1, from ROUTES."""
    paths: dict[str, Json] = {}
    for key, route in ROUTES.items():
        status, _, said = route.answer.partition(" ")
        operation: Json = {
            "operationId": key,
            "summary": route.summary,
            "responses": {status: {"description": said}, "400": {"description": "a field is wrong: the message says"}},
        }
        for error in route.errors:
            code, _, why = error.partition(" ")
            operation["responses"][code] = {"description": why}
        operation["parameters"] = [
            {"name": name.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
            for name in route.path.split("/")
            if name.startswith("{")
        ] + [{"name": f.name, "in": "query", "required": False, "schema": _schema(f)} for f in route.query]
        if "{id}" in route.path:
            operation["responses"]["404"] = {"description": "no such channel"}
        if route.body == "json":
            body = {
                "type": "object",
                "additionalProperties": False,
                "properties": {f.name: _schema(f) for f in route.fields},
                "required": [f.name for f in route.fields if f.required],
            }
            operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
        elif route.body == "wav":
            wav = {"audio/wav": {"schema": {"type": "string", "format": "binary"}}}
            operation["requestBody"] = {"required": True, "content": wav}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    info = {"title": "The simulated Asterisk's control API", "version": version}
    return {"openapi": "3.1.0", "info": info, "paths": paths}
