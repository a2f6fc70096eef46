"""A thin, typed ARI client on aiohttp: REST calls (`rest`) and the events WebSocket (`events`).

Why our own: the ARI library usually named for Python (ari-py) is Python 2 only, and the async ones we
tried do not reconnect their WebSocket (one spins in a busy loop when it closes), or need Asterisk's
swagger files at run time and crash on an event they do not know. The surface a router needs is small.
"""

from router.ari.config import AriConfig, AriConfigError
from router.ari.errors import (
    CALL_MOVED_ON,
    AriBadRequest,
    AriConflict,
    AriError,
    AriFenced,
    AriNotFound,
    AriRequestError,
    AriServerError,
    AriUnavailable,
    AriUnprocessable,
)
from router.ari.events import ApplicationReplacedError, Backoff, Event, EventStream, MalformedEvent, parse_event
from router.ari.rest import AriRest
from router.ari.retry import Retry, SeenIds, within

__all__ = [
    "CALL_MOVED_ON",
    "ApplicationReplacedError",
    "AriBadRequest",
    "AriConfig",
    "AriConfigError",
    "AriConflict",
    "AriError",
    "AriFenced",
    "AriNotFound",
    "AriRequestError",
    "AriRest",
    "AriServerError",
    "AriUnavailable",
    "AriUnprocessable",
    "Backoff",
    "Event",
    "EventStream",
    "MalformedEvent",
    "Retry",
    "SeenIds",
    "parse_event",
    "within",
]
