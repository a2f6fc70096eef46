"""A message's audio, wherever it is: the store keeps it since the router moves it out of Asterisk;
older messages (and one whose move did not happen) have it only in Asterisk's stored recordings."""

from __future__ import annotations

import asyncio

from router.ari import AriNotFound, AriRest
from router.office.messages import Message, MessageStore


async def audio_of(messages: MessageStore, rest: AriRest, message: Message) -> bytes | None:
    """The audio, or None if neither the store nor Asterisk has it. Raises AriError if Asterisk,
    asked, did not answer."""
    stored = await asyncio.to_thread(messages.audio, message.id)
    if stored is not None:
        return stored
    try:
        return await rest.stored_recording_file(message.recording)
    except AriNotFound:
        return None
