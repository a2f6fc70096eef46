"""The sender: e-mails every message's staff, retrying with backoff, across restarts, until the server takes it.

The outbox rows live in the message store (see office/messages.py for why they are written with
the message, and marked sent only after the server answered). This loop takes the due rows, the
audio from the store, and sends each while the store holds its row (`MessageStore.deliver()`: of
several nodes sharing the store, one sends each e-mail), then marks it. It wakes when a message is
saved, when a retry falls due, and every POLL_SECONDS regardless (a message another process added).

No e-mail may hold up another. One that can never go (the server refused it for good, or it could
not be made at all) is marked failed with the reason, at once: the office sees it (`/status`, the
metrics, the console) and can send it again (`MessageStore.resend()`). One whose try went wrong in a
way nobody foresaw is failed the same way, and the sender goes on with the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from router.ari import AriError, AriRest
from router.office import caller_id
from router.office.audio import audio_of
from router.office.mail import PermanentMailError, SmtpConfig, compose, send
from router.office.messages import Delivery, Message, MessageStore, PendingMail, loggable
from router.schedule import Schedule

log = logging.getLogger(__name__)

POLL_SECONDS = 30.0
STORE_RETRY = 5.0  # seconds between looks while the store does not answer


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
            with contextlib.suppress(SQLAlchemyError):
                counts = await asyncio.to_thread(self._messages.mail_counts)
                if counts.pending:
                    log.warning("mail: %d e-mail(s) wait, but no CALLROUTER_SMTP is configured", counts.pending)
            return
        store_failing = False
        while True:
            self.wake.clear()
            try:
                await self.send_due()
                delay = await self._until_next()
                store_failing = False
            except SQLAlchemyError as e:  # the e-mails wait in the store; look again soon
                if not store_failing:
                    log.warning("mail: the store does not answer (%s); trying again every %.0f s", e, STORE_RETRY)
                store_failing, delay = True, STORE_RETRY
            except Exception:
                log.exception("mail: sending failed")
                delay = STORE_RETRY
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)

    async def _until_next(self) -> float:
        """Seconds until the next pending e-mail is due, at most POLL_SECONDS."""
        due = await asyncio.to_thread(self._messages.next_mail_due)
        if due is None:
            return POLL_SECONDS
        return min(max((due - self._clock()).total_seconds(), 0.05), POLL_SECONDS)

    async def send_due(self) -> int:
        """Send every e-mail that is due. Returns how many the server accepted."""
        assert self._smtp is not None
        accepted = 0
        for pending in await asyncio.to_thread(self._messages.due_mail, self._clock()):
            try:
                accepted += await self._send_one(self._smtp, pending)
            except SQLAlchemyError:
                raise  # the store does not answer: every e-mail waits for it
            except Exception as e:  # a bug around one e-mail: the others go on
                log.exception("mail: sending the e-mail for message %s failed", loggable(pending.message.id))
                self.failures += 1
                failed = self._failed(pending.message, f"could not be sent: {type(e).__name__}: {e}")
                await asyncio.to_thread(self._messages.record, pending.message.id, failed)
        return accepted

    async def _send_one(self, smtp: SmtpConfig, pending: PendingMail) -> bool:
        message = pending.message
        try:
            audio = await audio_of(self._messages, self._rest, message)  # None: the e-mail still says who called
        except AriError as e:
            await self._retry(pending, f"Asterisk did not give the recording: {e}")
            return False
        schedule = self._schedule()
        line = schedule.lines.get(message.line)
        line_name = line.name if line else ""

        def attempt(held: PendingMail) -> Delivery:  # in a thread, while the store holds the e-mail
            try:
                mail = compose(held.message, held.recipients, smtp.sender, schedule.tz, line_name, audio)
                refused = send(smtp, mail)
            except PermanentMailError as e:
                return self._failed(message, f"refused by the mail server: {e}")
            except (OSError, smtplib.SMTPException) as e:
                return self._next_try(held, f"{type(e).__name__}: {e}")
            except Exception as e:  # it would fail the same way every time: give up on this one only
                log.exception("mail: the e-mail for message %s could not be made or sent", loggable(message.id))
                return self._failed(message, f"could not be made or sent: {type(e).__name__}: {e}")
            if refused:
                log.warning("mail: message %s sent, but refused for some recipients: %s", loggable(message.id), refused)
            return Delivery("sent", self._clock())

        outcome = await asyncio.to_thread(self._messages.deliver, message.id, attempt)
        if outcome is None:
            return False  # no longer pending, or another node's sender has it now
        if outcome.state != "sent":
            self.failures += 1
            return False
        self.sent += 1
        log.info("mail: message %s e-mailed to %d recipient(s)", loggable(message.id), len(pending.recipients))
        return True

    def _failed(self, message: Message, error: str) -> Delivery:
        shown = caller_id.display(loggable(error), 500)  # one line, whatever the error quoted
        log.error("mail: the e-mail for message %s is failed: %s", loggable(message.id), shown)
        return Delivery("failed", None, error)

    def _next_try(self, pending: PendingMail, error: str) -> Delivery:
        wait = self._backoff.after(pending.attempts + 1)
        log.warning(
            "mail: message %s not sent (%s); trying again in %.1f s",
            loggable(pending.message.id),
            loggable(error),
            wait.total_seconds(),
        )
        return Delivery("pending", self._clock() + wait, error)

    async def _retry(self, pending: PendingMail, error: str) -> None:
        self.failures += 1
        await asyncio.to_thread(self._messages.record, pending.message.id, self._next_try(pending, error))
