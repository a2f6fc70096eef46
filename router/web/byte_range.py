"""A message's audio over HTTP with single byte ranges (RFC 9110, section 14), so a player can seek.

The audio comes from the store (or Asterisk) as bytes, not from a file, so aiohttp's FileResponse,
which answers ranges for files, does not apply; its parser does (`request.http_range`). One range
gets 206 and Content-Range; a range that starts past the end gets 416 with `bytes */<length>`; a
header in another unit, several ranges, or an If-Range for another version gets the whole (a
server may ignore a Range it does not serve, section 14.2).
"""

from __future__ import annotations

import hashlib
import re

from aiohttp import hdrs, web

EMPTY_SUFFIX = re.compile(r"bytes=-0+", re.IGNORECASE)  # the last 0 bytes: parsed as the whole, yet unsatisfiable


def ranged(request: web.Request, data: bytes, content_type: str) -> web.Response:
    """`data`, or the part of it the request's Range asks for."""
    etag = hashlib.blake2b(data, digest_size=12).hexdigest()  # a player's If-Range names the version it has
    headers = {hdrs.ACCEPT_RANGES: "bytes", hdrs.ETAG: f'"{etag}"'}
    asked = request.headers.get(hdrs.RANGE, "")
    if_range = request.headers.get(hdrs.IF_RANGE)
    if not asked.lower().startswith("bytes=") or "," in asked or (if_range is not None and if_range != f'"{etag}"'):
        return web.Response(body=data, content_type=content_type, headers=headers)
    size = len(data)
    try:
        wanted = request.http_range  # a slice: bytes=10-19 is 10:20, bytes=-5 is -5:None
    except ValueError:
        wanted = None
    if EMPTY_SUFFIX.fullmatch(asked.strip()):
        wanted = None
    if wanted is None or wanted.start is None or wanted.start >= size or (wanted.start < 0 and size == 0):
        headers[hdrs.CONTENT_RANGE] = f"bytes */{size}"
        return web.Response(status=416, headers=headers)
    start = max(0, size + wanted.start) if wanted.start < 0 else wanted.start
    stop = size if wanted.stop is None else min(wanted.stop, size)
    headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{stop - 1}/{size}"
    return web.Response(status=206, body=data[start:stop], content_type=content_type, headers=headers)
