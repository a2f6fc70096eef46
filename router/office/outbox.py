"""The sender: e-mails every message's staff, retrying with backoff, across restarts, until the server takes it.

The outbox rows live in the message store (see office/messages.py for why they are written with
the message, and marked sent only after the server answered). This loop takes the due rows, fetches
the recording from Asterisk, sends, and marks. It wakes when a message is saved, when a retry falls
due, and every POLL_SECONDS regardless (a message the CLI or another process added).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from router.ari import AriError, AriNotFound, AriRest
from router.office.mail import PermanentMailError, SmtpConfig, compose, send
from router.office.messages import MessageStore, PendingMail, loggable
from router.schedule import Schedule

log = logging.getLogger(__name__)

POLL_SECONDS = 30.0


@dataclass(frozen=True)
class Backoff:
    first: float = 5.0  # seconds before the second try
    longest: float = 600.0  # the wait doubles up to this

    def after(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.first * 2 ** max(attempts - 1, 0), self.longest))


class MailSender:
    def __init__(
        self,
        messages: MessageStore,
        rest: AriRest,
        smtp: SmtpConfig | None,
        schedule: Callable[[], Schedule],
        clock: Callable[[], datetime],
        backoff: Backoff = Backoff(),
    ) -> None:
        self._messages, self._rest, self._smtp = messages, rest, smtp
        self._schedule, self._clock, self._backoff = schedule, clock, backoff
        self.wake = asyncio.Event()
        self.sent = 0  # e-mails the server accepted, since the start
        self.failures = 0  # tries that did not get through

    async def run(self) -> None:
        if self._smtp is None:
            counts = await asyncio.to_thread(self._messages.mail_counts)
            if counts.pending:
                log.warning("mail: %d e-mail(s) wait to be sent, but no CALLROUTER_SMTP is configured", counts.pending)
            return
        while True:
            self.wake.clear()
            try:
                await self.send_due()
            except Exception:  # the store itself failed; try again at the next round
                log.exception("mail: sending failed")
            await self._sleep()

    async def _sleep(self) -> None:
        delay = POLL_SECONDS
        due = await asyncio.to_thread(self._messages.next_mail_due)
        if due is not None:
            delay = min(max((due - self._clock()).total_seconds(), 0.05), POLL_SECONDS)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), delay)

    async def send_due(self) -> int:
        """Send every e-mail that is due. Returns how many the server accepted."""
        assert self._smtp is not None
        accepted = 0
        for pending in await asyncio.to_thread(self._messages.due_mail, self._clock()):
            if await self._send_one(self._smtp, pending):
                accepted += 1
        return accepted

    async def _send_one(self, smtp: SmtpConfig, pending: PendingMail) -> bool:
        message = pending.message
        try:
            audio: bytes | None = await self._rest.stored_recording_file(message.recording)
        except AriNotFound:
            audio = None  # deleted in Asterisk: the e-mail still says who called
        except AriError as e:
            await self._retry(pending, f"Asterisk did not give the recording: {e}")
            return False
        schedule = self._schedule()
        line = schedule.lines.get(message.line)
        mail = compose(message, pending.recipients, smtp.sender, schedule.tz, line.name if line else "", audio)
        try:
            refused = await asyncio.to_thread(send, smtp, mail)
        except PermanentMailError as e:
            self.failures += 1
            log.error("mail: the e-mail for message %s was refused for good: %s", loggable(message.id), e)
            await asyncio.to_thread(self._messages.mail_failed, message.id, str(e))
            return False
        except (OSError, smtplib.SMTPException) as e:
            await self._retry(pending, f"{type(e).__name__}: {e}")
            return False
        if refused:
            log.warning("mail: message %s sent, but refused for some recipients: %s", loggable(message.id), refused)
        await asyncio.to_thread(self._messages.mail_sent, message.id, self._clock())
        self.sent += 1
        log.info("mail: message %s e-mailed to %d recipient(s)", loggable(message.id), len(pending.recipients))
        return True

    async def _retry(self, pending: PendingMail, error: str) -> None:
        self.failures += 1
        wait = self._backoff.after(pending.attempts + 1)
        log.warning(
            "mail: message %s not sent (%s); trying again in %.1f s",
            loggable(pending.message.id),
            loggable(error),
            wait.total_seconds(),
        )
        await asyncio.to_thread(self._messages.mail_retry, pending.message.id, self._clock() + wait, error)
