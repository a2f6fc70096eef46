"""Every message reaches the staff by e-mail: composed in Danish, sent through a real SMTP server on
loopback (STARTTLS, AUTH), retried while the server is down, never lost and never silently doubled."""

from __future__ import annotations

import asyncio
import base64
import logging
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from hashlib import sha256
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from asterisk_sim import Simulator
from router.office.accounts import AccountStore
from router.office.mail import MailConfigError, SmtpConfig, compose, smtp_config_from_env
from router.office.messages import Message, MessageStore, loggable
from router.office.outbox import Backoff
from router.schedule import Schedule
from router.web.http_api import ApiConfig
from tests import real_asterisk
from tests.ari_helpers import until
from tests.conftest import CPH, ROOT, ROUTER_SIM, embedded, local, stored_messages
from tests.console_client import Visitor, hidden, make_accounts
from tests.mail_server import MailServer
from tests.router_process import router_process
from tests.test_router_sim import CLOSED, Harness, simulator, start

FAST_RETRY = Backoff(first=0.2, longest=0.5)
STAFF = "opkraevning@example.dk"  # the shipped schedule's notify address for 1818


@pytest_asyncio.fixture
async def sim(shipped: Schedule) -> AsyncIterator[Simulator]:
    async with simulator(shipped) as started:
        yield started


def smtp(server: MailServer) -> SmtpConfig:
    config = smtp_config_from_env(server.env())
    assert config is not None
    return config


# -- the e-mail itself --------------------------------------------------------------------


def test_the_email_says_who_to_call_back_when_and_carries_the_recording() -> None:
    message = Message("1704367800.42", "1818", "12345678", local("2024-01-04T12:30:05"), "msg-1", 42)
    mail = compose(message, (STAFF, "b@example.dk"), "telefon@kommune.dk", CPH, "Opkrævningskontoret", b"RIFF....")
    assert mail["Subject"] == "Ny besked på 1818 fra 12345678"
    assert mail["To"] == f"{STAFF}, b@example.dk"
    assert mail["Message-ID"] == f"<message.{sha256(b'1704367800.42').hexdigest()[:24]}@kommune.dk>"
    assert mail["Date"] == "Thu, 04 Jan 2024 12:30:05 +0100"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Ring op til:  12345678" in text
    assert "torsdag den 4. januar 2024 kl. 12.30" in text
    assert "42 sekunder" in text
    assert "Opkrævningskontoret" in text
    [attachment] = mail.iter_attachments()
    assert attachment.get_content_type() == "audio/wav"
    assert attachment.get_filename() == "besked-1818-20240104-1230-12345678.wav"
    assert attachment.get_content() == b"RIFF...."
    # The same message composes to the same e-mail: a resend is recognisably the same one.
    again = compose(message, (STAFF, "b@example.dk"), "telefon@kommune.dk", CPH, "Opkrævningskontoret", b"RIFF....")
    assert again.as_bytes() == mail.as_bytes()


def test_an_email_without_audio_says_so_and_a_hidden_number_is_named() -> None:
    message = Message("m2", "1818", "", local("2024-01-04T12:30"), "msg-2", 75)
    mail = compose(message, (STAFF,), "telefon@kommune.dk", CPH, "1818", None)
    assert mail["Subject"] == "Ny besked på 1818 fra skjult nummer"
    assert list(mail.iter_attachments()) == []
    body = mail.get_body(("plain",))
    assert body is not None
    assert "Optagelsen findes ikke længere" in body.get_content()
    assert "1 min. 15 sek." in body.get_content()


def test_smtp_settings_are_checked_and_the_password_never_shows(tmp_path: Path) -> None:
    assert smtp_config_from_env({}) is None
    with pytest.raises(MailConfigError, match="host:port"):
        smtp_config_from_env({"CALLROUTER_SMTP": "mail.kommune.dk"})
    with pytest.raises(MailConfigError, match="CALLROUTER_MAIL_FROM"):
        smtp_config_from_env({"CALLROUTER_SMTP": "mail.kommune.dk:587"})
    base = {"CALLROUTER_SMTP": "mail.kommune.dk:587", "CALLROUTER_MAIL_FROM": "telefon@kommune.dk"}
    with pytest.raises(MailConfigError, match="PASSWORD_FILE"):
        smtp_config_from_env({**base, "CALLROUTER_SMTP_USER": "telefon"})
    secret = tmp_path / "pw"
    secret.write_text("hemmeligt-kodeord\n")
    with_password = {**base, "CALLROUTER_SMTP_USER": "telefon", "CALLROUTER_SMTP_PASSWORD_FILE": str(secret)}
    with pytest.raises(MailConfigError, match="only over STARTTLS"):
        smtp_config_from_env({**with_password, "CALLROUTER_SMTP_TLS": "none"})
    config = smtp_config_from_env(with_password)
    assert config is not None
    assert config.password == "hemmeligt-kodeord"
    assert "hemmeligt" not in repr(config)


def test_a_bad_notify_address_is_a_clear_error_in_check(tmp_path: Path) -> None:
    text = (ROOT / "schedule.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "schedule.yaml"
    bad.write_text(text.replace("notify: [opkraevning@example.dk]", "notify: [opkraevning@example]"))
    result = subprocess.run(
        [sys.executable, "-m", "router", "check", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "notify:" in t)
    assert result.stderr.strip() == (
        f"callrouter: {bad}:{line}:14: lines.1818.notify[0]: 'opkraevning@example' is not an e-mail address like "
        "opkraevning@kommune.dk: the domain 'example' is not a name like kommune.dk"
    )


# -- sent by the router, through a real SMTP server -----------------------------------------


async def test_a_message_left_is_emailed_with_its_recording(
    sim: Simulator, shipped: Schedule, tmp_path: Path, mail_server: MailServer
) -> None:
    async with start(sim, shipped, tmp_path, CLOSED, smtp=smtp(mail_server), mail_backoff=FAST_RETRY) as router:
        call = await Harness(sim, router, tmp_path).leave_message()
        store = MessageStore(embedded(tmp_path))
        await until(lambda: (store.mail_state(call) or ("",))[0] == "sent", within=10)
    [mail] = mail_server.received
    assert mail["To"] == STAFF
    assert mail["Subject"] == "Ny besked på 1818 fra 12345678"
    assert mail["Message-ID"] == message_id(call)
    [attachment] = mail.iter_attachments()
    assert attachment.get_content_type() == "audio/wav"
    audio = attachment.get_content()
    assert audio[:4] == b"RIFF"
    assert audio == store.audio(call)  # what the caller said, moved from Asterisk into the store
    assert f"msg-{call}" not in sim.world.stored_recordings
    assert store.mail_state(call) == ("sent", 1, None)
    assert store.mail_counts().pending == 0


async def test_while_the_mail_server_is_down_the_email_waits_and_then_arrives_once(
    sim: Simulator, shipped: Schedule, tmp_path: Path, mail_server: MailServer
) -> None:
    mail_server.stop()
    config = dict(smtp=smtp(mail_server), mail_backoff=FAST_RETRY, api=ApiConfig("127.0.0.1", 0, "t" * 32))
    async with start(sim, shipped, tmp_path, CLOSED, **config) as router:
        call = await Harness(sim, router, tmp_path).leave_message()
        store = MessageStore(embedded(tmp_path))
        await until(lambda: (store.mail_state(call) or ("", 0, None))[1] >= 3, within=10)
        state, _, error = store.mail_state(call) or ("", 0, None)
        assert state == "pending"
        assert error is not None
        assert "Connection refused" in error
        assert router.api_url is not None
        status = await _get_json(router.api_url + "/status")
        assert status["mail"]["pending"] == 1
        assert status["mail"]["oldest_pending"] is not None
        assert "callrouter_mail_pending 1.0" in router.metrics.render().decode()
        shown = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "router", "status", "--api", router.api_url, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await shown.communicate()
        assert "  e-mail: 1 waiting to be sent, 0 failed (oldest waiting from 2024-01-04T12:30" in (out.decode())
        mail_server.start()
        await until(lambda: len(mail_server.received) == 1, within=10)
        await until(lambda: (store.mail_state(call) or ("",))[0] == "sent", within=5)
        await asyncio.sleep(1)  # no second e-mail comes after it
    assert len(mail_server.received) == 1


async def test_a_refused_address_is_failed_and_shown_not_retried_for_ever(
    sim: Simulator, shipped: Schedule, tmp_path: Path, mail_server: MailServer
) -> None:
    mail_server.refuse.add(STAFF)
    async with start(sim, shipped, tmp_path, CLOSED, smtp=smtp(mail_server), mail_backoff=FAST_RETRY) as router:
        call = await Harness(sim, router, tmp_path).leave_message()
        store = MessageStore(embedded(tmp_path))
        await until(lambda: (store.mail_state(call) or ("",))[0] == "failed", within=10)
        _, attempts, error = store.mail_state(call) or ("", 0, None)
        assert attempts == 1
        assert error is not None
        assert f"{STAFF}: 550" in error
        assert store.mail_counts().failed == 1


async def test_a_caller_id_with_a_line_break_holds_up_no_other_email(
    sim: Simulator, shipped: Schedule, tmp_path: Path, mail_server: MailServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The first caller's phone sent its number with CR LF (and ESC) in it; the second is an ordinary
    # caller whose call carries a name. Each e-mail arrives, and each Subject is one line.
    caplog.set_level(logging.INFO)
    async with start(sim, shipped, tmp_path, CLOSED, smtp=smtp(mail_server), mail_backoff=FAST_RETRY) as router:
        harness = Harness(sim, router, tmp_path)
        odd = await harness.leave_message("1234\x1b\r\n5678\r\n")
        plain = await harness.leave_message("87654321", name="Anna Jensen")
        store = MessageStore(embedded(tmp_path))
        await until(lambda: len(mail_server.received) == 2, within=10)
        await until(lambda: [(store.mail_state(c) or ("",))[0] for c in (odd, plain)] == ["sent", "sent"], within=5)
    first, second = sorted(mail_server.received, key=lambda m: m["Message-ID"] != message_id(odd))
    assert first["Subject"] == "Ny besked på 1818 fra 1234␛␍␊5678␍␊"
    assert "Ring op til:  1234␛␍␊5678␍␊" in _text(first).splitlines()
    [attachment] = first.iter_attachments()
    assert attachment.get_filename() == "besked-1818-20240104-1230-1234_5678.wav"
    assert second["Subject"] == "Ny besked på 1818 fra 87654321 (Anna Jensen)"
    assert "Ring op til:  87654321 (Anna Jensen)" in _text(second).splitlines()
    kept = {m.id: m for m in store.all()}
    assert kept[odd].caller == "1234\x1b\r\n5678\r\n"  # as it came
    assert (kept[plain].caller, kept[plain].caller_name) == ("87654321", "Anna Jensen")
    assert "call %s from %s to %s" in [r.msg for r in caplog.records]  # the line that names the caller
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("router")]
    split = [line for line in ours if any(c in line for c in "\r\n\x1b")]
    assert split == [], "a log line was split, or carries a control character"


async def test_an_email_given_up_on_is_counted_shown_and_sent_again_from_the_console(
    sim: Simulator, shipped: Schedule, tmp_path: Path, mail_server: MailServer
) -> None:
    mail_server.refuse.add(STAFF)  # an address that no longer exists: 550
    make_accounts(tmp_path)
    config = dict(smtp=smtp(mail_server), mail_backoff=FAST_RETRY, api=ApiConfig("127.0.0.1", 0, "t" * 32))
    async with (
        start(sim, shipped, tmp_path, CLOSED, **config) as router,
        aiohttp.ClientSession() as http,
    ):
        call = await Harness(sim, router, tmp_path).leave_message("\u202e87654321")
        store = MessageStore(embedded(tmp_path))
        await until(lambda: (store.mail_state(call) or ("",))[0] == "failed", within=10)
        assert router.api_url is not None
        status = await _get_json(router.api_url + "/status")
        assert (status["mail"]["pending"], status["mail"]["failed"]) == (0, 1)
        assert "callrouter_mail_failed 1.0" in router.metrics.render().decode()
        token = {"Authorization": "Bearer " + "t" * 32}
        async with http.get(router.api_url + "/mail/failed", headers=token) as response:
            [failed] = (await response.json())["failed"]
        assert (failed["message"]["id"], failed["message"]["caller"], failed["attempts"]) == (call, "\u202e87654321", 1)
        assert f"{STAFF}: 550" in failed["error"]
        async with http.post(router.api_url + f"/messages/{call}/mail", headers=token) as response:
            assert (response.status, await response.json()) == (200, {"id": call, "mail": "pending"})
        await until(lambda: store.mail_state(call) == ("failed", 1, failed["error"]), within=10)  # refused again

        visitor = Visitor(router.api_url, http)
        assert await visitor.sign_in("anna") == 303
        _, now_page, _ = await visitor.get("/ui/nu")
        assert "1 e-mail om beskeder kunne ikke sendes" in now_page
        _, page, _ = await visitor.get("/ui/e-mail")
        assert "⟨U+202E⟩87654321" in page
        assert f"{STAFF}: 550" in page
        mail_server.refuse.clear()  # the mailbox is mended
        status_code, _, response = await visitor.post(f"/ui/e-mail/{call}/send-igen", {"csrf": hidden(page, "csrf")})
        assert (status_code, response.headers["Location"]) == (303, "/ui/e-mail?besked=sendes")
        await until(lambda: (store.mail_state(call) or ("",))[0] == "sent", within=10)
        _, page, _ = await visitor.get("/ui/e-mail")
        assert "Alle e-mails om beskeder er sendt" in page
        assert (await _get_json(router.api_url + "/status"))["mail"]["failed"] == 0
        async with http.post(router.api_url + f"/messages/{call}/mail", headers=token) as response:
            assert response.status == 409  # sent: only a failed e-mail is sent again
    [mail] = mail_server.received
    assert mail["Message-ID"] == message_id(call)
    assert "sendte e-mail igen" in [e.action for e in AccountStore(embedded(tmp_path)).audit_log()]


async def test_a_recipient_refused_for_now_is_tried_again_not_failed(
    sim: Simulator, shipped: Schedule, tmp_path: Path, mail_server: MailServer
) -> None:
    mail_server.greylist[STAFF] = 2  # 451 twice, as a greylisting server answers a new sender
    async with start(sim, shipped, tmp_path, CLOSED, smtp=smtp(mail_server), mail_backoff=FAST_RETRY) as router:
        call = await Harness(sim, router, tmp_path).leave_message()
        store = MessageStore(embedded(tmp_path))
        await until(lambda: (store.mail_state(call) or ("",))[0] == "sent", within=10)
    assert store.mail_state(call) == ("sent", 3, None)
    [mail] = mail_server.received
    assert mail["Message-ID"] == message_id(call)


async def test_messages_left_while_the_router_was_down_are_listed_and_emailed_exactly_once(
    sim: Simulator, shipped: Schedule, tmp_path: Path, mail_server: MailServer
) -> None:
    # What the fallback dialplan recorded: one long finished (11:00Z; the router's clock is 11:30Z),
    # one that may still be recording, and a recording that is not a message at all.
    done, recent = "fallback-1818-20240104T110000Z-22334455", "fallback-1818-20240104T112930Z-33445566"
    for name in (done, recent, "some-other-recording"):
        sim.world.stored_recordings[name] = {"name": name, "format": "wav"}
    config = dict(smtp=smtp(mail_server), mail_backoff=FAST_RETRY, fallback_every=0.2)
    for _ in range(2):  # a restart picks up nothing twice
        async with start(sim, shipped, tmp_path, CLOSED, **config):
            await until(lambda: len(mail_server.received) >= 1, within=10)
            await asyncio.sleep(0.6)
    [mail] = mail_server.received
    assert mail["Message-ID"] == message_id(done)
    assert mail["Subject"] == "Ny besked på 1818 fra 22334455"
    [message] = stored_messages(tmp_path)
    assert (message.id, message.line, message.caller, message.recording) == (done, "1818", "22334455", done)
    assert message.received_at == local("2024-01-04T12:00")
    assert message.seconds == 1  # the simulator's recordings are a second of silence


# -- the worst moment: the server has the e-mail, the router has not marked it sent -----------


async def test_killed_between_sending_and_marking_the_email_comes_again_with_the_same_message_id(
    tmp_path: Path, mail_server: MailServer
) -> None:
    schedule_file = ROOT / "schedule.yaml"
    data = tmp_path / "data"
    store = MessageStore(embedded(data))
    message = Message("c-kill", "1818", "12345678", local("2024-01-04T12:30"), "msg-c-kill", 9)
    assert store.save(message, (STAFF,))
    sim = Simulator(
        real_asterisk.USER, real_asterisk.PASSWORD, contexts=real_asterisk.dialplan_contexts(), settings=ROUTER_SIM
    )
    sim.world.stored_recordings["msg-c-kill"] = {"name": "msg-c-kill", "format": "wav"}
    await sim.start()
    env = {**mail_server.env(), "CALLROUTER_MAIL_RETRY_SECONDS": "0.2,0.5"}
    try:
        mail_server.hold = hold = threading.Event()
        async with router_process(sim.url, schedule_file, data, "2024-01-04 11:30:00", env) as first:
            assert await asyncio.to_thread(mail_server.held.wait, 20), "the router never sent the e-mail"
            first.kill()  # the server has it; the router never heard the 250
            await first.process.wait()
        assert store.mail_state("c-kill") == ("pending", 0, None)
        hold.set()
        mail_server.hold = None
        async with router_process(sim.url, schedule_file, data, "2024-01-04 11:30:00", env):
            await until(lambda: (store.mail_state("c-kill") or ("",))[0] == "sent", within=20)
    finally:
        await sim.stop()
    assert len(mail_server.received) == 2  # at most a duplicate ...
    first_mail, second_mail = mail_server.received
    assert first_mail["Message-ID"] == second_mail["Message-ID"] == message_id("c-kill")
    assert _text(first_mail) == _text(second_mail)


def message_id(message: str) -> str:
    return f"<message.{sha256(message.encode()).hexdigest()[:24]}@kommune.example.dk>"


def _text(mail: Any) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


async def _get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.json()


async def _get(base: str, path: str) -> bytes:
    auth = {"Authorization": "Basic " + base64.b64encode(b"router:secret").decode()}
    async with aiohttp.ClientSession() as session, session.get(base + path, headers=auth) as response:
        assert response.status == 200
        return await response.read()


def test_logs_name_a_fallback_message_without_the_callers_number() -> None:
    name = "fallback-1818-20240104T110000Z-22334455"
    assert loggable(name) == "fallback-1818-20240104T110000Z-…"
    error = f"GET /recordings/stored/{name}/file: 500 Internal Server Error"
    assert loggable(error) == "GET /recordings/stored/fallback-1818-20240104T110000Z-…/file: 500 Internal Server Error"
    assert loggable("1704367800.42") == "1704367800.42"  # a call's own id carries no number
