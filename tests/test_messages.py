"""The messages callers left, as staff see them: list, and mark done once the caller was called back."""

from __future__ import annotations

import json
from pathlib import Path

from router.office.messages import Message, MessageStore
from tests.conftest import local
from tests.test_cli import SHIPPED, run


def test_staff_list_messages_and_mark_them_done(tmp_path: Path) -> None:
    store = MessageStore(tmp_path / "messages.sqlite3")
    store.save(Message("c1", "1818", "12345678", local("2024-12-24T10:31"), "msg-c1", 7))
    store.save(Message("c2", "1818", "87654321", local("2024-12-27T09:05"), "msg-c2", None))
    store.close()
    data = ["--schedule", SHIPPED, "--data", str(tmp_path)]
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
    assert "no messages at" in result.stderr
