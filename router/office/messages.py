"""Messages left by callers, and the e-mails that tell the staff about them.

In the office's store (office/store.py): a message whose save returned is committed, on disk or in
PostgreSQL. The audio is kept with it (`save(..., audio=)`), so that Asterisk, which recorded it,
need not keep it; a message from before the router kept audio has only the recording's name in
Asterisk.

Theory of operation of the outbox. A message and its "to be e-mailed" row are written in one
transaction, so there is never a message nobody will hear about, nor an e-mail about a message
that was not kept. The sender (office/outbox.py) takes the rows that are due, sends, and only then
marks them sent: a crash between the two sends the e-mail again, with the same Message-ID, so a
mailbox or a person sees it is the same one. A transient failure moves the row's next try further
away (backoff); a permanent refusal (a 5xx from the server) marks it failed, to be shown, not
retried for ever. Deleting a message deletes its row: no e-mail about a message staff deleted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update

from router.office import caller_id
from router.office.store import Store
from router.office.tables import dial_attempts, message_audio, messages, outbox


@dataclass(frozen=True)
class Message:
    id: str
    line: str
    caller: str
    received_at: datetime
    recording: str
    seconds: int | None
    handled: bool = False
    handled_by: str | None = None
    handled_at: datetime | None = None
    caller_name: str = ""  # the name the call carried (CALLERID(name)), if any
    claimed_by: str | None = None  # who said "Jeg ringer op" (see claimant())
    claimed_until: datetime | None = None
    callback: str | None = None  # a queue's callback that failed: what was tried (office/callbacks.py)

    def claimant(self, now: datetime) -> str | None:
        """Who is calling the citizen back now: a claim lapses by itself, so that a colleague who went
        home does not keep a message from the others."""
        if self.claimed_by is None or self.claimed_until is None or self.claimed_until <= now:
            return None
        return self.claimed_by


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    total: int  # how many match, on every page


@dataclass(frozen=True)
class PendingMail:
    message: Message
    recipients: tuple[str, ...]
    attempts: int  # tries so far


@dataclass(frozen=True)
class Delivery:
    """What came of a try to send a message's e-mail: sent (at), pending (tried again at), or failed."""

    state: Literal["sent", "pending", "failed"]
    at: datetime | None
    error: str | None = None


@dataclass(frozen=True)
class MailCounts:
    pending: int
    failed: int
    sent: int
    oldest_pending: datetime | None  # when the oldest unsent message was received


@dataclass(frozen=True)
class FailedMail:
    """An e-mail the router gave up on: the server refused it for good, or it could not be made."""

    message: Message
    attempts: int
    error: str


_FALLBACK_CALLER = re.compile(r"(fallback-[A-Za-z0-9_+-]+?-\d{8}T\d{6}Z-)[0-9+]*")


def loggable(text: str) -> str:
    """A message's id, or any text naming one (an ARI error's path), for logs and the audit log: without
    the caller's number, which the fallback dialplan's recordings carry at the end of their names
    (fallback-<line>-<time>-<caller>)."""
    return _FALLBACK_CALLER.sub(r"\1…", text)


class MessageStore:
    """Messages and their outbox. Thread-safe: the router calls it through asyncio.to_thread."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def save(self, message: Message, notify: tuple[str, ...] = (), audio: bytes | None = None) -> bool:
        """Store a message, its audio and, if anyone is to hear of it, its e-mail, together. Saving the
        same id again changes nothing (returns False)."""
        with self._store.begin() as db:
            # RETURNING, not the row count: through SQLAlchemy 2.1 and psycopg it came back -1 here.
            inserted = db.execute(
                self._store.insert_ignoring_duplicates(messages)
                .values(
                    id=message.id,
                    line=message.line,
                    caller=caller_id.stored(message.caller),
                    caller_name=caller_id.stored(message.caller_name),
                    callback=message.callback,
                    received_at=message.received_at,
                    recording=message.recording,
                    seconds=message.seconds,
                    handled=message.handled,
                    handled_by=message.handled_by,
                    handled_at=message.handled_at,
                )
                .returning(messages.c.id)
            )
            created = inserted.first() is not None
            if created and audio is not None:
                db.execute(message_audio.insert().values(message_id=message.id, wav=audio))
            if created and notify:
                db.execute(
                    outbox.insert().values(
                        message_id=message.id,
                        recipients=json.dumps(list(notify)),
                        state="pending",
                        attempts=0,
                        next_try=message.received_at,
                    )
                )
        return created

    def all(self) -> list[Message]:
        with self._store.begin() as db:
            rows = db.execute(select(*_COLUMNS).order_by(messages.c.received_at, messages.c.id)).all()
        return [_message(r) for r in rows]

    def listing(self, offset: int, limit: int, unhandled_only: bool = False, line: str | None = None) -> MessagePage:
        """A page of messages as the console lists them: the unhandled first, newest first in each; with
        how many there are in all (with the same filter)."""
        where: list[ColumnElement[bool]] = []
        if unhandled_only:
            where.append(messages.c.handled.is_(False))
        if line is not None:
            where.append(messages.c.line == line)
        order = (messages.c.handled, messages.c.received_at.desc(), messages.c.id.desc())
        with self._store.begin() as db:
            total = db.execute(select(func.count()).select_from(messages).where(*where)).scalar_one()
            rows = db.execute(select(*_COLUMNS).where(*where).order_by(*order).offset(offset).limit(limit)).all()
        return MessagePage([_message(r) for r in rows], total)

    def get(self, message_id: str) -> Message | None:
        with self._store.begin() as db:
            row = db.execute(select(*_COLUMNS).where(messages.c.id == message_id)).first()
        return None if row is None else _message(row)

    def audio(self, message_id: str) -> bytes | None:
        """The message's audio, if the store has it (older messages' audio is only in Asterisk)."""
        with self._store.begin() as db:
            wav = db.execute(select(message_audio.c.wav).where(message_audio.c.message_id == message_id)).scalar()
        return None if wav is None else bytes(wav)

    def received_before(self, instant: datetime) -> list[Message]:
        """Messages older than `instant` (for deleting them after the retention period)."""
        with self._store.begin() as db:
            rows = db.execute(select(*_COLUMNS).where(messages.c.received_at < instant)).all()
        return [_message(r) for r in rows]

    def received_between(self, start: datetime, end: datetime) -> list[Message]:
        """Messages received in [start, end) (the statistics' "ringet op")."""
        with self._store.begin() as db:
            where = (messages.c.received_at >= start, messages.c.received_at < end)
            rows = db.execute(select(*_COLUMNS).where(*where).order_by(messages.c.received_at)).all()
        return [_message(r) for r in rows]

    def delete(self, message_id: str) -> bool:
        with self._store.begin() as db:
            db.execute(delete(outbox).where(outbox.c.message_id == message_id))
            db.execute(delete(message_audio).where(message_audio.c.message_id == message_id))
            db.execute(delete(dial_attempts).where(dial_attempts.c.message_id == message_id))
            return db.execute(delete(messages).where(messages.c.id == message_id)).rowcount == 1

    def mark_handled(self, message_id: str, by: str | None = None, at: datetime | None = None) -> bool:
        """Mark a message as dealt with (the caller was called back), by whom and when; its claim ends.
        False if there is no such message."""
        with self._store.begin() as db:
            changed = db.execute(
                update(messages)
                .where(messages.c.id == message_id)
                .values(handled=True, handled_by=by, handled_at=at, claimed_by=None, claimed_until=None)
            )
            return changed.rowcount == 1

    def mark_unhandled(self, message_id: str) -> bool:
        """Undo `mark_handled` (it was pressed on the wrong message). False if there is no such message."""
        with self._store.begin() as db:
            changed = db.execute(
                update(messages)
                .where(messages.c.id == message_id)
                .values(handled=False, handled_by=None, handled_at=None)
            )
            return changed.rowcount == 1

    def claim(self, message_id: str, by: str, now: datetime, until: datetime) -> str | None:
        """Claim a message for `by` until `until`: one statement, so that of two colleagues pressing at
        once (on two nodes too) exactly one has it. Returns who holds it afterwards (`by`, if the claim
        was free, lapsed or already theirs; the colleague otherwise), None if there is no such message."""
        free = or_(messages.c.claimed_by.is_(None), messages.c.claimed_until <= now, messages.c.claimed_by == by)
        with self._store.begin() as db:
            db.execute(
                update(messages).where(messages.c.id == message_id, free).values(claimed_by=by, claimed_until=until)
            )
            row = db.execute(select(*_COLUMNS).where(messages.c.id == message_id)).first()
        return None if row is None else _message(row).claimant(now)

    def release(self, message_id: str, by: str) -> bool:
        """End `by`'s claim on a message. False if they did not hold it."""
        with self._store.begin() as db:
            changed = db.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.claimed_by == by)
                .values(claimed_by=None, claimed_until=None)
            )
            return changed.rowcount == 1

    # The outbox.

    def due_mail(self, now: datetime, limit: int = 20) -> list[PendingMail]:
        """E-mails to send now: pending, their next try reached; oldest message first. Read only: a
        sender takes each with `deliver()`."""
        with self._store.begin() as db:
            rows = db.execute(self._due(now, limit)).all()
        return [_pending(r) for r in rows]

    def deliver(self, message_id: str, attempt: Callable[[PendingMail], Delivery]) -> Delivery | None:
        """Hold the e-mail of `message_id` while `attempt` (blocking: the SMTP exchange) sends it, then
        record what came of it. None if it is no longer pending, or another node's sender holds it.

        On PostgreSQL the row is locked (FOR UPDATE SKIP LOCKED) in a transaction that stays open until
        the outcome is committed: another node's sender skips it, and if this process dies, the lock
        ends with its connection, so whoever looks next sends it at once (with the same Message-ID).
        The embedded store has one router (standby.py's lock), and holds no transaction open across
        the exchange, which would make every other writer wait for the mail server."""
        query = (
            select(*_COLUMNS, outbox.c.recipients, outbox.c.attempts)
            .join(outbox, outbox.c.message_id == messages.c.id)
            .where(outbox.c.message_id == message_id, outbox.c.state == "pending")
        )
        if not self._store.shared:
            with self._store.begin() as db:
                row = db.execute(query).first()
            if row is None:
                return None
            outcome = attempt(_pending(row))
            self.record(message_id, outcome)
            return outcome
        with self._store.begin() as db:
            row = db.execute(query.with_for_update(of=outbox, skip_locked=True)).first()
            if row is None:
                return None
            outcome = attempt(_pending(row))
            db.execute(_outcome(message_id, outcome))
        return outcome

    def _due(self, now: datetime, limit: int) -> Any:
        return (
            select(*_COLUMNS, outbox.c.recipients, outbox.c.attempts)
            .join(outbox, outbox.c.message_id == messages.c.id)
            .where(and_(outbox.c.state == "pending", outbox.c.next_try <= now))
            .order_by(messages.c.received_at, messages.c.id)
            .limit(limit)
        )

    def next_mail_due(self) -> datetime | None:
        """When the next pending e-mail is due, if any is pending."""
        with self._store.begin() as db:
            due: datetime | None = db.execute(
                select(func.min(outbox.c.next_try)).where(outbox.c.state == "pending")
            ).scalar()
        return due

    def record(self, message_id: str, outcome: Delivery) -> None:
        """Note what came of a try that `deliver()` did not hold (the audio could not be had)."""
        with self._store.begin() as db:
            db.execute(_outcome(message_id, outcome))

    def mail_state(self, message_id: str) -> tuple[str, int, str | None] | None:
        """(state, attempts, last error) of a message's e-mail, or None if it has none."""
        with self._store.begin() as db:
            row = db.execute(
                select(outbox.c.state, outbox.c.attempts, outbox.c.last_error).where(outbox.c.message_id == message_id)
            ).first()
        return None if row is None else (row[0], row[1], row[2])

    def mail_counts(self) -> MailCounts:
        with self._store.begin() as db:
            counts: dict[str, int] = dict(
                db.execute(select(outbox.c.state, func.count()).group_by(outbox.c.state)).all()
            )
            oldest = db.execute(
                select(func.min(messages.c.received_at))
                .join(outbox, outbox.c.message_id == messages.c.id)
                .where(outbox.c.state == "pending")
            ).scalar()
        return MailCounts(counts.get("pending", 0), counts.get("failed", 0), counts.get("sent", 0), oldest)

    def failed_mail(self) -> list[FailedMail]:
        """The e-mails that were given up on, oldest message first, with why."""
        with self._store.begin() as db:
            rows = db.execute(
                select(*_COLUMNS, outbox.c.attempts, outbox.c.last_error)
                .join(outbox, outbox.c.message_id == messages.c.id)
                .where(outbox.c.state == "failed")
                .order_by(messages.c.received_at, messages.c.id)
            ).all()
        return [FailedMail(_message(r), r.attempts, r.last_error or "") for r in rows]

    def resend(self, message_id: str, now: datetime) -> bool:
        """Send a failed e-mail again, now, as a new one (its tries counted from zero). False if the
        message has no failed e-mail (none, or it is pending or sent)."""
        with self._store.begin() as db:
            changed = db.execute(
                update(outbox)
                .where(outbox.c.message_id == message_id, outbox.c.state == "failed")
                .values(state="pending", attempts=0, next_try=now)
            )
            return changed.rowcount == 1


_COLUMNS = (
    messages.c.id,
    messages.c.line,
    messages.c.caller,
    messages.c.received_at,
    messages.c.recording,
    messages.c.seconds,
    messages.c.handled,
    messages.c.handled_by,
    messages.c.handled_at,
    messages.c.caller_name,
    messages.c.claimed_by,
    messages.c.claimed_until,
    messages.c.callback,
)


def _message(row: Any) -> Message:  # a Row of _COLUMNS
    return Message(
        row.id,
        row.line,
        row.caller,
        row.received_at,
        row.recording,
        row.seconds,
        bool(row.handled),
        row.handled_by,
        row.handled_at,
        row.caller_name,
        row.claimed_by,
        row.claimed_until,
        row.callback,
    )


def _outcome(message_id: str, outcome: Delivery) -> Any:
    error = caller_id.stored(outcome.error) if outcome.error is not None else None  # it may quote a caller id
    values: dict[str, Any] = {"state": outcome.state, "attempts": outbox.c.attempts + 1, "last_error": error}
    if outcome.state == "sent":
        values["sent_at"] = outcome.at
    elif outcome.state == "pending":
        values["next_try"] = outcome.at
    # Only a pending e-mail changes: one another node marked sent meanwhile stays sent.
    return update(outbox).where(outbox.c.message_id == message_id, outbox.c.state == "pending").values(**values)


def _pending(row: Any) -> PendingMail:  # a Row of _due()
    return PendingMail(_message(row), tuple(json.loads(row.recipients)), row.attempts)
