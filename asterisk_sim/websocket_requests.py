"""REST over the events WebSocket, as Asterisk 22.10 does it (res/ari/ari_websocket_requests.c).

An application may send `{"type": "RESTRequest", "method", "uri", ...}` on its /ari/events WebSocket;
Asterisk carries it out as the same request over HTTP would be, with the credentials of the WebSocket's
upgrade, and answers on the WebSocket with a `RESTResponse` (its body as a JSON text in `message_body`).
Requests are read and answered one at a time, in order. Reading a request is pure (`read_request`); the
simulator carries it out on its own HTTP routes, so that both ways answer alike.
"""

from __future__ import annotations

import fnmatch
import http
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from asterisk_sim.answers import Json

METHODS = ("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS")  # ast_http_methods_text, spelt exactly
JSON_BODY, FORM_BODY = "application/json", "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class RestRequest:
    """One RESTRequest, read: what to carry out, and the ids to answer with."""

    method: str
    path: str  # the uri before its '?', as given (relative to /ari)
    query: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None  # a JSON body (object or array), or None
    transaction_id: str = ""
    request_id: str = ""


@dataclass(frozen=True)
class Refusal(Exception):
    """A RESTRequest Asterisk refuses before carrying it out: its answer's status, phrase and message."""

    status: int
    reason: str
    message: str | None
    uri: str = ""
    transaction_id: str = ""
    request_id: str = ""


def _text(message: Json, key: str) -> str:
    value = message.get(key)
    return value if isinstance(value, str) else ""  # ast_json_string_get: NULL for anything else


def read_request(frame: str) -> RestRequest:
    """A WebSocket text frame as Asterisk reads it (parse_rest_request_msg), checks in its order.
    Raises Refusal for what it refuses."""
    try:
        message = json.loads(frame)
    except ValueError:
        raise Refusal(400, "Failed to parse request message JSON", None) from None
    if not isinstance(message, dict):  # jansson's loader takes objects and arrays; an array has no fields
        message = {}
    ids = {"transaction_id": _text(message, "transaction_id"), "request_id": _text(message, "request_id")}
    kind = _text(message, "type")
    if not kind:
        raise Refusal(400, "Bad request", "No 'type' property.", **ids)
    if kind != "RESTRequest":
        raise Refusal(400, "Bad request", "Unknown request type.", **ids)
    uri = _text(message, "uri")
    if not uri:
        raise Refusal(400, "Bad request", "Empty or missing 'uri' property.", **ids)
    path, _, query_text = uri.partition("?")
    ids["uri"] = path  # Asterisk answers with the uri cut at its '?'
    method = _text(message, "method")
    if method not in METHODS:
        raise Refusal(400, "Bad request", "Unknown or missing 'method' property.", **ids)
    query = parse_qsl(query_text, keep_blank_values=True)
    given = message.get("query_strings")
    if isinstance(given, list) and given:  # anything else counts as none (ast_json_array_size is 0)
        if not all(isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("value"), str)
                   for p in given):  # fmt: skip
            raise Refusal(400, "Bad request", "Unable to parse 'query_strings' array.", **ids)
        query += [(p["name"], p["value"]) for p in given]
    body_text, body = _text(message, "message_body"), None
    if body_text:
        content_type = _text(message, "content_type")
        if not content_type:
            raise Refusal(400, "Bad request", "No 'content_type' for 'message_body'.", **ids)
        if content_type == FORM_BODY:
            fields = parse_qsl(body_text)
            if not fields:
                raise Refusal(400, "Bad request", f"Unable to parse 'message_body' as '{FORM_BODY}'.", **ids)
            query += fields
        elif content_type == JSON_BODY:
            try:
                body = json.loads(body_text)
            except ValueError:
                body = None
            if not isinstance(body, dict | list):
                raise Refusal(400, "Bad request", f"Unable to parse 'message_body' as '{JSON_BODY}'.", **ids)
        else:
            raise Refusal(400, "Bad request", "Unknown content type.", **ids)
    return RestRequest(method, path, query, body, ids["transaction_id"], ids["request_id"])


def refusal_answer(refusal: Refusal) -> Json:
    """The RESTResponse of a request refused before it was carried out."""
    answer: Json = {
        "type": "RESTResponse",
        "transaction_id": refusal.transaction_id,
        "request_id": refusal.request_id,
        "status_code": refusal.status,
        "reason_phrase": refusal.reason,
        "uri": refusal.uri,
    }
    if refusal.message is not None:
        answer |= {"content_type": JSON_BODY, "message_body": _compact({"message": refusal.message})}
    return answer


def answer(request: RestRequest, status: int, body: Any) -> Json:
    """The RESTResponse of a request carried out: its status, Asterisk's phrase for it, and its JSON body
    (none for 204), written compactly as Asterisk does (AST_JSON_COMPACT)."""
    message = body.get("message") if isinstance(body, dict) else None
    written: Json = {
        "type": "RESTResponse",
        "transaction_id": request.transaction_id,
        "request_id": request.request_id,
        "status_code": status,
        "reason_phrase": reason_phrase(request, status, message),
        "uri": request.path,
    }
    if body is not None:
        written |= {"content_type": JSON_BODY, "message_body": _compact(body)}
    return written


def not_acceptable(request: RestRequest) -> Json:
    """A request whose answer is a file (a stored recording's): Asterisk sends no file on a WebSocket."""
    return answer(request, 406, None) | {"reason_phrase": "Not Acceptable.  Use HTTP GET"}


def _compact(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


# The phrases Asterisk's handlers give where they differ from HTTP's own (res/ari/*.c, res/res_ari.c):
# (status, message pattern, uri pattern, phrase), the first match wins. The phrase is not in an HTTP
# answer's JSON, but it is in a RESTResponse.
_PHRASES = (
    (404, "Bridge not found", "bridges/*", "Not found"),  # find_bridge(), for all but GET bridges/{id}
    (404, "Provided variable was not found", "bridges/*", "Not Found"),
    (404, "Provided variable was not found", "*", "Variable Not Found"),
    (404, "Provided channel was not found", "*", "Channel Not Found"),
    (404, "Provided bridge was not found", "*", "Bridge Not Found"),
    (400, "Required parameter 'endpoint' not provided.", "*", "Not Found"),
    (400, "Invalid reason for hangup reason provided", "*", "Invalid Reason"),
    (400, "Invalid reason for hangup reason code provided", "*", "Invalid Reason Code"),
    (400, "Invalid destination recording name", "*", "Bad request"),
    (400, "* of object '*' failed field value validation", "*", "Bad request"),
    (400, "Fields must be provided to update object '*'", "*", "Bad request"),
    (500, "Unable to read provided function", "*", "Error With Function"),
    (500, "Failed to delete the mailbox", "*", "INternal Server Error"),
    (500, "Snoop channel could not be created", "*", "Internal error"),
    (500, "Allocation Error", "*", "Internal Error"),
    (500, "Sounds index not available", "*", "Internal Error"),
    (500, "Unable to create bridge*", "*", "Internal Error"),
    (500, "Could not *", "*", "Internal Error"),
    (500, "Failed to put * into the bridge", "*", "Internal Error"),
    (500, "Failed to get control snapshot", "*", "Internal Error"),
)


def reason_phrase(request: RestRequest, status: int, message: str | None) -> str:
    if message == "Bridge not found" and request.method == "GET" and request.path.count("/") == 1:
        return "Not Found"  # ast_ari_bridges_get's own words
    for code, pattern, uri, phrase in _PHRASES:
        matches = message is not None and fnmatch.fnmatchcase(message, pattern)
        if status == code and matches and fnmatch.fnmatchcase(request.path, uri):
            return phrase
    if message == "Can't upgrade to websocket from a websocket":
        return "Bad request"
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


async def carry_out(
    session: aiohttp.ClientSession, url: str, upgrade: web.Request, request: RestRequest
) -> Json | None:
    """Carry a request out on the simulator's own routes at `url`, with the credentials and Host of the
    WebSocket's upgrade (and its `api_key`, as Asterisk adds it), and make its RESTResponse; None if the
    simulator fell over on it (as Asterisk does on a few: see channel_routes.py)."""
    if request.method == "GET" and request.path == "events":
        return answer(request, 400, {"message": "Can't upgrade to websocket from a websocket"})
    if request.path.startswith("/") and not request.path.endswith("/"):
        return answer(request, 405, {"message": "Invalid method"})  # an empty first segment: the root's
    headers = {name: upgrade.headers[name] for name in ("Authorization", "Host") if name in upgrade.headers}
    query = list(request.query)
    if "api_key" in upgrade.query:
        query.append(("api_key", upgrade.query["api_key"]))
    try:
        async with session.request(
            request.method, f"{url}/ari/{request.path}", params=query, headers=headers,
            json=request.body if request.body is not None else None,
        ) as got:  # fmt: skip
            raw = await got.read()
            if got.content_type != JSON_BODY:
                return not_acceptable(request) if got.status < 300 and raw else answer(request, got.status, None)
            return answer(request, got.status, json.loads(raw) if raw else None)
    except aiohttp.ClientError:
        return None
