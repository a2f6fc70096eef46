"""The messages callers left, as staff see them: list, and mark done once the caller was called back."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from router.office.messages import Delivery, Message, MessageStore
from router.office.store import Store
from tests.conftest import local
from tests.test_cli import SHIPPED, run
from tests.test_cli import run as run_cli


def test_staff_list_messages_and_mark_them_done(tmp_path: Path, store: Store, store_env: dict[str, str]) -> None:
    messages = MessageStore(store)
    messages.save(Message("c1", "1818", "12345678", local("2024-12-24T10:31"), "msg-c1", 7))
    messages.save(Message("c2", "1818", "87654321", local("2024-12-27T09:05"), "msg-c2", None))
    data = ["--schedule", SHIPPED, "--data", str(tmp_path)]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=store_env)

    listed = run(*data, "messages", "list").stdout.splitlines()
    assert listed == [
        "Tue 2024-12-24 10:31 (+0100)  line 1818  from 12345678  7 s  id c1",
        "Fri 2024-12-27 09:05 (+0100)  line 1818  from 87654321  length unknown  id c2",
    ]
    assert run(*data, "messages", "done", "c1").stdout == "message c1: done\n"
    assert [row["id"] for row in json.loads(run(*data, "messages", "list", "--json").stdout)] == ["c2"]
    assert run(*data, "messages", "list", "--all").stdout.splitlines()[0].endswith("id c1  (done)")
    unknown = run(*data, "messages", "done", "c9")
    assert (unknown.returncode, unknown.stderr) == (1, "callrouter: no message with id 'c9'\n")


def test_messages_without_a_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    result = run("--schedule", SHIPPED, "--data", str(tmp_path / "nowhere"), "messages", "list")
    assert result.returncode == 1
    assert "no data in" in result.stderr


def test_a_message_keeps_its_audio_and_its_outbox_row_with_it(store: Store) -> None:
    messages = MessageStore(store)
    message = Message("c1", "1818", "12345678", local("2024-12-24T10:31"), "msg-c1", 7)
    assert messages.save(message, ("staff@example.dk",), b"RIFF....WAVE")
    assert not messages.save(message, ("staff@example.dk",), b"other")  # the same id: nothing changes
    assert messages.audio("c1") == b"RIFF....WAVE"
    assert messages.get("c1") == message
    assert messages.mail_state("c1") == ("pending", 0, None)
    assert messages.delete("c1")
    assert (messages.get("c1"), messages.audio("c1"), messages.mail_state("c1")) == (None, None, None)


def test_times_come_back_as_the_same_instants_in_order(store: Store) -> None:
    messages = MessageStore(store)
    winter = Message("w", "1818", "1", local("2024-12-24T10:31:05.250000"), "w", 1)
    summer = Message("s", "1818", "2", local("2024-07-01T08:00"), "s", 1)
    for message in (winter, summer):
        messages.save(message)
    assert [m.id for m in messages.all()] == ["s", "w"]
    assert messages.get("w") == winter  # the same instant, its microseconds included
    assert [m.id for m in messages.received_before(local("2024-08-01T00:00"))] == ["s"]


def test_any_caller_id_is_kept_and_a_failed_email_is_listed_and_sent_again(store: Store) -> None:
    # On both backends: NUL (PostgreSQL refuses it in text) and a lone surrogate (no UTF-8 has it)
    # become U+FFFD; everything else is kept as it came. Saving must not fail: the caller was told
    # the message was received.
    messages = MessageStore(store)
    odd = Message("c1", "1818", "\x00\u202e1234\r\n\ud800", local("2024-12-24T10:31"), "m", 7, caller_name="Ånä\x07")
    assert messages.save(odd, ("staff@example.dk",))
    kept = messages.get("c1")
    assert kept is not None
    assert (kept.caller, kept.caller_name) == ("\ufffd\u202e1234\r\n\ufffd", "Ånä\x07")
    messages.record("c1", Delivery("failed", None, "could not be made: \x00"))
    [failed] = messages.failed_mail()
    assert (failed.message.id, failed.attempts, failed.error) == ("c1", 1, "could not be made: \ufffd")
    assert messages.mail_counts().failed == 1
    assert messages.resend("c1", local("2024-12-24T11:00"))
    assert not messages.resend("c1", local("2024-12-24T11:00"))  # pending now, not failed
    assert [p.message.id for p in messages.due_mail(local("2024-12-24T11:00"))] == ["c1"]
    assert (messages.mail_state("c1"), messages.failed_mail()) == (("pending", 0, "could not be made: \ufffd"), [])


def test_a_claim_is_one_colleagues_until_released_or_lapsed(store: Store) -> None:
    """Two colleagues (two nodes on one store: one statement decides) cannot both have a message."""
    on_one, on_two = MessageStore(store), MessageStore(store)
    on_one.save(Message("m1", "1818", "12345678", local("2024-01-04T11:00"), "r1", 3))
    now = local("2024-01-04T13:00")
    until = now + timedelta(minutes=30)
    assert on_one.claim("m1", "anna", now, until) == "anna"
    assert on_two.claim("m1", "ole", now + timedelta(minutes=29), until + timedelta(minutes=29)) == "anna"
    message = on_two.get("m1")
    assert message is not None
    assert (message.claimant(now), message.claimant(until)) == ("anna", None)
    assert on_two.claim("m1", "ole", until, until + timedelta(minutes=30)) == "ole"  # hers lapsed
    assert not on_one.release("m1", "anna")  # no longer hers to release
    assert on_two.release("m1", "ole")
    assert on_one.claim("m1", "anna", until, until + timedelta(minutes=30)) == "anna"
    assert on_one.claim("nobody", "anna", now, until) is None
    on_one.mark_handled("m1", "anna", now)
    assert on_two.get("m1") == replace(message, handled=True, handled_by="anna", handled_at=now,
                                       claimed_by=None, claimed_until=None)  # fmt: skip
    assert on_two.mark_unhandled("m1")
    assert on_one.get("m1") == replace(message, claimed_by=None, claimed_until=None)
