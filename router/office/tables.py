"""The office's tables, one schema for both backends (SQLite and PostgreSQL), in SQLAlchemy Core.

The migrations in office/migrations/ create and change these; this module is what the code reads
and writes through. Times are instants (`Instant`): stored in UTC, given back aware, so that order
in the database is order in time on both backends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator


class Instant(TypeDecorator[datetime]):
    """An aware datetime, kept as UTC (PostgreSQL: timestamptz; SQLite: ISO text without offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a naive time cannot be stored: {value!r}")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

messages = Table(
    "messages",
    metadata,
    Column("id", String, primary_key=True),
    Column("line", String, nullable=False),
    Column("caller", String, nullable=False),
    Column("received_at", Instant, nullable=False),
    Column("recording", String, nullable=False),  # its name in Asterisk, where it was recorded
    Column("seconds", Integer),
    Column("handled", Boolean, nullable=False, default=False),
    Column("handled_by", String),
    Column("handled_at", Instant),
    Column("caller_name", String, nullable=False, server_default=""),  # the call's CALLERID(name), if any
    Column("claimed_by", String),  # who said "Jeg ringer op", so colleagues leave it to them
    Column("claimed_until", Instant),  # when that claim lapses by itself
    # A queue's callback that could not be made: what was tried ("optaget, intet svar"); None for a message
    # a caller left.
    Column("callback", Text),
)
Index("messages_received_at", messages.c.received_at)

# The audio, apart from the message so that listing messages does not read it.
message_audio = Table(
    "message_audio",
    metadata,
    Column("message_id", String, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("wav", LargeBinary, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("message_id", String, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("recipients", Text, nullable=False),  # a JSON list
    Column("state", String, nullable=False, default="pending"),  # pending, sent, failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_try", Instant, nullable=False),
    Column("last_error", Text),
    Column("sent_at", Instant),
)

# Each "Ring op" from the console (calls/dialout.py): who, when, how it went, and a note of theirs.
dial_attempts = Table(
    "dial_attempts",
    metadata,
    Column("id", String, primary_key=True),
    Column("message_id", String, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("staff", String, nullable=False),
    Column("started", Instant, nullable=False),
    Column("outcome", String, nullable=False),  # talked, busy, no-answer, cancelled, staff-unanswered
    Column("seconds", Float),  # how long they talked; None if the citizen never answered
    Column("note", Text, nullable=False, server_default=""),
)
Index("dial_attempts_message", dial_attempts.c.message_id)

overrides = Table(
    "overrides",
    metadata,
    Column("line", String, primary_key=True),  # one override per line at a time
    Column("open", Boolean, nullable=False),
    Column("reason", String, nullable=False),
    Column("since", Instant, nullable=False),
    Column("until", Instant, nullable=False),
    Column("note", Text),
)

# The office's planned closures (schedule/planned.py): each day from `first` to `last`, from
# `start` to `end` minutes after local midnight (0 and 1440: the whole day).
planned_closures = Table(
    "planned_closures",
    metadata,
    Column("id", String, primary_key=True),
    Column("line", String, nullable=False),
    Column("first", Date, nullable=False),
    Column("last", Date, nullable=False),
    Column("start", Integer, nullable=False),
    Column("end", Integer, nullable=False),
    Column("reason", String, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("by", String, nullable=False),
    Column("at", Instant, nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("id", String, primary_key=True),
    Column("line", String, nullable=False),
    Column("arrived", Instant, nullable=False),
    Column("in_hours", Boolean, nullable=False),
    Column("outcome", String, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("waited", Float),
)
Index("calls_arrived", calls.c.arrived)

users = Table(
    "users",
    metadata,
    Column("name", String, primary_key=True),
    Column("role", String, nullable=False),
    Column("password", String, nullable=False),  # an Argon2id hash
    Column("phone", String),  # the staff member's own phone (PJSIP/agent1), which "Ring op" rings
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String, primary_key=True),
    Column("name", String, ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("csrf", String, nullable=False),
    Column("started", Instant, nullable=False),
    Column("last_seen", Instant, nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Instant, nullable=False),
    Column("name", String, nullable=False),
    Column("action", String, nullable=False),
    Column("detail", Text, nullable=False),
)

# A caller's message while it is being recorded: who and on which line, so that whichever router finds
# its recording in Asterisk after the router that made it died can store it (calls/reconcile.py).
recording_messages = Table(
    "recording_messages",
    metadata,
    Column("message_id", String, primary_key=True),
    Column("line", String, nullable=False),
    Column("caller", String, nullable=False),
    Column("arrived", Instant, nullable=False),
)

# The queues' callbacks (office/callbacks.py): a caller who keeps their place and is called back.
callbacks = Table(
    "callbacks",
    metadata,
    Column("id", String, primary_key=True),  # the caller's channel id (and the Asterisk's, as a message's)
    Column("line", String, nullable=False),
    Column("caller", String, nullable=False),  # the number the call came from ("" when hidden)
    Column("number", String, nullable=False),  # the number to call
    Column("arrived", Instant, nullable=False),  # the place in the queue
    Column("requested", Instant, nullable=False),
    Column("state", String, nullable=False),  # open, done, message
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt", Instant, nullable=False),
    Column("claimed_by", String),  # the node calling the citizen now ...
    Column("claimed_until", Instant),  # ... until then at most (a node that died leaves it to lapse)
    Column("outcomes", Text, nullable=False, server_default=""),  # the attempts' outcomes, comma-separated
    Column("ended", Instant),
)
Index("callbacks_state", callbacks.c.state, callbacks.c.line)

# Which router takes one Asterisk's calls (router/office/standby.py); read and written with SQL there.
active_lease = Table(
    "active_lease",
    metadata,
    Column("grp", String, primary_key=True),  # the Asterisk's entity id and the application
    Column("holder", String, nullable=False),
    Column("generation", BigInteger, nullable=False),
    Column("renewals", BigInteger, nullable=False),
)

# The console's failed sign-ins ("name:<name>" or "address:<address>"), shared by every node.
sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String, nullable=False),
    Column("at", Instant, nullable=False),
)
Index("sign_in_failures_key", sign_in_failures.c.key, sign_in_failures.c.at)

# In the order a copy must fill them (a row's parent first).
COPY_ORDER = (
    messages,
    message_audio,
    outbox,
    dial_attempts,
    callbacks,
    overrides,
    planned_closures,
    calls,
    users,
    sessions,
    audit,
)
