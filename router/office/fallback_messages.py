"""Messages left while the router was down: the fallback dialplan's recordings, taken into the store once.

The fallback (dialplan/extensions_callrouter.conf) records into Asterisk's stored recordings as
`fallback-<line>-<UTC time>-<caller>`. Once the router is back, this finds them, and stores each as
a message whose id is the recording's name, with its audio, then deletes it in Asterisk: saving
the same id twice is a no-op, so however often and by however many routers this runs, each message
is listed and e-mailed exactly once. It then lives under the same retention as any other message.

A recording is taken only when it is older than the dialplan's longest message (plus a margin):
Record() writes the file while the caller speaks, and half a message must not be e-mailed.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import wave
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from router.ari import AriError, AriNotFound, AriRest
from router.office.messages import Message, MessageStore, loggable
from router.schedule import Schedule

log = logging.getLogger(__name__)

# Record(...,6,120,k) in the fallback dialplan: at most 120 s of message, after the beep.
SETTLED = timedelta(seconds=150)
EVERY_SECONDS = 60.0
_NAME = re.compile(r"^fallback-(?P<line>[A-Za-z0-9_+-]+)-(?P<at>\d{8}T\d{6}Z)-(?P<caller>[0-9+]*)$")


def parse_name(name: str) -> tuple[str, datetime, str] | None:
    """(line, when, caller) of a fallback recording's name, or None for any other recording."""
    found = _NAME.match(name)
    if found is None:
        return None
    at = datetime.strptime(found["at"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return found["line"], at, found["caller"]


def wav_seconds(data: bytes) -> int | None:
    try:
        with wave.open(io.BytesIO(data)) as audio:
            frames: int = audio.getnframes()
            rate: int = audio.getframerate()
            return round(frames / rate)
    except (wave.Error, EOFError, ZeroDivisionError):
        return None


async def pick_up(
    messages: MessageStore, rest: AriRest, schedule: Schedule, now: datetime, on_new: Callable[[], None]
) -> int:
    """Store the fallback's messages not yet stored. Returns how many were new."""
    known = {m.id for m in await asyncio.to_thread(messages.all)}
    new = 0
    for recording in await rest.list_stored_recordings():
        parsed = parse_name(recording.name)
        if parsed is None or recording.name in known:
            continue
        line, at, caller = parsed
        if now - at < SETTLED:
            continue  # perhaps still being recorded; the next round takes it
        try:
            audio = await rest.stored_recording_file(recording.name)
        except AriNotFound:
            continue  # deleted meanwhile
        found = schedule.lines.get(line)
        message = Message(recording.name, line, caller, at, recording.name, wav_seconds(audio))
        if await asyncio.to_thread(messages.save, message, found.notify if found else (), audio):
            new += 1
            log.info("fallback: message %s (left while the router was down) stored", loggable(recording.name))
        try:  # committed with its audio: Asterisk need not keep it
            await rest.delete_stored_recording(recording.name)
        except AriError as e:
            log.warning("fallback: recording %s stored, not deleted in Asterisk: %s", loggable(recording.name), e)
    if new:
        on_new()
    return new


async def keep_picking_up(
    messages: MessageStore,
    rest: AriRest,
    schedule: Callable[[], Schedule],
    clock: Callable[[], datetime],
    connected: Callable[[], bool],
    on_new: Callable[[], None],
    every: float = EVERY_SECONDS,
) -> None:
    """Look for the fallback's messages now and every `every` seconds while connected, until cancelled."""
    while True:
        if not connected():
            await asyncio.sleep(1.0)
            continue
        try:
            await pick_up(messages, rest, schedule(), clock(), on_new)
        except AriError as e:
            log.warning("fallback: could not list Asterisk's recordings (%s); trying again later", e)
        except SQLAlchemyError as e:  # they stay in Asterisk until the store answers
            log.warning("fallback: the store does not answer (%s); trying again later", type(e).__name__)
        except Exception:
            log.exception("fallback: picking up messages failed")
        await asyncio.sleep(every)
