"""The office's store itself: its settings, its schema's migrations, and the files of older routers."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from router.office.accounts import AccountStore
from router.office.call_log import CallLog
from router.office.data_copy import TAKEN_IN
from router.office.messages import MessageStore
from router.office.overrides import OverrideStore
from router.office.store import StoreConfig, StoreError, open_store
from tests.conftest import embedded, local
from tests.test_cli import SHIPPED, run


def test_the_database_setting_is_checked_and_never_shows_the_password(tmp_path: Path) -> None:
    assert StoreConfig.from_env({}) == StoreConfig()
    with pytest.raises(StoreError, match="names a PostgreSQL database"):
        StoreConfig.from_env({"CALLROUTER_DATABASE": "mysql://db/x"})
    with pytest.raises(StoreError, match="not a database URL"):
        StoreConfig.from_env({"CALLROUTER_DATABASE": "db.kommune.local"})
    with pytest.raises(StoreError, match="must not carry the password"):
        StoreConfig.from_env({"CALLROUTER_DATABASE": "postgresql://callrouter:hemmelig@db/callrouter"})
    missing = str(tmp_path / "nowhere")
    with pytest.raises(StoreError, match="CALLROUTER_DATABASE_PASSWORD_FILE: cannot read"):
        StoreConfig.from_env(
            {"CALLROUTER_DATABASE": "postgresql://callrouter@db/x", "CALLROUTER_DATABASE_PASSWORD_FILE": missing}
        )
    secret = tmp_path / "password"
    secret.write_text("s3cret;&\n", encoding="utf-8")
    config = StoreConfig.from_env({"CALLROUTER_DATABASE": "postgresql://callrouter@db:5433/x",
                                   "CALLROUTER_DATABASE_PASSWORD_FILE": str(secret)})  # fmt: skip
    assert config.url is not None
    assert config.url.password == "s3cret;&"
    assert "s3cret" not in config.describe()
    assert "s3cret" not in repr(config)
    refused = run("--data", str(tmp_path), "db", "status", env={"CALLROUTER_DATABASE": "mysql://db/x"})
    assert (refused.returncode, refused.stderr.splitlines()[0][:40]) == (1, "callrouter: CALLROUTER_DATABASE names a ")


def test_db_upgrade_and_status_on_either_backend(tmp_path: Path, store_env: dict[str, str]) -> None:
    upgraded = run("--data", str(tmp_path), "db", "upgrade", env=store_env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.rstrip().endswith("schema 0004_dialout (the newest this router knows)")
    status = run("--data", str(tmp_path), "db", "status", env=store_env)
    assert status.stdout == upgraded.stdout


def test_a_database_of_a_newer_router_is_refused_not_guessed_at(tmp_path: Path) -> None:
    with embedded(tmp_path) as store, store.begin() as db:
        db.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="of a newer router"):
        open_store(StoreConfig(), tmp_path)


def test_the_files_of_an_older_router_are_taken_in_once(tmp_path: Path) -> None:
    """messages.sqlite3 (schema 2, with the outbox), calls.sqlite3, office.sqlite3 and overrides.json, as the
    router before the store wrote them."""
    old = sqlite3.connect(tmp_path / "messages.sqlite3")
    old.executescript(
        """CREATE TABLE messages (id TEXT PRIMARY KEY, line TEXT NOT NULL, caller TEXT NOT NULL,
            received_at TEXT NOT NULL, recording TEXT NOT NULL, seconds INTEGER, handled INTEGER NOT NULL DEFAULT 0,
            handled_by TEXT, handled_at TEXT);
        CREATE TABLE outbox (message_id TEXT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
            recipients TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
            next_try TEXT NOT NULL, last_error TEXT, sent_at TEXT);
        INSERT INTO messages VALUES ('c1', '1818', '12345678', '2024-01-04T12:30:00+01:00', 'msg-c1', 7, 1, 'anna',
            '2024-01-04T13:00:00+01:00');
        INSERT INTO messages VALUES ('c2', '1818', '87654321', '2024-01-04T12:40:00+01:00', 'msg-c2', NULL, 0, NULL,
            NULL);
        INSERT INTO outbox VALUES ('c2', '["opkraevning@example.dk"]', 'pending', 2, '2024-01-04T12:45:00+01:00',
            'SMTPServerDisconnected', NULL);
        PRAGMA user_version = 2;"""
    )
    old.close()
    calls = sqlite3.connect(tmp_path / "calls.sqlite3")
    calls.executescript(
        """CREATE TABLE calls (id TEXT PRIMARY KEY, line TEXT NOT NULL, arrived TEXT NOT NULL,
            in_hours INTEGER NOT NULL, outcome TEXT NOT NULL, seconds REAL NOT NULL, waited REAL);
        INSERT INTO calls VALUES ('c1', '1818', '2024-01-04T11:30:00+00:00', 0, 'message_left', 40.5, NULL);"""
    )
    calls.close()
    office = sqlite3.connect(tmp_path / "office.sqlite3")
    office.executescript(
        """CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, password TEXT NOT NULL);
        CREATE TABLE sessions (token_hash TEXT PRIMARY KEY, name TEXT NOT NULL, csrf TEXT NOT NULL,
            started TEXT NOT NULL, last_seen TEXT NOT NULL);
        CREATE TABLE audit (id INTEGER PRIMARY KEY, at TEXT NOT NULL, name TEXT NOT NULL, action TEXT NOT NULL,
            detail TEXT NOT NULL);
        INSERT INTO audit VALUES (1, '2024-01-04T13:00:00+01:00', 'anna', 'markerede ringet op', 'c1');"""
    )
    office.close()
    (tmp_path / "overrides.json").write_text(json.dumps([{
        "line": "1818", "open": False, "reason": "staff_shortage", "since": "2024-01-04T08:00:00+01:00",
        "until": "2024-01-04T17:00:00+01:00", "note": None,
    }]), encoding="utf-8")  # fmt: skip
    for _ in range(2):  # the second open finds nothing more to take in
        with embedded(tmp_path) as store:
            messages = MessageStore(store)
            first, second = messages.all()
            assert (first.id, first.handled, first.handled_by, first.handled_at) == (
                "c1",
                True,
                "anna",
                local("2024-01-04T13:00"),
            )
            assert (second.id, second.seconds, second.received_at) == ("c2", None, local("2024-01-04T12:40"))
            assert messages.mail_state("c2") == ("pending", 2, "SMTPServerDisconnected")
            assert messages.audio("c1") is None  # the audio of these is Asterisk's, where it was
            [call] = CallLog(store).between(local("2024-01-04T00:00"), local("2024-01-05T00:00"))
            assert (call.in_hours, call.seconds) == (False, 40.5)
            assert [e.action for e in AccountStore(store).audit_log()] == ["markerede ringet op"]
            assert [o.reason for o in OverrideStore(store).all()] == ["staff_shortage"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(TAKEN_IN)) == [
        f"{name}{TAKEN_IN}" for name in ("calls.sqlite3", "messages.sqlite3", "office.sqlite3", "overrides.json")
    ]
    listed = run("--schedule", SHIPPED, "--data", str(tmp_path), "messages", "list", "--all")
    assert "id c2" in listed.stdout, listed.stderr


def test_a_damaged_file_of_an_older_router_is_a_clear_error_and_is_kept(tmp_path: Path) -> None:
    (tmp_path / "overrides.json").write_text("[{", encoding="utf-8")
    with pytest.raises(StoreError, match=r"overrides\.json: cannot take it into the store"):
        embedded(tmp_path)
    assert (tmp_path / "overrides.json").read_text(encoding="utf-8") == "[{"  # not renamed, not lost
    shown = run("--schedule", SHIPPED, "--data", str(tmp_path), "messages", "list")
    assert (shown.returncode, shown.stderr.splitlines()[0][:40]) == (1, f"callrouter: {tmp_path}/overrides.json"[:40])
