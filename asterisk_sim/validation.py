"""Every ARI request's parameters read as Asterisk 22.10 reads them, generated from its API description.

Asterisk generates the code that reads an operation's parameters from the same description the simulator
serves (rest_api/*.json; rest-api-templates/param_parsing.mustache and body_parsing.mustache make
res/res_ari_*.c). That code checks little: it converts each declared parameter by its `dataType` and
hands the result to the resource's own code, which alone refuses what it refuses (a missing parameter,
a value outside a list), each in its own words. So a wrong type is not refused; it is read as C reads it:
- `int` and `long`: atoi/atol, the leading digits or 0 (`timeout=abc` is 0, `timeout=12s` is 12);
- `boolean`: ast_true, true for yes, true, y, t, 1 and on (any case), false for anything else;
- `double`: atof, the leading number or 0;
- a parameter that `allowMultiple`: split as ast_app_separate_args splits, and 128 values or more are
  refused, 400 "Too many values for <its C name>";
- a JSON body (Content-Type application/json) must be an object or an array, else 400 "Error parsing
  request body"; the fields of an object named as query parameters are read too, after the query, as
  jansson gives them (a string parameter that is not a JSON string is none, an integer that is not a
  JSON integer is 0, a boolean is true only for JSON true);
- a form body (application/x-www-form-urlencoded) is read before the query, so the query wins.

The `parameters` middleware hands each ARI route the request with its declared query parameters so read
(an integer as its digits, a boolean as `true` or `false`), and the fields of a JSON body among them;
the routes then check what the resource's code checks: the checks of the last part of this module, each
in its resource's order and words, are the ones found by the differential tier's generated cases
(tests/fidelity_parameters.py). Pure but for the middleware.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from asterisk_sim.answers import AriFault, atoi
from asterisk_sim.websocket_requests import FORM_BODY, JSON_BODY

SHIPPED = Path(__file__).with_name("rest_api")
MAX_VALS = 128  # res/res_ari_*.c: the values a parameter that allowMultiple may have, less one
_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})  # ast_true's words, compared without case
_FLOAT = re.compile(r"^\s*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)")


@dataclass(frozen=True)
class Parameter:
    """One parameter of an operation, as the description declares it."""

    name: str
    kind: str  # paramType: query, path or body
    data_type: str
    required: bool = False
    multiple: bool = False
    allowed: tuple[str, ...] = ()  # allowableValues of type LIST
    minimum: int | None = None  # allowableValues of type RANGE
    maximum: int | None = None


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # as the description writes it, relative to /ari: /channels/{channelId}/play
    parameters: tuple[Parameter, ...]

    @property
    def query(self) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.kind == "query")


def _parameter(raw: dict[str, Any]) -> Parameter:
    allowed = raw.get("allowableValues") or {}
    kind = str(allowed.get("valueType", "")).upper()
    return Parameter(
        name=raw["name"],
        kind=raw["paramType"],
        data_type=raw["dataType"],
        required=bool(raw.get("required")),
        multiple=bool(raw.get("allowMultiple")),
        allowed=tuple(str(v) for v in allowed.get("values", ())) if kind == "LIST" else (),
        minimum=allowed.get("min") if kind == "RANGE" else None,
        maximum=allowed.get("max") if kind == "RANGE" else None,
    )


@cache
def operations(folder: Path = SHIPPED) -> tuple[Operation, ...]:
    """Every operation of the description in `folder` (resources.json's APIs), in the description's order."""
    listing = json.loads((folder / "resources.json").read_text(encoding="utf-8"))
    found: list[Operation] = []
    for api in listing["apis"]:
        document = json.loads((folder / Path(api["path"]).name.replace("{format}", "json")).read_text("utf-8"))
        for declared in document.get("apis", []):
            for operation in declared.get("operations", []):
                parameters = tuple(_parameter(p) for p in operation.get("parameters", []))
                found.append(Operation(operation["httpMethod"], declared["path"], parameters))
    return tuple(found)


def find(method: str, path: str, folder: Path = SHIPPED) -> Operation | None:
    """The operation a request runs (`path` relative to /ari), found as Asterisk's path tree finds it: at
    each segment a literal one before a variable one (`/channels/create` is not a channel's id)."""
    segments = path.strip("/").split("/")
    candidates = [op for op in operations(folder) if op.method == method]
    for depth, segment in enumerate(segments):
        shaped = [op for op in candidates if len(op.path.strip("/").split("/")) > depth]
        literal = [op for op in shaped if op.path.strip("/").split("/")[depth] == segment]
        candidates = literal or [op for op in shaped if op.path.strip("/").split("/")[depth].startswith("{")]
    return next((op for op in candidates if len(op.path.strip("/").split("/")) == len(segments)), None)


def c_name(name: str) -> str:
    """A parameter's name in Asterisk's C (rest-api-templates' snakify): `maxDurationSeconds` is
    max_duration_seconds."""
    out, prior_lower = "", False
    for c in name:
        if c.isupper() and prior_lower:
            out += "_"
        c = "_" if c == "-" else c
        prior_lower = c.islower()
        out += c.lower()
    return out


def separate_args(text: str) -> list[str]:
    """A comma-separated list as ast_app_separate_args splits one: not inside (), [] or quotes, a
    backslash keeping the next character, the quotes removed; at most MAX_VALS values."""
    if text == "":
        return [""]  # res_ari_*.c: "ast_app_separate_args can't handle \"\""
    values: list[str] = []
    current, paren, bracket, quote, i, ended_on_comma = "", 0, 0, False, 0, False
    while i < len(text):
        c = text[i]
        if len(values) == MAX_VALS - 1:  # the last place takes the rest as it is
            current, ended_on_comma = text[i:], False
            break
        ended_on_comma = False
        if c == "(":
            paren += 1
        elif c == ")":
            paren = max(paren - 1, 0)
        elif c == "[":
            bracket += 1
        elif c == "]":
            bracket = max(bracket - 1, 0)
        elif c == '"':
            quote, c = not quote, ""
        elif c == "\\":
            i += 1
            c = text[i] if i < len(text) else ""
        elif c == "," and not (paren or quote or bracket):
            values.append(current)
            current, ended_on_comma, c = "", True, ""
        current += c
        i += 1
    if current or ended_on_comma:
        values.append(current)
    return values


def read_text(parameter: Parameter, value: str) -> str:
    """A query parameter's value converted as the generated C converts it, written back as text."""
    if parameter.data_type in ("int", "long"):
        return str(atoi(value))
    if parameter.data_type == "boolean":
        return "true" if value.lower() in _TRUE else "false"
    if parameter.data_type == "double":
        found = _FLOAT.match(value)
        return str(float(found.group(1))) if found else "0.0"
    return value


def read_json(parameter: Parameter, field: Any) -> str | None:
    """A JSON body's field converted as jansson gives it to the generated C, as text (None: no value)."""
    if parameter.data_type in ("int", "long"):
        return str(field) if isinstance(field, int) and not isinstance(field, bool) else "0"
    if parameter.data_type == "boolean":
        return "true" if field is True else "false"
    if parameter.data_type == "double":
        return str(field) if isinstance(field, float) else "0.0"
    return field if isinstance(field, str) else None


def read(operation: Operation, params: list[tuple[str, str]], body: Any) -> list[tuple[str, str]]:
    """The request's parameters (form fields, then the query) as the operation's route is to see them:
    each declared query parameter converted (the last of several wins, as in the C), then overridden by
    a JSON object body's field of its name; the rest as given. Raises AriFault as Asterisk refuses."""
    declared = {p.name: p for p in operation.query}
    final: dict[str, str | None] = {}
    for name, value in params:
        parameter = declared.get(name)
        if parameter is None:
            continue
        if parameter.multiple and len(separate_args(value)) >= MAX_VALS:
            raise AriFault(400, f"Too many values for {c_name(name)}")
        final[name] = value if parameter.multiple else read_text(parameter, value)
    if isinstance(body, dict):
        for name, parameter in declared.items():
            if name not in body:
                continue
            field = body[name]
            if parameter.multiple:
                items = field if isinstance(field, list) else [field]
                texts = [read_json(parameter, item) for item in items]
                final[name] = ",".join(t or "" for t in texts)
            else:
                final[name] = read_json(parameter, field)
    rest = [(name, value) for name, value in params if name not in declared]
    return rest + [(name, value) for name, value in final.items() if value is not None]


def parse_body(content_type: str, raw: bytes) -> tuple[Any, list[tuple[str, str]]]:
    """A request body as Asterisk reads one (main/http.c): a JSON object or array (None for an empty one),
    or a form's fields. Raises 400 "Error parsing request body" for JSON that is not an object or array."""
    if content_type == FORM_BODY:
        return None, parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    if content_type != JSON_BODY or not raw:
        return None, []
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict | list):
        raise AriFault(400, "Error parsing request body")
    return data, []


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def parameters(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The middleware: an ARI request of an operation of Asterisk 22.10's description goes on to its
    route with its parameters read as Asterisk reads them (`read`); any other request as it came."""
    if not request.path.startswith("/ari/") or request.headers.get("Upgrade", "").lower() == "websocket":
        return await handler(request)
    operation = find(request.method, request.path[4:])
    if operation is None:
        return await handler(request)
    raw = await request.read()
    body, form = parse_body(request.content_type.lower(), raw)
    params = read(operation, form + list(request.query.items()), body)
    # aiohttp clones only a request whose body it has not read; the clone is handed the body read.
    request._read_bytes = None
    clone = request.clone(rel_url=request.rel_url.with_query(params))
    clone._read_bytes = raw
    return await handler(clone)


# -- what the resources' own code checks, in its order and words (res/ari/resource_*.c) ----------------

RECORD_TERMINATIONS = ("", "none", "any", "#", "*")  # stasis_app_recording_termination_parse, without case
RECORD_IF_EXISTS = ("", "fail", "overwrite", "append")  # stasis_app_recording_if_exists_parse


def check_originate(query: Mapping[str, str]) -> None:
    """POST /channels[/{id}]: ari_channels_handle_originate_with_id's checks, in its order."""
    endpoint = query.get("endpoint", "")
    if not endpoint:
        raise AriFault(400, "Endpoint must be specified")
    if query.get("originator") and query.get("formats"):
        raise AriFault(400, "Originator and formats can't both be specified")
    technology, _, resource = endpoint.partition("/")
    if not technology or not resource:
        raise AriFault(400, "Invalid endpoint specified")
    if not query.get("app") and not query.get("extension"):
        raise AriFault(400, "Application or extension must be specified")


def check_channel_record(
    query: Mapping[str, str], find_channel: Callable[[], object], formats: tuple[str, ...]
) -> None:
    """POST /channels/{id}/record: ast_ari_channels_record's checks, in its order (the channel looked for
    after the durations), and stasis_app_control_record's EINVAL for an empty name."""
    if atoi(query.get("maxDurationSeconds", "")) < 0:
        raise AriFault(400, "max_duration_seconds cannot be negative")
    if atoi(query.get("maxSilenceSeconds", "")) < 0:
        raise AriFault(400, "max_silence_seconds cannot be negative")
    find_channel()
    if query.get("terminateOn", "").lower() not in RECORD_TERMINATIONS:
        raise AriFault(400, "terminateOn invalid")
    if query.get("ifExists", "").lower() not in RECORD_IF_EXISTS:
        raise AriFault(400, "ifExists invalid")
    if query.get("format", "") not in formats:
        raise AriFault(422, "specified format is unknown on this system")
    if not query.get("name"):
        raise AriFault(500, "Error parsing request")


def check_channel_play(query: Mapping[str, str]) -> None:
    """POST /channels/{id}/play: ari_channels_handle_play's checks once the channel is found."""
    for name in ("skipms", "offsetms"):
        if atoi(query.get(name, "")) < 0:
            raise AriFault(400, f"{name} cannot be negative")


def bridge_play_fails(query: Mapping[str, str], media: list[str]) -> bool:
    """POST /bridges/{id}/play: resource_bridges.c checks nothing; the announcer joins, and the playback
    cannot be made without media or with a negative offset or skip (res_stasis_playback.c, play_create)."""
    return not media or atoi(query.get("offsetms", "")) < 0 or atoi(query.get("skipms", "")) < 0


def bridge_channels(query: Mapping[str, str]) -> list[str]:
    """`channel` of a bridge's addChannel or removeChannel, once the bridge is found (control_list_create)."""
    if "channel" not in query:
        raise AriFault(400, "Missing parameter channel")
    return query["channel"].split(",")
