"""The console's accounts: Argon2 hashes, sessions that end, and `callrouter users` as an administrator uses it."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from router.office.accounts import SESSION_IDLE, SESSION_LONGEST, AccountError, AccountStore, User
from tests.conftest import local

T0 = local("2024-01-04T08:00")


def test_a_password_is_stored_as_an_argon2_hash_and_checked(tmp_path: Path) -> None:
    store = AccountStore(tmp_path / "office.sqlite3")
    store.add_user("anna", "staff", "en-lang-adgangskode")
    assert b"en-lang-adgangskode" not in on_disk(tmp_path)
    [(hashed,)] = store._db.execute("SELECT password FROM users").fetchall()
    assert hashed.startswith("$argon2id$")
    assert store.check_password("anna", "en-lang-adgangskode") == User("anna", "staff")
    assert store.check_password("anna", "en-lang-adgangskodE") is None
    assert store.check_password("nobody", "en-lang-adgangskode") is None


def test_bad_accounts_are_refused_with_a_reason(tmp_path: Path) -> None:
    store = AccountStore(tmp_path / "office.sqlite3")
    with pytest.raises(AccountError, match="at least 12"):
        store.add_user("anna", "staff", "kort")
    with pytest.raises(AccountError, match="staff or operator"):
        store.add_user("anna", "admin", "en-lang-adgangskode")
    with pytest.raises(AccountError, match="a user name is"):
        store.add_user("Anna Hansen", "staff", "en-lang-adgangskode")
    store.add_user("anna", "staff", "en-lang-adgangskode")
    with pytest.raises(AccountError, match="exists"):
        store.add_user("anna", "operator", "en-anden-adgangskode")
    assert store.users() == [User("anna", "staff")]


def test_an_outdated_hash_is_upgraded_at_the_next_sign_in(tmp_path: Path) -> None:
    weak = AccountStore(tmp_path / "office.sqlite3", PasswordHasher(time_cost=1, memory_cost=8192))
    weak.add_user("anna", "staff", "en-lang-adgangskode")
    weak.close()
    store = AccountStore(tmp_path / "office.sqlite3")
    assert store.check_password("anna", "en-lang-adgangskode") is not None
    [(hashed,)] = store._db.execute("SELECT password FROM users").fetchall()
    assert not PasswordHasher().check_needs_rehash(hashed)


def test_a_session_ends_when_unused_after_a_working_day_and_with_a_new_password(tmp_path: Path) -> None:
    store = AccountStore(tmp_path / "office.sqlite3")
    user = store.add_user("ole", "operator", "ole-er-operatoer-her")
    token = store.start_session(user, T0)
    session = store.session(token, T0 + timedelta(minutes=5))
    assert session is not None
    assert (session.user, len(session.csrf) > 30) == (user, True)
    assert store.session("not-a-token", T0) is None
    assert store.session(token, T0 + timedelta(minutes=5) + SESSION_IDLE + timedelta(seconds=1)) is None
    # Kept in use, it still ends after a working day.
    token = store.start_session(user, T0)
    at = T0
    while at < T0 + SESSION_LONGEST - timedelta(hours=1):
        at += timedelta(hours=1)
        assert store.session(token, at) is not None
    assert store.session(token, T0 + SESSION_LONGEST + timedelta(minutes=1)) is None
    token = store.start_session(user, T0)
    store.set_password("ole", "ole-har-ny-adgangskode")
    assert store.session(token, T0) is None
    assert token.encode() not in on_disk(tmp_path)  # only its digest is kept


def on_disk(data: Path) -> bytes:
    """The store's bytes, its write-ahead log included."""
    return b"".join(p.read_bytes() for p in data.glob("office.sqlite3*"))


def run(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", "--data", str(data), "users", *args],
        input=stdin, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_callrouter_users_reads_the_password_from_stdin_never_the_command_line(tmp_path: Path) -> None:
    added = run(tmp_path, "add", "anna", "--role", "staff", stdin="en-lang-adgangskode\n")
    assert (added.returncode, added.stdout.strip()) == (0, "user anna added as staff")
    short = run(tmp_path, "add", "ole", "--role", "operator", stdin="kort\n")
    assert (short.returncode, short.stderr.strip()) == (1, "callrouter: a password is at least 12 characters")
    no_role = run(tmp_path, "add", "ole", stdin="ole-er-operatoer-her\n")
    assert no_role.returncode == 1
    assert "--role" in no_role.stderr
    assert run(tmp_path, "add", "ole", "--role", "operator", stdin="ole-er-operatoer-her\n").returncode == 0
    assert run(tmp_path, "list").stdout == "anna\tstaff\nole\toperator\n"
    changed = run(tmp_path, "password", "anna", stdin="anna-har-ny-kode-nu\n")
    assert changed.returncode == 0
    store = AccountStore(tmp_path / "office.sqlite3")
    assert store.check_password("anna", "anna-har-ny-kode-nu") is not None
    assert run(tmp_path, "remove", "ole").returncode == 0
    assert run(tmp_path, "remove", "ole").stderr.strip() == "callrouter: no user 'ole'"
    assert run(tmp_path, "list").stdout == "anna\tstaff\n"
