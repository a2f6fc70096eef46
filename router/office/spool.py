"""Keeping a caller's message when the store cannot take it: a few tries, then the local disk.

Theory of operation. A message is kept once it is committed somewhere that survives a crash: the
store (the normal case), or, when the store does not answer (PostgreSQL restarting, or down), a
spool directory on this machine's disk. `keep()` tries the store a few times, over about as long
as a PostgreSQL restart takes, then writes the spool entry (the audio, then the message as JSON,
each fsync'd, then the directory: the JSON's presence means the entry is whole). Only then does
the caller hear that the message was received; if neither worked, the caller hears that it was
not. `Spool.keep_draining()` moves entries into the store when it answers again. The store
ignores a message id it has, so an entry moved twice (a crash between the commit and the unlink)
is stored once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from router.office.messages import Message, MessageStore, loggable

log = logging.getLogger(__name__)

TRIES = 3  # the store's tries before the spool, PAUSE seconds apart (the caller waits in silence)
PAUSE = 0.5
DRAIN_SECONDS = 2.0
UNREADABLE = ".unreadable"


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, message: Message, notify: tuple[str, ...], audio: bytes | None) -> None:
        """Write an entry and make it durable (blocking)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stem = self.directory / hashlib.sha256(message.id.encode()).hexdigest()[:32]
        if audio is not None:
            _write_durably(stem.with_suffix(".wav"), audio)
        entry = {
            "id": message.id,
            "line": message.line,
            "caller": message.caller,
            "caller_name": message.caller_name,
            "received_at": message.received_at.isoformat(),
            "recording": message.recording,
            "seconds": message.seconds,
            "notify": list(notify),
            "audio": audio is not None,
        }
        _write_durably(stem.with_suffix(".json"), json.dumps(entry).encode())
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def waiting(self) -> int:
        """Entries not yet in the store."""
        return len(list(self.directory.glob("*.json"))) if self.directory.exists() else 0

    def drain(self, messages: MessageStore) -> int:
        """Move every entry into the store (blocking). Returns how many went; stops at the first
        failure of the store (the rest wait for the next round)."""
        moved = 0
        for path in sorted(self.directory.glob("*.json")) if self.directory.exists() else ():
            wav = path.with_suffix(".wav")
            try:
                entry = json.loads(path.read_text(encoding="utf-8"))
                audio = wav.read_bytes() if entry["audio"] else None
                message = Message(
                    entry["id"],
                    entry["line"],
                    entry["caller"],
                    datetime.fromisoformat(entry["received_at"]),
                    entry["recording"],
                    entry["seconds"],
                    caller_name=entry.get("caller_name", ""),  # an entry from before names were kept has none
                )
            except (OSError, ValueError, KeyError, TypeError) as e:
                # Set aside, not deleted, and not in the way of the others: someone must look at it.
                path.rename(path.with_name(path.name + UNREADABLE))
                log.error("spool: %s cannot be read (%s); set aside as %s%s", path.name, e, path.name, UNREADABLE)
                continue
            messages.save(message, tuple(entry["notify"]), audio)
            path.unlink()
            wav.unlink(missing_ok=True)
            moved += 1
            log.info("spool: message %s moved into the store", loggable(message.id))
        return moved

    async def keep_draining(
        self, messages: MessageStore, on_new: Callable[[], None], every: float = DRAIN_SECONDS
    ) -> None:
        """Drain every `every` seconds until cancelled."""
        failing = False
        while True:
            if self.waiting():
                try:
                    if await asyncio.to_thread(self.drain, messages):
                        on_new()
                    failing = False
                except Exception as e:
                    if not failing:
                        log.warning("spool: %d message(s) wait for the store (%s)", self.waiting(), e)
                    failing = True
            await asyncio.sleep(every)


async def keep(
    messages: MessageStore,
    spool: Spool | None,
    message: Message,
    notify: tuple[str, ...],
    audio: bytes | None,
    *,
    tries: int = TRIES,
    pause: float = PAUSE,
) -> str:
    """Commit `message` to the store, or else to the spool. Returns "store" or "spool"; raises if
    neither took it."""
    for attempt in range(1, tries + 1):
        try:
            await asyncio.to_thread(messages.save, message, notify, audio)
            return "store"
        except Exception as e:
            log.warning("message %s: the store did not take it (try %d: %s)", loggable(message.id), attempt, e)
            if attempt < tries:
                await asyncio.sleep(pause)
    if spool is None:
        raise RuntimeError("the store did not take the message, and there is no spool")
    await asyncio.to_thread(spool.put, message, notify, audio)
    log.warning("message %s: kept on local disk until the store answers", loggable(message.id))
    return "spool"


def _write_durably(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
