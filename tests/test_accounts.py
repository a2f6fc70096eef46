"""The console's accounts: Argon2 hashes, sessions that end, and `callrouter users` as an administrator uses it."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from router.office.accounts import SESSION_IDLE, SESSION_LONGEST, AccountError, AccountStore, User
from router.office.store import Store
from router.office.tables import metadata, users
from tests.conftest import embedded, local

T0 = local("2024-01-04T08:00")


def test_a_password_is_stored_as_an_argon2_hash_and_checked(store: Store, tmp_path: Path) -> None:
    accounts = AccountStore(store)
    accounts.add_user("anna", "staff", "en-lang-adgangskode")
    assert b"en-lang-adgangskode" not in on_disk(store, tmp_path)
    hashed = stored_hash(store, "anna")
    assert hashed.startswith("$argon2id$")
    assert accounts.check_password("anna", "en-lang-adgangskode") == User("anna", "staff")
    assert accounts.check_password("anna", "en-lang-adgangskodE") is None
    assert accounts.check_password("nobody", "en-lang-adgangskode") is None


def test_bad_accounts_are_refused_with_a_reason(store: Store) -> None:
    accounts = AccountStore(store)
    with pytest.raises(AccountError, match="at least 12"):
        accounts.add_user("anna", "staff", "kort")
    with pytest.raises(AccountError, match="staff or operator"):
        accounts.add_user("anna", "admin", "en-lang-adgangskode")
    with pytest.raises(AccountError, match="a user name is"):
        accounts.add_user("Anna Hansen", "staff", "en-lang-adgangskode")
    accounts.add_user("anna", "staff", "en-lang-adgangskode")
    with pytest.raises(AccountError, match="exists"):
        accounts.add_user("anna", "operator", "en-anden-adgangskode")
    assert accounts.users() == [User("anna", "staff")]


def test_an_outdated_hash_is_upgraded_at_the_next_sign_in(store: Store) -> None:
    weak = AccountStore(store, PasswordHasher(time_cost=1, memory_cost=8192))
    weak.add_user("anna", "staff", "en-lang-adgangskode")
    accounts = AccountStore(store)
    assert accounts.check_password("anna", "en-lang-adgangskode") is not None
    assert not PasswordHasher().check_needs_rehash(stored_hash(store, "anna"))


def test_a_session_ends_when_unused_after_a_working_day_and_with_a_new_password(store: Store, tmp_path: Path) -> None:
    accounts = AccountStore(store)
    user = accounts.add_user("ole", "operator", "ole-er-operatoer-her")
    token = accounts.start_session(user, T0)
    session = accounts.session(token, T0 + timedelta(minutes=5))
    assert session is not None
    assert (session.user, len(session.csrf) > 30) == (user, True)
    assert accounts.session("not-a-token", T0) is None
    assert accounts.session(token, T0 + timedelta(minutes=5) + SESSION_IDLE + timedelta(seconds=1)) is None
    # Kept in use, it still ends after a working day.
    token = accounts.start_session(user, T0)
    at = T0
    while at < T0 + SESSION_LONGEST - timedelta(hours=1):
        at += timedelta(hours=1)
        assert accounts.session(token, at) is not None
    assert accounts.session(token, T0 + SESSION_LONGEST + timedelta(minutes=1)) is None
    token = accounts.start_session(user, T0)
    accounts.set_password("ole", "ole-har-ny-adgangskode")
    assert accounts.session(token, T0) is None
    assert token.encode() not in on_disk(store, tmp_path)  # only its digest is kept


def on_disk(store: Store, data: Path) -> bytes:
    """Everything the store keeps: the embedded file's bytes (its write-ahead log included), or every
    row of every table in PostgreSQL, as text."""
    if not store.shared:
        return b"".join(p.read_bytes() for p in data.glob("callrouter.sqlite3*"))
    with store.begin() as db:
        return repr([db.execute(select(t)).all() for t in metadata.sorted_tables]).encode()


def stored_hash(store: Store, name: str) -> str:
    with store.begin() as db:
        hashed: str = db.execute(select(users.c.password).where(users.c.name == name)).scalar_one()
    return hashed


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
    assert run(tmp_path, "list").stdout == "anna\tstaff\t-\nole\toperator\t-\n"
    changed = run(tmp_path, "password", "anna", stdin="anna-har-ny-kode-nu\n")
    assert changed.returncode == 0
    with embedded(tmp_path) as site:
        assert AccountStore(site).check_password("anna", "anna-har-ny-kode-nu") is not None
    assert run(tmp_path, "remove", "ole").returncode == 0
    assert run(tmp_path, "remove", "ole").stderr.strip() == "callrouter: no user 'ole'"
    assert run(tmp_path, "list").stdout == "anna\tstaff\t-\n"


def test_an_operator_ties_an_account_to_the_staff_members_own_phone(tmp_path: Path) -> None:
    assert run(tmp_path, "add", "anna", "--role", "staff", stdin="en-lang-adgangskode\n").returncode == 0
    tied = run(tmp_path, "phone", "anna", "PJSIP/agent1")
    assert (tied.returncode, tied.stdout.strip()) == (0, "anna's phone is PJSIP/agent1")
    assert run(tmp_path, "list").stdout == "anna\tstaff\tPJSIP/agent1\n"
    with embedded(tmp_path) as site:
        accounts = AccountStore(site)
        user = accounts.check_password("anna", "en-lang-adgangskode")
        assert user == User("anna", "staff", "PJSIP/agent1")
        token = accounts.start_session(user, local("2024-01-04T12:00"))
        session = accounts.session(token, local("2024-01-04T12:01"))
        assert session is not None
        assert session.user.phone == "PJSIP/agent1"  # what "Ring op" will ring
    # Anything a dial string could read as more than one endpoint is refused, and changes nothing.
    for bad in ("agent1", "PJSIP/agent1&PJSIP/agent2", "PJSIP/x@trunk", "PJSIP/a,b", "PJSIP/", "SIP/agent1",
                "PJSIP/agent1\n", "PJSIP/agent\u202e1", "Local/1@ctx", "PJSIP/" + "a" * 65):  # fmt: skip
        refused = run(tmp_path, "phone", "anna", bad)
        assert refused.returncode == 1, bad
        assert "a phone is a PJSIP endpoint" in refused.stderr, bad
    assert run(tmp_path, "phone", "bo", "PJSIP/agent2").stderr.strip() == "callrouter: no user 'bo'"
    assert "give the phone" in run(tmp_path, "phone", "anna").stderr
    assert run(tmp_path, "phone", "anna", "none").stdout.strip() == "anna has no phone"
    assert run(tmp_path, "list").stdout == "anna\tstaff\t-\n"
