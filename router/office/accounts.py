"""The console's people: local accounts, their sessions, and the audit log of who did what.

Passwords are hashed with Argon2id (argon2-cffi, the reference implementation's binding) and the
hash is upgraded when its parameters are out of date. A session is a random token in the browser's
cookie; the store keeps only its SHA-256, so a copy of the database opens no session. Each session
has its own CSRF token, which every form that changes something must carry back.

The audit log names the person, the action and the object (a message by its id, a line), never a
caller's number: who called is in the message itself, for those allowed to see it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from router.office.roles import ROLES, Role
from router.office.store import Store
from router.office.tables import audit, sessions, sign_in_failures, users

MIN_PASSWORD = 12
SESSION_IDLE = timedelta(hours=2)  # a session unused this long ends
SESSION_LONGEST = timedelta(hours=12)  # and every session ends after a working day
_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
# A staff member's own phone, as Asterisk dials it: a PJSIP endpoint's name, nothing a dial string could
# read as more (no `&` for a second phone, no `/` or `@` for another trunk, no `,` for options).
PHONE = re.compile(r"PJSIP/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)


class AccountError(Exception):
    """An account that cannot be made or changed; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    phone: str | None = None  # the PJSIP endpoint that "Ring op" rings (PJSIP/agent1), if tied to one

    @property
    def may_change_the_line(self) -> bool:
        return self.role == "operator"


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    started: datetime


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    user: str
    action: str
    detail: str


class AccountStore:
    def __init__(self, store: Store, hasher: PasswordHasher | None = None) -> None:
        self._store = store
        self._hasher = hasher or PasswordHasher()
        # A dummy hash to verify against when the name is unknown, so that a wrong name and a wrong
        # password take the same time.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    # Accounts.

    def add_user(self, name: str, role: str, password: str) -> User:
        if not _NAME.match(name):
            raise AccountError(f"a user name is 2 to 32 of a-z, 0-9 and . _ -, starting with a letter; not {name!r}")
        if role not in ROLES:
            raise AccountError(f"a role is staff or operator, not {role!r}")
        _check_password(password)
        hashed = self._hasher.hash(password)
        try:
            with self._store.begin() as db:
                db.execute(insert(users).values(name=name, role=role, password=hashed))
        except IntegrityError:
            raise AccountError(
                f"user {name!r} exists; to change the password, use `callrouter users password`"
            ) from None
        return User(name, role)  # role is one of ROLES: checked above

    def set_password(self, name: str, password: str) -> None:
        _check_password(password)
        hashed = self._hasher.hash(password)
        with self._store.begin() as db:
            if db.execute(update(users).where(users.c.name == name).values(password=hashed)).rowcount != 1:
                raise AccountError(f"no user {name!r}")
            db.execute(delete(sessions).where(sessions.c.name == name))  # signed out everywhere

    def remove_user(self, name: str) -> None:
        with self._store.begin() as db:
            db.execute(delete(sessions).where(sessions.c.name == name))
            if db.execute(delete(users).where(users.c.name == name)).rowcount != 1:
                raise AccountError(f"no user {name!r}")

    def set_phone(self, name: str, phone: str | None) -> None:
        """Tie an account to the staff member's own phone (None: untie it)."""
        if phone is not None and not PHONE.fullmatch(phone):
            raise AccountError(f"a phone is a PJSIP endpoint, PJSIP/ and its name (PJSIP/agent1); not {phone!r}")
        with self._store.begin() as db:
            if db.execute(update(users).where(users.c.name == name).values(phone=phone)).rowcount != 1:
                raise AccountError(f"no user {name!r}")

    def users(self) -> list[User]:
        with self._store.begin() as db:
            rows = db.execute(select(users.c.name, users.c.role, users.c.phone).order_by(users.c.name)).all()
        return [User(name, role, phone) for name, role, phone in rows]

    def check_password(self, name: str, password: str) -> User | None:
        """The user, if `password` is theirs. Takes as long for an unknown name as for a wrong password."""
        with self._store.begin() as db:
            row = db.execute(select(users.c.role, users.c.password, users.c.phone).where(users.c.name == name)).first()
        try:
            self._hasher.verify(row[1] if row else self._dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self._hasher.check_needs_rehash(row[1]):
            with self._store.begin() as db:
                db.execute(update(users).where(users.c.name == name).values(password=self._hasher.hash(password)))
        return User(name, row[0], row[2])

    # Sessions.

    def start_session(self, user: User, now: datetime) -> str:
        """A new session for `user`; returns the token for the browser's cookie."""
        token = secrets.token_urlsafe(32)
        with self._store.begin() as db:
            db.execute(
                insert(sessions).values(
                    token_hash=_hash(token), name=user.name, csrf=secrets.token_urlsafe(32), started=now, last_seen=now
                )
            )
        return token

    def session(self, token: str, now: datetime) -> Session | None:
        """The session of `token` if it is still valid (and notes that it was used now)."""
        key = _hash(token)
        with self._store.begin() as db:
            row = db.execute(
                select(
                    sessions.c.name,
                    users.c.role,
                    users.c.phone,
                    sessions.c.csrf,
                    sessions.c.started,
                    sessions.c.last_seen,
                )
                .join(users, users.c.name == sessions.c.name)
                .where(sessions.c.token_hash == key)
            ).first()
            if row is None:
                return None
            if now - row.last_seen > SESSION_IDLE or now - row.started > SESSION_LONGEST:
                db.execute(delete(sessions).where(sessions.c.token_hash == key))
                return None
            db.execute(update(sessions).where(sessions.c.token_hash == key).values(last_seen=now))
        return Session(User(row.name, row.role, row.phone), row.csrf, row.started)

    def end_session(self, token: str) -> None:
        with self._store.begin() as db:
            db.execute(delete(sessions).where(sessions.c.token_hash == _hash(token)))

    # Failed sign-ins, shared by every node of a site: the console's limit holds across nodes and restarts.

    def sign_in_failures(self, key: str, since: datetime) -> list[datetime]:
        """When `key` ("name:..." or "address:...") failed to sign in since `since`, oldest first."""
        with self._store.read() as db:
            rows = db.execute(
                select(sign_in_failures.c.at)
                .where(sign_in_failures.c.key == key, sign_in_failures.c.at > since)
                .order_by(sign_in_failures.c.at)
            ).all()
        return [at for (at,) in rows]

    def note_sign_in_failure(self, keys: Sequence[str], at: datetime, forget_before: datetime) -> None:
        """Note a failed sign-in under each of `keys`; failures older than `forget_before` are dropped."""
        with self._store.begin() as db:
            db.execute(delete(sign_in_failures).where(sign_in_failures.c.at <= forget_before))
            db.execute(insert(sign_in_failures), [{"key": key, "at": at} for key in keys])

    def forget_sign_in_failures(self, key: str) -> None:
        with self._store.begin() as db:
            db.execute(delete(sign_in_failures).where(sign_in_failures.c.key == key))

    # The audit log.

    def audit(self, at: datetime, user: str, action: str, detail: str = "") -> None:
        with self._store.begin() as db:
            db.execute(insert(audit).values(at=at, name=user, action=action, detail=detail))

    def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        with self._store.begin() as db:
            rows = db.execute(
                select(audit.c.at, audit.c.name, audit.c.action, audit.c.detail)
                .order_by(audit.c.id.desc())
                .limit(limit)
            ).all()
        return [AuditEntry(at, name, action, detail) for at, name, action, detail in rows]


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password is at least {MIN_PASSWORD} characters")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
