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
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from router.office.messages import open_database

Role = Literal["staff", "operator"]
ROLES: tuple[Role, ...] = ("staff", "operator")
MIN_PASSWORD = 12
SESSION_IDLE = timedelta(hours=2)  # a session unused this long ends
SESSION_LONGEST = timedelta(hours=12)  # and every session ends after a working day
_NAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")


class AccountError(Exception):
    """An account that cannot be made or changed; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role

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
    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self._lock = threading.Lock()
        self._hasher = hasher or PasswordHasher()
        self._db = open_database(path, synchronous="FULL")
        self._db.executescript(
            """CREATE TABLE IF NOT EXISTS users (
                name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS sessions (
                token_hash TEXT PRIMARY KEY, name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
                csrf TEXT NOT NULL, started TEXT NOT NULL, last_seen TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS audit (
                id INTEGER PRIMARY KEY, at TEXT NOT NULL, name TEXT NOT NULL, action TEXT NOT NULL,
                detail TEXT NOT NULL);"""
        )
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
        with self._lock:
            if self._db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AccountError(f"user {name!r} exists; to change the password, use `callrouter users password`")
            self._db.execute("INSERT INTO users VALUES (?, ?, ?)", (name, role, self._hasher.hash(password)))
        return User(name, role)  # role is one of ROLES: checked above

    def set_password(self, name: str, password: str) -> None:
        _check_password(password)
        with self._lock:
            cursor = self._db.execute(
                "UPDATE users SET password = ? WHERE name = ?", (self._hasher.hash(password), name)
            )
            if cursor.rowcount != 1:
                raise AccountError(f"no user {name!r}")
            self._db.execute("DELETE FROM sessions WHERE name = ?", (name,))  # signed out everywhere

    def remove_user(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE name = ?", (name,))
            if self._db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount != 1:
                raise AccountError(f"no user {name!r}")

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("SELECT name, role FROM users ORDER BY name").fetchall()
        return [User(name, role) for name, role in rows]

    def check_password(self, name: str, password: str) -> User | None:
        """The user, if `password` is theirs. Takes as long for an unknown name as for a wrong password."""
        with self._lock:
            row = self._db.execute("SELECT role, password FROM users WHERE name = ?", (name,)).fetchone()
        try:
            self._hasher.verify(row[1] if row else self._dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        if self._hasher.check_needs_rehash(row[1]):
            with self._lock:
                self._db.execute("UPDATE users SET password = ? WHERE name = ?", (self._hasher.hash(password), name))
        return User(name, row[0])

    # Sessions.

    def start_session(self, user: User, now: datetime) -> str:
        """A new session for `user`; returns the token for the browser's cookie."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?)",
                (_hash(token), user.name, secrets.token_urlsafe(32), now.isoformat(), now.isoformat()),
            )
        return token

    def session(self, token: str, now: datetime) -> Session | None:
        """The session of `token` if it is still valid (and notes that it was used now)."""
        with self._lock:
            row = self._db.execute(
                "SELECT s.name, u.role, s.csrf, s.started, s.last_seen FROM sessions s "
                "JOIN users u ON u.name = s.name WHERE s.token_hash = ?",
                (_hash(token),),
            ).fetchone()
            if row is None:
                return None
            started, last_seen = datetime.fromisoformat(row[3]), datetime.fromisoformat(row[4])
            if now - last_seen > SESSION_IDLE or now - started > SESSION_LONGEST:
                self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (_hash(token),))
                return None
            self._db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now.isoformat(), _hash(token)))
        return Session(User(row[0], row[1]), row[2], started)

    def end_session(self, token: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (_hash(token),))

    # The audit log.

    def audit(self, at: datetime, user: str, action: str, detail: str = "") -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (at, name, action, detail) VALUES (?, ?, ?, ?)",
                (at.isoformat(), user, action, detail),
            )

    def audit_log(self, limit: int = 200) -> list[AuditEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, name, action, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [AuditEntry(datetime.fromisoformat(at), name, action, detail) for at, name, action, detail in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password is at least {MIN_PASSWORD} characters")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
