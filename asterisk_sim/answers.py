"""What every part of the simulated Asterisk answers with: JSON objects, Asterisk's refusals, its times."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

Json = dict[str, Any]
# The version the simulator says it is: that of the Asterisk it is checked against (Debian's 22.10.1 build,
# tests/test_sim_fidelity.py), in its Server header and in GET /asterisk/info.
VERSION = "22.10.1+dfsg+~cs6.17.60671434-1"


class AriFault(Exception):
    """A REST request that Asterisk would refuse: status and Asterisk's message."""

    def __init__(self, status: int, message: str, *, key: str = "message") -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.key = key  # "error" for ast_ari_response_alloc_failed's answer, {"error": "Allocation failed"}

    def json(self) -> Json:
        return {self.key: self.message}


def allocation_failed() -> AriFault:
    """What Asterisk answers when it could not make what was asked (ast_ari_response_alloc_failed), for
    instance a channel to an endpoint that does not exist."""
    return AriFault(500, "Allocation failed", key="error")


def now_text() -> str:
    """A time as Asterisk writes one in ARI: milliseconds, and the zone as +0000."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def ok(data: Any = None, status: int = 200) -> web.Response:
    """A success: the JSON given, or 204 No Content for none."""
    if data is None:
        return web.Response(status=204)
    return web.json_response(data, status=status)


def atoi(text: str) -> int:
    """An integer parameter as Asterisk reads one (atoi): its leading digits, else 0."""
    found = re.match(r"^\s*([+-]?\d+)", text)
    return int(found.group(1)) if found else 0


def app_args(request: web.Request) -> list[str]:
    """`appArgs`: the arguments an application is started with, comma-separated, none empty."""
    return [arg for arg in request.query.get("appArgs", "").split(",") if arg]
