"""Callers' messages are personal data: they are deleted after the retention period, audio first.

A message's record is deleted only once its recording is gone from Asterisk (deleted now, or
already missing), so that no audio is ever left behind without a record pointing at it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from router.ari import AriError, AriNotFound, AriRest
from router.office.messages import MessageStore, loggable

log = logging.getLogger(__name__)

DEFAULT_DAYS = 30


async def purge(messages: MessageStore, rest: AriRest, older_than: datetime) -> int:
    """Delete messages received before `older_than`, with their audio. Returns how many went."""
    deleted = 0
    for message in await asyncio.to_thread(messages.received_before, older_than):
        try:
            await rest.delete_stored_recording(message.recording)
        except AriNotFound:
            pass  # already gone from Asterisk
        except AriError as e:
            log.warning(
                "retention: recording %s not deleted (%s); trying again later",
                loggable(message.recording),
                loggable(str(e)),
            )
            continue
        await asyncio.to_thread(messages.delete, message.id)
        deleted += 1
    if deleted:
        log.info("retention: deleted %d message(s) received before %s", deleted, older_than.isoformat())
    return deleted


async def keep_purging(
    messages: MessageStore, rest: AriRest, clock: Callable[[], datetime], days: int, every: float = 3600.0
) -> None:
    """Purge now and then every `every` seconds, until cancelled."""
    while True:
        try:
            await purge(messages, rest, clock() - timedelta(days=days))
        except Exception:  # a failed purge is retried at the next round; it must not stop the router
            log.exception("retention: purge failed")
        await asyncio.sleep(every)
