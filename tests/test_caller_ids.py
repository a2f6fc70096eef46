"""Whatever a caller's phone or the trunk sends as caller id or name (line breaks, NUL, ESC, bidi
overrides, zero-width characters, lone surrogates, 10 kB, `../../`, HTML) goes the whole way: kept,
e-mailed through a real SMTP server, shown in the console and by `callrouter messages list`, logged,
and given back by the API as it came. Each place gets its own safe form (router/office/caller_id.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
import time
import unicodedata
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.cli import main as cli
from router.office import caller_id
from router.office.messages import Message, MessageStore
from router.schedule import Schedule
from router.web.http_api import ApiConfig
from tests.ari_helpers import outcome_of
from tests.conftest import ROOT, embedded
from tests.console_client import Visitor, make_accounts
from tests.mail_server import MailServer
from tests.test_mail import FAST_RETRY, STAFF, message_id, smtp
from tests.test_router_sim import CLOSED, simulator, start

TOKEN = "t" * 32
ODD = [
    "\r\n", "\r", "\n", "\x00", "\x07", "\x1b[2J", "\x7f", "\x85", "\u2028", "\u2029", "\v", "\f", "\t",
    "\u202e", "\u2066", "\u200b", "\u200d", "\ufeff", "\ud800", "\udfff", "../../etc/passwd", "..\\..\\x",
    "<script>alert(1)</script>", "&amp;", "\"'", "=?utf-8?q?x?=", " ", "12345678", "+4512345678",
]  # fmt: skip
PIECES = st.one_of(st.text(max_size=20), st.sampled_from(ODD))
TEXTS = st.one_of(
    st.lists(PIECES, max_size=6).map("".join),
    PIECES.map(lambda piece: (piece * 10_000)[:10_000] if piece else "x" * 10_000),  # 10 kB
)
HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"}
HEADERS = ["Auto-Submitted", "Content-Type", "Date", "From", "MIME-Version", "Message-ID", "Subject", "To"]


def who(caller: str, name: str, form: Callable[[str], str] = caller_id.display) -> str:
    """The caller as the e-mail names them (from what the store keeps)."""
    shown = form(caller) if caller else "skjult nummer"
    if form(name) and name != caller:
        shown += f" ({form(name)})"
    return shown


def shows_nothing_hidden(text: str) -> bool:
    return not any(unicodedata.category(c) in HIDDEN for c in text)


async def test_any_caller_id_goes_the_whole_way_safely(
    shipped: Schedule, tmp_path: Path, mail_server: MailServer
) -> None:
    make_accounts(tmp_path)
    config = dict(smtp=smtp(mail_server), mail_backoff=FAST_RETRY, api=ApiConfig("127.0.0.1", 0, TOKEN))
    async with (
        simulator(shipped) as sim,
        start(sim, shipped, tmp_path, CLOSED, **config) as router,
        aiohttp.ClientSession() as http,
    ):
        assert router.api_url is not None
        base = router.api_url
        visitor = Visitor(base, http)
        assert await visitor.sign_in("anna") == 303
        cookie = "; ".join(f"{k}={v}" for k, v in visitor.cookies.items())
        loop = asyncio.get_running_loop()
        store = MessageStore(embedded(tmp_path))
        made: list[str] = []

        def get(path: str, **headers: str) -> tuple[int, bytes]:
            with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers)) as answer:
                return int(answer.status), answer.read()

        @settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
        @given(caller=TEXTS, name=TEXTS)
        def whole_way(caller: str, name: str) -> None:
            message = Message(
                f"c{len(made)}", "1818", caller, CLOSED - timedelta(minutes=len(made)), "msg", 3, caller_name=name
            )
            made.append(message.id)
            assert store.save(message, (STAFF,), b"RIFF....WAVE")
            kept_caller, kept_name = caller_id.stored(caller), caller_id.stored(name)

            # The API gives back what came, but for what no store can hold (lone surrogates, NUL).
            _, body = get("/messages?all=1", Authorization=f"Bearer {TOKEN}")
            [listed] = [m for m in json.loads(body)["messages"] if m["id"] == message.id]
            assert (listed["caller"], listed["caller_name"]) == (kept_caller, kept_name)
            if not re.search("[\x00\ud800-\udfff]", caller):
                assert listed["caller"] == caller

            # The e-mail arrives, its header whole and its Subject as the caller id's display form.
            loop.call_soon_threadsafe(router.mail.wake.set)
            mail = _arrived(mail_server, message.id)
            assert sorted(mail.keys()) == HEADERS, "a header was split or added"
            assert mail["Subject"] == f"Ny besked på 1818 fra {who(kept_caller, kept_name, caller_id.header)}"
            body_part = mail.get_body(("plain",))
            assert body_part is not None
            assert f"Ring op til:  {who(kept_caller, kept_name)}" in body_part.get_content().splitlines()
            [attachment] = mail.iter_attachments()
            filename = attachment.get_filename()
            assert filename is not None
            assert re.fullmatch(r"besked-1818-\d{8}-\d{4}-[A-Za-z0-9+_]{1,32}\.wav", filename), filename

            # The console's pages render.
            for page in ("/ui/beskeder", "/ui/nu", "/ui/e-mail"):
                assert get(page, Cookie=cookie)[0] == 200, page

            # `messages list`: one line per message, nothing a terminal would act on.
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                cli(["--schedule", str(ROOT / "schedule.yaml"), "--data", str(tmp_path), "messages", "list", "--all"])
            printed = out.getvalue().split("\n")[:-1]
            assert len(printed) == len(made)
            [line] = [p for p in printed if p.endswith(f"id {message.id}")]
            assert shows_nothing_hidden(line)

            # The log line naming the call: one line, bounded.
            logged = logging.Formatter().format(
                _record("call %s from %s to %s", message.id, caller_id.masked(caller), "1818")
            )
            assert shows_nothing_hidden(logged)
            assert len(logged) < 100

        await asyncio.to_thread(whole_way)


def _arrived(server: MailServer, message: str) -> Any:
    for _ in range(200):
        found = [m for m in list(server.received) if m["Message-ID"] == message_id(message)]
        if found:
            return found[0]
        time.sleep(0.05)  # in the test's thread: the router's loop goes on
    raise AssertionError(f"the e-mail for {message} never arrived")


def _record(text: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("router.calls.runtime", logging.INFO, __file__, 0, text, args, None)


@pytest.mark.parametrize(
    ("caller", "shown", "name"),
    [
        ("12345678", "12345678", "12345678"),
        ("\u202e87654321", "⟨U+202E⟩87654321", "87654321"),
        ("1234\r\n", "1234␍␊", "1234"),
        ("\x00\x07\x1b\x7f\x85", "␀␇␛␡⟨U+0085⟩", "skjult"),
        ("a\u200bb\ufeff", "a⟨U+200B⟩b⟨U+FEFF⟩", "a_b"),
        ("../../etc/passwd", "../../etc/passwd", "etc_passwd"),
        ("=?utf-8?q?=0D=0A?=", "=?utf-8?q?=0D=0A?=", "utf_8_q_0D_0A"),
        ("\ud800", "⟨U+D800⟩", "skjult"),
        ("9" * 10_000, "9" * 63 + "…", "9" * 32),
    ],
)
def test_each_place_gets_its_own_form(caller: str, shown: str, name: str) -> None:
    assert caller_id.display(caller) == shown
    assert caller_id.filename(caller) == name
    assert "=?" not in caller_id.header(caller)
    assert "\n" not in caller_id.masked(caller)
    assert len(caller_id.masked(caller)) <= 20


async def test_a_failed_sign_in_logs_the_name_it_was_given_on_one_bounded_line(
    shipped: Schedule, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_accounts(tmp_path)
    async with (
        simulator(shipped) as sim,
        start(sim, shipped, tmp_path, CLOSED, api=ApiConfig("127.0.0.1", 0, TOKEN)) as router,
        aiohttp.ClientSession() as http,
    ):
        assert router.api_url is not None
        assert await Visitor(router.api_url, http).sign_in("x" * 900_000 + "\r\nforged line", "wrong") == 401
    [logged] = [r.getMessage() for r in caplog.records if "failed sign-in" in r.getMessage()]
    assert len(logged) < 200
    assert "\n" not in logged
    assert "\r" not in logged


async def test_a_dialled_line_with_a_line_break_is_logged_on_one_line(
    shipped: Schedule, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The dialled number comes from the trunk as the caller id does: a forged second log line in it
    stays inside the one line that names the call."""
    caplog.set_level(logging.INFO)
    async with simulator(shipped) as sim, start(sim, shipped, tmp_path, CLOSED) as router:
        dialled = "1818\r\nERROR forged" + "9" * 10_000
        call = sim.world.place_call("20000000", "1818", "router", [dialled]).id
        await outcome_of(router.runtime, call)
    logged = [r.getMessage() for r in caplog.records if call in r.getMessage()]
    assert logged
    for message in logged:
        assert "\n" not in message
        assert "\r" not in message
        assert len(message) < 500
